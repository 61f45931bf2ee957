"""Webhook subscriptions in the browser, for whoever may `integrate` (admins): the list with each one's latest
delivery, adding one (its signing secret shown once, on the page that made it), disabling, enabling and removing
one after a confirmation, its delivery log, and a test event."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from engine.delivery.webhooks import EVENTS, event_areas
from engine.errors import Conflict, FormInvalid

from .access import deny
from .auth import login_required

bp = Blueprint("webhook_admin", __name__, url_prefix="/manage/webhooks")

# what each confirmed action does: (service method, question, what it means, button, class, done message)
ACTIONS = {
    "disable": ("disable", "Disable this webhook?",
                ("govflow stops sending events to it until you enable it again. Events that happen meanwhile are "
                 "not kept for it."), "Disable it", "govuk-button--warning", "is disabled: nothing is sent to it"),
    "enable": ("enable", "Enable this webhook?",
               "govflow sends it the events it subscribes to again, from now on.", "Enable it", "",
               "is enabled: events are sent to it again"),
    "remove": ("remove", "Delete this webhook?",
               ("This cannot be undone. Nothing is sent to it again and its secret stops being used. Its delivery "
                "log is kept."), "Delete it", "govuk-button--warning", "is deleted"),
}


def _gov():
    return current_app.extensions["govflow"]


@bp.before_request
@login_required
def _integrators_only():
    if not g.user.may("integrate"):
        raise deny("Webhooks are managed by admins (whoever may integrate other systems)", attempted="integrate")


def _list_page(made: dict | None = None, secret: str | None = None, errors: dict | None = None,
               status: int = 200):
    rows = _gov().webhooks.listing(g.user.username)
    chosen = set(request.form.getlist("events")) if errors else set()
    return render_template("manage/webhooks.html", rows=[r for r in rows if r["status"] != "removed"],
                           removed=[r for r in rows if r["status"] == "removed"], events=EVENTS,
                           areas=event_areas(), made=made, secret=secret, errors=errors or {},
                           url=request.form.get("url", "") if errors else "", chosen=chosen), status


@bp.get("/", endpoint="index")
def index():
    return _list_page()


@bp.post("/", endpoint="add")
def add():
    try:
        secret, made = _gov().webhooks.add(g.user.username, request.form.get("url", ""),
                                           request.form.getlist("events"))
    except FormInvalid as err:
        return _list_page(errors=err.errors, status=422)
    return _list_page(made=made, secret=secret)  # shown on this page only: never shown again


@bp.get("/<int:webhook_id>/<any(disable, enable, remove):action>", endpoint="confirm")
def confirm(webhook_id: int, action: str):
    hook = _gov().webhooks.get(webhook_id, g.user.username)
    return render_template("manage/webhook_confirm.html", hook=hook, action=action, words=ACTIONS[action])


@bp.post("/<int:webhook_id>/<any(disable, enable, remove):action>", endpoint="act")
def act(webhook_id: int, action: str):
    service = _gov().webhooks
    try:
        hook = getattr(service, ACTIONS[action][0])(webhook_id, g.user.username)
    except Conflict as err:
        flash(str(err), "info")
        return redirect(url_for("webhook_admin.index"))
    flash(f"The webhook to {hook['url']} {ACTIONS[action][5]}.", "success")
    return redirect(url_for("webhook_admin.index"))


@bp.get("/<int:webhook_id>", endpoint="deliveries")
def deliveries(webhook_id: int):
    gov = _gov()
    hook = gov.webhooks.get(webhook_id, g.user.username)
    return render_template("manage/webhook_deliveries.html", hook=hook,
                           rows=gov.webhooks.deliveries(webhook_id, g.user.username))


@bp.post("/<int:webhook_id>/test", endpoint="test")
def test(webhook_id: int):
    gov = _gov()
    try:
        gov.webhooks.send_test(webhook_id, g.user.username)
    except Conflict as err:
        flash(str(err), "info")
        return redirect(url_for("webhook_admin.deliveries", webhook_id=webhook_id))
    flash("A test event is on its way: its delivery appears below once the receiver answers (reload the page).",
          "success")
    return redirect(url_for("webhook_admin.deliveries", webhook_id=webhook_id))
