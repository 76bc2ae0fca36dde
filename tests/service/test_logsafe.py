"""logsafe: tokens, JWTs, secrets and patient identifiers never reach a log line."""

from __future__ import annotations

import logging

import pytest

from fhirplugin.service import logsafe
from fhirplugin.service.logsafe import MASK, RedactingFilter, RedactingFormatter, redact

JWT = (
    "eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCIsImtpZCI6ImV4YW1wbGUta2lkIn0"
    ".eyJpc3MiOiJodHRwczovL2ZoaXItZWhyLmV4YW1wbGUuY29tLyJ9"
    ".d1WfLjGRKlcWB94l9do4cM8REXeYJLL6SGUBO8VHZhfM8mwKYP70EMxJ67War4TQ"
)
OPAQUE = "opaque-token-7f3c9a"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"Authorization: Bearer {OPAQUE}", OPAQUE),
        (f"headers={{'authorization': 'bearer {OPAQUE}'}}", OPAQUE),
        (f"token {JWT} refused", JWT.split(".")[1]),
        ("jws AAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBB.CCCCCCCCCCCCCCCCCCCC end", "BBBBBBBBBBBBBBBB"),
        (f'{{"access_token": "{OPAQUE}", "token_type": "Bearer"}}', OPAQUE),
        (f"GET /fhir/Procedure?access_token={OPAQUE}&x=1", OPAQUE),
        (f"fhirAuthorization {{'accessToken': '{OPAQUE}'}}", OPAQUE),
        ("read Patient/pat-4711 failed", "pat-4711"),
        ("reference http://ehr/fhir/Patient/pat-4711/_history/2", "pat-4711"),
        ('context {"patientId": "pat-4711", "userId": "Practitioner/1"}', "pat-4711"),
        ("GET /fhir/Condition?patient=pat-4711&_count=5", "pat-4711"),
        ("search identifier=http://hospital.org/mrn|MRN-998877", "MRN-998877"),
        ("patient_id: pat-4711", "pat-4711"),
        # the campaign's misses: OAuth codes and tokens in a query, resource ids, patient path segments
        ('"GET /launch?code=oauth-code-5521&state=s1 HTTP/1.1" 200', "oauth-code-5521"),
        ('"GET /x?token=tok-99887766 HTTP/1.1" 404', "tok-99887766"),
        ("GET /fhir/Procedure?_id=px-31337&_count=1", "px-31337"),
        ("GET /fhir/Condition?subject:missing=false&id=cond-4242", "cond-4242"),
        ("GET /fhir/patient/pat-4711/Condition", "pat-4711"),
        ("GET /api/patients/pat-4711 HTTP/1.1", "pat-4711"),
        ("GET /fhir/Patient%2Fpat-4711", "pat-4711"),
    ],
)
def test_redact_removes_the_secret(text, secret):
    out = redact(text)
    assert secret not in out
    assert MASK in out
    assert redact(out) == out  # idempotent


@pytest.mark.parametrize(
    "text",
    [
        "Claim.item[1].productOrService: 49411 replaced by 55876",
        "fhirplugin.service.auth loaded 3 issuers from https://ehr.example.org/jwks.json",
        "Bundle.entry[2].resource.item[0].quantity is 3 (MUE 2)",
        "POST /cds-services/fhirplugin-order-sign 200",
        "Procedure/123 was not found on fhirServer (HTTP 404).",
    ],
)
def test_redact_leaves_ordinary_text(text):
    assert redact(text) == text


def test_explicit_values_and_sensitive_context():
    assert redact("patient p-1234 has 3 claims", ["p-1234"]) == f"patient {MASK} has 3 claims"
    assert redact("p-12345 is another one", ["p-1234"]) == "p-12345 is another one"  # whole words only
    with logsafe.sensitive("MRN998877", None):
        assert redact("claim for MRN998877 checked") == f"claim for {MASK} checked"
    assert redact("claim for MRN998877 checked") == "claim for MRN998877 checked"


@pytest.fixture
def log(caplog):
    logsafe.install(["fhirplugin.test_logsafe"])
    caplog.set_level(logging.DEBUG)
    return logging.getLogger("fhirplugin.test_logsafe.child.grandchild")


def test_log_record_from_a_child_logger_is_redacted(log, caplog):
    log.info("call with Authorization: Bearer %s for patient %s", JWT, "Patient/pat-4711")
    log.warning("fhirAuthorization=%r", {"access_token": OPAQUE, "scope": "user/*.read"})
    text = caplog.text
    for secret in (JWT, "pat-4711", OPAQUE):
        assert secret not in text
    assert "scope" in text and "user/*.read" in text
    assert caplog.records[0].getMessage().startswith("call with Authorization: Bearer [REDACTED]")


def test_exception_text_is_redacted(log, caplog):
    try:
        raise ValueError(f"upstream said: token {JWT} is not valid for Patient/pat-4711")
    except ValueError:
        log.exception("fetch failed")
    text = caplog.text
    assert "ValueError" in text and "Traceback" in text
    assert JWT not in text and "pat-4711" not in text


def test_access_log_args_keep_their_shape(log, caplog):
    # uvicorn's access formatter unpacks record.args: they must stay a 5-tuple with an int status
    log.info(
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:5000",
        "GET",
        f"/fhir/Patient/pat-4711?access_token={OPAQUE}",
        "1.1",
        200,
    )
    rec = caplog.records[-1]
    assert isinstance(rec.args, tuple) and len(rec.args) == 5 and rec.args[4] == 200
    assert "pat-4711" not in rec.getMessage() and OPAQUE not in rec.getMessage()


def test_secret_split_between_format_and_argument(log, caplog):
    log.info("access_token=%s", OPAQUE)
    assert OPAQUE not in caplog.text


def test_loggers_not_installed_are_untouched(caplog):
    caplog.set_level(logging.INFO)
    logging.getLogger("someone.else").info("Patient/pat-4711")
    assert "Patient/pat-4711" in caplog.text


def test_filter_and_formatter_on_a_handler():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "Bearer %s", (OPAQUE,), None)
    assert RedactingFilter().filter(record) is True
    assert OPAQUE not in record.getMessage()
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token %s", (JWT,), None)
    assert JWT not in RedactingFormatter("%(message)s").format(record)


def test_install_is_idempotent():
    logsafe.install(["fhirplugin.test_logsafe"])
    factory = logging.getLogRecordFactory()
    logsafe.install(["fhirplugin.test_logsafe"])
    assert logging.getLogRecordFactory() is factory
    lg = logging.getLogger("fhirplugin.test_logsafe")
    assert sum(isinstance(f, RedactingFilter) for f in lg.filters) == 1
