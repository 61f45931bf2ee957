// Loads a library's script once the page has loaded and been painted, so a large bundle (bpmn-js, Chart.js) delays
// neither the page's text nor its load event: govflowAfterPaint(src, globalName, what) → a Promise.
(function () {
  'use strict'
  if (typeof window.Promise === 'undefined') return

  function pagePainted () {
    return new Promise(function (resolve) {
      function later () { requestAnimationFrame(function () { setTimeout(resolve, 0) }) }
      if (document.readyState === 'complete') later()
      else window.addEventListener('load', later)
    })
  }

  function load (src, what) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement('script')
      script.src = src
      script.onload = resolve
      script.onerror = function () { reject(new Error(what + ' did not load')) }
      document.head.appendChild(script)
    })
  }

  window.govflowAfterPaint = function (src, globalName, what) {
    return pagePainted().then(function () {
      return typeof window[globalName] !== 'undefined' ? undefined : load(src, what)
    })
  }
})()
