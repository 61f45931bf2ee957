"""Diagrams made from a roles.yaml for the access-policy tests: `policy_matrix` has one user task in each role's lane
(all open at once), and `policy_probe` is a request in one of several shapes (private, named for its raiser, for one
seat, open to the industry…), so the tests can ask who may act, see and hear without writing a role down."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

import yaml

MATRIX = "policy_matrix"
PROBE = "policy_probe"
SEAT_GROUP = "DAG:SUPPLIER_LARGE"  # one seat: DAG's large-supplier representative
OPEN_STATE = "decided"  # a state the probe's settings open to the whole industry
FORM = "probe/done.schema.json"  # every task's form: nothing to fill in

PARTICIPANT = "participant"
REVIEWER = "change_control_manager"


@dataclass(frozen=True)
class Shape:
    """A probe request's one open task (its lane's role, a group or seat, named for the raiser or not) and whether
    the request is open to the whole industry."""
    task_id: str
    lane_role: str
    group: str | None = None
    for_raiser: bool = False
    open_to_industry: bool = False


SHAPES = {
    "private": Shape("review", REVIEWER),  # raised, with the CCM, nothing open to the industry
    "lane_task": Shape("lane_task", PARTICIPANT),  # any participant may pick it up
    "named": Shape("named", PARTICIPANT, for_raiser=True),  # returned to its raiser
    "seat": Shape("seat", PARTICIPANT, group=SEAT_GROUP),  # for one constituency seat
    "group": Shape("group", PARTICIPANT, group="DAG"),  # for DAG's seat holders
    "open_group": Shape("open_group", PARTICIPANT, group="TWG"),  # an open working group: every participant
    "consultation": Shape("consulted", REVIEWER, open_to_industry=True),  # issued for consultation
    "open_state": Shape("decided", REVIEWER, open_to_industry=True),  # in a state the settings open
}
OPEN_GROUPS = {"TWG"}


def read_roles(path: Path) -> list[dict]:
    """The roles of a roles.yaml, read here independently of the engine."""
    return list((yaml.safe_load(path.read_text()) or {}).get("roles") or [])


def capabilities_in_yaml(role: dict) -> set[str]:
    return set(role.get("may") or []) - set(role.get("never") or [])


def person_capabilities(roles: list[dict], role_ids) -> set[str]:
    """What the YAML says someone holding these roles may do: any role's `may`, less any role's `never`."""
    held = [r for r in roles if r["id"] in set(role_ids)]
    granted = set().union(*(set(r.get("may") or []) for r in held)) if held else set()
    refused = set().union(*(set(r.get("never") or []) for r in held)) if held else set()
    return granted - refused


def _definitions(process_id: str, name: str, lanes: list[tuple[str, list[str]]], body: str) -> str:
    lane_xml = "".join(
        f'      <bpmn:lane id="Lane_{n}" name={quoteattr(lane)}>\n'
        + "".join(f"        <bpmn:flowNodeRef>{ref}</bpmn:flowNodeRef>\n" for ref in refs)
        + "      </bpmn:lane>\n" for n, (lane, refs) in enumerate(lanes) if refs)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="Definitions_{process_id}" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:collaboration id="Collaboration_{process_id}">
    <bpmn:participant id="Participant_{process_id}" name={quoteattr(name)} processRef="{process_id}" />
  </bpmn:collaboration>
  <bpmn:process id="{process_id}" name={quoteattr(name)} isExecutable="true">
    <bpmn:laneSet id="LaneSet_{process_id}">
{lane_xml}    </bpmn:laneSet>
{body}  </bpmn:process>
</bpmn:definitions>
"""


def _user_task(task_id: str, name: str, incoming: str, outgoing: str, properties: dict[str, str] | None = None) -> str:
    properties = {"formJsonSchemaFilename": FORM, **(properties or {})}
    props = "".join(f'<spiffworkflow:property name="{k}" value={quoteattr(v)} />' for k, v in (properties or {}).items())
    ext = (f"<bpmn:extensionElements><spiffworkflow:properties>{props}</spiffworkflow:properties>"
           "</bpmn:extensionElements>") if props else ""
    return (f'    <bpmn:userTask id="{task_id}" name={quoteattr(name)}>{ext}<bpmn:incoming>{incoming}</bpmn:incoming>'
            f"<bpmn:outgoing>{outgoing}</bpmn:outgoing></bpmn:userTask>\n")


def _flow(flow_id: str, source: str, target: str, condition: str | None = None) -> str:
    if condition is None:
        return f'    <bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}" />\n'
    return (f'    <bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}">'
            f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}</bpmn:conditionExpression>'
            "</bpmn:sequenceFlow>\n")


def matrix_bpmn(roles: list[dict], start_role: str) -> str:
    """One user task per role, `task_<role id>` in that role's lane, all open at once after the start."""
    by_id = {r["id"]: r for r in roles}
    body = ('    <bpmn:startEvent id="start" name="Start"><bpmn:outgoing>f_start</bpmn:outgoing></bpmn:startEvent>\n'
            '    <bpmn:parallelGateway id="split" name="Split"><bpmn:incoming>f_start</bpmn:incoming>'
            + "".join(f"<bpmn:outgoing>f_in_{r['id']}</bpmn:outgoing>" for r in roles) + "</bpmn:parallelGateway>\n"
            '    <bpmn:parallelGateway id="join" name="Join">'
            + "".join(f"<bpmn:incoming>f_out_{r['id']}</bpmn:incoming>" for r in roles)
            + "<bpmn:outgoing>f_end</bpmn:outgoing></bpmn:parallelGateway>\n"
            '    <bpmn:endEvent id="end" name="End"><bpmn:incoming>f_end</bpmn:incoming></bpmn:endEvent>\n'
            + "".join(_user_task(f"task_{r['id']}", f"Task for {r['name']}", f"f_in_{r['id']}", f"f_out_{r['id']}")
                      for r in roles)
            + _flow("f_start", "start", "split") + _flow("f_end", "join", "end")
            + "".join(_flow(f"f_in_{r['id']}", "split", f"task_{r['id']}")
                      + _flow(f"f_out_{r['id']}", f"task_{r['id']}", "join") for r in roles))
    lanes = [(r["name"], [f"task_{r['id']}"] + (["start", "split", "join", "end"] if r["id"] == start_role else []))
             for r in roles]
    assert start_role in by_id
    return _definitions(MATRIX, "Policy matrix", lanes, body)


def probe_bpmn(lane_names: dict[str, str]) -> str:
    """A request raised by a participant, in the shape its start data names (`shape`, one of SHAPES)."""
    participant, reviewer = lane_names[PARTICIPANT], lane_names[REVIEWER]
    script = ("state = shape\n"
              "if shape == 'consultation':\n    consultation_opened_at = '2026-12-01'\n"
              f"if shape == 'open_state':\n    state = '{OPEN_STATE}'\n")
    tasks = {name: (shape.task_id, lane_names[shape.lane_role],
                    {**({"assignee": "started_by"} if shape.for_raiser else {}),
                     **({"group": repr(shape.group)} if shape.group else {})})
             for name, shape in SHAPES.items()}
    body = ('    <bpmn:startEvent id="start" name="Raise"><bpmn:outgoing>f_start</bpmn:outgoing></bpmn:startEvent>\n'
            '    <bpmn:scriptTask id="shape_it" name="Shape it" scriptFormat="python"><bpmn:incoming>f_start'
            f"</bpmn:incoming><bpmn:outgoing>f_gw</bpmn:outgoing><bpmn:script>{script}</bpmn:script>"
            "</bpmn:scriptTask>\n"
            '    <bpmn:exclusiveGateway id="which" name="Which shape?"><bpmn:incoming>f_gw</bpmn:incoming>'
            + "".join(f"<bpmn:outgoing>f_to_{s}</bpmn:outgoing>" for s in tasks) + "</bpmn:exclusiveGateway>\n"
            '    <bpmn:endEvent id="end" name="End">'
            + "".join(f"<bpmn:incoming>f_from_{s}</bpmn:incoming>" for s in tasks) + "</bpmn:endEvent>\n"
            + "".join(_user_task(task_id, task_id.replace("_", " ").capitalize(), f"f_to_{s}", f"f_from_{s}", props)
                      for s, (task_id, _, props) in tasks.items())
            + _flow("f_start", "start", "shape_it") + _flow("f_gw", "shape_it", "which")
            + "".join(_flow(f"f_to_{s}", "which", task_id, f"shape == '{s}'")
                      + _flow(f"f_from_{s}", task_id, "end") for s, (task_id, _, _) in tasks.items()))
    lanes = [(participant, ["start", "shape_it", "which", "end"]
              + [t for t, lane, _ in tasks.values() if lane == participant]),
             (reviewer, [t for t, lane, _ in tasks.values() if lane == reviewer])]
    return _definitions(PROBE, "Policy probe", lanes, body)


def write_probes(folder: Path, forms: Path, roles: list[dict], start_role: str = "admin") -> Path:
    """Both diagrams and the probe's settings in `folder`, their form in `forms`, ready to deploy."""
    folder.mkdir(parents=True, exist_ok=True)
    (forms / FORM).parent.mkdir(parents=True, exist_ok=True)
    (forms / FORM).write_text('{"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "Done", '
                              '"type": "object", "properties": {}}')
    (folder / f"{MATRIX}.bpmn").write_text(matrix_bpmn(roles, start_role))
    (folder / f"{PROBE}.bpmn").write_text(probe_bpmn({r["id"]: r["name"] for r in roles}))
    (folder / "settings.yaml").write_text(f"industry_visible_states: [{OPEN_STATE}]\n")
    return folder
