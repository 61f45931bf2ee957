"""engine/services/attachments.py on SQLite and PostgreSQL: limits as data, type checks on the bytes, pending files only their
uploader sees, attaching to an instance, downloads by who may see it (403 and an audit event otherwise), removal and
purging, each with its audit event."""
from __future__ import annotations

import hashlib
import io
import zipfile
import pytest
from sqlalchemy import select

from engine.services.attachments import (AttachmentRefused, Limits, check, clean_name, limits_for, size_text)
from engine.errors import Forbidden
from engine.store.models import Attachment, AuditEvent
from tests.scenarios.change_control_driver import ChangeRequest


from tests.sample_files import PDF
from tests.sample_files import JPG, PNG, office
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(64)
LIMITS = Limits(max_bytes=1_000, max_files=2, types=("pdf", "docx", "csv", "png", "jpg"))


def test_limits_come_from_settings_and_the_field_may_narrow_them():
    settings = {"attachment_max_bytes": 2_000_000, "attachment_max_files": 4, "attachment_types": ["pdf", "png"]}
    assert limits_for({}, settings) == Limits(2_000_000, 4, ("pdf", "png"))
    narrowed = limits_for({"maxItems": 1, "x-govflow-attachments": {"max_bytes": 500, "types": ["pdf", "jpeg"]}},
                          settings)
    assert narrowed == Limits(500, 1, ("pdf", "jpg"))
    assert "1 file, each smaller than 500 bytes: PDF, JPG." == narrowed.describe()
    assert limits_for({}, {}).types == ("pdf", "docx", "xlsx", "pptx", "csv", "txt", "png", "jpg")
    assert size_text(10_000_000) == "10 MB" and size_text(1_500_000) == "1.5 MB" and size_text(2_400) == "2 KB"


@pytest.mark.parametrize("name, content, kind", [
    ("options.pdf", PDF, "pdf"), ("Plan.DOCX", office("docx"), "docx"),
    ("costs.csv", b"a,b\n1,2\n", "csv"),
    ("costs.csv", "name,£\nÉlec,5\n".encode("cp1252"), "csv"), ("photo.jpeg", JPG, "jpg"),
    ("diagram.png", PNG, "png"),
])
def test_a_file_is_accepted_when_its_name_and_its_bytes_agree(name, content, kind):
    assert check(name, content, LIMITS) == kind


@pytest.mark.parametrize("name, content, message", [
    ("setup.exe", EXE, "‘setup.exe’ must be a PDF, DOCX, CSV, PNG, JPG"),
    ("report.pdf", EXE, "‘report.pdf’ is not a real PDF: its contents do not match its name"),
    ("plan.docx", office("docx", main_part="xl/workbook.xml"), "‘plan.docx’ is not a real Word document"),
    ("plan.docx", b"PK\x03\x04 not really a zip", "‘plan.docx’ is not a real Word document"),
    ("data.csv", b"a,b\x00\x01", "‘data.csv’ is not a real CSV"),
    ("notes.txt", b"hello", "‘notes.txt’ must be a PDF"),
    ("empty.pdf", b"", "‘empty.pdf’ is empty"),
    ("big.pdf", PDF + bytes(1_000), "‘big.pdf’ must be smaller than 1 KB"),
    ("no-extension", PDF, "‘no-extension’ must be a PDF"),
])
def test_a_file_is_refused_with_a_plain_reason(name, content, message):
    with pytest.raises(AttachmentRefused) as refused:
        check(name, content, LIMITS)
    assert str(refused.value).startswith(message)


def test_names_are_made_safe():
    assert clean_name("../../etc/passwd.pdf") == "passwd.pdf"
    assert clean_name("C:\\Users\\alice\\My \"best\" plan.pdf") == "My 'best' plan.pdf"
    assert "\n" not in clean_name("bad\r\nname.pdf") and clean_name("bad\r\nname.pdf") == "badname.pdf"
    long = clean_name("x" * 400 + ".pdf")
    assert len(long) == 255 and long.endswith(".pdf")
    assert clean_name("") == "file"


def _audit(gov, action):
    with gov.db.read() as db:
        return db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).all()


def test_a_pending_file_is_its_uploaders_until_the_form_reaches_the_instance(gov, clock):
    files = gov.attachments
    stored = files.store("alice", "supporting_documents", "options.pdf", PDF, LIMITS)
    assert stored == {"id": stored["id"], "name": "options.pdf", "size": len(PDF), "type": "application/pdf"}
    with gov.db.read() as db:
        row = db.get(Attachment, stored["id"])
        assert (row.status, row.instance_id, row.uploaded_by, row.sha256) == \
            ("pending", None, "alice", hashlib.sha256(PDF).hexdigest())
        assert bytes(row.content) == PDF
    [uploaded] = _audit(gov, "attachment.uploaded")
    assert uploaded.actor == "alice" and uploaded.details["name"] == "options.pdf"

    # only alice's own new-request form may hold it, and only she may download it
    assert files.usable([stored["id"]], "alice") == {stored["id"]: stored}
    assert files.usable([stored["id"]], "bob") == {}
    assert files.usable([stored["id"]], "alice", instance_id=1, task_id="x") == {}
    assert files.fetch(stored["id"], "alice") == (stored, PDF)
    with pytest.raises(Forbidden):
        files.fetch(stored["id"], "carol")
    denied = _audit(gov, "access.denied")[-1]
    assert denied.actor == "carol" and denied.details["attempted"] == "download attachment"

    # the request is raised with it (attached in the start's own transaction): now everyone who may see the request
    # may download it
    cr = ChangeRequest(gov, clock, supporting_documents=[stored])
    with gov.db.read() as db:
        assert (db.get(Attachment, stored["id"]).status, db.get(Attachment, stored["id"]).instance_id) == \
            ("attached", cr.id)
    assert cr.data["supporting_documents"] == [stored]
    assert files.of_instance(cr.id)[0]["id"] == stored["id"]
    assert files.fetch(stored["id"], "carol")[1] == PDF  # staff see every request
    with pytest.raises(Forbidden):
        files.fetch(stored["id"], "bob")  # a participant who neither raised it nor works on it, before consultation
    attached = _audit(gov, "attachment.attached")[-1]
    assert attached.instance_id == cr.id and attached.details["attachments"][0]["id"] == stored["id"]
    # an attached file is not removed by a form any more
    assert files.remove(stored["id"], "alice") is False


def test_removing_a_pending_file_deletes_it_with_an_audit_event(gov):
    files = gov.attachments
    stored = files.store("alice", "supporting_documents", "costs.csv", b"a,b\n", LIMITS)
    assert files.remove(stored["id"], "bob") is False  # not bob's
    assert files.remove(stored["id"], "alice") is True
    with gov.db.read() as db:
        assert db.get(Attachment, stored["id"]) is None
    [removed] = _audit(gov, "attachment.removed")
    assert removed.actor == "alice" and removed.details["name"] == "costs.csv"


def test_too_many_files_are_refused(gov):
    with pytest.raises(AttachmentRefused, match="You can attach up to 2 files here"):
        gov.attachments.store("alice", "supporting_documents", "a.pdf", PDF, LIMITS, already=2)


def test_abandoned_pending_files_are_purged(gov, clock):
    files = gov.attachments
    old = files.store("alice", "supporting_documents", "old.pdf", PDF, LIMITS)
    clock.advance(days=2, minutes=1)
    cr = ChangeRequest(gov, clock)
    [validate] = cr.tasks_of("carol", "validate")
    on_task = files.store("carol", "validation_files", "v.pdf", PDF, LIMITS, instance_id=cr.id, task_id=validate.id)
    with gov.db.read() as db:
        assert db.get(Attachment, old["id"]) is None  # waited over two days on a form without a task
        assert db.get(Attachment, on_task["id"]) is not None
    cr.do("validate")  # the task ends without the file
    files.store("alice", "supporting_documents", "new.pdf", PDF, LIMITS)
    with gov.db.read() as db:
        assert db.get(Attachment, on_task["id"]) is None
    purged = _audit(gov, "attachment.purged")
    assert [e.details["attachments"] for e in purged] == [[old["id"]], [on_task["id"]]]


def test_a_form_attaches_only_its_submitters_pending_files_in_the_same_transaction(gov, clock):
    mine = gov.attachments.store("alice", "supporting_documents", "mine.pdf", PDF, LIMITS)
    theirs = gov.attachments.store("bob", "supporting_documents", "theirs.pdf", PDF, LIMITS)
    cr = ChangeRequest(gov, clock, supporting_documents=[mine, theirs])  # bob's id named in alice's form
    with gov.db.read() as db:
        assert (db.get(Attachment, mine["id"]).status, db.get(Attachment, mine["id"]).instance_id) == ("attached", cr.id)
        assert (db.get(Attachment, theirs["id"]).status, db.get(Attachment, theirs["id"]).instance_id) == ("pending", None)
        attached = db.scalars(select(AuditEvent).where(AuditEvent.action == "attachment.attached")).one()
    assert attached.instance_id == cr.id and [a["id"] for a in attached.details["attachments"]] == [mine["id"]]
    assert [f["id"] for f in gov.attachments.of_instance(cr.id)] == [mine["id"]]
