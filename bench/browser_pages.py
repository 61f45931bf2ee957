"""Every page in the browser: largest contentful paint (LCP) per persona's main pages, against the 1 s target.

govflow with the demo data (`govflow init --demo` and `demo-work`, plus an analyst's draft) is served by gunicorn
with its production settings (web/gunicorn_conf.py: 2 workers x 4 threads) on SQLite; Debian's headless Chromium
(through Playwright, never a downloaded browser) signs in as each persona and loads each of their main pages in a
fresh tab, N times: "cold" with the browser's cache emptied first (a first visit), "warm" with it kept (a returning
user). For each page it prints the medians of LCP (PerformanceObserver 'largest-contentful-paint', buffered),
the server's first byte (TTFB), first contentful paint, DOMContentLoaded and load, and for pages with a diagram or an editor the moment it is drawn; all are milliseconds
from the start of the navigation. Not a pass/fail test.

Run: .venv/bin/python -m bench.browser_pages [--runs 5] [--only dashboard] [--no-cold]
"""
from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from engine.config import PROJECT_ROOT, Config
from engine.demo.demo_work import add_demo_work
from engine.platform import Govflow

PASSWORD = "bench demo password 1234"
TARGET_MS = 1000
WIDE, NARROW = 1280, 390

# Set before any page script runs: when a diagram (bpmn-js, dmn-js) or the dashboard's charts are first drawn, in ms from navigation start.
DRAWN_PROBE = """
window.__drawn = null;
new MutationObserver(function (changes, observer) {
  if (document.querySelector('[data-rendered="true"], [data-charts-drawn="true"], .djs-container .djs-element, '
                             + '.tjs-container td')) {
    window.__drawn = performance.now(); observer.disconnect();
  }
}).observe(document, {subtree: true, childList: true, attributes: true, attributeFilter: ['data-rendered', 'data-charts-drawn']});
"""

TIMINGS = """
() => new Promise(resolve => {
  let lcp = null;
  const observer = new PerformanceObserver(list => {
    const entries = list.getEntries(); lcp = entries[entries.length - 1].startTime;
  });
  observer.observe({type: 'largest-contentful-paint', buffered: true});
  const asked = performance.now();
  const settle = () => {  // two frames after load (or the drawing), then until the first entry arrives (3 s at most)
    if (lcp === null && performance.now() - asked < 3000) { setTimeout(settle, 50); return; }
    observer.disconnect();
    const nav = performance.getEntriesByType('navigation')[0];
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    resolve({lcp, ttfb: nav.responseStart, fcp: fcp ? fcp.startTime : null, dcl: nav.domContentLoadedEventStart, load: nav.loadEventStart,
             drawn: window.__drawn});
  };
  requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(settle, 50)));
})
"""


@dataclass(frozen=True)
class Target:
    persona: str
    name: str
    path: str
    width: int = WIDE
    drawn: bool = False  # the page draws a diagram, an editor or charts after it loads: wait for it and report when


def targets(gov: Govflow) -> list[Target]:
    """Each persona's main pages over the demo data."""
    def task_of(username: str, element_id: str):
        return next(t for t in gov.tasks(username) if t.element_id == element_id)

    validate, resolve, assess, consider = (task_of("carol", "validate"), task_of("bob", "resolve_issues"),
                                           task_of("will", "impact_assessment"), task_of("chris", "consider_at_group"))
    draft = gov.library.open_draft("change_control", "ann")
    decision = next(path for path in draft.files if path.endswith(".dmn"))
    version_id = gov.instance_summary(assess.instance_id)["version_id"]
    pages = [
        Target("bob (participant)", "inbox", "/"),
        Target("bob (participant)", "my requests", "/requests/"),
        Target("bob (participant)", "request page", f"/requests/{resolve.instance_id}"),
        Target("bob (participant)", "task page", f"/tasks/{resolve.id}"),
        Target("bob (participant)", "search results", "/search/?q=settlement"),
        Target("carol (change control manager)", "inbox", "/"),
        Target("carol (change control manager)", "task page (validate)", f"/tasks/{validate.id}"),
        Target("carol (change control manager)", "request page", f"/requests/{validate.instance_id}"),
        Target("pat (PMO)", "inbox", "/"),
        Target("pat (PMO)", "work queue", "/queue"),
        Target("pat (PMO)", "dashboard", "/manage/", drawn=True),
        Target("pat (PMO)", "register of instances", "/manage/instances"),
        Target("pat (PMO)", "instance page + diagram", f"/manage/instances/{assess.instance_id}", drawn=True),
        Target("pat (PMO)", "heatmap", f"/manage/versions/{version_id}/heatmap", drawn=True),
        Target("pat (PMO)", "decision log", "/logs/decisions"),
        Target("chris (chair)", "inbox", "/"),
        Target("chris (chair)", "task page (consider)", f"/tasks/{consider.id}"),
        Target("sam (SRO)", "dashboard", "/manage/", drawn=True),
        Target("sam (SRO)", "request page", f"/requests/{assess.instance_id}"),
        Target("ann (analyst)", "library", "/library/"),
        Target("ann (analyst)", "process page", "/library/change_control"),
        Target("ann (analyst)", "diagram editor", "/library/change_control/draft/diagram", drawn=True),
        Target("ann (analyst)", "decision editor", f"/library/change_control/draft/decisions/{decision}",
               drawn=True),
        Target("admin (admin)", "dashboard", "/manage/", drawn=True),
        Target("admin (admin)", "instance page + diagram", f"/manage/instances/{assess.instance_id}", drawn=True),
        Target("admin (admin)", "seat register", "/admin/seats/"),
    ]
    narrow = [("bob (participant)", "inbox"), ("bob (participant)", "request page"), ("bob (participant)", "task page"),
              ("pat (PMO)", "dashboard"), ("pat (PMO)", "instance page + diagram")]
    return pages + [Target(t.persona, t.name, t.path, NARROW, t.drawn) for t in pages if (t.persona, t.name) in narrow]


def build(folder: Path) -> Govflow:
    gov = Govflow(Config(database_url=f"sqlite:///{folder / 'bench.db'}", instance_dir=folder,
                         processes_dir=PROJECT_ROOT / "processes", forms_dir=PROJECT_ROOT / "forms"))
    gov.init(demo_password=PASSWORD)
    add_demo_work(gov)
    return gov


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(gov: Govflow, folder: Path) -> tuple[subprocess.Popen, str]:
    """gunicorn with govflow's production settings; its log goes to a file in the folder."""
    port = free_port()
    metrics = folder / "metrics"  # its own folder: gunicorn's start clears *.db files there
    metrics.mkdir()
    env = dict(os.environ, GOVFLOW_DATABASE_URL=gov.db.url, GOVFLOW_INSTANCE_DIR=str(folder),
               GOVFLOW_SECRET_KEY="bench-" + uuid.uuid4().hex, GOVFLOW_LOG_LEVEL="WARNING",
               GOVFLOW_BIND=f"127.0.0.1:{port}", PROMETHEUS_MULTIPROC_DIR=str(metrics))
    with open(folder / "gunicorn.log", "w") as log:  # the server keeps its own copy of the file
        server = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", "python:web.gunicorn_conf",
                                   "web.wsgi:app"], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2):
                break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start:\n" + (folder / "gunicorn.log").read_text()[-2000:])
            time.sleep(0.2)
    for _ in range(8):  # both workers: imports, templates, the compiled process cache
        urllib.request.urlopen(base + "/sign-in", timeout=30).read()
    return server, base


def load(page: Page, url: str, drawn: bool) -> dict:
    response = page.goto(url, wait_until="load")
    if response is None or response.status != 200:
        raise RuntimeError(f"GET {url}: {response.status if response else 'no response'}")
    if drawn:
        page.wait_for_function("() => window.__drawn !== null", timeout=30_000)
    return page.evaluate(TIMINGS)


def measure(browser, base: str, target: Target, runs: int, cold: bool) -> dict[str, list[dict]]:
    height = 800 if target.width == WIDE else 844
    context = browser.new_context(viewport={"width": target.width, "height": height})
    context.add_init_script(DRAWN_PROBE)
    try:
        page = context.new_page()
        page.goto(base + "/sign-in")
        page.fill("#username", target.persona.split()[0])
        page.fill("#password", PASSWORD)
        with page.expect_navigation():
            page.click("form:has(#password) button[type=submit]")
        if "/sign-in" in page.url:
            raise RuntimeError(f"sign-in as {target.persona} failed: {page.inner_text('main')[:300]}")
        page.close()
        samples: dict[str, list[dict]] = {"cold": [], "warm": []}
        url = base + target.path
        for kind in (["cold"] if cold else []) + ["warm"]:
            if kind == "warm":  # one load to fill the cache, not counted
                page = context.new_page()
                load(page, url, target.drawn)
                page.close()
            for _ in range(runs):
                page = context.new_page()
                if kind == "cold":
                    context.new_cdp_session(page).send("Network.clearBrowserCache")
                samples[kind].append(load(page, url, target.drawn))
                page.close()
        return samples
    finally:
        context.close()


def median(samples: list[dict], key: str) -> float | None:
    values = [s[key] for s in samples if s.get(key) is not None]
    return statistics.median(values) if values else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="loads of each page, cold and warm (default 5)")
    parser.add_argument("--only", default="", help="only the pages whose persona or name contains this")
    parser.add_argument("--no-cold", action="store_true", help="warm loads only")
    args = parser.parse_args(argv)
    rows = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="govflow-bench-") as tmp:
        folder = Path(tmp)
        gov = build(folder)
        chosen = [t for t in targets(gov) if args.only.lower() in f"{t.persona} {t.name}".lower()]
        server, base = start_server(gov, folder)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
                version = browser.version
                try:
                    for target in chosen:
                        samples = measure(browser, base, target, args.runs, not args.no_cold)
                        rows.append((target, samples))
                        print(".", end="", flush=True, file=sys.stderr)
                finally:
                    browser.close()
        finally:
            if os.environ.get("BENCH_SHOW_LOG"):
                print((folder / "gunicorn.log").read_text()[-4000:], file=sys.stderr)
            server.terminate()
            server.wait(10)
            gov.db.dispose()
    print(file=sys.stderr)
    load_after = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores (shared), {platform.machine()}; load average {load_before[0]:.2f} "
          f"before, {load_after[0]:.2f} after; gunicorn 2 workers x 4 threads, SQLite; headless Chromium "
          f"{version}; medians of {args.runs} loads (ms from navigation start); target LCP <= {TARGET_MS} ms")

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}"

    header = f"{'persona':<31} {'page':<25} {'px':>4} | {'cold LCP':>8} {'warm LCP':>8} {'TTFB':>5} {'FCP':>5} {'DCL':>5} " \
             f"{'load':>5} {'drawn':>6} | target"
    print(header)
    print("-" * len(header))
    for target, samples in rows:
        warm = samples["warm"]
        worst = max(v for v in (median(samples["cold"], "lcp"), median(warm, "lcp")) if v is not None)
        verdict = f"LCP <= {TARGET_MS} ms " + ("ok" if worst <= TARGET_MS else "OVER")
        print(f"{target.persona:<31} {target.name:<25} {target.width:>4} | {ms(median(samples['cold'], 'lcp')):>8} "
              f"{ms(median(warm, 'lcp')):>8} {ms(median(warm, 'ttfb')):>5} {ms(median(warm, 'fcp')):>5} {ms(median(warm, 'dcl')):>5} "
              f"{ms(median(warm, 'load')):>5} {ms(median(warm, 'drawn')):>6} | {verdict}")


if __name__ == "__main__":
    main()
