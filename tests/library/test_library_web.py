"""The process library over HTTP: the library and process pages, drafts, check, upload (bad XML refused with line
and reason), the form preview, publish (analysts only), diff and the dry-run migration report."""
from __future__ import annotations

import io
import json
import re

from sqlalchemy import select

from engine.store.models import AuditEvent

from .helpers import change_control_with_duplicate_check, raise_data

PID = "change_control"


def open_draft(client):
    response = client.post(f"/library/{PID}/draft", data={"csrf_token": client.csrf})
    assert response.status_code == 302


def save_bpmn(client, xml: bytes, revision=None):
    return client.post(f"/library/{PID}/draft/files/change_control.bpmn",
                       json={"content": xml.decode(), "revision": revision}, headers={"X-CSRF-Token": client.csrf})


def test_library_lists_processes_with_versions_and_staff_only(signed_in):
    client = signed_in("alice")
    assert client.get("/library/").status_code == 403  # participants do not see the library
    client = signed_in("carol")
    page = client.get("/library/").data.decode()
    assert "Change request" in page and "Loop test" in page
    page = client.get(f"/library/{PID}").data.decode()
    assert 'id="version-1"' in page and "init" in page and "system" in page
    assert "change_control.bpmn" in page and "forms/change_control/validate.schema.json" in page
    assert 'id="open-draft"' not in page  # only analysts edit
    assert client.post(f"/library/{PID}/draft", data={"csrf_token": client.csrf}).status_code == 403


def test_check_shows_problems_and_publish_makes_a_version(signed_in, gov):
    old = gov.start(PID, "alice", raise_data())
    client = signed_in("ann")
    open_draft(client)
    page = client.get(f"/library/{PID}").data.decode()
    assert 'id="edit-diagram"' in page and "based on version 1" in page
    assert client.get(f"/library/{PID}/draft/diagram").status_code == 200
    answer = save_bpmn(client, change_control_with_duplicate_check(lane=False, form=False))
    assert answer.status_code == 200 and answer.json["saved"]
    problems = client.post(f"/library/{PID}/draft/check", headers={"X-CSRF-Token": client.csrf}).json["problems"]
    assert {p["element_id"] for p in problems} >= {"check_duplicates"}
    assert all(p["line"] for p in problems if p["element_id"] == "check_duplicates")
    page = client.get(f"/library/{PID}/publish").data.decode()
    assert "problem" in page and 'id="publish"' not in page
    # a stale save is refused
    stale = save_bpmn(client, change_control_with_duplicate_check(), revision=answer.json["revision"] - 1)
    assert stale.status_code == 409
    assert save_bpmn(client, change_control_with_duplicate_check(), revision=answer.json["revision"]).json["saved"]
    assert client.post(f"/library/{PID}/draft/check", headers={"X-CSRF-Token": client.csrf}).json["problems"] == []
    page = client.get(f"/library/{PID}/publish").data.decode()
    assert "check_duplicates" in page and 'id="publish"' in page
    # a note is needed
    response = client.post(f"/library/{PID}/publish", data={"csrf_token": client.csrf, "note": ""})
    assert response.status_code == 422 and "note" in response.data.decode()
    response = client.post(f"/library/{PID}/publish", data={"csrf_token": client.csrf, "note": "Duplicate check"})
    assert response.status_code == 302
    page = client.get(f"/library/{PID}").data.decode()
    assert 'id="version-2"' in page and "Duplicate check" in page and "There is no draft" in page

    # the diff between the versions shows the added task
    versions = re.findall(r'<option value="(\d+)"[^>]*>Version (\d)</option>', page)
    ids = {v: int(i) for i, v in versions}
    diff = client.get(f"/library/{PID}/diff?from={ids['1']}&to={ids['2']}").data.decode()
    assert 'data-change="added" data-element-id="check_duplicates"' in diff
    as_json = client.get(f"/library/{PID}/diff?from={ids['1']}&to={ids['2']}",
                         headers={"Accept": "application/json"}).json
    assert as_json["files_changed"] == ["change_control.bpmn"]

    # dry-run migration report for the old instance, then a refusal for a non-analyst
    report = client.post(f"/library/{PID}/migrate", data={"csrf_token": client.csrf, "instance": str(old.instance_id),
                                                           "to_version": str(ids["2"]), "action": "dry-run"})
    text = report.data.decode()
    assert report.status_code == 200 and f'data-instance="{old.instance_id}" data-ok="yes"' in text
    assert "Dry run" in text and 'id="migrate-now"' in text
    with gov.db.read() as session:
        assert "instance.migration_checked" in session.scalars(
            select(AuditEvent.action).where(AuditEvent.instance_id == old.instance_id)).all()
    client = signed_in("carol")
    assert client.post(f"/library/{PID}/migrate", data={"csrf_token": client.csrf, "instance": str(old.instance_id),
                                                         "to_version": str(ids["2"])}).status_code == 403


def test_publish_is_for_analysts_only(signed_in, gov):
    client = signed_in("ann")
    open_draft(client)
    save_bpmn(client, change_control_with_duplicate_check())
    client = signed_in("admin")
    response = client.post(f"/library/{PID}/publish", data={"csrf_token": client.csrf, "note": "x"})
    assert response.status_code == 403
    with gov.db.read() as session:
        from engine.store.models import ProcessVersion
        assert len(session.scalars(select(ProcessVersion).where(ProcessVersion.process_id == PID)).all()) == 1


def test_upload_refuses_bad_xml_with_line_and_reason_and_lints_good_files(signed_in):
    client = signed_in("ann")
    open_draft(client)
    bad = b'<?xml version="1.0"?>\n<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">\n<bpmn:process id="x">\n</bpmn:definitions>'
    response = client.post(f"/library/{PID}/draft/upload", data={
        "csrf_token": client.csrf, "file": (io.BytesIO(bad), "change_control.bpmn")},
        content_type="multipart/form-data")
    text = response.data.decode()
    assert response.status_code == 422 and "was not uploaded" in text
    assert re.search(r"change_control.bpmn line 4: .+", text), text
    xxe = b'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/hostname">]>\n<d>&x;</d>'
    response = client.post(f"/library/{PID}/draft/upload", data={
        "csrf_token": client.csrf, "file": (io.BytesIO(xxe), "ofgem_threshold.dmn")}, content_type="multipart/form-data")
    assert response.status_code == 422 and "DOCTYPE" in response.data.decode()
    other = change_control_with_duplicate_check().replace(b'<bpmn:process id="change_control"', b'<bpmn:process id="other"')
    response = client.post(f"/library/{PID}/draft/upload", data={
        "csrf_token": client.csrf, "file": (io.BytesIO(other), "change_control.bpmn")}, content_type="multipart/form-data")
    assert response.status_code == 422 and "not &#39;change_control&#39;" in response.data.decode()
    # a well-formed diagram with a lint problem is stored, and the lint is shown
    response = client.post(f"/library/{PID}/draft/upload", data={
        "csrf_token": client.csrf, "file": (io.BytesIO(change_control_with_duplicate_check(form=False)),
                                           "change_control.bpmn")}, content_type="multipart/form-data")
    text = response.data.decode()
    assert response.status_code == 200 and "is in the draft" in text and "check_duplicates" in text
    # a form upload goes under forms/<process>/
    form = json.dumps({"type": "object", "title": "Duplicates", "properties": {
        "duplicate_of": {"type": "string", "title": "Duplicate of"}}}).encode()
    response = client.post(f"/library/{PID}/draft/upload", data={
        "csrf_token": client.csrf, "file": (io.BytesIO(form), "check_duplicates.schema.json")},
        content_type="multipart/form-data")
    assert response.status_code == 200
    page = client.get(f"/library/{PID}").data.decode()
    assert "forms/change_control/check_duplicates.schema.json" in page
    download = client.get(f"/library/{PID}/draft/files/forms/change_control/check_duplicates.schema.json?download=1")
    assert download.data == form and "attachment" in download.headers["Content-Disposition"]


def test_form_editor_previews_exactly_as_the_inbox_renders(signed_in, app):
    client = signed_in("ann")
    open_draft(client)
    page = client.get(f"/library/{PID}/draft/forms/forms/change_control/validate.schema.json").data.decode()
    assert 'id="form-preview"' in page and "govuk-form-group" in page
    schema = {"type": "object", "title": "T", "required": ["why"], "properties": {
        "why": {"type": "string", "title": "Why?", "x-govflow-widget": "textarea"},
        "ok": {"type": "boolean", "title": "OK?", "x-govflow-enum-labels": {"true": "Yes", "false": "No"}}}}
    preview = client.post(f"/library/{PID}/forms/preview", data={"csrf_token": client.csrf,
                                                                 "content": json.dumps(schema)}).data.decode()
    from web.form_render import build_fields
    with app.test_request_context("/"):
        expected = app.jinja_env.from_string('{% from "macros/form.html" import field %}{% for f in fields %}'
                                             '{{ field(f) }}{% endfor %}').render(fields=build_fields(schema, {}, {}))
    assert preview.strip() == expected.strip()
    assert "govuk-textarea" in preview and "Yes" in preview
    broken = client.post(f"/library/{PID}/forms/preview", data={"csrf_token": client.csrf, "content": "{"}).data
    assert b"Not valid JSON" in broken
    # saving an invalid schema is refused, a valid one lands in the draft
    response = client.post(f"/library/{PID}/draft/files/forms/change_control/new.schema.json",
                           data={"csrf_token": client.csrf, "content": '{"type": "array"}'})
    assert response.status_code == 422 and "not a usable form" in response.data.decode()
    response = client.post(f"/library/{PID}/draft/files/forms/change_control/new.schema.json",
                           data={"csrf_token": client.csrf, "content": json.dumps(schema)})
    assert response.status_code == 302
    assert "forms/change_control/new.schema.json" in client.get(f"/library/{PID}").data.decode()


def test_simulate_page_shows_the_path(signed_in):
    client = signed_in("ann")
    open_draft(client)
    response = client.post(f"/library/{PID}/draft/simulate", data={
        "csrf_token": client.csrf, "start_data": json.dumps(raise_data()), "answers": "{}"})
    text = response.data.decode()
    assert 'id="simulation-path"' in text and 'data-element-id="start_raise"' in text
    assert "Validate the change request (validate)" in text


def test_diff_shows_decision_tables_side_by_side_with_changed_cells(signed_in, gov):
    client = signed_in("ann")
    open_draft(client)
    dmn = client.get(f"/library/{PID}/draft/files/ofgem_threshold.dmn").data
    edited = dmn.replace(b'<inputEntry id="rule_02_consumer">\n          <text>False</text>',
                         b'<inputEntry id="rule_02_consumer">\n          <text>-</text>')
    assert edited != dmn
    response = client.post(f"/library/{PID}/draft/files/ofgem_threshold.dmn", json={"content": edited.decode()},
                           headers={"X-CSRF-Token": client.csrf})
    assert response.json["saved"] is True
    version_id = _first_version_id(gov)
    page = client.get(f"/library/{PID}/diff?from={version_id}&to=draft").data.decode()
    section = page[page.index('id="table-diff-ofgem_threshold"'):]
    assert "Rules added: 0, removed: 0, changed: 1." in section
    assert section.count('data-changed="true"') == 2  # the cell, on both sides
    cells = section[section.index('id="changed-cells-ofgem_threshold"'):]
    assert "rule_02" in cells and "False" in cells and "-" in cells
    data = client.get(f"/library/{PID}/diff?from={version_id}&to=draft", headers={"Accept": "application/json"}).json
    table = data["documents"][0]["tables"][0]
    assert table["cell_changes"] == [{"rule": "rule_02", "column": "Material impact on consumers or competition?",
                                      "before": "False", "after": "-"}]


def _first_version_id(gov):
    from engine.store.models import ProcessVersion
    with gov.db.read() as session:
        return session.scalars(select(ProcessVersion.id).where(ProcessVersion.process_id == PID)).first()
