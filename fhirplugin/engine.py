"""The engine: submitted FHIR in, located findings out.

``Engine.check_bytes`` takes a file or HTTP body (JSON or NDJSON), ``Engine.check_object`` one parsed
top-level resource. Each top-level input gives one :class:`Result` whatever happens inside it: bad
JSON, unknown types, structure errors and rule failures become findings, never exceptions.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from fhirplugin import rules as _rules  # noqa: F401 - registers every rule
from fhirplugin.config import Settings
from fhirplugin.fhir import fast, jsonload, structure, version
from fhirplugin.fhir.case import Submission
from fhirplugin.fhir.extract import read_submission
from fhirplugin.findings import Finding, Severity
from fhirplugin.jsontypes import JSONObject
from fhirplugin.outcome import operation_outcome, worst
from fhirplugin.rules.base import REGISTRY, Rule, RuleContext
from fhirplugin.tx.store import Terminology

log = logging.getLogger("fhirplugin.engine")

# resource types whose CPT/HCPCS codes the rules check (alone, in a Bundle, or wrapped in Parameters)
CHECKED_TYPES = ("Claim", "ExplanationOfBenefit", "ChargeItem", "Procedure", "ServiceRequest")
TOP_LEVEL_TYPES = (*CHECKED_TYPES, "Bundle", "Parameters")
# what a batch worker builds at start-up (Engine.prebuild): the checked types and their usual company
PREBUILD_TYPES = (
    *TOP_LEVEL_TYPES,
    "Condition",
    "Device",
    "DiagnosticReport",
    "ImagingStudy",
    "DocumentReference",
    "Coverage",
    "Patient",
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "Encounter",
    "Location",
    "ClaimResponse",
)


@dataclass(slots=True)
class Result:
    """Findings for one top-level input resource."""

    source: str
    index: int
    line: int | None
    resource_type: str | None
    resource_id: str | None
    fhir_version: str
    findings: list[Finding] = field(default_factory=list)
    entries: int | None = None  # a Bundle's entries (for "1 Bundle (10 entries) checked")

    @property
    def worst(self) -> Severity | None:
        return worst(self.findings)

    def outcome(self) -> dict:
        return operation_outcome(self.findings, line=self.line)

    def fails(self, threshold: Severity) -> bool:
        w = self.worst
        return w is not None and w.rank >= threshold.rank


def _input_finding(
    code: str,
    text: str,
    expression: str | None,
    *,
    issue_type: str | None = None,
    diagnostics: str | None = None,
) -> Finding:
    """A reader finding, made by its rule class at the class's severity and issue type (the engine
    applies the configuration to it in :meth:`Engine._configured`)."""
    return REGISTRY[code].make(text, expression, diagnostics=diagnostics, issue_type=issue_type)


class Engine:
    def __init__(self, settings: Settings | None = None, tx: Terminology | None = None) -> None:
        self.settings = settings or Settings()
        self.tx = tx or Terminology.from_settings(self.settings)
        self.rules: list[Rule] = []
        for cls in REGISTRY.all():
            if not self.settings.rule_enabled(cls.id):
                continue
            self.rules.append(cls(self.settings.severity.get(cls.id)))
        for rule in self.rules:
            rule.prepare(self.rules)
        # the reader and structure checks (INP/STR) that are enabled: their findings are made while
        # reading, then graded by the configuration here, like every rule's (see _configured)
        self._reader_rules: dict[str, Rule] = {r.id: r for r in self.rules if not r.runs}
        # input that could not be read at all (fatal by default) is not hidden by a `select` that
        # leaves its rule out, only by naming it in `ignore`: otherwise select = ["DRN"] would pass
        # a file that is not JSON as "no problems found"
        for cls in REGISTRY.all():
            ignored = any(cls.id.startswith(p) for p in self.settings.ignore)
            if not (cls.runs or ignored) and cls.severity is Severity.FATAL and cls.id not in self._reader_rules:
                self._reader_rules[cls.id] = cls(self.settings.severity.get(cls.id))
        self._reader_ids = frozenset(cls.id for cls in REGISTRY.all() if not cls.runs)
        self._regrade = any(r.effective_severity is not r.severity for r in self._reader_rules.values())
        self._filter = len(self._reader_rules) != len(self._reader_ids)
        # what run_rules runs: (rule, the codes that trigger it or None for every submission)
        self._runners: list[tuple[Rule, frozenset[str] | None]] = [
            (rule, frozenset(triggers()) if (triggers := type(rule).triggers) is not None else None)
            for rule in self.rules
            if rule.runs
        ]

    def prebuild(self, types: Iterable[str] = PREBUILD_TYPES, versions: Iterable[str] = ("R4", "R5")) -> None:
        """See :func:`prebuild` (the caches are per process, shared by every Engine)."""
        prebuild(types, versions)

    # ------------------------------------------------------------------ entry points
    def check_bytes(
        self, data: bytes, *, fhir_version: str = "auto", source: str = "-", ndjson: bool | None = None
    ) -> list[Result]:
        """Every resource in ``data``: one JSON document or NDJSON (``ndjson`` None: guess)."""
        raws = jsonload.split_inputs(
            data,
            max_bytes=self.settings.max_resource_bytes,
            max_depth=self.settings.max_depth,
            check_depth=False,  # proven or checked in check_object
            ndjson=ndjson,
        )
        results = [self.check_raw(raw, fhir_version=fhir_version, source=source) for raw in raws]
        once_per_file(results)
        return results

    def check_lines(
        self, lines: Iterable[bytes], *, fhir_version: str = "auto", source: str = "-", start_line: int = 1
    ) -> Iterator[Result]:
        """Stream NDJSON lines (for batch): one Result per non-blank line."""
        index = 0
        for lineno, line in enumerate(lines, start=start_line):
            if not line.strip():
                continue
            raw = jsonload.parse_document(
                line,
                index=index,
                line=lineno,
                max_bytes=self.settings.max_resource_bytes,
                max_depth=self.settings.max_depth,
                check_depth=False,
            )
            index += 1
            yield self.check_raw(raw, fhir_version=fhir_version, source=source)

    def check_raw(self, raw: jsonload.RawInput, *, fhir_version: str = "auto", source: str = "-") -> Result:
        if raw.value is None:
            res = Result(source, raw.index, raw.line, None, None, version.normalize(fhir_version) or "R4")
            res.findings = self._configured(
                [_input_finding(p.code, p.text, None, diagnostics=p.diagnostics) for p in raw.problems]
            )
            return res
        return self.check_object(
            raw.value, fhir_version=fhir_version, source=source, index=raw.index, line=raw.line
        )

    def check_object(
        self,
        value: JSONObject,
        *,
        fhir_version: str = "auto",
        source: str = "-",
        index: int = 0,
        line: int | None = None,
    ) -> Result:
        rtype = value.get("resourceType") if isinstance(value, dict) else None
        rid = rid_ if isinstance(value, dict) and isinstance(rid_ := value.get("id"), str) else None
        ver = version.normalize(fhir_version)
        notes: list[Finding] = []
        if ver is None and isinstance(value, dict):
            found = version.analyse(value)
            ver = found.version
            if found.conflict:
                notes.append(
                    _input_finding(
                        "INP010",
                        found.conflict,
                        None,
                        issue_type="informational",
                        diagnostics=f"Elements that do not fit each version: {found.misfits}.",
                    )
                )
        ver = ver or "R4"
        res = Result(source, index, line, rtype if isinstance(rtype, str) else None, rid, ver)
        if rtype == "Bundle" and isinstance(entry := value.get("entry"), list):
            res.entries = len(entry)
        if ver in version.UNSUPPORTED:
            res.findings = self._configured(
                [
                    _input_finding(
                        "INP009",
                        f"This is FHIR {version.label(ver)} content; fhirplugin checks FHIR R4, R4B and R5 only. "
                        "Convert it to R4 or R5 (or give --fhir-version if the detection is wrong).",
                        rtype if isinstance(rtype, str) else None,
                        issue_type="not-supported",
                    )
                ]
            )
            return res
        res.findings = self._configured(self._check(value, ver, line) + notes)
        res.findings.sort(key=Finding.sort_key)
        return res

    def _configured(self, findings: list[Finding]) -> list[Finding]:
        """Apply select/ignore/[severity] to the reader and structure findings (INP/STR), which the
        reader makes by rule class; rule findings were graded by their configured rule already."""
        if not (self._filter or self._regrade):
            return findings
        out = []
        for f in findings:
            if f.rule_id in self._reader_ids:
                rule = self._reader_rules.get(f.rule_id)
                if rule is None:
                    continue  # not selected, or ignored
                f.severity = rule.grade(f.severity)
            out.append(f)
        return out

    # ------------------------------------------------------------------ the work
    def _check(self, value: JSONObject, ver: str, line: int | None = None) -> list[Finding]:
        rtype = value.get("resourceType")
        if not isinstance(rtype, str) or not rtype:
            return [
                _input_finding(
                    "INP002",
                    "The JSON object has no resourceType: it is not a FHIR resource.",
                    None,
                    issue_type="structure",
                )
            ]
        if not structure.is_type(rtype, ver):
            return [
                _input_finding(
                    "INP002",
                    f"resourceType {rtype!r} is not a FHIR {ver} resource type.",
                    None,
                    issue_type="structure",
                )
            ]
        if rtype not in TOP_LEVEL_TYPES:
            return [
                _input_finding(
                    "INP003",
                    f"A {rtype} carries no CPT/HCPCS codes fhirplugin checks, so no coding rule ran; fhirplugin "
                    "checks Claim, ExplanationOfBenefit, ChargeItem, Procedure and ServiceRequest, alone, in a "
                    "Bundle, or in Parameters.",
                    rtype,
                    issue_type="informational",
                )
            ]
        # Structure. The fast path proves the whole tree valid and within the depth limit in one walk;
        # otherwise the depth is checked before fhir.resources (or the reader) walks the value.
        max_depth = self.settings.max_depth
        if structure.fast_enabled() and fast.accepts(value, ver, max_depth):
            findings = []
        elif jsonload.too_deep(value, max_depth):
            p = jsonload.depth_problem(line, max_depth)
            return [_input_finding(p.code, p.text, None)]
        else:
            findings = structure.validate_tree(value, ver, rtype, fast_first=False)
            if findings and self.settings.structure_scope == "checked":
                findings = _in_checked_resources(findings, value, rtype)
        entries = entry if isinstance(entry := value.get("entry"), list) else []
        if rtype == "Bundle" and not any(isinstance(e, dict) for e in entries):
            findings.append(
                _input_finding(
                    "INP005",
                    "The Bundle has no entries: there is nothing to check.",
                    "Bundle",
                )
            )
            return findings
        parameters = parameter if isinstance(parameter := value.get("parameter"), list) else []
        if rtype == "Parameters" and not any(
            isinstance(p, dict) and p.get("name") == "resource" and isinstance(p.get("resource"), dict)
            for p in parameters
        ):
            findings.append(
                _input_finding(
                    "INP007",
                    "The Parameters resource has no parameter named 'resource' holding the resource to "
                    "check.",
                    "Parameters",
                )
            )
            return findings
        try:
            sub = read_submission(value, rtype, ver)
        except Exception as exc:  # noqa: BLE001 - the reader is defensive; this is a last resort
            log.warning("reader failed on a %s: %s", rtype, type(exc).__name__)
            findings.append(
                _input_finding(
                    "STR004",
                    f"The {rtype} could not be read: its structure is not valid.",
                    rtype,
                    diagnostics=f"{type(exc).__name__}",
                )
            )
            return findings
        if not sub.cases:
            findings.append(
                _input_finding(
                    "INP008",
                    f"The {rtype} holds no Claim, ExplanationOfBenefit, ChargeItem, Procedure or ServiceRequest: "
                    "no coding rule applied.",
                    rtype,
                )
            )
        findings.extend(self.run_rules(sub))
        if sub.missing:
            gap = self._linked_data_missing(sub, rtype)
            if gap is not None:
                findings.append(gap)
        return _dedupe(findings)

    def _linked_data_missing(self, sub: Submission, rtype: str) -> Finding | None:
        """INP011: one information issue naming the rules that could not check what they read and
        the references not found in the input (the CLI's counterpart of the service's 412)."""
        types = {ref.split("/", 1)[0] for ref in sub.missing}
        codes = RuleContext.of(sub, self.tx).cpt_codes
        starved = [
            rule.id
            for rule, triggers in self._runners
            if rule.needs & types and (triggers is None or not triggers.isdisjoint(codes))
        ]
        if not starved:
            return None
        refs = list(sub.missing)
        shown = ", ".join(refs[:10]) + (f" and {len(refs) - 10} more" if len(refs) > 10 else "")
        where = sorted({p for p in sub.missing.values() if p})
        return _input_finding(
            "INP011",
            f"Not in the input: {shown}. {', '.join(starved)} could not check what "
            f"{'it reads' if len(starved) == 1 else 'they read'} there; send the {rtype} with what it "
            "references (a Bundle).",
            where[0] if where else rtype,
            diagnostics=f"Referenced from {', '.join(where) or rtype}.",
        )

    def run_rules(self, sub: Submission) -> list[Finding]:
        ctx = RuleContext.of(sub, self.tx)
        out: list[Finding] = []
        codes = ctx.cpt_codes
        for rule, triggers in self._runners:
            if triggers is not None and triggers.isdisjoint(codes):
                continue  # none of the codes this rule is about: it has nothing to say
            try:
                out.extend(rule.check(ctx))
            except Exception as exc:
                log.exception("rule %s failed", rule.id)
                out.append(
                    rule.make(
                        f"Rule {rule.id} could not run on this input; other rules ran.",
                        None,
                        diagnostics=f"{type(exc).__name__}: {exc}"[:300],
                        severity=Severity.FATAL,
                        issue_type="exception",
                    )
                )
        return out


def prebuild(types: Iterable[str] = PREBUILD_TYPES, versions: Iterable[str] = ("R4", "R5")) -> None:
    """Build now what checking these resource types needs (the fast-path and version tables, from the
    compiled cache of :mod:`fhirplugin.fhir.compiled` or else from the fhir.resources models; the
    built-in profiles), so the first EOB or ChargeItem met mid-batch does not stall a worker. Per
    process; a forked worker inherits what its parent built."""
    from fhirplugin.fhir.profiles import ProfileRegistry

    types = tuple(types)
    ProfileRegistry.builtin()  # the profiles PRF001/PRF002 read
    version.prebuild(types)
    for ver in versions:
        for rtype in types:
            if structure.is_type(rtype, ver):
                fast.prebuild(rtype, ver)


def _checked_paths(value: JSONObject, base: str, out: list[str]) -> list[str]:
    """FHIRPaths of the resources fhirplugin code-checks in a top-level input."""
    rtype = value.get("resourceType")
    if rtype in CHECKED_TYPES:
        out.append(base)
    elif rtype == "Bundle":
        for i, e in enumerate(entry if isinstance(entry := value.get("entry"), list) else []):
            if isinstance(e, dict) and isinstance(resource := e.get("resource"), dict):
                _checked_paths(resource, f"{base}.entry[{i}].resource", out)
    elif rtype == "Parameters":
        for i, p in enumerate(param if isinstance(param := value.get("parameter"), list) else []):
            if isinstance(p, dict) and isinstance(resource := p.get("resource"), dict):
                _checked_paths(resource, f"{base}.parameter[{i}].resource", out)
    return out


def _in_checked_resources(findings: list[Finding], value: JSONObject, base: str) -> list[Finding]:
    """structure_scope = "checked": keep the structure findings located in a code-checked resource."""
    roots = _checked_paths(value, base, [])

    def inside(expr: str) -> bool:
        return any(expr == r or expr.startswith((f"{r}.", f"{r}[")) for r in roots)

    return [f for f in findings if f.expression and inside(f.expression[0])]


# information findings said once per file (NDJSON of US Core resources: the same profiles every line)
_ONCE_PER_FILE = frozenset({"PRF001"})


def safe_check(engine: Engine, raw: jsonload.RawInput, fhir_version: str, source: str) -> Result:
    """``engine.check_raw`` that turns an unexpected exception into a fatal outcome for that input
    (batch workers and Spark partitions check the other inputs on)."""
    try:
        return engine.check_raw(raw, fhir_version=fhir_version, source=source)
    except Exception as exc:
        log.exception("checking %s line %s failed", source, raw.line)
        res = Result(source, raw.index, raw.line, None, None, "R4")
        res.findings = [
            Finding(
                "",
                Severity.FATAL,
                "exception",
                "fhirplugin could not check this resource (internal error); the other resources were "
                "checked.",
                [],
                type(exc).__name__,
            )
        ]
        return res


def once_per_file(results: list[Result], seen: set[tuple[str, str]] | None = None) -> None:
    """Drop the findings of :data:`_ONCE_PER_FILE` rules already said for the same file (``seen``
    carries what was said across calls: batch keeps one set per input file)."""
    seen = set() if seen is None else seen
    for res in results:
        keep = []
        for f in res.findings:
            if f.rule_id in _ONCE_PER_FILE and f.severity is Severity.INFORMATION:
                key = (f.rule_id, f.text)
                if key in seen:
                    continue
                seen.add(key)
            keep.append(f)
        res.findings = keep


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple] = set()
    out = []
    for f in findings:
        key = (f.rule_id, tuple(f.expression), f.text)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out
