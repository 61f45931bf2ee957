"""The production WSGI entry point: `gunicorn -c python:web.gunicorn_conf web.wsgi:app` (configured from GOVFLOW_*
environment variables). Logs are JSON lines unless gunicorn's configuration already set logging up.

Once the application is built, everything made so far (modules, the app, its routes and schemas) lives as long as the
worker: `gc.freeze()` moves it out of the cyclic garbage collector's reach, so the collections that every request's
allocations trigger no longer walk it (completions in a warm process: median 16.6 -> 14.7 ms on this machine)."""
import gc
import logging

from engine.observability import logs

from .app import create_app

if not logging.getLogger().handlers:
    logs.configure()

app = create_app()
gc.freeze()
