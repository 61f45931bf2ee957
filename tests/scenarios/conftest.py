"""Every scenario ends with no instance stranded: the engine's own detector (incidents) must have nothing to say."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def no_instance_left_stranded(request):
    gov = request.getfixturevalue("gov") if "gov" in request.fixturenames else None
    yield
    if gov is not None:
        stranded = [i for i in gov.incidents(include_closed=True) if i["kind"] == "stranded"]
        assert stranded == [], f"the scenario left instances running with nothing to do: {stranded}"
