"""A version as a zip (files and manifest) and back as a draft, hardened; BPMN/DMN saved, uploaded and downloaded in
their canonical text."""
from __future__ import annotations

import hashlib
import io
import json
import re
import stat
import zipfile

import pytest
from sqlalchemy import select

from engine.errors import Forbidden
from engine.services.library import FileRefused, Library
from engine.store.models import AuditEvent
from engine.bpmn.xml_format import normalise, same_document

from .helpers import CHANGE_CONTROL, change_control_with_duplicate_check

PID = "change_control"
BPMN = "change_control.bpmn"


@pytest.fixture
def library(gov):
    return Library(gov)


def first_version_id(library) -> int:
    return library.process(PID)["versions"][-1]["id"]


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def rezip(entries: dict[str, bytes], link: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if name == link:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def test_a_version_zip_holds_its_files_and_a_manifest(library):
    name, data = library.version_archive(first_version_id(library))
    assert name == "change_control-v1.zip"
    entries = unzip(data)
    manifest = json.loads(entries.pop("manifest.json"))
    stored = library.version_files(first_version_id(library))
    assert set(entries) == set(stored) and BPMN in entries and "ofgem_threshold.dmn" in entries
    assert {k: manifest[k] for k in ("process_id", "version", "published_by", "note")} == {
        "process_id": PID, "version": 1, "published_by": "system", "note": "init"}
    assert manifest["published_at"].startswith("20")
    assert {f["path"]: f["sha256"] for f in manifest["files"]} == {
        p: hashlib.sha256(c).hexdigest() for p, c in entries.items()}
    assert entries[BPMN] == normalise(stored[BPMN]) and same_document(entries[BPMN], stored[BPMN])
    assert entries["forms/change_control/validate.schema.json"] == stored["forms/change_control/validate.schema.json"]
    assert library.version_archive(first_version_id(library))[1] == data  # the same bytes every time


def test_the_zip_uploads_back_as_a_draft_that_passes_the_checks(gov, library):
    _, data = library.version_archive(first_version_id(library))
    assert library.draft(PID) is None
    with pytest.raises(Forbidden):
        library.upload_archive(PID, data, "carol")
    draft = library.upload_archive(PID, data, "ann")
    entries = unzip(data)
    entries.pop("manifest.json")
    assert draft.files == entries and draft.base_version == 1
    assert library.validate_draft(PID) == []
    with gov.db.read() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "draft.archive_uploaded")).one()
        assert event.actor == "ann"

    # edited outside the browser (the manifest left out): the draft becomes the zip's files
    entries[BPMN] = change_control_with_duplicate_check()
    del entries["ofgem_threshold.dmn"]
    with pytest.raises(FileRefused):  # the diagram's decision table is gone: still a draft, but the lint says so
        raise_if_problems(library, library.upload_archive(PID, rezip(entries), "ann"))
    assert "ofgem_threshold.dmn" not in library.draft(PID).files
    assert library.draft(PID).files[BPMN] == normalise(change_control_with_duplicate_check())


def raise_if_problems(library, draft):
    problems = library.validate_draft(PID)
    if problems:
        raise FileRefused(problems)


def _refusal(library, data: bytes) -> str:
    with pytest.raises(FileRefused) as caught:
        library.upload_archive(PID, data, "ann")
    return str(caught.value)


def test_hostile_or_broken_zips_are_refused_and_the_draft_is_unchanged(gov, library):
    library.open_draft(PID, "ann")
    before = library.draft(PID).files
    _, good = library.version_archive(first_version_id(library))
    entries = unzip(good)
    manifest = json.loads(entries["manifest.json"])

    assert "outside the archive" in _refusal(library, rezip({"../change_control.bpmn": CHANGE_CONTROL}))
    assert "outside the archive" in _refusal(library, rezip({"/etc/change_control.bpmn": CHANGE_CONTROL}))
    assert "is a link" in _refusal(library, rezip({BPMN: b"/etc/passwd"}, link=BPMN))
    assert "zip bomb" in _refusal(library, rezip({BPMN: b"\0" * 3_000_000}))
    assert "too large" in _refusal(library, rezip({BPMN: b"\0" * (gov.config.max_upload_bytes + 1)}))
    assert "entries" in _refusal(library, rezip({f"forms/change_control/f{i}.schema.json": b"{}" for i in range(201)}))
    assert "not a readable zip" in _refusal(library, b"PK\x03\x04 not really a zip")
    tampered = dict(entries, **{BPMN: change_control_with_duplicate_check()})
    assert "does not match its sha256" in _refusal(library, rezip(tampered))
    other = dict(entries, **{"manifest.json": json.dumps(dict(manifest, process_id="appeal")).encode()})
    assert "not 'change_control'" in _refusal(library, rezip(other))
    unlisted = dict(entries, **{"forms/change_control/extra.schema.json": b"{}"})
    assert "does not list" in _refusal(library, rezip(unlisted))
    bad_xml = {BPMN: b'<?xml version="1.0"?>\n<bpmn:definitions xmlns:bpmn="x">\n<a>\n</bpmn:definitions>'}
    assert "change_control.bpmn line 4" in _refusal(library, rezip(bad_xml))
    assert "letters, digits" in _refusal(library, rezip({BPMN: CHANGE_CONTROL, "notes about it.txt": b"x"}))
    assert "one .bpmn diagram" in _refusal(library, rezip({"forms/change_control/a.schema.json": b"{}"}))
    assert library.draft(PID).files == before


def test_saving_normalises_and_an_unchanged_save_changes_nothing(library):
    library.open_draft(PID, "ann")
    messy = re.sub(rb">\s+<", b">\n\t<", change_control_with_duplicate_check())  # other indentation
    draft = library.save_file(PID, BPMN, messy, "ann")
    assert draft.files[BPMN] == normalise(change_control_with_duplicate_check())
    again = library.save_file(PID, BPMN, draft.files[BPMN], "ann")
    assert again.files[BPMN] == draft.files[BPMN] and again.revision == draft.revision  # no churn, no new revision


def test_web_zip_download_upload_and_canonical_downloads(signed_in, gov):
    client = signed_in("carol")  # programme staff may download
    page = client.get(f"/library/{PID}").data.decode()
    assert 'id="zip-1"' in page
    library = Library(gov)
    version_id = first_version_id(library)
    response = client.get(f"/library/versions/{version_id}/archive")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert 'filename="change_control-v1.zip"' in response.headers["Content-Disposition"]
    data = response.data
    assert client.post(f"/library/{PID}/draft/upload", data={
        "csrf_token": client.csrf, "file": (io.BytesIO(data), "change_control-v1.zip")},
        content_type="multipart/form-data").status_code == 403  # only analysts change drafts

    client = signed_in("ann")
    page = client.get(f"/library/{PID}").data.decode()
    assert 'id="upload-zip"' in page  # no draft yet: a zip can start one
    assert client.post(f"/library/{PID}/draft/upload", data={
        "file": (io.BytesIO(data), "change_control-v1.zip")}, content_type="multipart/form-data").status_code == 400
    response = client.post(f"/library/{PID}/draft/upload", data={
        "csrf_token": client.csrf, "file": (io.BytesIO(data), "change_control-v1.zip")},
        content_type="multipart/form-data")
    assert response.status_code == 302
    assert library.draft(PID) is not None and library.validate_draft(PID) == []
    bomb = rezip({"../../evil.bpmn": CHANGE_CONTROL})
    response = client.post(f"/library/{PID}/draft/upload", data={
        "csrf_token": client.csrf, "file": (io.BytesIO(bomb), "evil.zip")}, content_type="multipart/form-data")
    assert response.status_code == 422 and "outside the archive" in response.data.decode()

    # files out are canonical: the published (hand-written) file downloads normalised
    download = client.get(f"/library/versions/{version_id}/files/{BPMN}?download=1")
    assert download.data == normalise(CHANGE_CONTROL)
    # a save from the editor (JSON) is stored canonical
    client.post(f"/library/{PID}/draft/files/{BPMN}", json={"content": change_control_with_duplicate_check().decode()},
                headers={"X-CSRF-Token": client.csrf})
    assert client.get(f"/library/{PID}/draft/files/{BPMN}").data == normalise(change_control_with_duplicate_check())


@pytest.mark.parametrize("process_id", ["change_control", "escalation", "appeal", "meeting"])
def test_normalised_processes_compile_to_the_same_specs(gov, process_id):
    """What normalising processes/ would change is layout only: SpiffWorkflow reads the same specs from it."""
    from engine.bpmn.definitions import compile_process, load_bundle, roles_by_lane
    from engine.services.identity import role_pairs
    from engine.services.library import sources_of
    from engine.bpmn.state import _SERIALIZER
    library = Library(gov)
    latest = library.process(process_id)["latest"]
    files = library.version_files(latest["id"])
    with gov.db.read() as session:
        lanes = roles_by_lane(role_pairs(session))

    def specs(files):
        compiled = compile_process(load_bundle(sources_of(files)), process_id, lanes)
        convert = _SERIALIZER.registry.convert
        return convert(compiled.spec), {k: convert(v) for k, v in compiled.subprocess_specs.items()}

    # processes/ ships normalised: undo its layout (no indentation between tags), then normalise it back
    messy = {p: re.sub(rb">\s+<", b"><", c) if p.endswith((".bpmn", ".dmn")) else c for p, c in files.items()}
    assert any(messy[p] != files[p] for p in files)
    assert specs(messy) == specs(files)  # the layout carries no meaning
    canonical = {p: library.canonical(p, c) for p, c in messy.items()}
    assert canonical == files
    assert library.validate(canonical) == []
