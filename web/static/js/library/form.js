// The form editor's live preview: the server renders the schema exactly as the inbox does (web/form_render.py).
(function () {
  'use strict'
  var editor = document.getElementById('form-editor')
  var textarea = document.getElementById('schema')
  var preview = document.getElementById('form-preview')
  if (!editor || !textarea || !preview) return
  var csrf = editor.querySelector('input[name="csrf_token"]').value
  var timer = null
  var sent = 0
  function refresh () {
    var mine = ++sent
    var body = new URLSearchParams({ csrf_token: csrf, content: textarea.value })
    fetch(editor.dataset.previewUrl, { method: 'POST', credentials: 'same-origin', body: body })
      .then(function (r) { return r.text() })
      .then(function (html) {
        if (mine !== sent) return
        preview.innerHTML = html
        document.body.dataset.previewed = String(mine)
      })
  }
  textarea.addEventListener('input', function () { clearTimeout(timer); timer = setTimeout(refresh, 300) })
  var button = document.getElementById('refresh-preview')
  if (button) button.addEventListener('click', function (e) { e.preventDefault(); refresh() })
})()
