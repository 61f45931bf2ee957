"""The govflow web application (Flask).

Modules: app (factory), wsgi (gunicorn entry), auth (sign-in, sessions, rate limit), csrf, access (who sees what),
inbox (tabs, filters, SQL), tasks (task page), requests (raise, my requests, record), errors (error pages),
form_fields / form_render / form_parse (JSON Schema forms), instructions (Markdown), display (dates, deadlines).
"""
