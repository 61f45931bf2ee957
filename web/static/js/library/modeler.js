// The diagram editor: bpmn-js Modeler with a small properties panel for what govflow reads (lane, form, instructions,
// due date, assignee, group, timers, conditions, scripts, decision), save into the draft, and the deployment lint
// shown in a list and on each element (markers and overlays).
(function () {
  'use strict'
  var config = JSON.parse(document.getElementById('editor-config').textContent)
  var csrfInput = document.querySelector('input[name="csrf_token"]')
  var csrf = csrfInput ? csrfInput.value : ''
  var status = document.getElementById('editor-status')
  var problemList = document.getElementById('problem-list')
  var revision = config.revision
  var problems = []
  var selected = null
  var SPIFF = 'spiffworkflow:'

  var modeler = new window.BpmnJS({
    container: '#canvas',
    moddleExtensions: { spiffworkflow: window.govflowSpiffModdle }
  })
  window.govflowModeler = modeler // for the browser tests and the curious
  var modeling = modeler.get('modeling')
  var moddle = modeler.get('moddle')
  var registry = modeler.get('elementRegistry')
  var canvas = modeler.get('canvas')
  var overlays = modeler.get('overlays')

  function say (text) { status.textContent = text }

  function is (element, type) {
    var bo = element.businessObject || element
    return bo && typeof bo.$instanceOf === 'function' && bo.$instanceOf(type)
  }

  // --- extension elements ------------------------------------------------------------------------------------------

  function extensions (bo) { return (bo.extensionElements && bo.extensionElements.values) || [] }
  function findExt (bo, type) { return extensions(bo).filter(function (e) { return e.$type === SPIFF + type })[0] }

  function getProperty (bo, name) {
    var props = findExt(bo, 'Properties')
    var found = props && (props.values || []).filter(function (p) { return p.name === name })[0]
    return found ? found.value || '' : ''
  }

  function getBody (bo, type) {
    var found = findExt(bo, type)
    return found ? found.value || '' : ''
  }

  function ensureExtensions (bo) {
    if (!bo.extensionElements) {
      bo.extensionElements = moddle.create('bpmn:ExtensionElements', { values: [] })
      bo.extensionElements.$parent = bo
    }
    return bo.extensionElements
  }

  function changed (element, bo) {
    // route the change through the command stack so the modeler saves, redraws and can undo it
    modeling.updateProperties(element, { extensionElements: bo.extensionElements })
  }

  function setProperty (element, name, value) {
    var bo = element.businessObject
    var ext = ensureExtensions(bo)
    var props = findExt(bo, 'Properties')
    if (!props) {
      if (!value) return
      props = moddle.create(SPIFF + 'Properties', { values: [] })
      props.$parent = ext
      ext.values.push(props)
    }
    var list = props.values || (props.values = [])
    var existing = list.filter(function (p) { return p.name === name })[0]
    if (!value) {
      if (existing) list.splice(list.indexOf(existing), 1)
      if (!list.length) ext.values.splice(ext.values.indexOf(props), 1)
    } else if (existing) {
      existing.value = value
    } else {
      var prop = moddle.create(SPIFF + 'Property', { name: name, value: value })
      prop.$parent = props
      list.push(prop)
    }
    changed(element, bo)
  }

  function setBody (element, type, value) {
    var bo = element.businessObject
    var ext = ensureExtensions(bo)
    var existing = findExt(bo, type)
    if (!value) {
      if (existing) ext.values.splice(ext.values.indexOf(existing), 1)
    } else if (existing) {
      existing.value = value
    } else {
      var made = moddle.create(SPIFF + type, { value: value })
      made.$parent = ext
      ext.values.push(made)
    }
    changed(element, bo)
  }

  // --- lanes -------------------------------------------------------------------------------------------------------

  function lanes () { return registry.filter(function (e) { return e.type === 'bpmn:Lane' }) }

  function laneOf (bo) {
    var found = lanes().filter(function (lane) { return (lane.businessObject.flowNodeRef || []).indexOf(bo) >= 0 })
    return found.length ? found[found.length - 1] : null
  }

  function setLane (element, laneId) {
    var bo = element.businessObject
    lanes().forEach(function (lane) {
      var refs = (lane.businessObject.flowNodeRef || []).slice()
      var at = refs.indexOf(bo)
      var wanted = lane.id === laneId
      if (at >= 0 && !wanted) {
        refs.splice(at, 1)
        modeling.updateModdleProperties(lane, lane.businessObject, { flowNodeRef: refs })
      } else if (at < 0 && wanted) {
        refs.push(bo)
        modeling.updateModdleProperties(lane, lane.businessObject, { flowNodeRef: refs })
      }
    })
  }

  // --- timers, conditions, scripts ---------------------------------------------------------------------------------

  function timerDefinition (bo) {
    return (bo.eventDefinitions || []).filter(function (d) { return d.$type === 'bpmn:TimerEventDefinition' })[0]
  }

  function setTimer (element, text) {
    var definition = timerDefinition(element.businessObject)
    var expression = text ? moddle.create('bpmn:FormalExpression', { body: text }) : undefined
    modeling.updateModdleProperties(element, definition, { timeDate: expression, timeDuration: undefined, timeCycle: undefined })
  }

  function setCondition (element, text) {
    var expression = text ? moddle.create('bpmn:FormalExpression', { body: text }) : undefined
    modeling.updateProperties(element, { conditionExpression: expression })
  }

  // --- the panel ---------------------------------------------------------------------------------------------------

  var panel = document.getElementById('properties-form')
  var title = document.getElementById('properties-title')
  var fields = {}
  ;['id', 'name', 'lane', 'form', 'instructions', 'dueDate', 'assignee', 'group', 'timer', 'condition', 'script',
    'decision', 'postScript'].forEach(function (name) { fields[name] = document.getElementById('prop-' + name) })

  function fill (select, options, value) {
    select.innerHTML = ''
    options.forEach(function (option) {
      var el = document.createElement('option')
      el.value = option[0]
      el.textContent = option[1]
      if (option[0] === value) el.selected = true
      select.appendChild(el)
    })
    if (value && options.map(function (o) { return o[0] }).indexOf(value) < 0) {
      var missing = document.createElement('option')
      missing.value = value
      missing.textContent = value + ' (not in the draft)'
      missing.selected = true
      select.appendChild(missing)
    }
  }

  function show (group, visible) {
    panel.querySelectorAll('[data-for="' + group + '"]').forEach(function (el) { el.hidden = !visible })
  }

  function render (element) {
    selected = element
    if (!element || element.type === 'label' || is(element, 'bpmn:Process') || element.type === 'bpmn:Collaboration') {
      panel.hidden = true
      title.textContent = 'Select an element'
      return
    }
    var bo = element.businessObject
    panel.hidden = false
    title.textContent = bo.name || bo.id
    document.getElementById('prop-type').textContent = element.type.replace('bpmn:', '')
    fields.id.value = bo.id
    fields.name.value = bo.name || ''
    var flowNode = is(element, 'bpmn:FlowNode')
    var human = is(element, 'bpmn:UserTask') || is(element, 'bpmn:ManualTask')
    var catchesMessage = is(element, 'bpmn:ReceiveTask') ||
      ((bo.eventDefinitions || []).some(function (d) { return d.$type === 'bpmn:MessageEventDefinition' }))
    var usesForm = human || catchesMessage || is(element, 'bpmn:StartEvent')
    show('flownode', flowNode && lanes().length > 0)
    show('form', usesForm)
    show('human', human || catchesMessage)
    show('timer', !!timerDefinition(bo))
    show('condition', is(element, 'bpmn:SequenceFlow'))
    show('script', is(element, 'bpmn:ScriptTask'))
    show('decision', is(element, 'bpmn:BusinessRuleTask'))
    show('activity', is(element, 'bpmn:Activity'))
    if (flowNode) {
      var lane = laneOf(bo)
      fill(fields.lane, [['', 'No lane']].concat(lanes().map(function (l) { return [l.id, l.businessObject.name || l.id] })),
        lane ? lane.id : '')
    }
    fill(fields.form, [['', 'No form']].concat(config.forms.map(function (f) { return [f, f] })), getProperty(bo, 'formJsonSchemaFilename'))
    fields.instructions.value = getBody(bo, 'InstructionsForEndUser')
    fields.dueDate.value = getProperty(bo, 'dueDate')
    fields.assignee.value = getProperty(bo, 'assignee')
    fields.group.value = getProperty(bo, 'group')
    var timer = timerDefinition(bo)
    fields.timer.value = timer ? ((timer.timeDate || timer.timeDuration || timer.timeCycle || {}).body || '') : ''
    fields.condition.value = bo.conditionExpression ? bo.conditionExpression.body || '' : ''
    fields.script.value = bo.script || ''
    fill(fields.decision, [['', 'No decision']].concat(config.decisions.map(function (d) { return [d, d] })), getBody(bo, 'CalledDecisionId'))
    fields.postScript.value = getBody(bo, 'PostScript')
    var mine = problems.filter(function (p) { return p.element_id === bo.id })
    var list = document.getElementById('element-problems')
    list.innerHTML = ''
    mine.forEach(function (p) { var li = document.createElement('li'); li.textContent = p.reason; list.appendChild(li) })
  }

  function on (name, event, apply) {
    fields[name].addEventListener(event, function () {
      if (!selected) return
      apply(selected, fields[name].value)
    })
  }
  on('id', 'change', function (el, v) { if (v && v !== el.businessObject.id) modeling.updateProperties(el, { id: v }) })
  on('name', 'change', function (el, v) { modeling.updateProperties(el, { name: v }) })
  on('lane', 'change', setLane)
  on('form', 'change', function (el, v) { setProperty(el, 'formJsonSchemaFilename', v) })
  on('instructions', 'change', function (el, v) { setBody(el, 'InstructionsForEndUser', v) })
  on('dueDate', 'change', function (el, v) { setProperty(el, 'dueDate', v.trim()) })
  on('assignee', 'change', function (el, v) { setProperty(el, 'assignee', v.trim()) })
  on('group', 'change', function (el, v) { setProperty(el, 'group', v.trim()) })
  on('timer', 'change', function (el, v) { setTimer(el, v.trim()) })
  on('condition', 'change', function (el, v) { setCondition(el, v.trim()) })
  on('script', 'change', function (el, v) { modeling.updateProperties(el, { scriptFormat: 'python', script: v }) })
  on('decision', 'change', function (el, v) { setBody(el, 'CalledDecisionId', v) })
  on('postScript', 'change', function (el, v) { setBody(el, 'PostScript', v) })

  modeler.on('selection.changed', function (e) { render(e.newSelection.length === 1 ? e.newSelection[0] : null) })
  modeler.on('element.changed', function (e) {
    if (selected && e.element === selected && !panel.contains(document.activeElement)) render(selected)
  })

  // --- problems on the diagram -------------------------------------------------------------------------------------

  function showProblems (found) {
    registry.getAll().forEach(function (el) { canvas.removeMarker(el.id, 'govflow-problem') })
    overlays.remove({ type: 'govflow-problem' })
    problems = found
    problemList.innerHTML = ''
    if (!found.length) {
      var ok = document.createElement('li')
      ok.textContent = 'No problems found: the draft passes the same checks as a deployment.'
      ok.id = 'no-problems'
      problemList.appendChild(ok)
    }
    var counts = {}
    found.forEach(function (p) {
      var li = document.createElement('li')
      li.className = 'govflow-problem-item'
      li.dataset.elementId = p.element_id || ''
      li.textContent = p.file + (p.line ? ' line ' + p.line : '') + (p.element_id ? ' [' + p.element_id + ']' : '') + ': ' + p.reason
      problemList.appendChild(li)
      if (p.element_id && registry.get(p.element_id)) {
        canvas.addMarker(p.element_id, 'govflow-problem')
        counts[p.element_id] = (counts[p.element_id] || 0) + 1
      }
    })
    Object.keys(counts).forEach(function (id) {
      var badge = document.createElement('div')
      badge.className = 'govflow-problem-badge'
      badge.textContent = counts[id] + (counts[id] === 1 ? ' problem' : ' problems')
      badge.title = found.filter(function (p) { return p.element_id === id }).map(function (p) { return p.reason }).join('\n')
      overlays.add(id, 'govflow-problem', { position: { top: -14, right: 10 }, html: badge })
    })
    if (selected) render(selected)
  }

  function post (url, body) {
    return fetch(url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf, Accept: 'application/json' },
      body: JSON.stringify(body || {})
    }).then(function (r) { return r.json().then(function (data) { return { status: r.status, data: data } }) })
  }

  function save () {
    say('Saving…')
    return modeler.saveXML({ format: true }).then(function (result) {
      return post(config.save_url, { content: result.xml, revision: revision })
    }).then(function (answer) {
      if (answer.data.saved) {
        revision = answer.data.revision
        say('Saved in the draft.')
        return true
      }
      showProblems(answer.data.problems || [])
      say('Not saved: ' + ((answer.data.problems || [])[0] || {}).reason)
      return false
    })
  }

  function check () {
    return save().then(function (ok) {
      if (!ok) return
      say('Checking…')
      return post(config.check_url).then(function (answer) {
        showProblems(answer.data.problems)
        say(answer.data.problems.length ? answer.data.problems.length + ' problem(s) found.' : 'Saved and checked: no problems.')
        document.body.dataset.checked = String((Number(document.body.dataset.checked) || 0) + 1)
      })
    }).catch(function (err) { say('Something went wrong: ' + err) })
  }

  document.getElementById('save-diagram').addEventListener('click', function () { save().catch(function (err) { say('Not saved: ' + err) }) })
  document.getElementById('check-diagram').addEventListener('click', check)
  window.govflowCheck = check

  fetch(config.file_url, { credentials: 'same-origin' })
    .then(function (r) { return r.text() })
    .then(function (xml) { return modeler.importXML(xml) })
    .then(function () {
      canvas.zoom('fit-viewport')
      say('Loaded the draft.')
      document.body.dataset.modelerReady = 'true'
    })
    .catch(function (err) { say('The diagram could not be opened: ' + err.message) })
})()
