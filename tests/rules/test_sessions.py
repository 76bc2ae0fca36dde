"""``rules/common.Sessions``: the grouped look-ups give what comparing every pair of lines gives."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from fhirplugin.fhir.case import CPT, Case, Coded, ServiceLine, Submission
from fhirplugin.rules.common import Sessions, same_session, sessions

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
