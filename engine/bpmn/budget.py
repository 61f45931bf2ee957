"""What one evaluation of diagram code (a script, an expression, a template) may use beyond each operation's own
limits: the time it takes, the resident memory it gains, and values measured as they would be written out.

- ``TimeWatch``: the processor time the evaluating thread used for the evaluation's own code since it began. Time
  spent waiting (for the processor on a loaded machine, or on the database) does not count, nor does the processor
  time of govflow's own code that the evaluation calls (a provided function wrapped with ``uncounted``: reading the
  seat register, sending a notice) or of a full garbage collection of the whole process that happened to start in
  it — so a busy server with a large heap does not stop a short script. Two caps count everything: ALL_FACTOR times
  the limit of the thread's processor time (a loop that spends its time in provided functions), and WALL_FACTOR
  times the limit on the wall clock (one that waits). The cheap wall clock is read at every check, the thread's
  clock only once the wall clock says the limit could have passed.

- ``MemoryWatch``: the process's resident memory gained since the evaluation began, read (Linux: /proc/self/statm)
  at most once a millisecond, so that the loops that check it cost nothing measurable. Other threads' allocations
  count too, which only errs on the safe side; memory the allocator kept from earlier work is reused without
  counting, so a worker can hold up to that much more. Where /proc is missing it never trips.
- ``expanded_size``: the items and characters a value holds, counting a shared object every time it appears (a
  list holding one 1,000,000-character string 1,000 times is a billion characters once joined or printed).
"""
from __future__ import annotations

import functools
import gc
import os
import threading
import time
from typing import Any, Callable, TypeVar

__all__ = ["MAX_MEMORY", "MemoryWatch", "TimeWatch", "expanded_size", "resident_bytes", "uncounted"]

_F = TypeVar("_F", bound=Callable[..., Any])

#: resident memory one evaluation may gain
MAX_MEMORY = 256 * 2**20

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_STATM: list[tuple[int, int | None]] = []  # (pid, fd), one per process: read with pread, safe from any thread
_OPENING = threading.Lock()


def _statm() -> int | None:
    """The open /proc/self/statm of this process (a file opened before a fork would read the parent's figures)."""
    pid = os.getpid()
    if not _STATM or _STATM[0][0] != pid:
        with _OPENING:
            if not _STATM or _STATM[0][0] != pid:
                if _STATM and _STATM[0][1] is not None:
                    os.close(_STATM[0][1])  # the parent's, inherited through a fork
                try:
                    fd: int | None = os.open("/proc/self/statm", os.O_RDONLY)
                except OSError:
                    fd = None
                _STATM[:] = [(pid, fd)]
    return _STATM[0][1]


def resident_bytes() -> int | None:
    """This process's resident memory, or None where the system does not say."""
    fd = _statm()
    if fd is None:
        return None
    try:
        return int(os.pread(fd, 64, 0).split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return None


class _Uncounted(threading.local):
    """Per thread: how deep it is in uncounted work, when the outermost began, and the processor time of all of it."""

    depth = 0
    began = 0.0
    total = 0.0


_UNCOUNTED = _Uncounted()


def _enter() -> None:
    if _UNCOUNTED.depth == 0:
        _UNCOUNTED.began = time.thread_time()
    _UNCOUNTED.depth += 1


def _leave() -> None:
    _UNCOUNTED.depth -= 1
    if _UNCOUNTED.depth == 0:
        _UNCOUNTED.total += time.thread_time() - _UNCOUNTED.began


def uncounted(function: _F) -> _F:
    """``function``, its processor time not counted by a TimeWatch of the thread calling it (govflow's own code that
    diagram code calls: the limit is for the diagram's code)."""

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        _enter()
        try:
            return function(*args, **kwargs)
        finally:
            _leave()

    return call  # type: ignore[return-value]


def _full_collection(phase: str, info: dict[str, int]) -> None:
    """A full garbage collection walks the whole process's objects, whoever's allocation started it: not counted.
    The young generations' collections are short and left alone, so this costs nothing between full ones."""
    if info.get("generation") == 2:
        (_enter if phase == "start" else _leave)()


gc.callbacks.append(_full_collection)


class TimeWatch:
    """Processor time this thread used since the watch was made, less uncounted work (``uncounted`` functions and
    full garbage collections): ``exceeded()`` is True once it passed ``limit`` seconds, once ALL_FACTOR times
    ``limit`` of processor time passed counting everything, or once WALL_FACTOR times ``limit`` passed on the wall
    clock."""

    ALL_FACTOR = 3
    WALL_FACTOR = 10

    def __init__(self, limit: float) -> None:
        now = time.monotonic()
        self.limit = limit
        self.cpu_start = time.thread_time()
        self.uncounted_start = _UNCOUNTED.total
        self.check_at = now + limit  # the thread cannot have used `limit` of processor time before this
        self.wall_end = now + limit * self.WALL_FACTOR

    def used(self) -> float:
        """The counted processor time so far (uncounted work still running counts until it ends)."""
        return time.thread_time() - self.cpu_start - (_UNCOUNTED.total - self.uncounted_start)

    def exceeded(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if now < self.check_at:
            return False
        all_used = time.thread_time() - self.cpu_start
        used = all_used - (_UNCOUNTED.total - self.uncounted_start)
        if used >= self.limit or all_used >= self.limit * self.ALL_FACTOR or now >= self.wall_end:
            return True
        self.check_at = now + min(self.limit - used, self.limit * self.ALL_FACTOR - all_used)
        return False


class MemoryWatch:
    """Resident memory gained since it was made: ``exceeded()`` is True once the gain passed ``limit``."""

    INTERVAL = 0.001  # seconds between reads

    def __init__(self, limit: int = MAX_MEMORY) -> None:
        self.limit = limit
        self.baseline = resident_bytes()
        self.next_read = 0.0
        self.tripped = False

    def exceeded(self, now: float | None = None) -> bool:
        if self.tripped or self.baseline is None:
            return self.tripped
        now = time.monotonic() if now is None else now
        if now < self.next_read:
            return False
        self.next_read = now + self.INTERVAL
        current = resident_bytes()
        self.tripped = current is not None and current - self.baseline > self.limit
        return self.tripped


_TEXT_TYPES = (str, bytes)
_CONTAINERS = (list, tuple, set, frozenset, dict)
#: containers one measurement walks; a value holding more counts as larger than any limit
MAX_WALKED = 100_000


def _own_size(value: Any, text: bool) -> int:
    """A value that holds no others: a string's characters (at least 1); anything else 1 (as text: its width)."""
    if isinstance(value, _TEXT_TYPES):
        return len(value) + 2 if text else max(len(value), 1)
    if not text:
        return 1
    return value.bit_length() // 3 + 2 if isinstance(value, int) else 24


def _items(value: Any) -> Any:
    if isinstance(value, dict):
        return [part for pair in value.items() for part in pair]
    return value


def _flat_size(items: Any, text: bool) -> int | None:
    """The size of the items of a container, counted at C speed when none is a container and all are strings or
    none is; None otherwise."""
    kinds = set(map(type, items))
    if not kinds:
        return 0
    if kinds <= {str}:
        return sum(map(len, items)) + (4 * len(items) if text else 0) + (0 if text else items.count("") if
                                                                          isinstance(items, list) else 0)
    if any(issubclass(kind, (*_CONTAINERS, *_TEXT_TYPES)) for kind in kinds):
        return None
    return len(items) * (14 if text else 1)


def expanded_size(value: Any, limit: int, text: bool = False) -> int:
    """The items and characters ``value`` holds, each shared object counted wherever it appears (``text``: roughly
    the characters of its ``repr``). Stops counting once past ``limit`` (the result is then > limit), and counts a
    value holding more than MAX_WALKED containers as past it. Each distinct container is walked once."""
    if not isinstance(value, _CONTAINERS):
        return _own_size(value, text)
    extra = 2 if text else 0  # brackets, and ", " after each item (an empty container still counts 1)
    known: dict[int, int] = {}  # id -> size of a container already measured
    keep: list[Any] = []  # the measured containers, so that no id is reused while this runs
    walking: set[int] = set()

    def measure(container: Any) -> Any:
        """A walk over one container: yields the containers it needs measured first, returns its size."""
        items = _items(container)
        flat = _flat_size(items, text) if len(items) >= 16 else None
        if flat is not None:
            return max(flat + extra, 1)
        total = extra
        for item in items:
            if not isinstance(item, _CONTAINERS):
                total += _own_size(item, text) + extra
            elif id(item) in known:
                total += known[id(item)] + extra
            elif id(item) in walking:  # a container holding itself: written as [...]
                total += 5
            else:
                total += (yield item) + extra
            if total > limit:
                return total
        return max(total, 1)

    walks = [measure(value)]
    walking.add(id(value))
    sent: int | None = None
    while True:
        try:
            child = walks[-1].send(sent)
        except StopIteration as done:
            size = done.value
            walks.pop()
            if not walks or size > limit:
                return size
            sent = size
            continue
        sent = None
        if id(child) in known:  # measured meanwhile, through another path
            sent = known[id(child)]
            continue
        if len(keep) >= MAX_WALKED:
            return limit + 1
        walking.add(id(child))
        keep.append(child)
        walks.append(_remembered(measure(child), child, known, walking))


def _remembered(walk: Any, container: Any, known: dict[int, int], walking: set[int]) -> Any:
    """The walk of ``container``, noting its size once measured."""
    size = yield from walk
    known[id(container)] = size
    walking.discard(id(container))
    return size
