"""govflow engine: deploys BPMN/DMN/forms and runs governance processes; importable without Flask."""
