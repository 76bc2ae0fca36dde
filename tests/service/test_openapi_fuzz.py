"""schemathesis against the live server (``fhirplugin serve`` on a free loopback port), driven by its
own OpenAPI document: no request it generates may get a server error, a status the document does
not list, a content type it does not list, or a body that does not fit the documented schema.

Bounded: ``FUZZ_EXAMPLES`` examples per operation in the default run (a few hundred in all); the
``slow``-marked long run (``FHIRPLUGIN_FUZZ_LONG=1``) makes twenty times as many (thousands).
"""

from __future__ import annotations

import os

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import checks

from servers import serving

FUZZ_EXAMPLES = 50
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    with serving(tmp) as base:
        yield base, next(tmp.glob("server-*.log"))


_COMMON = {
    "deadline": None,
    "suppress_health_check": list(HealthCheck),
    "phases": [Phase.explicit, Phase.generate],
    "derandomize": True,
    "database": None,
}

OPERATIONS = [
    ("GET", "/health"),
    ("GET", "/cds-services"),
    ("POST", "/cds-services/{service_id}"),
    ("POST", "/cds-services/{service_id}/feedback"),
    ("GET", "/cds-services/{service_id}/feedback"),
    ("GET", "/fhir/metadata"),
    ("POST", "/fhir/{rtype}/$validate"),
]


@pytest.fixture(scope="module")
def live_schema(live):
    base, _ = live
    return schemathesis.openapi.from_url(f"{base}/openapi.json")


def _fuzz(live, live_schema, method: str, path: str, examples: int) -> None:
    base, log = live
    ops = [r.ok() for r in live_schema.get_all_operations()]
    labels = {op.label for op in ops}
    assert {f"{m} {p}" for m, p in OPERATIONS} <= labels  # every operation is fuzzed
    op = next(o for o in ops if o.label == f"{method} {path}")
    session = requests.Session()
    session.trust_env = False

    @given(case=op.as_strategy())
    @settings(max_examples=examples, **_COMMON)
    def run(case) -> None:
        if isinstance(case.body, dict) and "fhirServer" in case.body:
            case.body["fhirServer"] = "http://127.0.0.1:9/fhir"  # loopback only, nothing listens there
        case.call_and_validate(base_url=base, session=session, checks=CHECKS, timeout=30)

    run()
    assert "Traceback" not in log.read_text()


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_api_conforms_to_its_document(live, live_schema, method, path):
    _fuzz(live, live_schema, method, path, FUZZ_EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_api_conforms_to_its_document_long(live, live_schema, method, path):
    if not os.environ.get("FHIRPLUGIN_FUZZ_LONG"):
        pytest.skip("the long run (thousands of examples): set FHIRPLUGIN_FUZZ_LONG=1")
    _fuzz(live, live_schema, method, path, FUZZ_EXAMPLES * 20)


def test_the_document_lists_every_answer(live):
    base, _ = live
    doc = requests.get(f"{base}/openapi.json", timeout=10).json()
    hook = doc["paths"]["/cds-services/{service_id}"]["post"]
    assert {"400", "401", "403", "404", "412", "413", "415", "422", "500"} <= set(hook["responses"])
    assert set(hook["requestBody"]["content"]) == {"application/json", "application/fhir+json"}
    fb = doc["paths"]["/cds-services/{service_id}/feedback"]["post"]
    assert "feedback" in fb["requestBody"]["content"]["application/json"]["schema"]["properties"]
    validate = doc["paths"]["/fhir/{rtype}/$validate"]["post"]
    assert {"400", "404", "415"} <= set(validate["responses"])
    assert "application/fhir+json" in validate["responses"]["404"]["content"]
