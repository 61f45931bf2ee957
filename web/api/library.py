"""Processes and their versions: list, show, validate, deploy (a new version from files) and publish (the draft
edited in the browser). Reading needs `read_library`; deploying `edit_library` and `publish`, as in the library."""
from __future__ import annotations

from dataclasses import asdict

from apiflask import APIBlueprint

from engine.errors import Conflict, FormInvalid

from .access import caller, gov, needs
from .schemas import DeployBody, FilesBody, Items, Out, PublishBody, Validation

bp = APIBlueprint("processes", __name__, url_prefix="/processes", tag="Processes")


@bp.get("")
@bp.output(Items)
@needs("read", "read_library")
def catalogue():
    """Every deployed process: latest version, how many versions, instances running, any draft."""
    return {"items": gov().library.catalogue()}


@bp.get("/startable")
@bp.output(Items)
@needs("read")
def startable():
    """The processes I may start (my roles hold their start lane), each with its start form's JSON Schema."""
    found = []
    for process_id, name in gov().forms.startable(caller().username):
        form = gov().forms.start_form(process_id, caller().username)
        found.append({"process_id": process_id, "name": name, "form": form.schema})
    return {"items": found}


@bp.get("/<process_id>")
@bp.output(Out)
@needs("read", "read_library")
def show(process_id: str):
    """A process's versions (who published, when, the note, instances running and finished) and its draft."""
    return gov().library.process(process_id)


@bp.post("/validate")
@bp.input(FilesBody, arg_name="body")
@bp.output(Validation)
@needs("library", "read_library")
def validate(body: FilesBody):
    """Check files as a deployment would (hardened parse, schema, lint, compile), storing nothing."""
    problems = [asdict(p) for p in gov().library.validate(_bytes(body.files))]
    return {"valid": not problems, "problems": problems}


@bp.post("/<process_id>/deploy")
@bp.input(DeployBody, arg_name="body")
@bp.output(Out, status_code=201)
@needs("library", "publish")
def deploy(process_id: str, body: DeployBody):
    """A new version of a deployed process from these files (the others kept from the latest version): put in a
    draft, validated, published. Refused while someone's draft of the process is open (publish that instead)."""
    library, username = gov().library, caller().username
    if not caller().may("edit_library"):
        raise FormInvalid({"": "Deploying needs both edit_library and publish"})
    if library.draft(process_id) is not None:
        raise Conflict(f"A draft of '{process_id}' is open in the library: publish or discard it first")
    library.open_draft(process_id, username)
    try:
        for path, text in body.files.items():
            library.save_file(process_id, path, text.encode(), username)
        problems = library.validate_draft(process_id)
        if problems:
            raise FormInvalid({f"files.{p.file}" + (f"#{p.element_id}" if p.element_id else ""): p.reason
                               for p in problems})
        published = library.publish(process_id, username, body.note)
    except Exception:
        library.discard_draft(process_id, username)
        raise
    return _published(published), 201


@bp.post("/<process_id>/publish")
@bp.input(PublishBody, arg_name="body")
@bp.output(Out, status_code=201)
@needs("library", "publish")
def publish(process_id: str, body: PublishBody):
    """Publish the process's draft (edited in the library) as its next version."""
    problems = gov().library.validate_draft(process_id)
    if problems:
        raise FormInvalid({f"files.{p.file}" + (f"#{p.element_id}" if p.element_id else ""): p.reason
                           for p in problems})
    return _published(gov().library.publish(process_id, caller().username, body.note, body.allow_newer_base)), 201


def _bytes(files: dict[str, str]) -> dict[str, bytes]:
    return {path: text.encode() for path, text in files.items()}


def _published(result) -> dict:
    found = result.as_dict() if hasattr(result, "as_dict") else dict(result.__dict__)
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in found.items()}
