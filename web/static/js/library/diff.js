// Side-by-side diagrams of two versions with the added, removed and changed elements marked (the table says the same).
(function () {
  'use strict'
  // decision tables side by side: the two halves scroll sideways together
  Array.prototype.forEach.call(document.querySelectorAll('.govflow-table-diff'), function (section) {
    var panes = section.querySelectorAll('.govflow-table-scroll')
    if (panes.length !== 2) return
    Array.prototype.forEach.call(panes, function (pane, i) {
      pane.addEventListener('scroll', function () {
        var other = panes[1 - i]
        if (other.scrollLeft !== pane.scrollLeft) other.scrollLeft = pane.scrollLeft
      })
    })
  })
  var data = JSON.parse(document.getElementById('diff-data').textContent)
  if (typeof window.BpmnJS === 'undefined') return
  function draw (containerId, url, marks) {
    var viewer = new window.BpmnJS({ container: '#' + containerId })
    return fetch(url, { credentials: 'same-origin' }).then(function (r) { return r.text() })
      .then(function (xml) { return viewer.importXML(xml) })
      .then(function () {
        var canvas = viewer.get('canvas')
        var registry = viewer.get('elementRegistry')
        Object.keys(marks).forEach(function (kind) {
          marks[kind].forEach(function (id) { if (registry.get(id)) canvas.addMarker(id, 'govflow-diff-' + kind) })
        })
        canvas.zoom('fit-viewport')
      })
  }
  Promise.all([
    draw('diagram-before', data.before_url, { removed: data.removed, changed: data.changed }),
    draw('diagram-after', data.after_url, { added: data.added, changed: data.changed })
  ]).then(function () { document.body.dataset.diffDrawn = 'true' })
    .catch(function (err) { document.body.dataset.diffDrawn = 'failed: ' + err })
})()
