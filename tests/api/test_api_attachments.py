"""Files through the API (SQLite and PostgreSQL): upload to a task's form (multipart), the web's checks (a polyglot
PDF is a 422 naming `file`), complete the task naming the file by id, list and download under the web's visibility
rules: another participant cannot read a returned request's attachment."""
from __future__ import annotations

from tests.sample_files import pdf
from tests.scenarios.change_control_driver import ANSWERS, RAISE, ChangeRequest

POLYGLOT = b"%PDF-1.4\n<html><script>alert(1)</script></html>\n%%EOF\n"


def _upload(client, header, instance_id: int, content: bytes, name: str = "assessment.pdf", **fields):
    from io import BytesIO
    return client.post(f"/api/v1/instances/{instance_id}/attachments", headers=header,
                       data={"file": (BytesIO(content), name), **fields}, content_type="multipart/form-data")


def test_a_file_uploaded_to_a_task_is_attached_when_the_task_is_completed(gov, clock, client, bearer):
    cr = ChangeRequest(gov, clock).do("validate").do("triage")
    task = cr.task("impact_assessment")
    will, bob = bearer("will"), bearer("bob")

    refused = _upload(client, will, cr.id, POLYGLOT, task_id=task.id)
    assert refused.status_code == 422 and refused.headers["Content-Type"] == "application/problem+json"
    assert [e["field"] for e in refused.json["errors"]] == ["file"]
    assert "not a real PDF" in refused.json["errors"][0]["message"]
    no_form = _upload(client, will, cr.id, pdf())
    assert no_form.status_code == 422 and "task_id" in {e["field"] for e in no_form.json["errors"]}
    wrong_field = _upload(client, will, cr.id, pdf(), task_id=task.id, field="ia_summary")
    assert wrong_field.status_code == 422 and wrong_field.json["errors"][0]["field"] == "field"

    made = _upload(client, will, cr.id, pdf(), task_id=task.id, description="The cost workings")
    assert made.status_code == 201, made.json
    assert made.json["field"] == "ia_documents" and made.json["status"] == "pending"
    assert made.headers["Location"].endswith(f"/api/v1/instances/{cr.id}/attachments/{made.json['id']}")
    assert client.get(made.headers["Location"], headers=will).data == pdf()  # mine while pending
    assert client.get(made.headers["Location"], headers=bearer("carol")).status_code == 404  # nobody else's
    uploaded = [e for e in gov.show(cr.id)["history"] if e["action"] == "attachment.uploaded"]
    assert uploaded[-1]["details"]["description"] == "The cost workings"

    forged = client.post(f"/api/v1/tasks/{task.id}/complete", headers=will,
                         json={"data": {**ANSWERS["impact_assessment"], "ia_documents": [{"id": made.json["id"] + 999}]}})
    assert forged.status_code == 422 and forged.json["errors"][0]["field"] == "ia_documents"
    done = client.post(f"/api/v1/tasks/{task.id}/complete", headers=will,
                       json={"data": {**ANSWERS["impact_assessment"], "ia_documents": [{"id": made.json["id"]}]}})
    assert done.status_code == 200, done.json
    listed = client.get(f"/api/v1/instances/{cr.id}/attachments", headers=bearer("carol")).json["items"]
    assert [(f["id"], f["name"], f["field"]) for f in listed] == [(made.json["id"], "assessment.pdf", "ia_documents")]
    assert client.get(listed[0]["download"], headers=bearer("carol")).data == pdf()
    # in impact assessment the request is its raiser's and the programme's: bob, another participant, reads nothing
    assert client.get(f"/api/v1/instances/{cr.id}/attachments", headers=bob).status_code == 403
    assert client.get(made.headers["Location"], headers=bob).status_code == 403


def test_another_party_cannot_read_a_returned_requests_attachment(gov, clock, client, bearer):
    started = gov.submissions.start("change_control", "alice", dict(RAISE),
                                    [("supporting_documents", "evidence.pdf", pdf())])
    cr = ChangeRequest.__new__(ChangeRequest)
    cr.gov, cr.clock, cr.raiser, cr.id, cr.done, cr.sent = gov, clock, "alice", started.instance_id, [], []
    cr.do("validate", valid=False, validation_issues="The impacted milestones are missing.")
    files = client.get(f"/api/v1/instances/{cr.id}/attachments", headers=bearer("alice")).json["items"]
    assert [f["name"] for f in files] == ["evidence.pdf"]
    download = files[0]["download"]
    for other in ("bob",):  # a participant with no part in it
        assert client.get(f"/api/v1/instances/{cr.id}/attachments", headers=bearer(other)).status_code == 403
        refused = client.get(download, headers=bearer(other))
        assert refused.status_code == 403 and refused.headers["Content-Type"] == "application/problem+json"
        assert refused.get_data() != pdf()
    assert client.get(download, headers=bearer("olive")).data == pdf()  # the observer reads every request
    assert client.get(download, headers=bearer("alice")).data == pdf()
