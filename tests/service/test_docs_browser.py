"""/docs and /redoc render offline in headless Chromium (Debian's, driven by Playwright).

The service serves Swagger UI and ReDoc itself; the browser is cut off from everything but the
server's own origin, and every request it tries elsewhere is recorded and fails the test.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from servers import serving

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("docs")) as url:
        yield url


def _offline_page(browser, base: str, outside: list[str]):
    page = browser.new_page()
    origin = urlsplit(base).netloc

    def route(r):
        if urlsplit(r.request.url).netloc == origin or r.request.url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return page


def test_swagger_ui_renders_every_operation_offline(browser, base, tmp_path):
    outside: list[str] = []
    page = _offline_page(browser, base, outside)
    page.goto(f"{base}/docs", wait_until="networkidle")
    page.wait_for_selector(".opblock-summary-path", timeout=30000)
    paths = {e.inner_text().replace("\u200b", "") for e in page.query_selector_all(".opblock-summary-path")}
    expected = {
        "/health",
        "/cds-services",
        "/cds-services/{service_id}",
        "/cds-services/{service_id}/feedback",
        "/fhir/metadata",
        "/fhir/{rtype}/$validate",
    }
    assert expected <= paths
    page.screenshot(path=str(tmp_path / "docs.png"), full_page=True)
    assert outside == []  # no CDN, no fonts, no validator badge
    page.close()


def test_redoc_renders_operations_offline(browser, base, tmp_path):
    outside: list[str] = []
    page = _offline_page(browser, base, outside)
    page.goto(f"{base}/redoc", wait_until="networkidle")
    page.wait_for_selector("[data-section-id^='operation/']", timeout=30000)
    sections = page.query_selector_all("[data-section-id^='operation/']")
    assert len(sections) >= 5
    assert "order-sign" in page.inner_text("body")
    page.screenshot(path=str(tmp_path / "redoc.png"))
    assert outside == []
    page.close()
