"""My notifications in the app: the list with unread ones marked, mark as read, and how I want to be told."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from .auth import login_required
from .bounds import MAX_ID

bp = Blueprint("notifications", __name__, url_prefix="/notifications")

PREFERENCES = {
    "immediate": "Send me an e-mail straight away",
    "digest": "Send me one e-mail a day (at 7am) with everything new",
    "none": "No e-mails: I will look here",
}


def init_app(app) -> None:
    """The unread count shown in the menu on every page."""
    def unread_notifications() -> int:
        user = g.get("user")
        return current_app.extensions["govflow"].unread_count(user.username) if user else 0

    app.jinja_env.globals["unread_notifications"] = unread_notifications


@bp.get("/")
@login_required
def index():
    gov = current_app.extensions["govflow"]
    unread_only = request.args.get("show") == "unread"
    rows = [{**n, "body": _here(n["body"], gov)} for n in
            gov.notifications(g.user.username, unread_only=unread_only, limit=100)]
    return render_template("notifications/index.html", rows=rows, unread_only=unread_only,
                           unread=gov.unread_count(g.user.username), preferences=PREFERENCES,
                           preference=gov.notification_preference(g.user.username))


def _here(body: str, gov) -> str:
    """A notice's text with its links on the address this page is served from, whatever the e-mails use."""
    base = gov.notifier.mailer.base_url.rstrip("/")
    return body.replace(base + "/", request.host_url) if base and body else body


@bp.post("/read")
@login_required
def mark_read():
    gov = current_app.extensions["govflow"]
    chosen = request.form.getlist("notification")
    count = gov.mark_read(g.user.username, [int(i) for i in chosen if i.isdigit() and int(i) <= MAX_ID] if chosen else None)
    flash(f"{count} notification{'s' if count != 1 else ''} marked as read", "success")
    return redirect(url_for("notifications.index"))


@bp.post("/preference")
@login_required
def set_preference():
    gov = current_app.extensions["govflow"]
    choice = request.form.get("preference", "")
    if choice not in PREFERENCES:
        flash("Choose how you want to be told", "error")
    else:
        gov.set_notification_preference(g.user.username, choice)
        flash(f"Saved: {PREFERENCES[choice].lower()}", "success")
    return redirect(url_for("notifications.index"))
