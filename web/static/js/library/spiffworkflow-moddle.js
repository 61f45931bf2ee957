// The spiffworkflow extension elements govflow reads (see processes/README.md), as a bpmn-moddle package, so the
// modeler keeps them and the properties panel can edit them.
window.govflowSpiffModdle = {
  name: 'SpiffWorkflow',
  uri: 'http://spiffworkflow.org/bpmn/schema/1.0/core',
  prefix: 'spiffworkflow',
  xml: { tagAlias: 'lowerCase' },
  associations: [],
  types: [
    { name: 'Properties', superClass: ['Element'], properties: [{ name: 'values', type: 'Property', isMany: true }] },
    { name: 'Property', superClass: ['Element'],
      properties: [{ name: 'name', type: 'String', isAttr: true }, { name: 'value', type: 'String', isAttr: true }] },
    { name: 'InstructionsForEndUser', superClass: ['Element'], properties: [{ name: 'value', type: 'String', isBody: true }] },
    { name: 'PreScript', superClass: ['Element'], properties: [{ name: 'value', type: 'String', isBody: true }] },
    { name: 'PostScript', superClass: ['Element'], properties: [{ name: 'value', type: 'String', isBody: true }] },
    { name: 'CalledDecisionId', superClass: ['Element'], properties: [{ name: 'value', type: 'String', isBody: true }] },
    { name: 'MessageVariable', superClass: ['Element'], properties: [{ name: 'value', type: 'String', isBody: true }] }
  ]
}
if (typeof module !== 'undefined') module.exports = window.govflowSpiffModdle
