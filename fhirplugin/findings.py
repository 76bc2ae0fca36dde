"""What a check produces: a Finding, later written as an OperationOutcome issue."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from fhirplugin.systems import CANONICAL_BASE, RULES_SYSTEM  # noqa: F401 - re-exported


class Severity(StrEnum):
    FATAL = "fatal"
    ERROR = "error"
    WARNING = "warning"
    INFORMATION = "information"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @classmethod
    def parse(cls, value: str) -> Severity:
        try:
            return cls(value.lower())
        except ValueError:
            raise ValueError(
                f"unknown severity {value!r}; use fatal, error, warning or information"
            ) from None


_RANK = {Severity.FATAL: 3, Severity.ERROR: 2, Severity.WARNING: 1, Severity.INFORMATION: 0}


@dataclass(slots=True)
class Finding:
    """One problem found in the submitted resources.

    ``expression`` is a FHIRPath into what was submitted, relative to the top-level input
    (``Claim.item[1].productOrService``, ``Bundle.entry[2].resource.item[0].quantity``).
    ``text`` is one sentence for a coder; ``diagnostics`` says where the rule comes from.
    """

    rule_id: str
    severity: Severity
    issue_type: str
    text: str
    expression: list[str] = field(default_factory=list)
    diagnostics: str | None = None
    rule_display: str | None = None
    # machine-readable fix for CDS Hooks suggestions: {"action": "replace-code"|"delete-line", ...}
    fix: dict | None = None
    # a finding that rests on a fact tagged memory/inference in the reference data
    unverified: bool = False

    def sort_key(self) -> tuple:
        return (self.expression[0] if self.expression else "", -self.severity.rank, self.rule_id)
