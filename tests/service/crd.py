"""Checks a CDS Hooks response against the derived CDS Hooks 2.0 JSON Schema and the card rules of the
Da Vinci CRD test kit (requirement rows of ``davinci_crd_test_kit_requirements.csv`` in ../shared).

``problems(body)`` lists every violation as ``"<requirement id>: <what> at <where>"``. Each check
names the requirement row it implements; ``tests/service/test_crd_checks.py`` proves every named row
exists in the kit's CSV with a Service/Server actor, and that each check catches a broken card.
"""

from __future__ import annotations

import csv
import json
import re
from functools import cache
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "cds-hooks"
SCHEMA = SHARED / "schema" / "DERIVED_cds-hooks-2.0.schema.json"
REQUIREMENTS = SHARED / "inferno-requirements" / "davinci_crd_test_kit_requirements.csv"
_ABSOLUTE = re.compile(r"^https?://[^\s/]+\S*$")

# the rows the checks below implement: (Req Set, ID)
HOOKS = "cds-hooks_2.0"
CRD = "hl7.fhir.us.davinci-crd_2.0.1"
CHECKED_ROWS = {
    (HOOKS, "3"),  # no null or empty elements
    (HOOKS, "74"),  # a cards array
    (HOOKS, "80"),  # uuid is a string
    (HOOKS, "83"),  # summary < 140
    (HOOKS, "85"),  # detail is (Markdown) text
    (HOOKS, "88"),  # indicator info | warning | critical
    (HOOKS, "90"),  # source required
    (HOOKS, "93"),  # selectionBehavior with suggestions
    (HOOKS, "95"),  # selectionBehavior values
    (HOOKS, "100"),  # override reasons carry display
    (HOOKS, "105"),  # source.label
    (HOOKS, "107"),  # source.url absolute
    (HOOKS, "115"),  # source.topic is a Coding
    (HOOKS, "117"),  # suggestion label
    (HOOKS, "124"),  # suggestion actions array
    (HOOKS, "131"),  # create carries a resource
    (HOOKS, "132"),  # update carries the whole resource
    (HOOKS, "134"),  # delete carries resourceId
    (HOOKS, "138"),  # link label
    (HOOKS, "139"),  # link url
    (HOOKS, "142"),  # link type absolute | smart
    (HOOKS, "147"),  # no appContext on absolute links
    (CRD, "77"),  # every suggestion has a uuid
    (CRD, "232"),  # source.topic populated (Inferno: code and system)
    (CRD, "258"),  # External Reference card: at least one link
    (CRD, "259"),  # External Reference card: links of type absolute
}


def available() -> bool:
    return SCHEMA.is_file() and REQUIREMENTS.is_file()


@cache
def requirement_rows() -> dict[tuple[str, str], dict]:
    with REQUIREMENTS.open(encoding="utf-8-sig", newline="") as f:
        return {(r["Req Set"], r["ID"]): r for r in csv.DictReader(f)}


@cache
def _validator(name: str):
    import jsonschema
    import referencing

    schema = json.loads(SCHEMA.read_text())
    registry = referencing.Registry().with_resource(schema["$id"], referencing.Resource.from_contents(schema))
    return jsonschema.Draft202012Validator({"$ref": f"{schema['$id']}#/$defs/{name}"}, registry=registry)


def schema_problems(body: object, name: str = "Response") -> list[str]:
    return [f"schema {name}: {e.message} at {e.json_path}" for e in _validator(name).iter_errors(body)]


def _empties(value, path: str, out: list[str]) -> None:
    if value is None or value == "" or value == {} or (value == [] and not path.endswith(".cards")):
        out.append(f"{HOOKS}@3: null or empty value at {path}")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _empties(v, f"{path}.{k}", out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _empties(v, f"{path}[{i}]", out)


def _coding_ok(c: object) -> bool:
    return isinstance(c, dict) and isinstance(c.get("code"), str) and isinstance(c.get("system"), str)


def card_problems(card: dict, where: str) -> list[str]:
    out: list[str] = []

    def need(ok: bool, row: tuple[str, str], what: str) -> None:
        if not ok:
            out.append(f"{row[0]}@{row[1]}: {what} at {where}")

    need("uuid" not in card or isinstance(card["uuid"], str), (HOOKS, "80"), "uuid not a string")
    s = card.get("summary")
    need(isinstance(s, str) and 0 < len(s) < 140, (HOOKS, "83"), "summary missing or 140+ characters")
    need("detail" not in card or isinstance(card["detail"], str), (HOOKS, "85"), "detail not text")
    need(card.get("indicator") in ("info", "warning", "critical"), (HOOKS, "88"), "bad indicator")
    src = card.get("source")
    need(isinstance(src, dict), (HOOKS, "90"), "no source")
    src = src if isinstance(src, dict) else {}
    need(isinstance(src.get("label"), str), (HOOKS, "105"), "source.label missing")
    if "url" in src:
        need(isinstance(src["url"], str) and bool(_ABSOLUTE.match(src["url"])), (HOOKS, "107"), "source.url")
    need("topic" not in src or isinstance(src["topic"], dict), (HOOKS, "115"), "source.topic not a Coding")
    need(_coding_ok(src.get("topic")), (CRD, "232"), "source.topic without code and system")
    suggestions = card.get("suggestions")
    if suggestions is not None:
        need("selectionBehavior" in card, (HOOKS, "93"), "suggestions without selectionBehavior")
        need(card.get("selectionBehavior") in ("at-most-one", "any"), (HOOKS, "95"), "bad selectionBehavior")
        for j, sug in enumerate(suggestions if isinstance(suggestions, list) else []):
            at = f"suggestions[{j}]"
            need(isinstance(sug.get("label"), str) and bool(sug.get("label")), (HOOKS, "117"), f"{at} label")
            need(isinstance(sug.get("uuid"), str) and bool(sug.get("uuid")), (CRD, "77"), f"{at} uuid")
            actions = sug.get("actions")
            need(isinstance(actions, list) and bool(actions), (HOOKS, "124"), f"{at} actions")
            for k, a in enumerate(actions if isinstance(actions, list) else []):
                aat = f"{at}.actions[{k}]"
                res = a.get("resource")
                if a.get("type") == "create":
                    need(isinstance(res, dict) and "resourceType" in res, (HOOKS, "131"), f"{aat} resource")
                elif a.get("type") == "update":
                    need(isinstance(res, dict) and "resourceType" in res, (HOOKS, "132"), f"{aat} resource")
                elif a.get("type") == "delete":
                    rid = a.get("resourceId")
                    need(
                        isinstance(rid, str) and "/" in rid and res is None,
                        (HOOKS, "134"),
                        f"{aat} resourceId",
                    )
    for k, r in enumerate(card.get("overrideReasons") or []):
        need(_coding_ok(r) and isinstance(r.get("display"), str), (HOOKS, "100"), f"overrideReasons[{k}]")
    links = card.get("links")
    if links is not None:
        need(isinstance(links, list) and bool(links), (CRD, "258"), "links present but empty")
        for k, link in enumerate(links if isinstance(links, list) else []):
            at = f"links[{k}]"
            need(isinstance(link.get("label"), str), (HOOKS, "138"), f"{at} label")
            need(isinstance(link.get("url"), str) and bool(_ABSOLUTE.match(link["url"])), (HOOKS, "139"), at)
            need(link.get("type") in ("absolute", "smart"), (HOOKS, "142"), f"{at} type")
            need(link.get("type") == "absolute", (CRD, "259"), f"{at} not absolute")
            need(
                not (link.get("type") == "absolute" and "appContext" in link),
                (HOOKS, "147"),
                f"{at} appContext",
            )
    return out


def problems(body: object) -> list[str]:
    """Every schema and CRD card-rule violation of one CDS Hooks response."""
    out = schema_problems(body)
    if not isinstance(body, dict) or not isinstance(body.get("cards"), list):
        return [*out, f"{HOOKS}@74: no cards array"]
    _empties(body, "$", out)
    for i, card in enumerate(body["cards"]):
        out.extend(card_problems(card, f"$.cards[{i}]"))
    return out
