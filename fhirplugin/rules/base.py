"""Rule base class and registry.

A rule is a class with a stable ``id``, a default severity, an IssueType and a docstring with the
sections *What it checks / Why / Example / Fix / Source*. Registering two rules with one id fails.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.wording import plain, plain_doc

if TYPE_CHECKING:
    from fhirplugin.fhir.case import Submission
    from fhirplugin.tx.store import Terminology

DOC_SECTIONS = ("What it checks", "Why", "Example", "Fix", "Source")
RULE_ID = re.compile(r"^[A-Z]{3}\d{3}$")


@dataclass(slots=True)
class RuleContext:
    """What a rule receives: the submission (all cases in one input) and the terminology."""

    submission: Submission
    tx: Terminology
    cpt_codes: frozenset[str] = frozenset()  # the CPT codes of every line (see Rule.triggers)

    @classmethod
    def of(cls, submission: Submission, tx: Terminology) -> RuleContext:
        codes = frozenset(c for line in submission.lines() if (c := line.cpt) is not None)
        return cls(submission, tx, codes)


class Rule:
    id: ClassVar[str]
    name: ClassVar[str]  # short kebab-case name, e.g. "drainage.guidance-included"
    family: ClassVar[str] = "generic"
    severity: ClassVar[Severity] = Severity.ERROR
    issue_type: ClassVar[str] = "business-rule"
    # the CPT codes one of which a line must carry for this rule to find anything (a function of the
    # family's data, read once per engine); None: the rule runs on every submission
    triggers: ClassVar[Callable[[], Iterable[str]] | None] = None
    # False for rules whose findings the reader and engine write (input and structure checks)
    runs: ClassVar[bool] = True
    # A family rule that restates a CMS edit in its own words names what it covers, so the generic
    # edit does not report the same thing twice while the family rule is enabled: the NCCI PTP pairs
    # (column 1, column 2), the codes whose MUE it judges, the add-on codes whose primary it judges.
    restates_ptp: ClassVar[Callable[[], Iterable[tuple[str, str]]] | None] = None
    restates_mue: ClassVar[Callable[[], Iterable[str]] | None] = None
    restates_aoc: ClassVar[Callable[[], Iterable[str]] | None] = None
    # resource types this rule reads through references (a line's Procedure, a diagnosis' Condition);
    # when one is referenced but not in the input, the engine says the rule could not check it (INP011)
    needs: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, severity: Severity | None = None) -> None:
        self.effective_severity = severity or self.severity
        self.peers: frozenset[str] = frozenset()  # ids of every enabled rule (set by prepare)

    def check(self, ctx: RuleContext) -> Iterator[Finding]:  # pragma: no cover - abstract
        raise NotImplementedError

    def prepare(self, rules: list[Rule]) -> None:
        """Called once by the engine with every enabled rule (itself included) before any check.

        Keeps their ids in ``peers``, so a rule can leave to another what that one says better.
        Override to read more of them, calling this first.
        """
        self.peers = frozenset(r.id for r in rules)

    def finding(
        self,
        text: str,
        expression: str | list[str] | None,
        *,
        diagnostics: str | None = None,
        severity: Severity | None = None,
        fix: dict | None = None,
        unverified: bool = False,
        issue_type: str | None = None,
    ) -> Finding:
        """Build a Finding; ``severity`` lets a rule downgrade (e.g. error → warning) case by case.

        A configured severity override replaces the rule's default, and scales a per-finding
        downgrade the same way (a warning from an error rule stays one step below the override).
        """
        sev = self.grade(severity or self.severity)
        if unverified:
            note = "Rests on a fact not verified against the official source (recalled or inferred)."
            diagnostics = f"{diagnostics} {note}" if diagnostics else note
        f = self.make(text, expression, diagnostics=diagnostics, severity=sev, issue_type=issue_type)
        f.fix = fix
        f.unverified = unverified
        return f

    def grade(self, severity: Severity) -> Severity:
        """The severity a finding of this rule gets under the configuration: the rule's default
        becomes the configured ``[severity]``; a per-finding downgrade stays as it is."""
        if self.effective_severity is not self.severity and severity is self.severity:
            return self.effective_severity
        return severity

    @classmethod
    def make(
        cls,
        text: str,
        expression: str | list[str] | None,
        *,
        diagnostics: str | None = None,
        severity: Severity | None = None,
        issue_type: str | None = None,
    ) -> Finding:
        """A finding of this rule class at its default severity, for the reader and structure checks,
        which run before the engine's configured rules exist; the engine grades (and drops) them by
        the configuration afterwards (:meth:`grade`)."""
        exprs = [expression] if isinstance(expression, str) else list(expression or [])
        return Finding(
            rule_id=cls.id,
            severity=severity or cls.severity,
            issue_type=issue_type or cls.issue_type,
            text=plain(text) or "",
            expression=exprs,
            diagnostics=plain(diagnostics),  # source keys of the tables -> titles a reader can find
            rule_display=cls.name,
        )

    @classmethod
    def doc_sections(cls) -> dict[str, str]:
        """The docstring's sections as plain text (what `fhirplugin rules ID` and the cards show)."""
        return {k: plain_doc(v) for k, v in parse_doc_sections(cls.__doc__ or "").items()}

    @classmethod
    def summary(cls) -> str:
        return plain_doc((cls.__doc__ or "").strip().splitlines()[0].strip()) if cls.__doc__ else ""


def parse_doc_sections(doc: str) -> dict[str, str]:
    """Split a rule docstring into its ``Section:`` blocks."""
    import inspect

    text = inspect.cleandoc(doc)
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        head = line.rstrip(":").strip()
        if line.strip().endswith(":") and head in DOC_SECTIONS:
            current = head
            sections[current] = []
        elif current:
            sections[current].append(line)
    return {k: textwrap.dedent("\n".join(v)).strip() for k, v in sections.items()}


class Registry:
    def __init__(self) -> None:
        self._rules: dict[str, type[Rule]] = {}

    def register(self, cls: type[Rule]) -> type[Rule]:
        rid = getattr(cls, "id", None)
        if not rid or not RULE_ID.match(rid):
            raise ValueError(
                f"rule {cls.__name__} has no valid id (three capitals and three digits): {rid!r}"
            )
        if rid in self._rules and self._rules[rid] is not cls:
            raise ValueError(f"duplicate rule id {rid}: {self._rules[rid].__name__} and {cls.__name__}")
        self._rules[rid] = cls
        return cls

    def get(self, rule_id: str) -> type[Rule] | None:
        return self._rules.get(rule_id.upper())

    def __getitem__(self, rule_id: str) -> type[Rule]:
        return self._rules[rule_id.upper()]

    def all(self) -> list[type[Rule]]:
        return [self._rules[k] for k in sorted(self._rules)]

    def __contains__(self, rule_id: str) -> bool:
        return rule_id.upper() in self._rules


REGISTRY = Registry()


def register(cls: type[Rule]) -> type[Rule]:
    """Class decorator: add a rule to the global registry (duplicate ids raise)."""
    return REGISTRY.register(cls)
