// The form editor: the live preview (the server renders the schema exactly as the inbox does, web/form_render.py)
// and "Add a field" (the server adds the field of the chosen kind, web/form_kinds.py, and answers the new schema).
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

  // --- Add a field -------------------------------------------------------------------------------------------------
  var panel = document.getElementById('add-field')
  var add = document.getElementById('add-field-button')
  var kind = document.getElementById('field-kind')
  var status = document.getElementById('add-field-status')
  if (!panel || !add || !kind) return

  function showKindOptions () {
    panel.querySelectorAll('[data-for-kinds]').forEach(function (group) {
      group.hidden = group.dataset.forKinds.split(' ').indexOf(kind.value) < 0
    })
  }
  kind.addEventListener('change', showKindOptions)
  showKindOptions()

  function clearErrors () {
    document.querySelectorAll('#add-field .govuk-error-message, #schema-error').forEach(function (p) { p.remove() })
    document.querySelectorAll('#add-field .govuk-form-group--error, .govflow-schema-group').forEach(function (g) {
      g.classList.remove('govuk-form-group--error')
    })
  }

  function showError (name, message) {
    var input = name === 'content' ? textarea : panel.querySelector('[name="' + name + '"]')
    var group = input ? input.closest('.govuk-form-group') : null
    var p = document.createElement('p')
    p.className = 'govuk-error-message'
    p.id = (name === 'content' ? 'schema' : name.replace(/_/g, '-')) + '-error'
    var hidden = document.createElement('span')
    hidden.className = 'govuk-visually-hidden'
    hidden.textContent = 'Error: '
    p.appendChild(hidden)
    p.appendChild(document.createTextNode(message))
    if (group && input) {
      group.classList.add('govuk-form-group--error')
      input.parentNode.insertBefore(p, input)
    } else {
      panel.insertBefore(p, add)
    }
  }

  function send () {
    var body = new FormData(editor)
    clearErrors()
    status.textContent = ''
    fetch(add.dataset.addUrl, {
      method: 'POST', credentials: 'same-origin', body: body, headers: { Accept: 'application/json' }
    })
      .then(function (r) { return r.json() })
      .then(function (answer) {
        if (!answer.added) {
          var names = Object.keys(answer.errors || {})
          names.forEach(function (name) { showError(name, answer.errors[name]) })
          var first = names.length ? (names[0] === 'content' ? textarea : panel.querySelector('[name="' + names[0] + '"]')) : null
          if (first) first.focus()
          return
        }
        var name = panel.querySelector('[name="field_name"]').value
        textarea.value = answer.content
        ;['field_name', 'field_title', 'field_hint', 'field_options', 'field_max_files', 'field_max_mb'].forEach(function (n) {
          panel.querySelector('[name="' + n + '"]').value = ''
        })
        panel.querySelectorAll('input[type="checkbox"]').forEach(function (box) { box.checked = false })
        status.textContent = 'The field ' + name + ' was added. Save the form to keep it in the draft.'
        refresh()
      })
  }
  add.addEventListener('click', function (e) { e.preventDefault(); send() })
  panel.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && e.target.tagName === 'INPUT') { e.preventDefault(); send() }
  })
})()
