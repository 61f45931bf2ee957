"""The production WSGI entry point: `gunicorn -c python:web.gunicorn_conf web.wsgi:app` (configured from GOVFLOW_*
environment variables). Logs are JSON lines unless gunicorn's configuration already set logging up."""
import logging

from engine.observability import logs

from .app import create_app

if not logging.getLogger().handlers:
    logs.configure()

app = create_app()
