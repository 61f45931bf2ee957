"""What an operator sees of a running govflow: the log context (request id, person, instance, task), JSON log lines
with secrets masked, and the Prometheus instruments. A basic layer: it imports nothing else of govflow."""
