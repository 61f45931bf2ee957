// Draws the dashboard charts from the JSON block; the tables beside them hold the same figures (accessible source).
// Chart.js (the JSON block's data-library) is loaded after the page has loaded and been painted, so the figures and
// tables show without waiting for it.
(function () {
  'use strict'
  var source = document.getElementById('chart-data')
  if (!source || typeof window.govflowAfterPaint === 'undefined') return
  var data = JSON.parse(source.textContent)

  // each chart's room is kept from the start, so nothing moves when the charts are drawn
  var labels = { 'chart-throughput': data.throughput.labels, 'chart-stages': data.stages.labels,
                 'chart-overdue': data.overdue.labels }
  Object.keys(labels).forEach(function (id) {
    var canvas = document.getElementById(id)
    if (!canvas) return
    if (!labels[id].length) { canvas.hidden = true; return }
    canvas.parentNode.classList.add('govflow-chart-box')
    canvas.height = 300
  })

  function drawAll () {
    var blue = '#1d70b8'; var green = '#00703c'; var red = '#d4351c'; var orange = '#f47738'
    var base = { responsive: true, maintainAspectRatio: false, animation: false }

    function draw (id, config) {
      var canvas = document.getElementById(id)
      if (canvas && !canvas.hidden) return new window.Chart(canvas, config)
    }

    draw('chart-throughput', {
      type: 'bar',
      data: { labels: data.throughput.labels,
              datasets: [{ label: 'Started', data: data.throughput.started, backgroundColor: blue },
                         { label: 'Completed', data: data.throughput.completed, backgroundColor: green }] },
      options: Object.assign({}, base, { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } })
    })
    draw('chart-stages', {
      type: 'bar',
      data: { labels: data.stages.labels,
              datasets: [{ label: 'Median (working days)', data: data.stages.median, backgroundColor: blue },
                         { label: '90th percentile', data: data.stages.p90, backgroundColor: orange }] },
      options: Object.assign({}, base, { indexAxis: 'y', scales: { x: { beginAtZero: true } } })
    })
    draw('chart-overdue', {
      type: 'bar',
      data: { labels: data.overdue.labels,
              datasets: [{ label: 'Overdue tasks', data: data.overdue.counts, backgroundColor: red }] },
      options: Object.assign({}, base, { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } })
    })
    document.body.setAttribute('data-charts-drawn', 'true')
  }

  window.govflowAfterPaint(source.getAttribute('data-library'), 'Chart', 'Chart.js').then(drawAll).catch(function () {
    // without Chart.js the tables beside each chart hold the figures: leave no empty box behind
    document.querySelectorAll('canvas.govflow-chart').forEach(function (canvas) { canvas.hidden = true })
  })
})()
