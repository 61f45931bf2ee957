"""The header's search: requests, escalations, appeals and (for who may read them) the logs, in one list each."""
from __future__ import annotations

from flask import Blueprint, current_app, g, render_template, request

from .auth import login_required

bp = Blueprint("search", __name__, url_prefix="/search")

LOG_TITLES = {"decisions": "Decision log", "actions": "Action log", "raid": "RAID log"}


@bp.get("/", endpoint="index")
@login_required
def index():
    gov = current_app.extensions["govflow"]
    found = gov.search.find(g.user.username, request.args.get("q", ""))
    names = gov.inbox.process_names()
    groups: dict[str, list[dict]] = {}
    for row in found.instances:
        groups.setdefault(names.get(row["process_id"], row["process_id"]), []).append(row)
    return render_template("search/index.html", found=found, groups=groups, log_titles=LOG_TITLES,
                           count=len(found.instances) + sum(len(v) for v in found.logs.values()))
