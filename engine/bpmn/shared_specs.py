"""Specs shared by every instance of a version, in every process: what SpiffWorkflow changes in a spec while it runs
is done once, when the version is compiled, so a spec parsed in a new process behaves as the one that ran before.

Spiff 3.2 mutates specs in two places:
- a loop or multi-instance task connects its child's completion to itself when it creates its first child (Spiff's
  serializer reconnects it on restore, a freshly parsed spec would not: the restored loop would wait for ever);
- an event subprocess started by a message, signal, error or escalation is connected to the process's start and end
  the first time one is triggered. On a shared spec that would leak into every later instance (their start would
  open the event subprocess at once), and on a fresh spec the triggered subprocess would have no way to the end.
  Here the subprocess is connected to the end and given the start as its input up front, without becoming one of
  the start's outputs: Spiff's trigger then finds it connected and leaves the spec alone, and no instance opens the
  event subprocess by itself.
"""
from __future__ import annotations

from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask


def make_shareable(process_spec) -> None:
    """Do, once, what running would otherwise do to this spec (see the module docstring)."""
    _connect_loop_children(process_spec)
    _prepare_event_subprocess_triggers(process_spec)


def _connect_loop_children(process_spec) -> None:
    for task_spec in process_spec.task_specs.values():
        if isinstance(task_spec, LoopTask):
            child = process_spec.task_specs[task_spec.task_spec]
            if not child.completed_event.is_connected(task_spec.merge_child):
                child.completed_event.connect(task_spec.merge_child)


def _prepare_event_subprocess_triggers(process_spec) -> None:
    start = getattr(process_spec, "start", None)
    names = getattr(start, "trigger_specs", None)
    if not names:
        return
    for name in names:
        subprocess_task_spec = process_spec.task_specs[name]
        if process_spec.end not in subprocess_task_spec.outputs:
            subprocess_task_spec.connect(process_spec.end)
        if start not in subprocess_task_spec.inputs:  # an input for Spiff's checks, yet not one of start's outputs
            subprocess_task_spec._connect_notify(start)
