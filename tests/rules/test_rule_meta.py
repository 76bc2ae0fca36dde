"""Every registered rule is documented and has at least one passing and one failing case."""

from __future__ import annotations

import pytest
import yaml

from fhirplugin.rules import REGISTRY
from fhirplugin.rules.base import DOC_SECTIONS, Registry, Rule

from .test_rule_cases import CASES_DIR

RULES = REGISTRY.all()


@pytest.mark.parametrize("cls", RULES, ids=[c.id for c in RULES])
def test_rule_documented(cls: type[Rule]) -> None:
    sections = cls.doc_sections()
    missing = [s for s in DOC_SECTIONS if not sections.get(s)]
    assert not missing, f"{cls.id} docstring lacks sections {missing}"
    assert cls.summary(), f"{cls.id} has no one-line summary"
    assert cls.name and "." in cls.name


@pytest.mark.parametrize("cls", RULES, ids=[c.id for c in RULES])
def test_rule_has_pass_and_fail_cases(cls: type[Rule]) -> None:
    path = CASES_DIR / f"{cls.id}.yml"
    assert path.is_file(), f"no cases file {path.name}"
    doc = yaml.safe_load(path.read_text())
    assert doc["rule"] == cls.id
    names = list(doc["cases"])
    assert any(n.startswith("pass") for n in names), f"{cls.id}: no pass_* case"
    fails = [n for n in names if n.startswith("fail")]
    assert fails, f"{cls.id}: no fail_* case"
    for n in fails:
        assert any(e.get("rule", cls.id) == cls.id for e in doc["cases"][n].get("expect", [])), (
            f"{cls.id}: fail case {n} expects no finding of the rule"
        )


def test_duplicate_rule_id_refused() -> None:
    reg = Registry()

    class A(Rule):
        """x"""

        id = "ZZZ001"
        name = "z.a"

    class B(Rule):
        """y"""

        id = "ZZZ001"
        name = "z.b"

    reg.register(A)
    with pytest.raises(ValueError, match="duplicate rule id ZZZ001"):
        reg.register(B)


def test_bad_rule_id_refused() -> None:
    class C(Rule):
        """z"""

        id = "bad"
        name = "z.c"

    with pytest.raises(ValueError, match="no valid id"):
        Registry().register(C)


TRIGGERED = [c for c in RULES if c.triggers is not None]


@pytest.mark.parametrize("cls", TRIGGERED, ids=[c.id for c in TRIGGERED])
def test_triggers_cover_every_finding(cls: type[Rule]) -> None:
    """The engine skips a rule when none of its trigger codes is on a line; that is safe only if the
    rule, run anyway, finds nothing then. Checked on every case input of every rule."""
    import orjson

    from builders import build
    from fhirplugin.engine import Engine
    from fhirplugin.fhir.extract import read_submission
    from fhirplugin.rules.base import RuleContext

    from .test_rule_cases import CASES

    engine = Engine()
    rule = cls()
    triggers = frozenset(cls.triggers())
    assert triggers, f"{cls.id}: empty trigger set"
    checked = fired = 0
    for _rid, _name, version, case in CASES:
        if "raw" in case:
            continue
        doc = case["resource"] if "resource" in case else orjson.loads(orjson.dumps(build(case, version)))
        if not isinstance(doc, dict) or doc.get("resourceType") not in (
            "Claim",
            "Bundle",
            "Procedure",
            "ServiceRequest",
            "Parameters",
        ):
            continue
        ctx = RuleContext.of(read_submission(doc, doc["resourceType"], version), engine.tx)
        found = list(rule.check(ctx))
        checked += 1
        if found:
            fired += 1
            assert not triggers.isdisjoint(ctx.cpt_codes), (cls.id, _rid, _name, ctx.cpt_codes)
    assert checked > 100 and fired > 0
