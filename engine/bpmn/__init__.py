"""The BPMN layer: parse, lint, sandbox, state, timers and waits — the only code that imports SpiffWorkflow."""
