"""Running a draft in memory with sample data: nothing is stored; scripts run in the sandbox as in production."""
from __future__ import annotations

from typing import Callable

from lxml import etree

from engine.bpmn.definitions import BPMN_NS, compile_process, load_bundle, roles_by_lane
from engine.bpmn.safe_xml import UnsafeXmlError, parse_xml
from engine.bpmn.simulation import Simulation, SimulationEvent, simulate
from engine.clock import Clock
from engine.errors import NotFound
from engine.services.diagram_functions import script_functions
from engine.services.identity import role_pairs
from engine.services.library.files import sources_of


class Simulations:
    """Simulate a draft and list what a simulation step can name."""

    def simulate(self, process_id: str, start_data: dict | None = None,
                 answers: dict[str, dict] | None = None, events: list[SimulationEvent] | None = None,
                 max_steps: int = 200) -> Simulation:
        """Run the draft in memory with sample data (engine/bpmn/simulation.py): nothing is stored; scripts run in
        the sandbox as in production, with made-up references and no totals."""
        draft = self.draft(process_id)
        if draft is None:
            raise NotFound(f"There is no draft of '{process_id}'")
        problems = self.validate(draft.files)
        if problems:
            return Simulation(error=f"the draft has {len(problems)} problem(s): fix them before simulating")
        bundle = load_bundle(sources_of(draft.files))
        with self.db.read() as session:
            lanes = roles_by_lane(role_pairs(session))
        compiled = compile_process(bundle, process_id, lanes)
        clock = Clock(self.clock.now())
        return simulate(compiled, _simulation_functions(compiled.settings, clock, process_id), clock,
                        start_data or {}, answers or {}, events or [], max_steps, self.gov.config.script_time_limit)

    def simulation_catalogue(self, process_id: str) -> dict[str, list]:
        """What a simulation step can name in the draft: the messages its diagram catches and its timer events."""
        draft = self.draft(process_id)
        if draft is None or draft.bpmn_path is None:
            return {"messages": [], "timers": []}
        try:
            root = parse_xml(draft.files[draft.bpmn_path], draft.bpmn_path).getroot()
        except UnsafeXmlError:
            return {"messages": [], "timers": []}
        b = f"{{{BPMN_NS}}}"
        names = {m.get("id"): m.get("name") or m.get("id") for m in root.iter(b + "message")}
        caught = [names.get(ref, ref) for node in root.iter(b + "receiveTask", b + "messageEventDefinition")
                  if (ref := node.get("messageRef")) and (node.tag == b + "receiveTask" or etree.QName(
                      node.getparent()).localname in ("startEvent", "intermediateCatchEvent", "boundaryEvent"))]
        timers = [{"element_id": d.getparent().get("id"), "name": d.getparent().get("name") or ""}
                  for d in root.iter(b + "timerEventDefinition") if d.getparent().get("id")]
        return {"messages": sorted(set(caught)), "timers": timers}


def _simulation_functions(settings: dict, clock: Clock, process_id: str) -> dict[str, Callable]:
    """govflow's script functions on the draft's settings and the simulated clock with no database: references are
    made up, no totals."""
    functions = script_functions(None, clock, dict(settings), process_id)  # type: ignore[arg-type]
    counter = {"n": 0}

    def next_reference(prefix: str) -> str:
        counter["n"] += 1
        return f"{prefix}{counter['n']:03d}-SIM"

    functions.update(next_reference=next_reference, approved_total=lambda field: 0.0, notify=lambda *a, **k: 0,
                     count_instances=lambda *a, **k: 0, start_process=lambda *a, **k: None)
    return functions
