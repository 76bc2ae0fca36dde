"""Sessions and words shared by the CMS edit rules.

A *session* is what a CMS edit compares lines within: the lines billed (or ordered) for one patient by
one provider on one date of service. The provider is the line's rendering provider (a Claim item's
care-team member, an order's performer) under the practitioner tables, the billing provider (the
facility) under the outpatient hospital tables. Bills are compared with bills (claim lines, and the lines of
ExplanationOfBenefit and ChargeItem resources), orders with orders; a line without a date only with the
lines of its own resource. Each line is also given the NCCI setting whose tables apply to it: the
outpatient hospital tables for an institutional claim, the practitioner tables for a professional one,
else the configured default.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from fhirplugin.fhir.case import ServiceLine, Submission
from fhirplugin.findings import Severity
from fhirplugin.rules.base import Rule

if TYPE_CHECKING:
    from fhirplugin.tx.store import Terminology

BILL_TYPES = frozenset({"Claim", "ExplanationOfBenefit", "ChargeItem"})
ORDER_TYPES = frozenset({"ServiceRequest"})

# Claim.type / ExplanationOfBenefit.type codes (HL7 claim-type) → NCCI setting
_SETTING_BY_CLAIM_TYPE = {"institutional": "hospital", "professional": "practitioner"}


@dataclass(slots=True)
class Session:
    """Lines for one patient, provider and date of service (bills or orders), in input order."""

    kind: str  # "bill" | "order"
    date: dt.date | None
    setting: str  # "practitioner" | "hospital"
    lines: list[ServiceLine] = field(default_factory=list)

    def codes(self) -> set[str]:
        return {c for line in self.lines if (c := line.cpt) is not None}


def line_kind(line: ServiceLine) -> str | None:
    if line.resource_type in BILL_TYPES:
        return "bill"
    if line.resource_type in ORDER_TYPES:
        return "order"
    return None  # a standalone Procedure documents work; it is not billed


def _settings_by_line(sub: Submission, default: str) -> dict[int, str]:
    out: dict[int, str] = {}
    for case in sub.cases:
        setting = _SETTING_BY_CLAIM_TYPE.get(case.claim_type or "", default)
        for line in case.lines:
            out[id(line)] = setting
    return out


def sessions(sub: Submission, default_setting: str) -> list[Session]:
    """The sessions of a submission (computed once per submission and setting)."""
    return sub.memo(("cms.sessions", default_setting), lambda: _sessions(sub, default_setting))


def _sessions(sub: Submission, default_setting: str) -> list[Session]:
    settings = _settings_by_line(sub, default_setting)
    groups: dict[tuple, Session] = {}
    for line in sub.lines():
        kind = line_kind(line)
        if kind is None or line.cpt is None:
            continue
        setting = settings.get(id(line), default_setting)
        when: dt.date | str = line.date if line.date is not None else f"?{line.resource_path}"
        # practitioner edits compare the services of one rendering provider; the outpatient hospital
        # edits every service the facility bills for the patient that day, whoever rendered it
        provider = (line.billing_provider or line.provider) if setting == "hospital" else line.provider
        key = (kind, setting, line.patient, provider, when)
        session = groups.get(key)
        if session is None:
            session = groups[key] = Session(kind, line.date, setting)
        session.lines.append(line)
    return list(groups.values())


class CmsEdit(Rule):
    """A generic CMS edit that leaves to the enabled family rules what they restate in their own words
    (their ``restates_ptp`` pairs, ``restates_mue`` codes or ``restates_aoc`` add-on codes, as named by
    ``restates``)."""

    restates: ClassVar[str] = ""  # "restates_ptp" | "restates_mue" | "restates_aoc"

    def __init__(self, severity: Severity | None = None) -> None:
        super().__init__(severity)
        self.restated: frozenset = frozenset()

    def prepare(self, rules: list[Rule]) -> None:
        super().prepare(rules)
        out: set = set()
        for rule in rules:
            source = getattr(rule, self.restates, None) if self.restates else None
            if rule is not self and source is not None:
                out.update(source())
        self.restated = frozenset(out)


def default_setting(tx: Terminology) -> str:
    """The configured NCCI setting ("practitioner" unless ``[terminology] ncci_table`` says hospital)."""
    return tx.default_setting


def is_em(code: str) -> bool:
    """An evaluation and management visit code (CPT 99202–99499)."""
    return len(code) == 5 and code.isdigit() and "99202" <= code <= "99499"


def mods(line: ServiceLine) -> set[str]:
    return {m.code.strip().upper() for m in line.modifiers if m.code}


# ---------------------------------------------------------------- words
def code_kind(code: str) -> str:
    """ "CPT" for a Level I code (five digits, or four digits and F/T/U), "HCPCS" for Level II."""
    return "HCPCS" if code[:1].isalpha() else "CPT"


def line_label(line: ServiceLine) -> str:
    """How a coder names the line: ``claim line 2 (CPT 76942)``, ``the 49406 order``."""
    code = line.cpt or (line.code.code if line.code else "?")
    if line.resource_type in ORDER_TYPES:
        return f"the {code_kind(code)} {code} order"
    kind = line.source_type or line.resource_type  # EOB and ChargeItem lines are read as claim lines
    noun = {"Claim": "claim line", "ExplanationOfBenefit": "EOB line"}.get(kind, "line")
    if kind == "ChargeItem":
        return f"the charge for {code_kind(code)} {code}"
    number = line.sequence if line.sequence is not None else _index(line.path) + 1
    return f"{noun} {number} ({code_kind(code)} {code})"


def _index(path: str) -> int:
    """The last ``[n]`` of a FHIRPath (0 when there is none)."""
    if path.endswith("]") and "[" in path:
        try:
            return int(path[path.rindex("[") + 1 : -1])
        except ValueError:
            return 0
    return 0


def upper_first(text: str) -> str:
    """The text with its first letter upper case, the rest as written (``claim line 2 (CPT 76942)``)."""
    return text[:1].upper() + text[1:]


def code_path(line: ServiceLine) -> str:
    return line.code.path if line.code is not None else line.code_path


def units_words(n: float) -> str:
    return f"{n:g} unit" + ("" if n == 1 else "s")
