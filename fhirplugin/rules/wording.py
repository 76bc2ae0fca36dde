"""What a user reads is plain text with sources a reader can find.

The terminology tables keep the research's source keys (``S-MEDLEARN``), evidence tags (``[V]``,
``[M]``, ``[I]``), section numbers of the research notes and the seed documents' file names in
their own columns. Nothing shown to a user prints them: :func:`plain` turns a diagnostics text built
from those columns into titles a coder can look up, and :func:`plain_doc` turns a rule docstring
(written with RST double backticks) into plain text. Both are applied where findings and rule
docs are made (:meth:`fhirplugin.rules.base.Rule.make`, ``Rule.doc_sections``).
"""

from __future__ import annotations

import re
from functools import lru_cache

# the research's short source keys -> what a reader can look up (our own short titles)
SOURCES = {
    "S-CMS-PTP": "CMS, Medicare NCCI procedure-to-procedure (PTP) edits",
    "S-NORIDIAN-NCCI": "Noridian, NCCI claim submission guidance",
    "S-NORIDIAN-MUE": "Noridian, medically unlikely edits (MUE)",
    "S-PALMETTO-PTP": "Palmetto GBA, NCCI PTP edits",
    "S-PALMETTO-MUE": "Palmetto GBA, medically unlikely edits",
    "S-NGS-MUE": "NGS Medicare, MUE billing and processing",
    "S-FCSO-MUE": "First Coast Service Options, medically unlikely edits",
    "S-FINDACODE-MOD": "NCCI Policy Manual, chapter I (NCCI-associated modifiers)",
    "S-TEXMED": "Texas Medical Association, NCCI edits",
    "S-AAPC-ORTHO-Q": "CMS MLN, How to Use the NCCI Tools",
    "S-MEDICAID-EDM": "CMS, Medicaid NCCI Edit Design Manual",
    "S-CODE-PTP-PARSER": "CMS NCCI PTP file layout",
    "S-CODE-MUE-PARSER": "CMS MUE file layout",
    "S-MUE-DERIV": "CMS MUE practitioner services table, 2026 Q2",
    "S-AAPC-2014-DRAIN": "AAPC, CPT 2014 drainage code changes",
    "S-AAPC-10030": "AAPC Radiology Coding Alert, units of 10030",
    "S-MEDLEARN": "MedLearn, catheter-assisted drainage coding",
    "S-RACMON": "ACR Clinical Examples in Radiology, Spring 2015",
    "S-CODINGAHEAD": "CPT code descriptor",
    "S-GENHEALTH": "CPT code descriptors of 49411 and 49412",
    "S-AAPC-INTERSTITIAL": "AAPC, coding interstitial device placement",
    "S-AAPC-FIDUCIAL": "AAPC, coding fiducial markers",
    "S-AAPC-GUIDANCE": "AAPC Radiology Coding Alert, image guidance coding",
    "S-RVUEDGE": "CMS Physician Fee Schedule RVU file",
    "S-ICD": "ICD-10-CM April 2026",
    "S-DICOM-BPE": "DICOM PS3.16 Annex L (body parts)",
    "S-MII-CM": "SNOMED CT",
    "S-SCT-EDGUIDE": "SNOMED CT Editorial Guide (imaging-guided procedures)",
    "S-LOINC-RAD": "LOINC/RSNA Radiology Playbook",
    "S-LCD-L35076": "CMS LCD L35076 (SRS and SBRT)",
    "S-LCD-L39553": "CMS LCD L39553 (Radiation Therapies)",
    "S-SBRT-LCD-TEXT": "CMS LCD on SBRT",
    "S-SNOMED-3P": "SNOMED CT (sites from public FHIR examples)",
    "S-1500": "CMS-1500 claim form instructions",
}
# per-code keys: S-IFRAME-49406, S-CODINGAHEAD-10030, S-DATALILY-49412, S-MIRA-75989 …
_PER_CODE = {
    "S-IFRAME": "CPT {code} code descriptor and guidance",
    "S-CODINGAHEAD": "CPT {code} code descriptor",
    "S-AAPC": "AAPC, CPT {code}",
    "S-MIRA": "CPT {code} code descriptor",
    "S-DATALILY": "CMS ASC addenda, April 2026 ({code})",
    "S-GENHEALTH": "CPT {code} code descriptor",
}
# the seed documents, by what they are
SEEDS = {
    "000": "a CPT 49407 reference page",
    "002": "an overview of CPT 49411",
    "004": "the CPT 49411 code page",
}

_KEY = re.compile(r"\bS-[A-Z0-9]+(?:-[A-Z0-9]+)*\b")
_KEYS = re.compile(r"\bS-[A-Z0-9]+(?:-[A-Z0-9]+)*(?:\s*[;,&/]\s*S-[A-Z0-9]+(?:-[A-Z0-9]+)*)*")
_TAG = re.compile(r"\s*\[(?:V(?:-3p)?|M|I)\](?:/\[(?:V(?:-3p)?|M|I)\])*")
_SEED = re.compile(r"\b[Ss]eeds? ((?:\d{3}_[0-9a-f]{16}|\d{3}(?:_…)?)(?:(?:,| and) (?:\d{3}_[0-9a-f]{16}|\d{3}))*)")
_REF = r"(?:the )?(?:[Cc]oding-rules reference|reference coding-rules)"
_RESEARCH_PAREN = re.compile(r"\s*\(" + _REF + r"[^()]*\)")
_SEC = r"§\d+[a-z]?(?:\.\d+)*"
_RESEARCH = re.compile(r"[,;]?\s*" + _REF + r"\s*(?:" + _SEC + r"(?:\s*(?:,|and)\s*" + _SEC + r")*)?")
_SECTION = re.compile(r"\s*" + _SEC)
_TICKS = re.compile(r"``(.+?)``", re.DOTALL)


def _source(key: str) -> str:
    if key in SOURCES:
        return SOURCES[key]
    head, _, code = key.rpartition("-")
    if head in _PER_CODE and code.isdigit():
        return _PER_CODE[head].format(code=code)
    return "a published coding reference"


def _sources(m: re.Match) -> str:
    titles = "; ".join(dict.fromkeys(_source(k) for k in _KEY.findall(m.group(0))))
    before = m.string[: m.start()].rstrip()
    # a key standing bare after a phrase ("any approach S-CODINGAHEAD") becomes a bracketed citation
    return titles if not before or before[-1] in "(;:,/" else f"({titles})"


def _seeds(m: re.Match) -> str:
    # \d{3} also matches inside the hex file names; keep the first three digits of each name only
    ids = [s[:3] for s in re.findall(r"\d{3}(?:_[0-9a-f]{16})?", m.group(1))]
    names = " and ".join(dict.fromkeys(SEEDS.get(s, "a sample coding page") for s in ids))
    before = m.string[: m.start()].rstrip()
    return names[0].upper() + names[1:] if not before or before.endswith(".") else names


@lru_cache(maxsize=8192)
def plain(text: str | None) -> str | None:
    """``text`` with research keys, evidence tags, research section numbers and seed file names
    replaced by what a reader can look up (None stays None)."""
    if not text or not any(mark in text for mark in ("S-", "[", "§", "eed", "coding-rules")):
        return text
    out = _TAG.sub("", text)
    out = _RESEARCH_PAREN.sub("", out)
    out = _RESEARCH.sub("", out)
    out = _SECTION.sub("", out)
    out = _SEED.sub(_seeds, out)
    out = _KEYS.sub(_sources, out)
    # tidy what the removals left: empty brackets, doubled separators, space before punctuation
    for _ in range(2):
        out = re.sub(r"\(\s*[;,]?\s*\)", "", out)
        out = re.sub(r"\(\s*[;,]\s*", "(", out)
        out = re.sub(r"\s*[;,]\s*\)", ")", out)
        out = re.sub(r";\s*;", ";", out)
        out = re.sub(r"\s+([.,;:)])", r"\1", out)
        out = re.sub(r"([;,])(?=\S)", r"\1 ", out)
        out = re.sub(r" {2,}", " ", out)
    return out.strip()


def plain_doc(text: str) -> str:
    """A rule docstring section as plain text: ``code`` in double backticks loses them."""
    return plain(_TICKS.sub(r"\1", text)) or ""
