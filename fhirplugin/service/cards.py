"""Findings → CDS Hooks 2.0 cards, with suggestions that fix the draft resource in one click.

One card per finding at warning or error (``critical``), and per information finding that a rule
raised (not the engine's "no problems found"). Each card carries the OperationOutcome issue it
presents under the ``dev.fhirplugin.issues`` extension key; the response carries the whole
OperationOutcome under ``dev.fhirplugin.operation-outcome``.

Given the service's public base URL, a card's ``source.url`` and its one ``links`` entry (type
``absolute``, the Da Vinci CRD "External Reference" card) point at the rule's page ``/rules/{id}``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache

import orjson

from fhirplugin.findings import Finding, Severity
from fhirplugin.outcome import issue as oo_issue
from fhirplugin.resources import data_dir
from fhirplugin.rules.base import REGISTRY
from fhirplugin.service import fixes
from fhirplugin.systems import RULES_SYSTEM

EXT_ISSUES = "dev.fhirplugin.issues"
EXT_OUTCOME = "dev.fhirplugin.operation-outcome"
SUMMARY_MAX = 139  # the spec says under 140 characters
INDICATOR = {
    Severity.FATAL: "critical",
    Severity.ERROR: "critical",
    Severity.WARNING: "warning",
    Severity.INFORMATION: "info",
}
_NS = uuid.UUID("6f1c1b52-58c4-4d0e-9a8e-5d3c2f4b7a10")
SOURCE_LABEL = "fhirplugin CPT coding rules"


@cache
def override_reasons() -> list[dict]:
    cs = orjson.loads((data_dir("terminology") / "codesystems" / "override-reason.json").read_bytes())
    return [{"system": cs["url"], "code": c["code"], "display": c["display"]} for c in cs["concept"]]


@dataclass(slots=True)
class Target:
    """Where a checked entry came from, so a fix can be offered on the resource the client sent."""

    resource: dict
    editable: bool  # a draft resource from the hook context (not prefetch / server data)
    label: str  # "ServiceRequest/abc" or "draftOrders entry 2"


def summary(text: str, rule_id: str) -> str:
    s = f"{rule_id}: {text}"
    if len(s) <= SUMMARY_MAX:
        return s
    return s[: SUMMARY_MAX - 1].rstrip() + "…"


def _detail(f: Finding, where: str | None) -> str:
    cls = REGISTRY.get(f.rule_id) if f.rule_id else None
    docs = cls.doc_sections() if cls else {}
    parts = [f.text]
    if where:
        parts.append(f"**Where:** {where}")
    if docs.get("Fix"):
        parts.append(f"**Fix:** {' '.join(docs['Fix'].split())}")
    src = " ".join(x for x in (docs.get("Source"), f.diagnostics) if x)
    if src:
        parts.append(f"**Source:** {' '.join(src.split())}")
    return "\n\n".join(parts)


Resolver = Callable[[str], tuple[str, "Target | None", list | None, str | None]]


def rule_url(base_url: str | None, rule_id: str | None) -> str | None:
    """The absolute URL of a rule's page, or None without a base URL or a registered rule."""
    if not base_url or not rule_id or REGISTRY.get(rule_id) is None:
        return None
    return f"{base_url.rstrip('/')}/rules/{rule_id}"


def card(f: Finding, *, hook_instance: str, resolve: Resolver, base_url: str | None = None) -> dict:
    """``resolve(expression)`` → (client-facing expression, target, path segments, where-words)."""
    resolved = [resolve(e) for e in f.expression]
    where = resolved[0][3] if resolved else None
    key = f"{hook_instance}|{f.rule_id}|{'|'.join(f.expression)}|{f.text}"
    c: dict = {
        "uuid": str(uuid.uuid5(_NS, key)),
        "summary": summary(f.text, f.rule_id or "fhirplugin"),
        "indicator": INDICATOR[f.severity],
        "detail": _detail(f, where),
        "source": {
            "label": SOURCE_LABEL,
            "topic": {"system": RULES_SYSTEM, "code": f.rule_id or "INPUT"},
        },
    }
    if f.rule_display:
        c["source"]["topic"]["display"] = f.rule_display
    url = rule_url(base_url, f.rule_id)
    if url:
        c["source"]["url"] = url
        c["links"] = [
            {"label": f"Rule {f.rule_id}: what it checks and how to fix it", "url": url, "type": "absolute"}
        ]
    if f.fix and isinstance(f.fix.get("path"), str):
        _, target, segs, _ = resolve(f.fix["path"])
        if target is not None and target.editable and segs is not None:
            action = fixes.apply(f.fix, target.resource, segs)
            if action is not None:
                c["suggestions"] = [
                    {
                        "label": action.description,
                        "uuid": str(uuid.uuid5(_NS, key + "|suggestion")),
                        "isRecommended": True,
                        "actions": [action.to_json()],
                    }
                ]
                c["selectionBehavior"] = "at-most-one"
    if f.severity is not Severity.INFORMATION:
        c["overrideReasons"] = override_reasons()
    iss = oo_issue(f)
    if resolved:
        iss["expression"] = [r[0] for r in resolved]
    c["extension"] = {EXT_ISSUES: [iss]}
    return c


def cards_for(
    findings: Iterable[Finding], *, hook_instance: str, resolve: Resolver, base_url: str | None = None
) -> list[dict]:
    """Cards most urgent first; findings in input order within one urgency."""
    order = {Severity.FATAL: 0, Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFORMATION: 2}
    ranked = sorted(findings, key=lambda f: (order[f.severity], f.sort_key()))
    return [card(f, hook_instance=hook_instance, resolve=resolve, base_url=base_url) for f in ranked]


def no_problems_card(checked: list[str], *, hook_instance: str, base_url: str | None = None) -> dict:
    """The opt-in information card for a request with no finding (a CRD "Instructions" card: text only)."""
    if checked:
        shown = ", ".join(checked[:10]) + (f" and {len(checked) - 10} more" if len(checked) > 10 else "")
        text = f"No CPT coding problems found in {len(checked)} checked resource(s)."
        detail = f"fhirplugin checked {shown} against its CPT coding rules and found nothing to change."
    else:
        text = "Nothing to check: the request holds no CPT-coded order, claim or procedure."
        detail = "fhirplugin checks CPT-coded ServiceRequests, Claims, Procedures and ChargeItems only."
    c: dict = {
        "uuid": str(uuid.uuid5(_NS, f"{hook_instance}|no-problems")),
        "summary": summary(text, "fhirplugin"),
        "indicator": "info",
        "detail": detail,
        "source": {
            "label": SOURCE_LABEL,
            "topic": {"system": RULES_SYSTEM, "code": "no-problems", "display": "No coding problems found"},
        },
    }
    if base_url:
        c["source"]["url"] = f"{base_url.rstrip('/')}/rules"
    return c
