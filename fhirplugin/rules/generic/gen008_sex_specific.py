from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Literal, get_args

from fhirplugin.fhir.case import Case
from fhirplugin.findings import Finding, Severity
from fhirplugin.resources import data_dir
from fhirplugin.rules.base import Rule, RuleContext, register
from fhirplugin.rules.tables import VerifiedRow, read_table
from fhirplugin.systems import APPROACH_SYSTEM


class SexEdit(VerifiedRow):
    """A row of ``terminology/edits/sex-specific.csv``."""

    kind: Literal["dx-range", "approach"]
    value: str  # "O00-O9A" (ICD-10-CM categories, inclusive) or an approach code
    sex: Literal["female", "male"]  # the administrative gender the diagnosis or approach belongs to
    meaning: str

    def covers(self, icd_code: str) -> bool:
        low, _, high = self.value.partition("-")
        category = icd_code.strip().upper()[:3]
        return low <= category <= (high or low)


_SEXES: tuple[str, ...] = get_args(SexEdit.model_fields["sex"].annotation)


@cache
def sex_edits() -> tuple[SexEdit, ...]:
    """The edits, in file order (a broken row raises TableError naming file, line and column)."""
    return tuple(r for _, r in read_table(data_dir("terminology") / "edits" / "sex-specific.csv", SexEdit))


@register
class SexSpecific(Rule):
    """A diagnosis or approach that belongs to the other sex than the patient's recorded gender.

    What it checks:
        When the input holds the Patient a claim or order is about and ``Patient.gender`` is male or
        female: the ICD-10-CM diagnoses of the claim, its lines and the linked Procedures or orders
        (obstetric codes O00–O9A, female genital tract N70–N98 and C51–C58 for a male patient; male
        genital organs N40–N53 and C60–C63 for a female patient), and a transvaginal approach for a male
        patient. The ranges are data (``terminology/edits/sex-specific.csv``). A patient whose gender is
        other, unknown or not given is not judged. A warning by default; set ``[severity] GEN008 =
        "information"`` where the recorded gender may differ from the sex the codes assume.
    Why:
        Payers run sex edits (the Medicare Code Editor's among them) and reject a claim whose diagnosis or
        procedure contradicts the patient's sex; most such findings are a wrong code, a wrong patient, or
        a wrong approach on the procedure (a male patient's pelvic collection is drained transrectally).
    Example:
        ``49407`` with a transvaginal approach, or the diagnosis ``O85`` (puerperal sepsis), for a patient
        whose ``gender`` is ``male``.
    Fix:
        Check the patient, the diagnosis and the approach; correct whichever is wrong. When the gender in the
        record is right and the code is right too (a transgender patient, for example), add the condition
        code or note the payer asks for.
    Source:
        ICD-10-CM chapter 15 (pregnancy, childbirth and the puerperium) and the genital-organ blocks of
        chapters 2 and 14; the Medicare Code Editor (MCE) sex edits; the CPT descriptor of 49407.
    """

    id = "GEN008"
    name = "generic.sex-specific"
    severity = Severity.WARNING
    issue_type = "business-rule"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        edits = sex_edits()
        for case in ctx.submission.cases:
            subject = case.subject
            if subject is None or subject.gender not in _SEXES:
                continue
            yield from self._case(case, subject.gender, subject.path, edits)

    def _case(self, case: Case, gender: str, where: str, edits: tuple[SexEdit, ...]) -> Iterator[Finding]:
        dx_edits = [e for e in edits if e.kind == "dx-range" and e.sex != gender]
        seen: set[str] = set()
        diagnoses = list(case.diagnoses)
        for line in case.lines:
            diagnoses.extend(d for d in line.diagnoses() if all(d is not x for x in diagnoses))
        for d in diagnoses:
            for c in d.icd10():
                hit = next((e for e in dx_edits if e.covers(c.code)), None)
                if hit is not None and c.path not in seen:
                    seen.add(c.path)
                    yield self.finding(
                        f"ICD-10-CM {c.code} is {hit.meaning}, but the patient's recorded gender is {gender}: "
                        f"check the patient, the diagnosis and the record.",
                        c.path,
                        diagnostics=f"{hit.source}; patient gender at {where}.",
                        unverified=not hit.verified,
                    )
        approach_edits = {e.value: e for e in edits if e.kind == "approach" and e.sex != gender}
        for line in case.lines:
            for a in line.all_approaches():
                hit = approach_edits.get(a.code.strip().lower())
                if hit is not None and a.system in (None, APPROACH_SYSTEM) and a.path not in seen:
                    seen.add(a.path)
                    code = line.cpt or (line.code.code if line.code else "the procedure")
                    yield self.finding(
                        f"{code} is documented with {hit.meaning}, but the patient's recorded gender is "
                        f"{gender}: check the approach (a transrectal route?) and the patient.",
                        a.path,
                        diagnostics=f"{hit.source}; patient gender at {where}.",
                        unverified=not hit.verified,
                    )
