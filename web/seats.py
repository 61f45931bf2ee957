"""The seat register: every governance group with its seats, the person holding each seat and their alternate.
Admins assign people (audited, effective at once for open tasks); programme staff may read it."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from engine.errors import GovflowError, NotFound

from .access import deny
from .auth import login_required

bp = Blueprint("seats", __name__, url_prefix="/admin/seats")


def _gov():
    return current_app.extensions["govflow"]


def may_edit(user) -> bool:
    return user is not None and user.may("manage_seats")


@bp.before_request
@login_required
def _staff_only():
    if not (g.user.may("read_seats") or may_edit(g.user)):
        raise deny("The seat register is for programme staff and admins.", attempted="seats")
    return None


@bp.get("/")
def index():
    return render_template("seats/index.html", groups=_gov().seats.groups(), may_edit=may_edit(g.user),
                           history=_gov().seats.history(limit=20))


@bp.get("/<group_id>")
def group(group_id: str):
    found = _gov().seats.group(group_id)
    if found is None:
        raise NotFound(f"There is no governance group '{group_id}'")
    people = [u for u in _gov().users() if u["active"]]
    return render_template("seats/group.html", group=found, people=people, may_edit=may_edit(g.user))


@bp.post("/<group_id>/<int:position>")
def assign(group_id: str, position: int):
    if not may_edit(g.user):
        raise deny("Only an admin can assign people to seats.", attempted="assign seat")
    holder = request.form.get("holder", "").strip() or None
    alternate = request.form.get("alternate", "").strip() or None
    try:
        seat = _gov().seats.assign(group_id, position, by=g.user.username, holder=holder, alternate=alternate)
    except NotFound:
        raise
    except GovflowError as err:
        flash(str(err), "error")
        return redirect(url_for("seats.group", group_id=group_id))
    flash(f"{group_id} {seat.label}: {seat.holder_name or 'vacant'}"
          f"{', alternate ' + seat.alternate_name if seat.alternate_name else ''}.", "success")
    return redirect(url_for("seats.group", group_id=group_id))
