"""In headless Chromium: saving an unchanged diagram or decision table from bpmn-js / dmn-js stores the same bytes
every time (the canonical text), and the first save keeps the document, apart from defaults the modelers leave out
and the gateway marker bpmn-js adds."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from engine.services.library import Library
from engine.bpmn.xml_format import canonical_items, normalise

from .helpers import open_draft_as_analyst

pytestmark = pytest.mark.browser
PID = "change_control"
# what the modelers change on a first save: defaults they leave out, the gateway marker bpmn-js writes on every one
FIRST_SAVE = {("cancelActivity", "true"), ("hitPolicy", "UNIQUE"), ("isMarkerVisible", "true")}


def _items(xml: bytes):
    return sorted((p, tuple(a for a in attrs if a not in FIRST_SAVE), t) for p, attrs, t in canonical_items(xml))


def _save_unchanged(page, url: str, button: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-modeler-ready='true']", timeout=20000)
    page.click(button)
    expect(page.locator("#editor-status")).to_have_text("Saved in the draft.", timeout=20000) if button == \
        "#save-diagram" else page.wait_for_selector("#no-problems", timeout=20000)


def test_unchanged_saves_from_the_modelers_are_byte_identical(page, live_server, gov):
    base = live_server
    open_draft_as_analyst(page, base, PID)
    library = Library(gov)
    original = library.draft(PID).files

    for path, url, button in (("change_control.bpmn", f"{base}/library/{PID}/draft/diagram", "#save-diagram"),
                              ("ofgem_threshold.dmn", f"{base}/library/{PID}/draft/decisions/ofgem_threshold.dmn",
                               "#save-decision")):
        _save_unchanged(page, url, button)
        first = library.draft(PID).files[path]
        assert first == normalise(first)  # stored in the canonical text
        assert _items(first) == _items(original[path])  # the same document
        revision = library.draft(PID).revision
        _save_unchanged(page, url, button)
        assert library.draft(PID).files[path] == first, path  # byte-identical
        assert library.draft(PID).revision == revision  # no churn: nothing was saved
