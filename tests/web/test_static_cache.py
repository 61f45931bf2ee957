"""Static files a returning browser keeps: pages link each static file with its content fingerprint (?v=), a request
with the current fingerprint may be cached for a year, one without it or with an old one is revalidated (no-cache);
a file that changes gets a new fingerprint."""
from __future__ import annotations

import re

from tests.web.cc_answers import RAISE
from web.static_cache import YEAR, Fingerprints


def static_links(html: str) -> list[str]:
    return re.findall(r'(?:href|src|data-viewer|data-library)="(/static/[^"]+)"', html)


def test_pages_link_static_files_by_fingerprint_and_those_are_cached_for_a_year(signed_in):
    client = signed_in("carol")
    links = static_links(client.get("/").get_data(as_text=True))
    assert "/static/vendor/govuk/govuk-frontend.min.css" in {link.split("?")[0] for link in links}
    assert all(re.search(r"\?v=[0-9a-f]{12}$", link) for link in links), links
    for link in links:
        response = client.get(link)
        assert response.status_code == 200
        assert response.cache_control.max_age == YEAR and not response.cache_control.no_cache, link


def test_without_the_current_fingerprint_a_static_file_is_revalidated(client):
    for link in ("/static/govflow.css", "/static/govflow.css?v=000000000000"):
        response = client.get(link)
        assert response.status_code == 200 and response.cache_control.no_cache and not response.cache_control.max_age
    assert client.get("/static/no-such-file.css?v=000000000000").status_code == 404


def test_the_management_scripts_load_their_libraries_by_fingerprint(signed_in, web_gov):
    # the dashboard's charts and an instance's diagram load Chart.js and bpmn-js once the page has loaded: by
    # fingerprinted addresses too, so that a returning browser does not ask for them again
    instance_id = web_gov.start("change_control", "alice", RAISE).instance_id
    client = signed_in("pat")
    for path, attribute, library in [("/manage/", "data-library", "vendor/chart/chart.umd.min.js"),
                                     (f"/manage/instances/{instance_id}", "data-viewer",
                                      "vendor/bpmn-js/bpmn-navigated-viewer.production.min.js")]:
        html = client.get(path).get_data(as_text=True)
        found = re.search(attribute + r'="(/static/' + re.escape(library) + r'\?v=[0-9a-f]{12})"', html)
        assert found, (path, attribute)
        assert client.get(found.group(1)).cache_control.max_age == YEAR
        assert "<script src=" not in html  # no script holds up the page


def test_a_changed_file_gets_a_new_fingerprint(tmp_path):
    (tmp_path / "site.css").write_text("body { color: black }")
    fingerprints = Fingerprints(tmp_path)
    first = fingerprints.of("site.css")
    assert first == fingerprints.of("site.css") and re.fullmatch(r"[0-9a-f]{12}", first)
    (tmp_path / "site.css").write_text("body { color: #0b0c0c; }")
    assert fingerprints.of("site.css") not in (None, first)
    assert fingerprints.of("missing.css") is None and fingerprints.of("../outside.css") is None
