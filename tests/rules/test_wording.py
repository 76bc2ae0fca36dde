"""Nothing a user reads prints the research's source keys, evidence tags, section numbers, seed file
names or RST markup: rule docs (`fhirplugin rules ID`, SARIF help, cards) and every finding's text
and diagnostics over every rule case and example."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest
import yaml

from builders import build
from fhirplugin.config import Settings
from fhirplugin.engine import Engine
from fhirplugin.rules import REGISTRY
from fhirplugin.rules.wording import plain

ROOT = Path(__file__).resolve().parents[2]
CASES = Path(__file__).parent / "cases"
# S-MEDLEARN, S-IFRAME-49406; [V] [I]/[M] [V-3p]; §4.1; 000_fd25ab081c3e8cfb; ``code``
LEAKS = re.compile(
    r"\bS-[A-Z]{2,}[A-Z0-9-]*|\[(?:V|M|I)(?:-3p)?\]|§\s?\d|\b\d{3}_[0-9a-f]{16}\b|``|coding-rules"
)


def test_rule_docs_are_plain_text():
    for cls in REGISTRY.all():
        texts = [cls.summary(), *cls.doc_sections().values()]
        for t in texts:
            assert not LEAKS.search(t), f"{cls.id}: {LEAKS.search(t).group(0)!r} in {t!r}"


def _inputs():
    for path in sorted(CASES.glob("*.yml")):
        doc = yaml.safe_load(path.read_text())
        for name, case in doc["cases"].items():
            for v in case.get("versions", ["R4", "R5"]):
                if "raw" in case:
                    yield f"{path.stem}:{name}", case["raw"].encode()
                elif "resource" in case:
                    yield f"{path.stem}:{name}", orjson.dumps(case["resource"])
                else:
                    yield f"{path.stem}:{name}:{v}", orjson.dumps(build(case, v))
    for p in sorted((ROOT / "examples").rglob("*.json")):
        yield str(p.relative_to(ROOT)), p.read_bytes()


def test_findings_are_plain_text():
    engine = Engine(Settings())
    seen = 0
    for name, data in _inputs():
        for res in engine.check_bytes(data, source=name):
            for f in res.findings:
                for t in (f.text, f.diagnostics or ""):
                    seen += 1
                    assert not LEAKS.search(t), f"{name} {f.rule_id}: {LEAKS.search(t).group(0)!r} in {t!r}"
    assert seen > 200  # the cases reach the family rules' diagnostics


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (
            "(S-CODINGAHEAD;S-GENHEALTH; seeds 002_8dafaa6a1b2c017b and 004_77778cb5e6510739).",
            (
                "(CPT code descriptor; CPT code descriptors of 49411 and 49412; an overview of CPT 49411 and "
                "the CPT 49411 code page)."
            ),
        ),
        (
            "ValueSet x (ICD-10-CM April 2026, coding-rules reference §6b); seed 000_fd25ab081c3e8cfb.",
            "ValueSet x (ICD-10-CM April 2026); a CPT 49407 reference page.",
        ),
        (
            "55876: [V] prostate, any approach S-CODINGAHEAD.",
            "55876: prostate, any approach (CPT code descriptor).",
        ),
        ("Ch. I (X{EPSU} modifiers); reference coding-rules §1.6 [V].", "Ch. I (X{EPSU} modifiers)."),
        (
            "49406/76942: S-IFRAME-49406;S-MEDLEARN",
            (
                "49406/76942: CPT 49406 code descriptor and guidance; "
                "MedLearn, catheter-assisted drainage coding"
            ),
        ),
        ("Nothing to change here.", "Nothing to change here."),
    ],
)
def test_plain_turns_keys_into_titles(raw, shown):
    assert plain(raw) == shown
