"""The form editor's "Add a field": an analyst adds an attachments field (most files, largest size, allowed types) the
same way as any other kind; the preview shows the file chooser exactly as the inbox renders it (limits from the
draft's settings.yaml); bad input is explained beside each box and the schema is kept; only analysts may add."""
from __future__ import annotations

import json
import re

import pytest

from engine.services.attachments import descriptor_items
from engine.bpmn.forms import schema_problem

from .helpers import open_draft_as_analyst

PID = "change_control"
FORM = "forms/change_control/triage.schema.json"
EDITOR = f"/library/{PID}/draft/forms/{FORM}"
ADD = f"/library/{PID}/draft/fields/{FORM}"
PREVIEW = f"/library/{PID}/forms/preview"
START = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "Check for duplicates",
         "type": "object", "properties": {"why": {"type": "string", "title": "Why?"}}, "required": ["why"],
         "additionalProperties": False}


def analyst(signed_in):
    client = signed_in("ann")
    assert client.post(f"/library/{PID}/draft", data={"csrf_token": client.csrf}).status_code == 302
    return client


def add(client, content, as_json=True, **inputs):
    data = {"csrf_token": client.csrf, "content": content if isinstance(content, str) else json.dumps(content),
            **{f"field_{k}": v for k, v in inputs.items()}}
    return client.post(ADD, data=data, headers={"Accept": "application/json"} if as_json else {})


def inbox_render(app, schema, settings):
    """What the inbox shows for this schema (web.form_render + macros/form.html)."""
    from web.form_render import Uploads, build_fields
    with app.test_request_context("/"):
        return app.jinja_env.from_string('{% from "macros/form.html" import field %}{% for f in fields %}'
                                         '{{ field(f) }}{% endfor %}').render(
            fields=build_fields(schema, {}, {}, uploads=Uploads(settings=settings)))


def test_the_editor_offers_attachments_beside_the_other_kinds(signed_in):
    page = analyst(signed_in).get(EDITOR).data.decode()
    kinds = re.findall(r'<option value="([a-z_]+)"', page[page.index('id="field-kind"'):])
    assert kinds[:10] == ["text", "textarea", "number", "money", "date", "email", "yes_no", "choice", "checkboxes",
                          "attachments"]
    assert 'id="field-max-files"' in page and 'id="field-max-mb"' in page
    # the allowed types offered are settings.yaml's
    assert re.findall(r'name="field_types" type="checkbox" value="([a-z]+)"', page) == \
        ["pdf", "docx", "xlsx", "pptx", "csv", "txt", "png", "jpg"]


def test_an_attachments_field_is_added_and_previewed_as_the_inbox_shows_it(signed_in, app, gov):
    client = analyst(signed_in)
    answer = add(client, START, kind="attachments", name="evidence", title="Evidence of the duplicate",
                 hint="The earlier request or its papers", required="yes", max_files="3", max_mb="2",
                 types=["docx", "pdf"])
    assert answer.status_code == 200, answer.data
    schema = json.loads(answer.get_json()["content"])
    assert schema["properties"]["why"] == START["properties"]["why"]  # the rest is kept as it was
    assert schema["properties"]["evidence"] == {
        "type": "array", "title": "Evidence of the duplicate", "description": "The earlier request or its papers",
        "x-govflow-widget": "attachments", "maxItems": 3,
        "x-govflow-attachments": {"max_bytes": 2_000_000, "types": ["pdf", "docx"]}, "items": descriptor_items()}
    assert schema["required"] == ["why", "evidence"]
    assert schema_problem(schema, {"attachment_max_bytes": 10_000_000}) is None
    preview = client.post(PREVIEW, data={"csrf_token": client.csrf, "content": answer.get_json()["content"]})
    html = preview.data.decode()
    settings = {"attachment_max_bytes": 10_000_000, "attachment_max_files": 10,
                "attachment_types": ["pdf", "docx", "xlsx", "pptx", "csv", "txt", "png", "jpg"]}
    assert html.strip() == inbox_render(app, schema, settings).strip()
    chooser = re.search(r'<input class="govuk-file-upload"[^>]*>', html).group(0)
    assert 'name="evidence"' in chooser and "multiple" in chooser and 'accept=".pdf,.docx"' in chooser
    assert "The earlier request or its papers Up to 3 files, each smaller than 2 MB: PDF, DOCX." in html
    # nothing is saved until the analyst saves the form
    assert b"evidence" not in gov_draft_file(client)
    saved = client.post(f"/library/{PID}/draft/files/{FORM}",
                        data={"csrf_token": client.csrf, "content": answer.get_json()["content"]})
    assert saved.status_code == 302
    assert json.loads(gov_draft_file(client))["properties"]["evidence"]["maxItems"] == 3


def gov_draft_file(client) -> bytes:
    return client.get(f"/library/{PID}/draft/files/{FORM}").data


def test_the_drafts_settings_yaml_sets_what_the_editor_offers_and_the_preview_shows(signed_in):
    client = analyst(signed_in)
    settings = client.get(f"/library/{PID}/draft/files/settings.yaml").data.decode()
    narrowed = settings.replace("attachment_max_bytes: 10000000", "attachment_max_bytes: 4000000") \
        .replace("attachment_types: [pdf, docx, xlsx, pptx, csv, txt, png, jpg]", "attachment_types: [pdf, png]")
    assert narrowed != settings
    saved = client.post(f"/library/{PID}/draft/files/settings.yaml",
                        data={"csrf_token": client.csrf, "content": narrowed})
    assert saved.status_code == 302
    page = client.get(EDITOR).data.decode()
    assert re.findall(r'name="field_types" type="checkbox" value="([a-z]+)"', page) == ["pdf", "png"]
    answer = add(client, START, kind="attachments", name="papers", title="Papers", max_mb="5")
    assert answer.get_json() == {"added": False, "errors": {"field_max_mb": "Enter a size in MB above 0 and up "
                                                                           "to 4"}}
    content = add(client, START, kind="attachments", name="papers", title="Papers").get_json()["content"]
    preview = client.post(PREVIEW, data={"csrf_token": client.csrf, "content": content}).data.decode()
    assert "Up to 10 files, each smaller than 4 MB: PDF, PNG." in preview and 'accept=".pdf,.png"' in preview
    # a field asking for a type the settings do not allow is refused in the preview, as lint would refuse it
    wider = json.loads(content)
    wider["properties"]["papers"]["x-govflow-attachments"] = {"types": ["docx"]}
    preview = client.post(PREVIEW, data={"csrf_token": client.csrf, "content": json.dumps(wider)}).data.decode()
    assert "Attachment field &#39;papers&#39;: types &#39;docx&#39; is not in attachment_types" in preview


def test_limits_left_empty_follow_the_settings_and_other_kinds_are_added_alike(signed_in):
    client = analyst(signed_in)
    plain = json.loads(add(client, START, kind="attachments", name="papers", title="Papers").get_json()["content"])
    assert plain["properties"]["papers"] == {"type": "array", "title": "Papers", "x-govflow-widget": "attachments",
                                             "items": descriptor_items()}
    assert plain["required"] == ["why"]
    choice = json.loads(add(client, plain, kind="choice", name="outcome", title="Outcome",
                            options="Duplicate\nNot a duplicate\n").get_json()["content"])
    assert choice["properties"]["outcome"] == {"title": "Outcome", "type": "string",
                                               "enum": ["Duplicate", "Not a duplicate"], "x-govflow-widget": "radios"}
    money = json.loads(add(client, choice, kind="money", name="cost", title="Cost").get_json()["content"])
    assert money["properties"]["cost"] == {"title": "Cost", "type": "number", "minimum": 0,
                                           "x-govflow-widget": "money"}
    assert list(money["properties"]) == ["why", "papers", "outcome", "cost"]


@pytest.mark.parametrize("inputs, errors", [
    ({"kind": "attachments", "name": "Evidence!", "title": ""},
     {"field_name": "Enter a name of lower-case letters, digits and _, starting with a letter (for example "
                    "supporting_documents)", "field_title": "Enter the question or label people will see"}),
    ({"kind": "attachments", "name": "why", "title": "Why"}, {"field_name": "The form already has a field called why"}),
    ({"kind": "attachments", "name": "papers", "title": "Papers", "max_files": "11", "max_mb": "25"},
     {"field_max_files": "Enter a whole number of files from 1 to 10",
      "field_max_mb": "Enter a size in MB above 0 and up to 10"}),
    ({"kind": "attachments", "name": "papers", "title": "Papers", "max_mb": "big"},
     {"field_max_mb": "Enter a size in MB above 0 and up to 10"}),
    ({"kind": "choice", "name": "outcome", "title": "Outcome", "options": "Only one"},
     {"field_options": "Enter between 2 and 50 options, one on each line"}),
    ({"kind": "spreadsheet", "name": "x", "title": "X"}, {"field_kind": "Select the kind of field"}),
])
def test_bad_input_is_explained_for_each_box(signed_in, inputs, errors):
    answer = add(analyst(signed_in), START, **inputs)
    assert answer.status_code == 422
    assert answer.get_json() == {"added": False, "errors": errors}


def test_a_schema_that_is_not_json_is_not_touched(signed_in):
    client = analyst(signed_in)
    answer = add(client, '{"type": "object",', kind="text", name="x", title="X")
    assert answer.status_code == 422
    assert answer.get_json()["errors"]["content"].startswith("Fix the JSON Schema before adding a field: it is not "
                                                             "valid JSON")


def test_without_the_script_the_page_comes_back_with_the_field_or_the_errors(signed_in):
    client = analyst(signed_in)
    page = add(client, START, as_json=False, kind="attachments", name="evidence", title="Evidence",
               max_files="2", types=["pdf"])
    html = page.data.decode()
    assert page.status_code == 200 and "The field evidence was added below" in html
    text = re.search(r'<textarea[^>]*id="schema"[^>]*>(.*?)</textarea>', html, re.S).group(1)
    assert "&#34;evidence&#34;" in text or "&quot;evidence&quot;" in text
    preview = html[html.index('id="form-preview"'):]
    assert '<input class="govuk-file-upload"' in preview and 'accept=".pdf"' in preview
    assert "Up to 2 files, each smaller than 10 MB: PDF." in preview
    refused = add(client, START, as_json=False, kind="attachments", name="evidence", title="", max_files="0")
    html = refused.data.decode()
    assert refused.status_code == 422
    assert 'id="field-title-error"' in html and 'id="field-max-files-error"' in html
    assert 'value="evidence"' in html  # what the analyst typed is kept
    assert "govuk-file-upload" not in html[html.index('id="form-preview"'):]  # nothing was added


def test_only_analysts_add_fields_and_only_with_the_csrf_token(signed_in):
    analyst(signed_in)
    carol = signed_in("carol")
    answer = add(carol, START, kind="text", name="x", title="X")
    assert answer.status_code == 403
    client = signed_in("ann")
    forged = client.post(ADD, data={"content": json.dumps(START), "field_kind": "text", "field_name": "x",
                                    "field_title": "X"}, headers={"Accept": "application/json"})
    assert forged.status_code == 400  # no CSRF token


@pytest.mark.browser
def test_an_analyst_adds_an_attachments_field_in_the_browser(page, live_server, gov):
    base = live_server
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    open_draft_as_analyst(page, base, PID)
    page.goto(base + EDITOR)
    assert page.is_hidden("#field-attachments-group") and page.is_visible("#field-kind")
    page.select_option("#field-kind", "attachments")
    assert page.is_visible("#field-attachments-group") and page.is_hidden("#field-options-group")
    page.fill("#field-name", "evidence")
    page.fill("#field-title", "Evidence of the duplicate")
    page.fill("#field-max-files", "0")
    page.click("#add-field-button")
    page.wait_for_selector("#field-max-files-error")
    assert "Enter a whole number of files from 1 to 10" in page.inner_text("#field-max-files-error")
    page.fill("#field-max-files", "2")
    page.fill("#field-max-mb", "5")
    page.check("#field-type-pdf")
    page.click("#add-field-button")
    page.wait_for_selector("#form-preview input[type=file]#f-evidence", timeout=10000)
    assert page.locator("#field-max-files-error").count() == 0
    chooser = page.locator("#form-preview #f-evidence")
    assert chooser.get_attribute("accept") == ".pdf" and chooser.get_attribute("multiple") is not None
    assert "Up to 2 files, each smaller than 5 MB: PDF." in page.inner_text("#form-preview")
    assert "The field evidence was added" in page.inner_text("#add-field-status")
    assert page.input_value("#field-name") == ""
    page.click("#save-form")
    page.wait_for_url(f"{base}/library/{PID}")
    from engine.services.library import Library
    saved = json.loads(Library(gov).draft(PID).files[FORM])
    assert saved["properties"]["evidence"]["x-govflow-attachments"] == {"max_bytes": 5_000_000, "types": ["pdf"]}
    assert not errors, errors
