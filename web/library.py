"""The process library: processes and versions, drafts and their editors (diagram, decision table, form), validate,
simulate, publish, diff, moving running instances, and files in and out. Programme staff read; analysts edit."""
from __future__ import annotations

import json

from flask import (Blueprint, Response, abort, current_app, flash, g, jsonify, redirect, render_template, request,
                   url_for)

from engine.errors import Conflict, Forbidden, GovflowError, NotFound
from engine.services.forms_view import schema_problem
from engine.services.library import DeploymentError, FileRefused, Library, SimulationEvent, kind_of_path

from .auth import login_required
from .bounds import MAX_ID
from .form_kinds import FieldRequest, add_field, kinds, type_choices
from .form_render import Uploads, build_fields

bp = Blueprint("library", __name__, url_prefix="/library")

CONTENT_TYPES = {"bpmn": "application/xml", "dmn": "application/xml", "form": "application/json",
                 "settings": "text/yaml"}


def _library() -> Library:
    return current_app.extensions["govflow"].library


def _can_edit() -> bool:
    return bool(g.user and g.user.may("edit_library"))


def _can_migrate() -> bool:
    return bool(g.user and g.user.may("migrate"))


@bp.before_request
@login_required
def _staff_only():
    if not g.user.may("read_library"):
        abort(403, description="The process library is for programme staff.")


def _require_editor() -> None:
    if not _can_edit():
        raise Forbidden("Only an analyst can change processes")


def _wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


# --- library and process pages -------------------------------------------------------------------------------------


@bp.get("/", endpoint="index")
def index():
    return render_template("library/index.html", processes=_library().catalogue(), can_edit=_can_edit())


@bp.get("/<process_id>", endpoint="process")
def process(process_id: str):
    library = _library()
    info = library.process(process_id)
    draft = library.draft(process_id)
    return render_template("library/process.html", info=info, draft=draft, can_edit=_can_edit(),
                           can_migrate=_can_migrate(), instances=library.running_instances(process_id),
                           kind_of=kind_of_path)


@bp.post("/<process_id>/draft", endpoint="open_draft")
def open_draft(process_id: str):
    _require_editor()
    _library().open_draft(process_id, g.user.username)
    flash("A draft is open. Nothing changes for anyone until you publish it.", "success")
    return redirect(url_for("library.process", process_id=process_id))


@bp.post("/<process_id>/draft/discard", endpoint="discard_draft")
def discard_draft(process_id: str):
    _require_editor()
    _library().discard_draft(process_id, g.user.username)
    flash("The draft was discarded.", "success")
    return redirect(url_for("library.process", process_id=process_id))


def _draft_or_404(process_id: str):
    draft = _library().draft(process_id)
    if draft is None:
        raise NotFound(f"There is no draft of '{process_id}': open one from the process page")
    return draft


# --- files in and out ----------------------------------------------------------------------------------------------


@bp.get("/<process_id>/draft/files/<path:path>", endpoint="draft_file")
def draft_file(process_id: str, path: str):
    draft = _draft_or_404(process_id)
    if path not in draft.files:
        raise NotFound(f"The draft has no file {path}")
    return _file_response(path, draft.files[path], request.args.get("download") == "1")


@bp.get("/versions/<int:version_id>/files/<path:path>", endpoint="version_file")
def version_file(version_id: int, path: str):
    files = _library().version_files(version_id)
    if path not in files:
        raise NotFound(f"Version {version_id} has no file {path}")
    return _file_response(path, files[path], request.args.get("download") == "1")


@bp.get("/versions/<int:version_id>/archive", endpoint="version_archive")
def version_archive(version_id: int):
    """A version's files and manifest as one zip."""
    name, data = _library().version_archive(version_id)
    response = Response(data, mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _file_response(path: str, content: bytes, download: bool) -> Response:
    """A file going out: BPMN and DMN in their canonical text, so a downloaded file diffs well in git."""
    content = _library().file_as_sent(path, content)  # a stored file the parser now refuses goes out as stored
    response = Response(content, mimetype=CONTENT_TYPES.get(kind_of_path(path) or "", "application/octet-stream"))
    name = path.rsplit("/", 1)[-1]
    response.headers["Content-Disposition"] = f'{"attachment" if download else "inline"}; filename="{name}"'
    return response


@bp.post("/<process_id>/draft/files/<path:path>", endpoint="save_file")
def save_file(process_id: str, path: str):
    """Save one file of the draft: the editors post the text (JSON answers), forms post the form editor."""
    _require_editor()
    if request.is_json:
        body = request.get_json(silent=True) or {}
        content, revision = str(body.get("content", "")).encode(), body.get("revision")
    else:
        content, revision = request.form.get("content", "").encode(), request.form.get("revision", type=int)
    try:
        draft = _library().save_file(process_id, path, content, g.user.username,
                                     revision=int(revision) if revision not in (None, "") else None)
    except FileRefused as err:
        if request.is_json:
            return jsonify(saved=False, problems=[p.as_dict() for p in err.problems]), 422
        if kind_of_path(path) == "form":
            return _form_editor(process_id, path, content.decode(errors="replace"), err.problems, 422)
        raise
    except Conflict as err:
        if request.is_json:
            return jsonify(saved=False, problems=[{"file": path, "reason": str(err)}]), 409
        raise
    if request.is_json:
        return jsonify(saved=True, revision=draft.revision)
    flash(f"{path} was saved in the draft.", "success")
    return redirect(url_for("library.process", process_id=process_id))


@bp.post("/<process_id>/draft/remove", endpoint="remove_file")
def remove_file(process_id: str):
    _require_editor()
    path = request.form.get("path", "")
    _library().remove_file(process_id, path, g.user.username)
    flash(f"{path} was removed from the draft.", "success")
    return redirect(url_for("library.process", process_id=process_id))


@bp.post("/<process_id>/draft/upload", endpoint="upload")
def upload(process_id: str):
    """Put an uploaded .bpmn, .dmn or form (.schema.json) into the draft, or make the draft a version's zip, then
    show the lint on the draft."""
    _require_editor()
    library = _library()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _problems_page(process_id, [{"file": "(upload)", "line": None, "element_id": None,
                                            "reason": "Choose a .bpmn, .dmn or .schema.json file"}], 422)
    path = library.path_for_upload(process_id, upload.filename)
    content = upload.read(current_app.config["MAX_CONTENT_LENGTH"] + 1)
    try:
        if path.lower().endswith(".zip"):
            library.upload_archive(process_id, content, g.user.username)
        else:
            library.save_file(process_id, path, content, g.user.username)
    except FileRefused as err:
        return _problems_page(process_id, [p.as_dict() for p in err.problems], 422, uploaded=path)
    problems = library.validate_draft(process_id)
    if problems:
        return _problems_page(process_id, [p.as_dict() for p in problems], 200, uploaded=path, stored=True)
    flash(f"{path} was uploaded into the draft and it passes every check.", "success")
    return redirect(url_for("library.process", process_id=process_id))


def _problems_page(process_id: str, problems: list[dict], status: int, uploaded: str | None = None,
                   stored: bool = False):
    return render_template("library/problems.html", process_id=process_id, problems=problems, uploaded=uploaded,
                           stored=stored), status


# --- validate, simulate, publish -----------------------------------------------------------------------------------


@bp.route("/<process_id>/draft/check", methods=["GET", "POST"], endpoint="check")
def check(process_id: str):
    """The deployment's lint on the draft: JSON for the diagram editor, a page otherwise."""
    problems = [p.as_dict() for p in _library().validate_draft(process_id)]
    if request.method == "POST" or _wants_json():
        return jsonify(problems=problems)
    return render_template("library/problems.html", process_id=process_id, problems=problems, uploaded=None,
                           stored=True, checked=True)


STEP_KINDS = {"message": "Send a message", "timer": "Fire a timer"}


@bp.route("/<process_id>/draft/simulate", methods=["GET", "POST"], endpoint="simulate")
def simulate(process_id: str):
    """Run the draft with sample data, answers by task and ordered steps (messages sent, timers fired)."""
    draft = _draft_or_404(process_id)
    library = _library()
    posted = request.method == "POST"
    start_text = request.form.get("start_data", "{}") if posted else "{}"
    answers_text = request.form.get("answers", "{}") if posted else "{}"
    rows, step_errors = _step_rows(posted)
    if posted and request.form.get("action") == "add-step":
        rows.append({"kind": "", "name": "", "data": "{}"})
    result, error = None, None
    if posted and request.form.get("action") != "add-step":
        try:
            start_data, answers = json.loads(start_text or "{}"), json.loads(answers_text or "{}")
            if not isinstance(start_data, dict) or not isinstance(answers, dict):
                raise ValueError("give JSON objects")
        except ValueError as err:
            error = f"The sample data is not a JSON object: {err}"
        else:
            events = _events(rows, step_errors)
            if step_errors:
                error = "Some steps are not right: see the steps below"
            else:
                result = library.simulate(process_id, start_data, answers, events)
    if result is not None and _wants_json():
        return jsonify(result.as_dict())
    if error and _wants_json():
        return jsonify(error=error, steps=step_errors), 422
    while len(rows) < 2:
        rows.append({"kind": "", "name": "", "data": "{}"})
    return render_template("library/simulate.html", process_id=process_id, draft=draft, result=result,
                           error=error, start_text=start_text, answers_text=answers_text, rows=rows,
                           step_errors=step_errors, step_kinds=STEP_KINDS,
                           catalogue=library.simulation_catalogue(process_id)), 422 if error else 200


def _step_rows(posted: bool) -> tuple[list[dict], dict[int, str]]:
    """The steps as the form posted them (step_kind-N, step_name-N, step_data-N), or from a `steps` JSON list."""
    if not posted:
        return [], {}
    if request.form.get("steps"):
        try:
            raw = json.loads(request.form["steps"])
            if not isinstance(raw, list):
                raise ValueError("give a JSON list")
        except ValueError as err:
            return [], {0: f"The steps are not a JSON list: {err}"}
        return [{"kind": str(r.get("kind") or "") if isinstance(r, dict) else "",
                 "name": str(r.get("name") or "") if isinstance(r, dict) else "",
                 "data": json.dumps(r.get("data") or {}) if isinstance(r, dict) else "{}"} for r in raw], {}
    count = min(request.form.get("step_count", 0, type=int), 50)
    rows = [{"kind": request.form.get(f"step_kind-{n}", ""), "name": request.form.get(f"step_name-{n}", "").strip(),
             "data": request.form.get(f"step_data-{n}", "").strip() or "{}"} for n in range(count)]
    return rows, {}


def _events(rows: list[dict], errors: dict[int, str]):
    """The filled-in rows as engine events, in order; a row's problem goes in `errors` by row number."""
    events = []
    for n, row in enumerate(rows):
        if not row["kind"]:
            continue
        try:
            data = json.loads(row["data"] or "{}")
        except ValueError as err:
            errors[n] = f"The data is not JSON: {err}"
            continue
        try:
            events.append(SimulationEvent.parse({"kind": row["kind"], "name": row["name"], "data": data}, n + 1))
        except GovflowError as err:
            errors[n] = str(err).capitalize()
    return events


@bp.route("/<process_id>/publish", methods=["GET", "POST"], endpoint="publish")
def publish(process_id: str):
    _require_editor()
    library = _library()
    draft = _draft_or_404(process_id)
    problems = [p.as_dict() for p in library.validate_draft(process_id)]
    diff = library.diff_draft(process_id)
    error = None
    if request.method == "POST" and not problems:
        try:
            published = library.publish(process_id, g.user.username, request.form.get("note", ""),
                                         allow_newer_base=request.form.get("replace_newer") == "yes")
        except DeploymentError as err:
            problems = [p.as_dict() for p in err.problems]
        except (Conflict, GovflowError) as err:
            if isinstance(err, Forbidden):
                raise
            error = str(err)
        else:
            flash(f"Version {published.version} is published. New instances use it; running ones stay on their "
                  "version.", "success")
            return redirect(url_for("library.process", process_id=process_id))
    info = library.process(process_id)
    status = 422 if request.method == "POST" else 200
    return render_template("library/publish.html", process_id=process_id, info=info, draft=draft, diff=diff,
                           problems=problems, error=error, note=request.form.get("note", "")), status


# --- the editors ---------------------------------------------------------------------------------------------------


@bp.get("/<process_id>/draft/diagram", endpoint="edit_diagram")
def edit_diagram(process_id: str):
    _require_editor()
    draft = _draft_or_404(process_id)
    if draft.bpmn_path is None:
        raise NotFound("The draft has no diagram")
    roles = _library().role_names()
    config = {"process_id": process_id, "path": draft.bpmn_path, "revision": draft.revision,
              "file_url": url_for("library.draft_file", process_id=process_id, path=draft.bpmn_path),
              "save_url": url_for("library.save_file", process_id=process_id, path=draft.bpmn_path),
              "check_url": url_for("library.check", process_id=process_id),
              "forms": [p[len("forms/"):] for p in draft.paths("form")],
              "decisions": _library().decision_ids(draft.files), "roles": roles}
    return render_template("library/diagram.html", process_id=process_id, draft=draft, config=config)


@bp.get("/<process_id>/draft/decisions/<path:path>", endpoint="edit_decision")
def edit_decision(process_id: str, path: str):
    _require_editor()
    draft = _draft_or_404(process_id)
    if path not in draft.files or kind_of_path(path) != "dmn":
        raise NotFound(f"The draft has no decision table {path}")
    config = {"path": path, "revision": draft.revision,
              "file_url": url_for("library.draft_file", process_id=process_id, path=path),
              "save_url": url_for("library.save_file", process_id=process_id, path=path),
              "check_url": url_for("library.check", process_id=process_id)}
    response = current_app.make_response(render_template("library/decision.html", process_id=process_id, path=path,
                                                         config=config))
    # dmn-js's table sets style attributes as it draws; allow inline styles (never scripts) on this page only
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; "
        "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
    return response


@bp.get("/<process_id>/draft/forms/<path:path>", endpoint="edit_form")
def edit_form(process_id: str, path: str):
    _require_editor()
    draft = _draft_or_404(process_id)
    if path not in draft.files:
        if kind_of_path(path) != "form":
            raise NotFound(f"The draft has no form {path}")
        text = json.dumps({"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "New form",
                           "type": "object", "properties": {}, "required": [], "additionalProperties": False},
                          indent=2)
    else:
        text = draft.files[path].decode(errors="replace")
    return _form_editor(process_id, path, text, [], 200)


@bp.post("/<process_id>/draft/forms", endpoint="new_form")
def new_form(process_id: str):
    _require_editor()
    name = request.form.get("name", "").strip().removesuffix(".schema.json")
    path = f"forms/{process_id}/{name}.schema.json"
    return redirect(url_for("library.edit_form", process_id=process_id, path=path))


def _form_editor(process_id: str, path: str, text: str, problems, status: int, *, field_errors=None,
                 field_request: FieldRequest | None = None):
    draft = _draft_or_404(process_id)
    settings = _draft_settings(draft)
    preview, error = _preview(text, settings)
    return render_template("library/form.html", process_id=process_id, path=path, text=text, preview=preview,
                           preview_error=error, problems=[p.as_dict() if hasattr(p, "as_dict") else p
                                                          for p in problems],
                           revision=draft.revision, field_kinds=kinds(), file_types=type_choices(settings),
                           field_errors=field_errors or {}, asked=field_request or FieldRequest()), status


def _draft_settings(draft) -> dict:
    """The draft's settings.yaml (the attachment limits a form's preview and checks use); {} when it has none."""
    return _library().settings_in(draft.files)


def _preview(text: str, settings: dict) -> tuple[str, str | None]:
    """The form exactly as the inbox renders it (web.form_render + macros/form.html, attachment limits from the
    draft's settings.yaml), or why it cannot be."""
    try:
        schema = json.loads(text)
    except ValueError as err:
        return "", f"Not valid JSON: {err}"
    reason = schema_problem(schema, settings)
    if reason:
        return "", reason[0].upper() + reason[1:]
    fields = build_fields(schema, {}, {}, uploads=Uploads(settings=settings))
    template = current_app.jinja_env.from_string(
        '{% from "macros/form.html" import field %}{% for f in fields %}{{ field(f) }}{% endfor %}')
    return template.render(fields=fields), None


@bp.post("/<process_id>/forms/preview", endpoint="preview_form")
def preview_form(process_id: str):
    draft = _library().draft(process_id)
    html, error = _preview(request.form.get("content", ""), _draft_settings(draft) if draft else {})
    return render_template("library/_preview.html", preview=html, preview_error=error)


@bp.post("/<process_id>/draft/fields/<path:path>", endpoint="add_form_field")
def add_form_field(process_id: str, path: str):
    """Add a field of a chosen kind to the form in the editor (not saved: the analyst saves the form). JSON answers
    for the editor's script ({"content"} or {"errors"}), the editor page again without it."""
    _require_editor()
    draft = _draft_or_404(process_id)
    asked = FieldRequest.from_form(request.form)
    text, errors = add_field(request.form.get("content", ""), asked, _draft_settings(draft))
    if _wants_json():
        return (jsonify(added=False, errors=errors), 422) if errors else jsonify(added=True, content=text)
    if not errors:
        flash(f"The field {asked.name} was added below. Save the form to keep it in the draft.", "success")
    return _form_editor(process_id, path, text, [], 422 if errors else 200, field_errors=errors,
                        field_request=asked if errors else None)


# --- diff and moving instances -------------------------------------------------------------------------------------


@bp.get("/<process_id>/diff", endpoint="diff")
def diff(process_id: str):
    library = _library()
    info = library.process(process_id)
    ids = [v["id"] for v in info["versions"]]
    to_raw = request.args.get("to") or (str(ids[0]))
    from_raw = request.args.get("from") or (str(ids[1]) if len(ids) > 1 else str(ids[0]))
    draft = library.draft(process_id)

    def files_of(raw: str):
        if raw == "draft":
            if draft is None:
                raise NotFound("There is no draft to compare")
            return draft.files, "the draft", url_for("library.draft_file", process_id=process_id,
                                                     path=draft.bpmn_path)
        try:
            version_id = int(raw)
        except ValueError:
            abort(404)
        if version_id not in ids:
            raise NotFound(f"Version {raw} is not a version of '{process_id}'")
        version = next(v for v in info["versions"] if v["id"] == version_id)
        return (library.version_files(version_id), f"version {version['version']}",
                url_for("library.version_file", version_id=version_id, path=version["bpmn_path"]))

    before, before_label, before_url = files_of(from_raw)
    after, after_label, after_url = files_of(to_raw)
    result = library.diff_files(before, after)
    bpmn = result.document("bpmn")
    markers = {"added": [e.element_id for e in bpmn.added] if bpmn else [],
               "removed": [e.element_id for e in bpmn.removed] if bpmn else [],
               "changed": [e.element_id for e in bpmn.changed] if bpmn else [],
               "before_url": before_url, "after_url": after_url}
    if _wants_json():
        return jsonify(result.as_dict())
    return render_template("library/diff.html", info=info, process_id=process_id, diff=result, markers=markers,
                           before_label=before_label, after_label=after_label, from_raw=from_raw, to_raw=to_raw,
                           has_draft=draft is not None)


@bp.post("/<process_id>/migrate", endpoint="migrate")
def migrate(process_id: str):
    if not _can_migrate():
        raise Forbidden("Only an analyst can move running instances to another version")
    library = _library()
    info = library.process(process_id)
    instance_ids = [int(i) for i in request.form.getlist("instance") if i.isdigit() and int(i) <= MAX_ID]
    target = request.form.get("to_version", type=int)
    dry_run = request.form.get("action") != "migrate"
    if not instance_ids or target is None:
        flash("Choose at least one running instance and the version to move it to.", "info")
        return redirect(url_for("library.process", process_id=process_id) + "#migrate")
    if target not in [v["id"] for v in info["versions"]]:
        raise NotFound(f"That is not a version of '{process_id}'")
    reports = library.migrate(instance_ids, target, g.user.username, dry_run=dry_run)
    version = next(v for v in info["versions"] if v["id"] == target)
    return render_template("library/migrate.html", process_id=process_id, info=info, reports=reports,
                           dry_run=dry_run, target=version, instance_ids=instance_ids)
