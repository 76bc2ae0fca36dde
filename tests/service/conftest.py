"""Every CDS Hooks response the service tests produce passes the derived CDS Hooks 2.0 schema and the
Da Vinci CRD card rules (``crd.problems``), whatever the test itself asserts.

The check wraps :func:`fhirplugin.service.cds.run` (what ``POST /cds-services/{id}`` and
``fhirplugin hook`` in-process call) for each test, records the violations and fails the test at
teardown naming them. Skipped, like the other ../shared checks, when ../shared is absent.
"""

from __future__ import annotations

import crd
import pytest
from browser import browser  # noqa: F401 - the Chromium fixture of the page tests

from fhirplugin.service import cds


@pytest.fixture(autouse=True)
def every_hook_response_is_crd_valid(monkeypatch):
    if not crd.available():
        yield
        return
    original = cds.run
    found: list[str] = []

    def checked(*args, **kwargs):
        body = original(*args, **kwargs)
        found.extend(crd.problems(body))
        return body

    monkeypatch.setattr(cds, "run", checked)
    yield
    assert not found, "CDS Hooks responses broke the schema or CRD card rules:\n" + "\n".join(found[:20])
