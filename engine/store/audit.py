"""Audit events: one row for every state change, written in the same transaction as the change, in hash chains.

A transaction's events are queued on its session and inserted together, in one statement, just before it commits
(after the session's own flush, so the rows they refer to exist); a rollback drops them with everything else.

Tamper evidence. Every event belongs to a chain: its instance's, or the `global` chain for events without one. It
holds its position in that chain (`seq`, from 1), the hash of the event before it (`prev_hash`, "" for the first)
and its own `hash`: SHA-256 of the canonical JSON (sorted keys, no spaces, timestamps as UTC ISO 8601 with
microseconds) of its fields and those two. Each chain's head (its length and last hash) is kept beside it: on the
instance row (`audit_seq`, `audit_head`) and, for the global chain, in `audit_head`. `verify` walks every chain and
reports each broken link: an edited row no longer matches its hash, a deleted row leaves a gap (or a head longer
than its chain). Anchors (`anchor`, daily from the scheduler) are `audit.anchored` events in the global chain that
vouch for the head of every chain that moved since the previous anchor; the global head's hash after one is the
digest to keep elsewhere. On both databases, triggers made by the migration refuse UPDATE, DELETE (and, on
PostgreSQL, TRUNCATE) of audit rows.

Concurrency: a chain is appended to only under its head's row lock, held until commit, so concurrent commands never
fork it. A command on an instance already holds that instance's row (and its UPDATE carries the new head, at no
extra statement); other writers lock the instance rows they need in id order, and the global head last.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.orm.util import identity_key

from engine.store.models import AuditEvent, AuditHead, Instance

_PENDING = "govflow.audit_pending"
GLOBAL = "global"  # the chain of events without an instance
ANCHORED = "audit.anchored"
HASHED = ("at", "actor", "action", "instance_id", "task_id", "element_id", "details")  # with seq and prev_hash


def record(session: Session, at: datetime, actor: str, action: str, *, instance_id: int | None = None,
           task_id: str | None = None, element_id: str | None = None, **details: Any) -> None:
    """Queue an audit event on the session: it is written when the command's transaction commits."""
    session.info.setdefault(_PENDING, []).append(
        {"at": at, "actor": actor, "action": action, "instance_id": instance_id, "task_id": task_id,
         "element_id": element_id, "details": _jsonable(details)})


def event_hash(row: dict[str, Any]) -> str:
    """The hash of an event: SHA-256 of the canonical JSON of its hashed fields, `seq` and `prev_hash`."""
    body = {name: row[name] for name in HASHED}
    body.update(at=_utc_text(row["at"]), seq=row["seq"], prev_hash=row["prev_hash"] or "")
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def chain(rows: Iterable[dict[str, Any]], seq: int, head: str) -> tuple[int, str]:
    """Give each row (in order) its place after a chain of `seq` events ending in `head`; the new (seq, head)."""
    for row in rows:
        seq += 1
        row["seq"], row["prev_hash"] = seq, head
        head = row["hash"] = event_hash(row)
    return seq, head


def stream_name(instance_id: int | None) -> str:
    return GLOBAL if instance_id is None else f"instance:{instance_id}"


@event.listens_for(Session, "before_flush")
def _chain_with_instances(session: Session, _context, _objects) -> None:
    """Events of an instance this flush updates anyway are chained now: the instance's UPDATE carries the head."""
    rows = session.info.get(_PENDING)
    if rows:
        _chain_carried(session, [row for row in rows if "hash" not in row])


_EVENTS = AuditEvent.__table__
_HEADS = AuditHead.__table__
_INSTANCES = Instance.__table__
# built once: a statement's cache key is then computed once, not on every command
_INSERT_EVENTS = insert(_EVENTS)
_INSTANCE_HEAD = select(_INSTANCES.c.audit_seq, _INSTANCES.c.audit_head).where(
    _INSTANCES.c.id == bindparam("instance_id"))
_MOVE_INSTANCE_HEAD = (update(_INSTANCES).where(_INSTANCES.c.id == bindparam("instance_id"))
                       .values(audit_seq=bindparam("new_seq"), audit_head=bindparam("new_head"),
                               revision=_INSTANCES.c.revision + 1))
_GLOBAL_HEAD = select(_HEADS.c.seq, _HEADS.c.hash).where(_HEADS.c.stream == GLOBAL)
_MOVE_GLOBAL_HEAD = update(_HEADS).where(_HEADS.c.stream == GLOBAL).values(seq=bindparam("new_seq"),
                                                                           hash=bindparam("new_head"))
_LOCKED = {False: (_INSTANCE_HEAD, _GLOBAL_HEAD),
           True: (_INSTANCE_HEAD.with_for_update(key_share=True), _GLOBAL_HEAD.with_for_update())}


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    rows = session.info.pop(_PENDING, None)
    if not rows:
        return
    others = _chain_carried(session, [row for row in rows if "hash" not in row])
    session.flush()
    instance_head, global_head = _LOCKED[session.get_bind().dialect.name == "postgresql"]
    for instance_id in sorted(others):  # one order for every writer: no deadlock between them
        seq, last = session.execute(instance_head, {"instance_id": instance_id}).one()
        seq, last = chain(others[instance_id], seq, last)
        # the revision moves too, so a writer that read the instance before this cannot overwrite its head
        session.execute(_MOVE_INSTANCE_HEAD, {"instance_id": instance_id, "new_seq": seq, "new_head": last})
    unchained = [row for row in rows if "hash" not in row]
    if unchained:
        _append_global(session, unchained, global_head)
    session.execute(_INSERT_EVENTS, rows)


def chain_instance(session: Session, instance_id: int, seq: int, head: str) -> tuple[int, str]:
    """Chain the instance's queued events not yet chained after its head (`seq`, `head`): the new head, which the
    caller's own version-checked UPDATE of the instance row then carries."""
    rows = [row for row in session.info.get(_PENDING, ()) if row["instance_id"] == instance_id and "hash" not in row]
    return chain(rows, seq, head)


def _chain_carried(session: Session, rows: list[dict]) -> dict[int, list[dict]]:
    """Chain the rows of instances this transaction has changed and not yet flushed (the version-checked UPDATE
    of the instance row then carries the new head: no statement of its own); the other instances' rows."""
    streams: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        if row["instance_id"] is not None:
            streams[row["instance_id"]].append(row)
    if not streams:
        return {}
    others = {}
    for instance_id, own in streams.items():
        instance = session.identity_map.get(identity_key(Instance, instance_id))
        if instance is not None and instance_state(instance).modified:  # in session.dirty, without building it
            instance.audit_seq, instance.audit_head = chain(own, instance.audit_seq, instance.audit_head)
        else:
            others[instance_id] = own
    return others


def _append_global(session: Session, rows: list[dict], global_head) -> None:
    found = session.execute(global_head).first()
    if found is None:
        raise RuntimeError("The audit trail has no global chain head: run `govflow init` to upgrade the database")
    seq, last = chain(rows, *found)
    session.execute(_MOVE_GLOBAL_HEAD, {"new_seq": seq, "new_head": last})


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN or infinity
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _utc_text(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


# --- checking the chains ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Break:
    """One broken link: the event where it shows (None when a whole chain or its tail is gone), its chain, and what
    differs."""

    event_id: int | None
    stream: str
    problem: str

    def as_dict(self) -> dict:
        return {"event_id": self.event_id, "chain": self.stream, "problem": self.problem}


@dataclass
class Verdict:
    events: int = 0
    chains: int = 0
    anchors: int = 0
    breaks: list[Break] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.breaks

    @property
    def first(self) -> Break | None:
        """The first broken link: the lowest event id (a gone tail, with no event to name, last)."""
        return min(self.breaks, key=lambda b: (b.event_id is None, b.event_id or 0), default=None)

    def as_dict(self) -> dict:
        return {"intact": self.intact, "events": self.events, "chains": self.chains, "anchors": self.anchors,
                "first_break": self.first.as_dict() if self.first else None,
                "breaks": [b.as_dict() for b in self.breaks]}


def verify(session: Session, batch: int = 2000) -> Verdict:
    """Walk every chain, recomputing each event's hash, checking each link, each head and every anchor's claims."""
    verdict = Verdict()
    claims = _anchor_claims(session, verdict)
    heads = {stream_name(i): (s, h) for i, s, h in session.execute(
        select(Instance.id, Instance.audit_seq, Instance.audit_head).where(Instance.audit_seq > 0))}
    heads.update({s: (n, h) for s, n, h in session.execute(select(AuditHead.stream, AuditHead.seq, AuditHead.hash))})
    columns = [AuditEvent.id, AuditEvent.seq, AuditEvent.prev_hash, AuditEvent.hash,
               *(getattr(AuditEvent, name) for name in HASHED)]
    query = select(*columns).order_by(AuditEvent.instance_id, AuditEvent.seq, AuditEvent.id)
    seen: set[str] = set()
    walk: _Walk | None = None
    for row in session.execute(query.execution_options(yield_per=batch)).mappings():
        stream = stream_name(row["instance_id"])
        if walk is None or walk.stream != stream:
            if walk is not None:
                walk.end(heads.get(walk.stream, (0, "")))
            walk = _Walk(stream, verdict, claims)
            seen.add(stream)
        walk.step(row)
    if walk is not None:
        walk.end(heads.get(walk.stream, (0, "")))
    for stream, (seq, _last) in heads.items():
        if stream not in seen and seq > 0:
            verdict.breaks.append(Break(None, stream, f"its head says it holds {seq} event(s) but none is left: "
                                                      "they were deleted"))
    verdict.chains = len(seen)
    for (stream, seq), (_hash, anchor_id) in claims.items():
        verdict.breaks.append(Break(anchor_id, stream, f"anchor event {anchor_id} vouches for position {seq} of this "
                                                       "chain, which is empty: its events were deleted"))
    return verdict


class _Walk:
    """One chain's walk, in `seq` order."""

    def __init__(self, stream: str, verdict: Verdict, claims: dict):
        self.stream, self.verdict, self.claims = stream, verdict, claims
        self.seq, self.last, self.last_id = 0, "", None

    def broken(self, event_id: int | None, problem: str) -> None:
        self.verdict.breaks.append(Break(event_id, self.stream, problem))

    def step(self, row) -> None:
        self.verdict.events += 1
        event_id, seq, stored = row["id"], row["seq"], row["hash"]
        if seq is None or not stored:
            self.broken(event_id, "it has no place in the chain (no position or hash): it was written around the "
                                  "audit trail")
            return
        expected = self.seq + 1
        if seq > expected:
            missing = f"position {expected} is" if seq == expected + 1 else f"positions {expected}-{seq - 1} are"
            self.broken(event_id, f"it holds position {seq} of this chain but {missing} empty: the event(s) before "
                                  "it were deleted")
        elif seq < expected:
            self.broken(event_id, f"it claims position {seq} in the chain, already taken: a copied or forged row")
        elif (row["prev_hash"] or "") != self.last:
            self.broken(event_id, f"it links to a previous event with hash {_short(row['prev_hash'])} but the event "
                                  f"before it has {_short(self.last)}: the chain was cut or rewritten here")
        recomputed = event_hash(dict(row))
        if recomputed != stored:
            self.broken(event_id, f"its contents no longer match its hash (stored {_short(stored)}, computed "
                                  f"{_short(recomputed)}): it was changed after it was written")
        claim = self.claims.pop((self.stream, seq), None)
        if claim is not None and claim[0] != stored:
            self.broken(event_id, f"anchor event {claim[1]} vouched for hash {_short(claim[0])} at this position, "
                                  f"it now holds {_short(stored)}")
        self.seq, self.last, self.last_id = seq, stored, event_id

    def end(self, head: tuple[int, str]) -> None:
        seq, last = head
        if seq > self.seq:
            self.broken(None, f"its head says it holds {seq} event(s) but it ends at position {self.seq} (event "
                              f"{self.last_id}): the last {seq - self.seq} were deleted")
        elif (seq, last) != (self.seq, self.last):
            self.broken(self.last_id, f"its head (position {seq}, hash {_short(last)}) does not match its last event "
                                      f"(position {self.seq}, hash {_short(self.last)})")


def _anchor_claims(session: Session, verdict: Verdict) -> dict[tuple[str, int], tuple[str, int]]:
    """(chain, seq) → (hash, anchor event id), from every anchor (the latest claim for a position wins)."""
    claims = {}
    for event_id, details in session.execute(select(AuditEvent.id, AuditEvent.details)
                                             .where(AuditEvent.action == ANCHORED).order_by(AuditEvent.id)):
        verdict.anchors += 1
        for stream, (seq, digest) in (details or {}).get("chains", {}).items():
            claims[(stream, int(seq))] = (digest, event_id)
    return claims


def anchor(session: Session, at: datetime, actor: str = "system") -> dict[str, Any]:
    """Queue an anchor: an `audit.anchored` event in the global chain vouching for the head (length and hash) of
    every chain that moved since the previous anchor. What it vouches for."""
    vouched: dict[str, int] = {}
    for details, in session.execute(select(AuditEvent.details).where(AuditEvent.action == ANCHORED)
                                    .order_by(AuditEvent.id)):
        vouched.update({s: int(v[0]) for s, v in (details or {}).get("chains", {}).items()})
    heads = {stream_name(i): (s, h) for i, s, h in session.execute(
        select(Instance.id, Instance.audit_seq, Instance.audit_head).where(Instance.audit_seq > 0))}
    heads.update({s: (n, h) for s, n, h in session.execute(
        select(AuditHead.stream, AuditHead.seq, AuditHead.hash).where(AuditHead.seq > 0))})
    moved = {s: [seq, h] for s, (seq, h) in sorted(heads.items()) if vouched.get(s) != seq}
    record(session, at, actor, ANCHORED, chains=moved, events=sum(seq for seq, _h in heads.values()))
    return {"chains": len(moved), "events": sum(seq for seq, _h in heads.values())}


def global_head(session: Session) -> tuple[int, str]:
    """The global chain's (length, last hash): after an anchor, the digest to keep outside the database."""
    found = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.stream == GLOBAL)).first()
    return (found[0], found[1]) if found else (0, "")


def _short(digest: str | None) -> str:
    return (digest or "(none)")[:12] + ("…" if digest and len(digest) > 12 else "")


def pending(session: Session) -> list[dict]:
    """The events this transaction has queued so far (for effects that follow them, such as webhooks)."""
    return list(session.info.get(_PENDING, ()))
