"""Rule pages: every rule's docs as HTML and JSON, the same text `fhirplugin rules ID` prints."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from fhirplugin.cli import main
from fhirplugin.config import load_settings
from fhirplugin.rules.base import DOC_SECTIONS, REGISTRY

RULES = [cls.id for cls in REGISTRY.all()]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from fhirplugin.service.app import create_app

    db = tmp_path_factory.mktemp("fb") / "fb.sqlite3"
    settings = load_settings(service={"feedback_db": str(db), "public_url": "https://cds.example.org"})
    with TestClient(create_app(settings)) as c:
        yield c


def _words(text: str) -> str:
    """The text without markup and whitespace (the page wraps and tags it)."""
    return "".join(text.replace("``", "").replace("`", "").split())


def _page_words(page: str) -> str:
    return "".join(html.unescape(re.sub(r"<[^>]+>", "", page)).split())


@pytest.mark.parametrize("rule_id", RULES)
def test_rule_page_html_and_json_carry_every_section(client, rule_id):
    cls = REGISTRY.get(rule_id)
    sections = cls.doc_sections()
    doc = client.get(f"/rules/{rule_id}", headers={"Accept": "application/json"}).json()
    assert doc["id"] == rule_id and doc["severity"] == cls.severity.value
    assert doc["sections"] == {k: v for k, v in sections.items() if v}
    assert doc["url"] == f"https://cds.example.org/rules/{rule_id}"
    page = client.get(f"/rules/{rule_id}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = _page_words(page.text)
    for name in DOC_SECTIONS:
        if sections.get(name):
            assert _words(name) in text
            for para in re.split(r"\n\s*\n", sections[name]):
                lines = [ln.strip().removeprefix("- ") for ln in para.splitlines()]
                assert _words(" ".join(lines)) in text, (name, para[:60])


def test_page_is_self_contained(client):
    page = client.get("/rules/DRN004").text
    assert "<script" not in page
    for url in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert url.startswith("/"), url  # only this service's own paths


def test_rules_index_lists_every_rule(client):
    docs = client.get("/rules", headers={"Accept": "application/json"}).json()["rules"]
    assert [d["id"] for d in docs] == RULES
    page = client.get("/rules").text
    for rule_id in RULES:
        assert f'href="/rules/{rule_id}"' in page


def test_unknown_rule_is_404_operation_outcome(client):
    r = client.get("/rules/XYZ999")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/fhir+json")
    assert r.json()["resourceType"] == "OperationOutcome"


def test_markup_in_docs_is_escaped():
    from fhirplugin.service.rulepages import _blocks

    out = _blocks("Use ``<b>49407</b>`` & <script>x</script>\n\n- one\n- two")
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "<code>&lt;b&gt;49407&lt;/b&gt;</code>" in out
    assert "<ul><li>one</li><li>two</li></ul>" in out


@pytest.mark.parametrize("rule_id", RULES)
def test_cli_rules_prints_the_same_sections_as_the_page(client, capsys, rule_id):
    assert main(["rules", rule_id]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    doc = client.get(f"/rules/{rule_id}", headers={"Accept": "application/json"}).json()
    for name, body in doc["sections"].items():
        assert name in printed
        assert " ".join(body.split()) in printed, name
