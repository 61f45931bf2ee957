"""Looking at a page as a person would, at a width: the page does not scroll sideways, nothing it asked for failed
(no console error, no 4xx/5xx response, favicon included), axe-core finds nothing serious, and a full-page
screenshot is kept under tests/browser/output/ (gitignored; CI keeps it as an artifact)."""
from __future__ import annotations

import re
from pathlib import Path

AXE = Path(__file__).resolve().parents[2] / "web" / "static" / "vendor" / "axe" / "axe.min.js"
OUTPUT = Path(__file__).resolve().parent / "output"
WIDTHS = (1280, 390)


class Watched:
    """A page whose console errors and failed responses are recorded from the moment it is made."""

    def __init__(self, browser, width: int):
        # axe-core is injected as an inline script, which our Content-Security-Policy would rightly block
        self.context = browser.new_context(bypass_csp=True, viewport={"width": width, "height": 900})
        self.page = self.context.new_page()
        self.width = width
        self.problems: list[str] = []
        self.page.on("console", lambda m: self.problems.append(f"console: {m.text}") if m.type == "error" else None)
        self.page.on("requestfinished", self._finished)

    def _finished(self, request) -> None:
        response = request.response()
        if response is not None and response.status >= 400:
            self.problems.append(f"{response.status} {request.url}")

    def close(self) -> None:
        self.context.close()

    def look(self, url: str, name: str, *facts: str) -> str:
        """Open the page, check it and keep its screenshot; returns the page's text. `facts` must be on the first
        screen's worth of the page or below, visible (not hidden in a closed disclosure)."""
        self.problems.clear()
        self.page.goto(url)
        self.page.wait_for_load_state("networkidle")
        return self.check(name, *facts)

    def check(self, name: str, *facts: str) -> str:
        page = self.page
        favicon = page.evaluate("document.querySelector('link[rel=icon]') && "
                                "document.querySelector('link[rel=icon]').href")
        assert favicon, f"{page.url}: no favicon link (the browser asks for /favicon.ico and gets a 404)"
        assert page.request.get(favicon).status == 200, favicon
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{page.url} at {self.width} px scrolls sideways by {overflow} px"
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}-{self.width}.png"),
                        full_page=True)
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]
               if v["impact"] in ("serious", "critical")]
        assert not bad, f"{page.url} at {self.width} px: {bad}"
        assert not self.problems, f"{page.url} at {self.width} px: {self.problems}"
        text = page.inner_text("body")
        for fact in facts:  # visible somewhere (a copy folded away, as the phone's menu, does not count)
            found = page.get_by_text(fact, exact=False)
            assert any(found.nth(n).is_visible() for n in range(found.count())), f"{page.url}: ‘{fact}’ is not visible"
        return text

    def sign_in(self, base: str, username: str, password: str) -> None:
        self.context.clear_cookies()  # whoever was signed in is gone
        self.page.goto(base + "/sign-in")
        self.page.fill("#username", username)
        self.page.fill("#password", password)
        with self.page.expect_navigation():
            self.page.click("button:has-text('Sign in')")
