"""Bounded inputs over HTTP: a library upload of the probe's XML (200k attributes, 40k namespace declarations) or of
an alias-bomb settings.yaml is refused in seconds, not minutes, with its line and reason, and a task page whose
instructions repeat a list past the template budget is shown at once, its instructions as written with a notice.

The CPU-time bound is generous (the unbounded cases took minutes); it includes a worker's first template compile and
must not depend on how loaded the machine is. Speed itself is measured in bench/."""
from __future__ import annotations

import io
import time

from bench.xml_normalise import attributes_on_one_element, namespace_declarations
from tests.conftest import FIXTURES
from tests.unit.test_safe_yaml import alias_bomb

PID = "change_control"
IN_SECONDS = 5.0  # CPU seconds; the unbounded inputs took 120-333 s


def upload(client, name: str, content: bytes):
    started = time.process_time()
    response = client.post(f"/library/{PID}/draft/upload", data={
        "csrf_token": client.csrf, "file": (io.BytesIO(content), name)}, content_type="multipart/form-data")
    return response, time.process_time() - started


def test_the_probe_files_are_refused_in_seconds_with_line_and_reason(signed_in):
    client = signed_in("ann")
    assert client.post(f"/library/{PID}/draft", data={"csrf_token": client.csrf}).status_code == 302
    response, seconds = upload(client, "change_control.bpmn", attributes_on_one_element(200_000))
    assert response.status_code == 422 and seconds < IN_SECONDS  # 333 s before the parser's caps
    assert "change_control.bpmn line 3: an element with 200,002 attributes (the limit is 100)" in response.data.decode()
    response, seconds = upload(client, "change_control.bpmn", namespace_declarations(40_000))
    assert response.status_code == 422 and seconds < IN_SECONDS
    assert "line 2: more than 100 namespace declarations (xmlns)" in response.data.decode()
    response, seconds = upload(client, "settings.yaml", alias_bomb().encode())
    assert response.status_code == 422 and seconds < IN_SECONDS
    assert ("settings.yaml line 3: not valid YAML: anchors and aliases (&amp;layer_0) are not allowed"
            in response.data.decode())


def test_a_task_page_with_a_runaway_template_is_shown_at_once(gov, signed_in):
    gov.deploy([FIXTURES / "limits"], forms_dir=FIXTURES / "limits_forms", note="resource limits")
    instance_id = gov.start("limits", "alice").instance_id
    [probe] = [t for t in gov.tasks("alice") if t.instance_id == instance_id]
    gov.complete(probe.id, "alice", {"kind": "none", "size": 0})
    [task] = [t for t in gov.tasks("alice") if t.instance_id == instance_id]
    client = signed_in("alice")
    started = time.process_time()
    page = client.get(f"/tasks/{task.id}")
    assert page.status_code == 200 and time.process_time() - started < IN_SECONDS
    html = page.data.decode()
    assert 'id="instructions-notice"' in html and "a repetition longer than 20,000 is not allowed" in html
