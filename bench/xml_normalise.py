"""What one upload or view of a BPMN file costs the normaliser: CPU seconds per file, median of runs, beside the target.

Target: no upload or view costs more than 1 s of CPU (the normaliser parses with the hardened parser, so a file it
refuses counts the time to refuse it).

Files (each a BPMN definitions with one process):
- attributes on one element: 10k, 50k, 100k and 200k attributes on the process element (what a probe sent: the
  parser refuses more than safe_xml.MAX_ATTRIBUTES on one element);
- attributes, 10 per element: the same numbers of attributes on 1k–20k elements (a large but plausible file, which
  is normalised: its time shows whether the normaliser is linear), and 100 per element (the most one may have);
- namespace declarations: 40k `xmlns:` on the root (refused past safe_xml.MAX_NAMESPACES), and the most allowed with
  a QName value (`xsi:type`) on each of 20k elements.

Run: .venv/bin/python -m bench.xml_normalise [--runs 5] [--sizes 10000 50000 100000 200000]
"""
from __future__ import annotations

import argparse
import statistics
import time

from engine.bpmn.safe_xml import UnsafeXmlError
from engine.bpmn.xml_format import normalise

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
TARGET_SECONDS = 1.0
LIMIT = 50_000_000  # bytes: above any of these files, so that only the shape limits refuse one


def _document(root_attributes: str, body: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions xmlns:bpmn="{BPMN}" xmlns:xsi="{XSI}" '
            f'id="Definitions_1" {root_attributes}>\n{body}\n</bpmn:definitions>\n').encode()


def attributes_on_one_element(n: int) -> bytes:
    attributes = " ".join(f'a{i}="1"' for i in range(n))
    return _document("", f'<bpmn:process id="p" isExecutable="true" {attributes} />')


def attributes_spread(n: int, per_element: int = 10) -> bytes:
    tasks = []
    for e in range(n // per_element):
        extra = " ".join(f'a{i}="{e}"' for i in range(per_element - 2))
        tasks.append(f'  <bpmn:task id="t{e}" name="Task {e}" {extra} />')
    return _document("", '<bpmn:process id="p" isExecutable="true">\n' + "\n".join(tasks) + "\n</bpmn:process>")


def spread_at_the_cap(n: int) -> bytes:
    return attributes_spread(n, per_element=100)


def namespace_declarations(n: int) -> bytes:
    return _document(" ".join(f'xmlns:n{i}="urn:example:{i}"' for i in range(n)), '<bpmn:process id="p" />')


def namespaces_in_scope(n: int, elements: int = 20_000) -> bytes:
    declarations = " ".join(f'xmlns:n{i}="urn:example:{i}"' for i in range(n))
    body = "\n".join(f'  <bpmn:documentation id="d{e}" xsi:type="n{e % n}:t" />' for e in range(elements))
    return _document(declarations, f'<bpmn:process id="p">\n{body}\n</bpmn:process>')


def cpu_seconds(data: bytes, runs: int) -> tuple[float, str]:
    """Median CPU seconds of normalising `data`, and what came of it ("normalised" or the refusal)."""
    times = []
    outcome = "normalised"
    for _ in range(runs):
        started = time.process_time()
        try:
            normalise(data, "bench.bpmn", max_bytes=LIMIT)
        except UnsafeXmlError as err:
            outcome = f"refused: {err.reason}"
        times.append(time.process_time() - started)
    return statistics.median(times), outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per file (the median is shown)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000, 200_000])
    parser.add_argument("--namespaces", type=int, default=40_000)
    parser.add_argument("--in-scope", type=int, default=98, help="namespaces declared beside 20k QName values")
    args = parser.parse_args()
    cases = [(f"{n:>7,} attributes on one element", attributes_on_one_element, n) for n in args.sizes]
    cases += [(f"{n:>7,} attributes, 10 per element", attributes_spread, n) for n in args.sizes]
    cases += [(f"{n:>7,} attributes, 100 per element", spread_at_the_cap, n) for n in args.sizes]
    cases += [(f"{args.namespaces:>7,} namespace declarations", namespace_declarations, args.namespaces),
              (f"{args.in_scope:>7,} namespaces, 20k QName values", namespaces_in_scope, args.in_scope)]
    print(f"normalise: CPU seconds per file, median of {args.runs} (target: at most {TARGET_SECONDS:g} s)")
    for label, make, n in cases:
        data = make(n)
        seconds, outcome = cpu_seconds(data, args.runs)
        verdict = "ok" if seconds <= TARGET_SECONDS else "OVER"
        print(f"  {label:<40} {len(data) / 1e6:6.2f} MB  {seconds:8.3f} s  {verdict:<4}  {outcome}", flush=True)


if __name__ == "__main__":
    main()
