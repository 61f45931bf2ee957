"""The govflow web application (Flask)."""
