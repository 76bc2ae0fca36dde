"""Central venous access, non-tunneled centrally inserted catheters (CPT 36555, 36556): CVC001.

A family declaration: the data is ``terminology/cvc/codes.csv`` (the codes and the ages each covers),
the mechanism :mod:`fhirplugin.rules.templates.age`. Imaging guidance is not part of these codes
(76937 and 77001 are reported with them; CMS pairs 36555/36556 only with 77002), so the family has no
guidance-included rule; the MUE (2 per day, MAI 3) is MUE001's.
"""

from __future__ import annotations

from fhirplugin.rules.base import register
from fhirplugin.rules.templates.age import AgeCode, AgeDecidesCode
from fhirplugin.rules.templates.family import Family


@register
class CentralLineAge(AgeDecidesCode):
    """A non-tunneled central venous catheter code for the wrong age: 36555 under 5 years, 36556 from 5.

    What it checks:
        Lines coded 36555 or 36556 (claim lines, Procedures, orders) whose case names a Patient with a
        ``birthDate``: the patient's age in whole years on the line's date of service must be in the range
        ``terminology/cvc/codes.csv`` gives the code (36555 under 5, 36556 5 or older). Without a birth date
        or a date of service there is nothing to judge and no finding.
    Why:
        CPT splits insertion of a non-tunneled centrally inserted central venous catheter by the patient's
        age; the code of the other age group is denied or pays the wrong amount.
    Example:
        ``36556`` for a patient born 2021-03-03, dated 2026-03-02 (age 4) → ``36555``; ``36555`` for a
        7-year-old → ``36556``.
    Fix:
        Replace the code with the one for the patient's age (the finding carries a replace-code fix), or
        correct the birth date or the date of service if it is wrong.
    Source:
        CPT code descriptors of 36555 and 36556 (the age split at 5 years, from memory, so findings say
        unverified); CMS NCCI PTP edits, practitioner table 2024 Q3 (36555/36556 with 77002 only).
    """

    id = "CVC001"
    name = "cvc.age-decides-code"
    family = "cvc"
    data = Family("cvc", AgeCode)
