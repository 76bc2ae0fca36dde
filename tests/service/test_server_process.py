"""The real server process: `fhirplugin serve` on a free loopback port, spoken to over HTTP.

Also reads the whole log of a run with patient data and tokens, and finds neither in it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from builders import build

PATIENT_ID = "PATIENT-7f3a9c-SECRET"
ACCESS_TOKEN = "fhir-access-token-0b1c2d3e4f-SECRET"
JWT_LIKE = "eyJhbGciOiJFUzM4NCJ9.eyJpc3MiOiJodHRwczovL2VociJ9.c2lnbmF0dXJlLXNlY3JldA"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("srv")
    port = _free_port()
    log = tmp / "server.log"
    env = {**os.environ, "FHIRPLUGIN_SERVICE__FEEDBACK_DB": str(tmp / "fb.sqlite3")}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fhirplugin", "serve", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited: {log.read_text()[-2000:]}")
        try:
            if requests.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("server did not become healthy in 60 s")
    yield base, proc, log
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def _charge_body() -> dict:
    bundle = build(
        {
            "bundle": True,
            "claim": {
                "patient": f"Patient/{PATIENT_ID}",
                "lines": [{"code": "49407", "approach": "transrectal"}, {"code": "77012"}],
            },
        }
    )
    return {
        "hook": "dev.fhirplugin.charge-entry",
        "hookInstance": "0d5c8f3e-4b7a-4c1e-9f2d-6a8b7c9d0e1f",
        "fhirServer": "http://127.0.0.1:9/fhir",
        "fhirAuthorization": {
            "access_token": ACCESS_TOKEN,
            "token_type": "Bearer",
            "expires_in": 30,
            "scope": "patient/*.read",
            "subject": "fhirplugin",
            "patient": PATIENT_ID,
        },
        "context": {"userId": "Practitioner/dr1", "patientId": PATIENT_ID, "draftClaims": bundle},
    }


def test_real_server_answers_over_http(server):
    base, _, _ = server
    services = requests.get(f"{base}/cds-services", timeout=5).json()["services"]
    assert any(s["id"] == "dev.fhirplugin.charge-entry" for s in services)
    r = requests.post(
        f"{base}/cds-services/dev.fhirplugin.charge-entry",
        json=_charge_body(),
        headers={"Authorization": f"Bearer {JWT_LIKE}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert any(c["indicator"] == "critical" for c in r.json()["cards"])
    r = requests.post(
        f"{base}/fhir/Claim/$validate",
        data=b"{oops",
        headers={"Content-Type": "application/fhir+json"},
        timeout=10,
    )
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"
    r = requests.get(f"{base}/fhir/metadata", timeout=10)
    assert r.json()["resourceType"] == "CapabilityStatement"


def test_log_has_no_token_and_no_patient_identifier(server):
    base, _, log = server
    # a request whose processing fails part-way (unreachable fhirServer → 412) also gets logged
    body = _charge_body()
    body["context"]["draftClaims"]["entry"][0]["resource"]["item"][0]["procedureSequence"] = [1]
    body["context"]["draftClaims"]["entry"][0]["resource"]["procedure"] = [
        {"sequence": 1, "procedureReference": {"reference": f"Procedure/{PATIENT_ID}-proc"}}
    ]
    r = requests.post(f"{base}/cds-services/dev.fhirplugin.charge-entry", json=body, timeout=30)
    assert r.status_code == 412
    time.sleep(0.5)
    text = log.read_text()
    assert "loopback" in text  # the start-up line saying calls are unauthenticated, loopback only
    assert "/cds-services/dev.fhirplugin.charge-entry" in text  # access log is on
    for secret in (PATIENT_ID, ACCESS_TOKEN, JWT_LIKE, "SECRET"):
        assert secret not in text


def test_serve_refuses_non_loopback_without_issuers():
    proc = subprocess.run(
        [sys.executable, "-m", "fhirplugin", "serve", "--host", "0.0.0.0", "--port", str(_free_port())],
        capture_output=True,
        timeout=60,
        text=True,
    )
    assert proc.returncode == 2
    assert "issuers" in proc.stderr and "Traceback" not in proc.stderr


def test_dockerfile_follows_the_contract():
    text = (Path(__file__).resolve().parents[2] / "Dockerfile").read_text()
    assert "USER " in text and "HEALTHCHECK" in text and "/health" in text
    assert "CMD [" in text or "ENTRYPOINT [" in text
    assert "pip install -e" not in text
