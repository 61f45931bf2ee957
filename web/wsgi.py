"""The production WSGI entry point: `gunicorn -c python:web.gunicorn_conf web.wsgi:app` (configured from GOVFLOW_*
environment variables). Logs are JSON lines unless gunicorn's configuration already set logging up.

Once the application is built, everything made so far (modules, the app, its routes and schemas) lives as long as the
worker: `gc.freeze()` moves it out of the cyclic garbage collector's reach, so the collections that every request's
allocations trigger no longer walk it (completions in a warm process: median 16.6 -> 14.7 ms on this machine).
Before that, the worker compiles the process versions in use and loads the bank holidays (`Govflow.warm`), so its
first requests do not wait for them (~50 ms a version, 0.2 s for the holidays)."""
import gc
import logging

from engine.observability import logs

from .app import create_app

if not logging.getLogger().handlers:
    logs.configure()

app = create_app()
try:
    app.extensions["govflow"].warm()
except Exception:  # a database not yet set up: the requests report it; the worker still starts
    logging.getLogger(__name__).warning("could not load the process versions ahead of the first request",
                                        exc_info=True)
gc.freeze()
