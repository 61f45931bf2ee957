// The decision table editor: dmn-js Modeler opened on the table view, saved into the draft and checked.
(function () {
  'use strict'
  var config = JSON.parse(document.getElementById('editor-config').textContent)
  var csrfInput = document.querySelector('input[name="csrf_token"]')
  var csrf = csrfInput ? csrfInput.value : ''
  var status = document.getElementById('editor-status')
  var list = document.getElementById('problem-list')
  var revision = config.revision
  var modeler = new window.DmnJS({ container: '#dmn-canvas' })
  window.govflowDmnModeler = modeler

  function say (text) { status.textContent = text }
  function post (url, body) {
    return fetch(url, { method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf, Accept: 'application/json' },
      body: JSON.stringify(body || {}) }).then(function (r) { return r.json() })
  }
  function showProblems (problems) {
    list.innerHTML = ''
    if (!problems.length) { var ok = document.createElement('li'); ok.id = 'no-problems'; ok.textContent = 'No problems found.'; list.appendChild(ok) }
    problems.forEach(function (p) {
      var li = document.createElement('li')
      li.textContent = p.file + (p.line ? ' line ' + p.line : '') + (p.element_id ? ' [' + p.element_id + ']' : '') + ': ' + p.reason
      list.appendChild(li)
    })
  }
  document.getElementById('save-decision').addEventListener('click', function () {
    say('Saving…')
    modeler.saveXML({ format: true }).then(function (result) {
      return post(config.save_url, { content: result.xml, revision: revision })
    }).then(function (answer) {
      if (!answer.saved) { showProblems(answer.problems || []); say('Not saved.'); return }
      revision = answer.revision
      return post(config.check_url).then(function (checked) {
        var mine = checked.problems.filter(function (p) { return p.file === config.path })
        showProblems(mine)
        say('Saved. ' + (mine.length ? mine.length + ' problem(s) in this table.' : 'No problems in this table.'))
      })
    }).catch(function (err) { say('Not saved: ' + err) })
  })
  fetch(config.file_url, { credentials: 'same-origin' }).then(function (r) { return r.text() })
    .then(function (xml) { return modeler.importXML(xml) })
    .then(function () {
      var table = modeler.getViews().filter(function (v) { return v.type === 'decisionTable' })[0]
      if (table) return modeler.open(table)
    })
    .then(function () { say('Loaded the draft.'); document.body.dataset.modelerReady = 'true' })
    .catch(function (err) { say('The table could not be opened: ' + err.message) })
})()
