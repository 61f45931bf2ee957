"""The production WSGI entry point: `gunicorn web.wsgi:app` (configured from GOVFLOW_* environment variables)."""
from .app import create_app

app = create_app()
