// Renders a process version's BPMN with bpmn-js (viewer only) and marks an instance's progress or a heatmap on it.
// Progressive enhancement: the page's tables say the same in text. The viewer's bundle (the container's data-viewer)
// is loaded after the page has loaded and been painted, so the page shows and works without waiting for it; the
// diagram's XML is fetched meanwhile.
(function () {
  'use strict'
  var container = document.getElementById('diagram')
  var progress = document.getElementById('diagram-data')
  var heat = document.getElementById('heatmap-data')
  if (!container || !(progress || heat) || typeof window.govflowAfterPaint === 'undefined') return
  var info = JSON.parse((progress || heat).textContent)
  var viewer

  function has (registry, id) { return !!registry.get(id) }

  function markProgress (canvas, registry) {
    var mark = function (ids, css) {
      ids.forEach(function (id) { if (has(registry, id)) canvas.addMarker(id, css) })
    }
    mark(info.taken_flows, 'govflow-taken')
    mark(info.completed, 'govflow-completed')
    mark(info.active, 'govflow-active')
    mark(info.overdue, 'govflow-overdue')
    mark(info.failed, 'govflow-failed')
  }

  function markHeat (overlays, registry) {
    var max = 0
    Object.keys(info.cells).forEach(function (id) { max = Math.max(max, info.cells[id].passed) })
    Object.keys(info.cells).forEach(function (id) {
      if (!has(registry, id)) return
      var cell = info.cells[id]
      var badge = document.createElement('div')
      var share = max ? cell.passed / max : 0
      badge.className = 'govflow-heat ' + (share > 0.66 ? 'govflow-heat--hot' : share > 0.33 ? 'govflow-heat--warm' : 'govflow-heat--cool')
      var text = cell.passed + ' passed'
      if (cell.median_days !== null) text += ' · ' + cell.median_days.toFixed(1) + ' wd'
      badge.textContent = text
      overlays.add(id, 'govflow-heat', { position: { bottom: 0, left: 0 }, html: badge })
      if (cell.active) {
        var now = document.createElement('div')
        now.className = 'govflow-heat govflow-heat--now'
        now.textContent = cell.active + ' now'
        overlays.add(id, 'govflow-heat', { position: { top: -18, right: 10 }, html: now })
      }
    })
  }

  var diagram = fetch(info.url, { credentials: 'same-origin' })
    .then(function (response) { if (!response.ok) throw new Error('diagram ' + response.status); return response.text() })
  window.govflowAfterPaint(container.getAttribute('data-viewer'), 'BpmnJS', 'the diagram viewer')
    .then(function () { return diagram })
    .then(function (xml) {
      viewer = new window.BpmnJS({ container: container })
      return viewer.importXML(xml)
    })
    .then(function () {
      var canvas = viewer.get('canvas')
      var registry = viewer.get('elementRegistry')
      canvas.zoom('fit-viewport')
      if (progress) {
        markProgress(canvas, registry)
        var first = info.active.map(function (id) { return registry.get(id) }).filter(Boolean)[0]
        if (first && canvas.scrollToElement) { canvas.zoom(0.9); canvas.scrollToElement(first) }
      }
      else markHeat(viewer.get('overlays'), registry)
      container.setAttribute('data-rendered', 'true')
    })
    .catch(function (err) {
      container.setAttribute('data-rendered', 'failed')
      var p = document.createElement('p')
      p.className = 'govuk-body'
      p.textContent = 'The diagram could not be drawn (' + err.message + '). The tables below hold the same information.'
      container.appendChild(p)
    })
})()
