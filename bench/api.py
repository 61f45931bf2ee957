"""The JSON API over HTTP with the production WSGI server (gunicorn, 2 workers) on SQLite, beside the web: prints
each figure beside its target.

1. Completing a task through the API: carol has claimed the `validate` task of N change requests; each is completed
   by POST /api/v1/tasks/{id}/complete with her bearer token (the token's check, rate count and audit event
   included), timed.
2. The same completion through the web's form (the task page fetched for its CSRF token first, not timed).
3. Reading through the API: a task with its form (GET /api/v1/tasks/{id}) and carol's "My groups" list.
4. The floor: GET /healthz (the process answers; no database, no token) over the same connection-per-request client,
   so that what the server adds to HTTP itself can be read off the figures above.
5. The engine alone: the same completion as one call of the service in this process (no HTTP, no token; what the
   process built so far frozen out of the garbage collector's reach, as in a web worker), its announcement delivered
   between calls, untimed — what is left of (1) once the request's own costs are taken off.

Run: .venv/bin/python -m bench.api [--completions 60]
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from .http_inbox import VALID, Browser, median_p95, setup, start_gunicorn

API_VALID = {"valid": True, "validation_notes": "Complete."}
SPIFFARENA_COMPLETE_MS = 76  # SpiffArena's task completion on this kind of machine (docs: the anchors)


def call(base: str, method: str, path: str, token: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def timed(samples: list[float], fn, *args):
    started = time.perf_counter()
    result = fn(*args)
    samples.append((time.perf_counter() - started) * 1000)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--completions", type=int, default=60)
    args = parser.parse_args(argv)
    results: list[tuple[str, str, str]] = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="govflow-bench-api-") as tmp:
        folder = Path(tmp)
        gov, task_ids = setup(folder, 3 * args.completions)
        token, _made = gov.tokens.issue("carol", "bench", ["read", "work"], rate_limit=100_000)
        n = args.completions
        api_tasks, web_tasks, engine_tasks = task_ids[:n], task_ids[n:2 * n], task_ids[2 * n:]
        server, base = start_gunicorn(gov.db.url, folder)
        try:
            api = f"{base}/api/v1"
            for _ in range(4):  # warm both workers (imports, the compiled process, the OpenAPI schemas)
                call(api, "GET", "/tasks", token)
            reads, lists, completions, floor = [], [], [], []
            for task_id in api_tasks:
                status, body = timed(reads, call, api, "GET", f"/tasks/{task_id}", token)
                if status != 200:
                    raise RuntimeError(f"GET task {task_id}: {status} {body}")
                status, body = timed(completions, call, api, "POST", f"/tasks/{task_id}/complete", token,
                                     {"data": API_VALID})
                if status != 200:
                    raise RuntimeError(f"completing {task_id} through the API: {status} {body}")
            for _ in range(args.completions):
                timed(lists, call, api, "GET", "/tasks?tab=groups&limit=25", token)
                timed(floor, call, base, "GET", "/healthz", token)

            client = Browser(base)
            client.sign_in("carol")
            web = []
            for task_id in web_tasks:
                csrf = client.token(f"/tasks/{task_id}")  # not timed
                status, body = timed(web, client.request, f"/tasks/{task_id}",
                                     {**VALID, "_action": "complete", "csrf_token": csrf})
                if status != 302:
                    raise RuntimeError(f"completing {task_id} through the web: {status}\n{body[:500]}")
        finally:
            server.terminate()
            server.wait(10)
        engine = []
        gc.freeze()  # as a web worker does once it is built (web/wsgi.py)
        for task_id in engine_tasks:
            timed(engine, gov.complete, task_id, "carol", API_VALID)
            gov.effects.wait_idle()
        gov.db.dispose()
    for label, samples, target in [
            ("API: complete a task (POST, 200)", completions, f"median <= 10 ms (SpiffArena {SPIFFARENA_COMPLETE_MS} ms)"),
            ("web: complete a task (form POST, 302)", web, "median <= 15 ms"),
            ("API: a task with its form (GET)", reads, "median <= 10 ms"),
            ("API: My groups, 25 a page (GET)", lists, "median <= 20 ms"),
            ("floor: /healthz (GET, no database)", floor, "(for reading the others)"),
            ("engine: complete a task, in process", engine, "(the command alone, for reading the first)")]:
        median, p95 = median_p95(samples)
        results.append((label, f"median {median:.1f} ms, p95 {p95:.1f} ms", target))
    print(f"machine: {os.cpu_count()} cores (shared), {platform.machine()}, "
          f"{platform.python_implementation()} {platform.python_version()}; gunicorn 2 sync workers; SQLite (WAL); "
          f"{args.completions} completions each way; every API call checks, counts and audits its token; "
          f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after (this machine is shared: its speed "
          f"moves with its load, so compare figures of one run, or runs taken together)")
    width = max(len(r[0]) for r in results)
    for name, value, target in results:
        print(f"{name:<{width}}  {value:<30}  target {target}")


if __name__ == "__main__":
    main()
