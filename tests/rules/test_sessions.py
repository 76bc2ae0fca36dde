"""``rules/common.Sessions``: the grouped look-ups give what comparing every pair of lines gives."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from fhirplugin.fhir.case import CPT, Case, Coded, ServiceLine, Submission
from fhirplugin.rules.common import Sessions, sessions


def same_session(line: ServiceLine, other: ServiceLine) -> bool:
    """The definition the grouped look-ups must agree with: same patient, provider and date of
    service; an unknown date matches only within one resource."""
    if other.patient != line.patient or other.provider != line.provider or other.date != line.date:
        return False
    return line.date is not None or other.resource_path == line.resource_path


CODES = ["49406", "76942", "77012", "10030", None]
TYPES = ["Claim", "Procedure", "ServiceRequest"]

line_st = st.builds(
    lambda code, patient, provider, day, path, rtype: ServiceLine(
        path=f"{path}.item",
        code=Coded(CPT, code, "x") if code else None,
        codes=[],
        code_path="x",
        date=dt.date(2026, 3, day) if day else None,
        patient=patient,
        provider=provider,
        resource_path=path,
        resource_type=rtype,
    ),
    st.sampled_from(CODES),
    st.sampled_from(["Patient/a", "Patient/b", None]),
    st.sampled_from(["Practitioner/x", None]),
    st.sampled_from([1, 2, None]),
    st.sampled_from(["Claim", "Bundle.entry[1].resource"]),
    st.sampled_from(TYPES),
)
pairs_st = st.dictionaries(
    st.tuples(st.sampled_from([c or "" for c in CODES]), st.sampled_from([c or "" for c in CODES])),
    st.integers(),
    max_size=8,
)


def _naive(lines, line, pairs, kinds):
    found = []
    for other in lines:
        if other is line or other.resource_type not in kinds or not same_session(line, other):
            continue
        pair = pairs.get((other.cpt or "", line.cpt or ""))
        if pair is not None and all(o.cpt != other.cpt for o, _ in found):
            found.append((other, pair))
    return found


@settings(max_examples=300, deadline=None)
@given(
    st.lists(line_st, max_size=25), pairs_st, st.sampled_from([("Claim", "Procedure"), ("ServiceRequest",)])
)
def test_grouped_lookups_equal_the_pairwise_walk(lines, pairs, kinds) -> None:
    grouped = Sessions(lines)
    for line in lines:
        partners = [o for o in lines if o is not line and o.resource_type in kinds and same_session(line, o)]
        assert [id(o) for o in grouped.lines(line, kinds)] == [id(o) for o in partners]
        got = [(id(o), p) for o, p in grouped.paired(line, pairs, kinds)]
        assert got == [(id(o), p) for o, p in _naive(lines, line, pairs, kinds)]


def test_sessions_are_computed_once_per_submission() -> None:
    line = ServiceLine(path="Claim.item[0]", code=None, codes=[], code_path="x")
    sub = Submission(cases=[Case("Claim", "Claim", lines=[line])]).seal()
    assert sessions(sub) is sessions(sub)
    assert sessions(sub).lines(line, TYPES) == []


# ---------------------------------------------------------------- PTP001: pairs within a session
MODS = ["59", "XS", "LT", "RT", "25", "26"]


def _old_pair(edit, session, bypass_modifiers):
    """PTP001's pairing as it was: every column 2 line against every column 1 line."""
    out = []
    firsts = [ln for ln in session.lines if ln.cpt == edit.column1]
    for col2 in (ln for ln in session.lines if ln.cpt == edit.column2):
        partners = [ln for ln in firsts if ln is not col2]
        if not partners:
            continue
        col1, bypass = partners[0], []
        if edit.modifier_indicator == "1":
            for cand in partners:
                found = bypass_modifiers(edit, cand, col2)
                if found:
                    col1, bypass = cand, found
                    break
        out.append((id(col1), id(col2), bypass))
    return out


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["20610", "76942", "99213"]), st.lists(st.sampled_from(MODS), max_size=2)),
        max_size=20,
    ),
    st.sampled_from(["0", "1"]),
)
def test_ptp_pairing_by_modifier_groups_equals_the_pairwise_walk(rows, indicator) -> None:
    from fhirplugin.rules.cms import ptp001_ncci_ptp as ptp
    from fhirplugin.rules.cms.session import Session
    from fhirplugin.tx.ncci import PtpEdit

    lines = [
        ServiceLine(
            path=f"Claim.item[{i}]",
            code=Coded(CPT, code, f"Claim.item[{i}].productOrService.coding[0]"),
            codes=[],
            code_path="x",
            modifiers=[Coded(CPT, m, "m") for m in mods],
            date=dt.date(2026, 3, 2),
        )
        for i, (code, mods) in enumerate(rows)
    ]
    session = Session("bill", dt.date(2026, 3, 2), "practitioner", lines)
    rule = ptp.NcciPtp()
    seen = []
    rule._finding = lambda _s, _e, col1, col2, bypass: seen.append((id(col1), id(col2), bypass))
    for c1, c2 in (("20610", "76942"), ("99213", "20610")):
        edit = PtpEdit(c1, c2, False, dt.date(2000, 1, 1), None, indicator, "r", "s", True)
        seen.clear()
        list(rule._pair(session, edit))
        assert seen == _old_pair(edit, session, ptp.bypass_modifiers)
