"""The try-it page end to end in headless Chromium (Debian's ``chromium`` driven by Playwright), served by
a real ``fhirplugin serve``: load, run each shipped example, check the cards and issues shown, apply
suggestions, paste a Bundle, and check that every request the page makes goes to the service.

Skipped (saying why) when Playwright or /usr/bin/chromium is missing; ``.ci/run`` installs both and sets
FHIRPLUGIN_BROWSER_TESTS=required, which turns the skip into a failure. With FHIRPLUGIN_SCREENSHOT=PATH
the screenshot test also writes the README's picture there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import crd
import pytest
import requests
from test_server_process import server  # noqa: F401 - the real `fhirplugin serve` fixture

from fhirplugin.service.tryit import EXAMPLES

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EXT_OUTCOME = "dev.fhirplugin.operation-outcome"


@pytest.fixture
def page(browser, server):  # noqa: F811
    base = server[0]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    outside: list[str] = []
    seen: list[tuple[str, str]] = []
    errors: list[str] = []

    def route(r):
        url = r.request.url
        if url.startswith(base + "/"):
            seen.append((r.request.method, url.removeprefix(base)))
            r.continue_()
        else:
            outside.append(url)
            r.abort()

    pg.route("**/*", route)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    # a 4xx answer the page shows as an error is logged by Chromium too: only script errors count
    pg.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and "the server responded with a status of 4" not in m.text
            else None
        ),
    )
    pg.base = base
    pg.seen = seen
    yield pg
    context.close()
    assert outside == [], "the page asked for something outside the service"
    assert errors == [], errors


def _open(pg, query: str = "") -> None:
    pg.goto(f"{pg.base}/try{query}")
    pg.wait_for_selector("body[data-ready=true]", timeout=30_000)


def _expected(base: str, name: str) -> tuple[dict, dict]:
    ex = requests.get(f"{base}/try/examples/{name}", timeout=30).json()
    r = requests.post(f"{base}/cds-services/{ex['service']}", json=ex["request"], timeout=60)
    assert r.status_code == 200, r.text
    if crd.available():  # responses of the real server process, not seen by conftest's check
        assert crd.problems(r.json()) == []
    return ex, r.json()


def test_page_loads_with_every_service_and_example(page):
    _open(page)
    services = requests.get(f"{page.base}/cds-services", timeout=10).json()["services"]
    assert page.locator("#service option").count() == len(services)
    names = page.locator("#example option").evaluate_all("els => els.map(e => e.value).filter(Boolean)")
    assert names == [e.name for e in EXAMPLES]
    paths = {p for _, p in page.seen}
    assert {"/try", "/try/assets/try.js", "/try/assets/try.css", "/cds-services", "/try/examples"} <= paths


@pytest.mark.parametrize("name", [e.name for e in EXAMPLES])
def test_each_example_runs_and_shows_the_cards_and_issues(page, name):
    ex, expected = _expected(page.base, name)
    _open(page, f"?example={name}")
    page.wait_for_selector("#results:not([hidden])")
    cards = page.locator("#cards .card")
    assert cards.count() == len(expected["cards"])
    for i, card in enumerate(expected["cards"]):
        shown = cards.nth(i)
        assert shown.locator(".summary").inner_text() == card["summary"]
        assert card["indicator"] in shown.get_attribute("class")
        assert shown.locator(".indicator").inner_text().lower() == card["indicator"]
        assert shown.locator(".apply").count() == len(card.get("suggestions", []))
        for link in card.get("links", []):
            assert shown.locator(f'.links a[href="{link["url"]}"]').count() == 1
        if "**Fix:**" in card.get("detail", ""):
            assert shown.locator(".detail strong", has_text="Fix:").count() == 1  # Markdown rendered
    issues = expected["extension"][EXT_OUTCOME]["issue"]
    assert page.locator("#issues li").count() == len(issues)
    located = [i for i in issues if any(e.startswith("Bundle.entry[") for e in i.get("expression", []))]
    in_context = any(k in ex["request"]["context"] for k in ("draftOrders", "draftClaims"))
    if in_context:
        assert page.locator('#issues li[data-located="true"]').count() == len(located)
        if located:
            assert page.locator("#resource .hl").count() >= 1
    if expected["cards"]:
        assert f"{len(expected['cards'])} card(s)" in page.inner_text("#status")


def test_apply_update_suggestion_shows_the_changed_claim_and_rerun_clears_the_card(page):
    _open(page, "?example=drainage-charge-entry")
    card = page.locator("#cards .card", has_text="DRN004:")
    card.locator(".apply").click()
    page.wait_for_selector("#changed:not([hidden])")
    assert "Replace 49406 by 49407" in page.inner_text("#changedWhat")
    changed = page.locator("#changedJson .added")
    assert changed.count() >= 1
    assert "49407" in " ".join(changed.all_inner_texts())
    request = json.loads(page.input_value("#input"))
    claim = request["context"]["draftClaims"]["entry"][0]["resource"]
    assert claim["item"][0]["productOrService"]["coding"][0]["code"] == "49407"
    page.click("#rerun")
    page.wait_for_function("!document.querySelector('#changed') || document.querySelector('#changed').hidden")
    summaries = page.locator("#cards .card .summary").all_inner_texts()
    assert summaries and not any(s.startswith("DRN004:") for s in summaries)


def test_apply_delete_suggestion_removes_the_order(page):
    _open(page, "?example=guidance-order-sign")
    page.locator("#cards .card .apply").first.click()
    assert "ServiceRequest/guidance-order removed" in page.inner_text("#changedWhat")
    request = json.loads(page.input_value("#input"))
    ids = [e["resource"]["id"] for e in request["context"]["draftOrders"]["entry"]]
    assert ids == ["drain-order"]
    page.click("#rerun")
    page.wait_for_selector("#cards .empty")
    assert page.locator("#cards .card").count() == 0


def test_pasted_bundle_is_wrapped_for_the_chosen_hook(page):
    _open(page)
    page.fill("#input", (ROOT / "examples" / "devices" / "bundle.json").read_text())
    page.select_option("#service", "fhirplugin-order-sign")
    page.click("#run")
    page.wait_for_selector("#results:not([hidden])")
    assert ("POST", "/try/request?service=fhirplugin-order-sign") in page.seen
    summaries = page.locator("#cards .card .summary").all_inner_texts()
    assert any(s.startswith("DEV002:") for s in summaries)
    page.check("#noProblemsCard")
    page.fill("#input", (ROOT / "examples" / "cds-hooks" / "order-sign-clean.json").read_text())
    page.click("#run")
    page.wait_for_selector("#cards .card.info")
    assert "No CPT coding problems found" in page.inner_text("#cards")


def test_clicking_an_issue_flashes_the_located_element(page):
    _open(page, "?example=devices-charge-entry")
    page.locator('#issues li[data-located="true"]').first.click()
    page.wait_for_selector("#resource .flash")


def test_errors_are_shown_not_thrown(page):
    _open(page)
    page.fill("#input", "{not json")
    page.click("#run")
    page.wait_for_selector("#error:not([hidden])")
    assert "not JSON" in page.inner_text("#error")
    gone = {
        "hook": "order-dispatch",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {
            "patientId": "p1",
            "dispatchedOrders": ["ServiceRequest/gone"],
            "performer": "Organization/x",
        },
    }
    page.fill("#input", json.dumps(gone))
    page.click("#run")
    page.wait_for_function("document.querySelector('#error').textContent.includes('412')")
    assert "ServiceRequest/gone" in page.inner_text("#error")


def test_rule_page_opens_from_a_card_link(page):
    _open(page, "?example=guidance-order-sign")
    href = page.locator("#cards .card .links a").first.get_attribute("href")
    assert href == f"{page.base}/rules/DRN001"
    page.goto(href)
    assert page.locator("h1").inner_text().startswith("DRN001")
    assert page.locator("section#fix").count() == 1


def test_screenshot(page, tmp_path):
    _open(page, "?example=guidance-order-sign")
    page.wait_for_selector("#results:not([hidden])")
    page.set_viewport_size({"width": 1024, "height": 720})
    page.evaluate(
        """() => {
          document.getElementById('inputBox').open = false;
          const pre = document.getElementById('resource');
          const hl = pre.querySelector('.hl');
          pre.style.maxHeight = '16rem';
          pre.scrollTop = hl.offsetTop - pre.offsetTop - 60;
          window.scrollTo(0, 0);
        }"""
    )
    target = Path(os.environ.get("FHIRPLUGIN_SCREENSHOT") or tmp_path / "try.png")
    page.screenshot(path=str(target))
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
