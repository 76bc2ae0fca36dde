"""A real ``fhirplugin serve --workers 2`` with a trusted issuer, spoken to over loopback HTTP.

Replay protection shared by the workers and kept across a restart (the SQLite jti store), logging
in every worker (access log, JWT rejection reasons, timestamps and levels), exactly one
Authorization header, slow clients cut off, and a client hanging up mid-body logged as one INFO line.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from loopback import Loopback, Reply

from builders import claim

pytestmark = pytest.mark.slow

ISS = "https://ehr.example.org"
PUBLIC = "http://127.0.0.1:1"  # fixed public_url: the same aud before and after the restart
SIGN = "/cds-services/fhirplugin-order-sign"
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: ")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, tmp: Path, name: str) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"{name}.log"
        cmd = [sys.executable, "-m", "fhirplugin", "serve", "--workers", "2", "--port", str(self.port)]
        cmd += ["--config", str(tmp / "fhirplugin.toml")]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"server exited: {self.log.read_text()[-2000:]}")
            # both workers up: each logs "Application startup complete"
            if self.log.read_text().count("Application startup complete") >= 2:
                try:
                    if requests.get(f"{self.base}/health", timeout=1).status_code == 200:
                        return
                except requests.ConnectionError:
                    pass
            time.sleep(0.2)
        self.stop()
        pytest.fail("server did not become healthy in 90 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


@pytest.fixture(scope="module")
def key():
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture(scope="module")
def fhir():
    with Loopback() as srv:
        yield srv


@pytest.fixture(scope="module")
def tmp(tmp_path_factory, key, fhir) -> Path:
    tmp = tmp_path_factory.mktemp("workers")
    jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="k1", alg="ES384", use="sig")
    (tmp / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    (tmp / "fhirplugin.toml").write_text(
        f"""
[service]
public_url = "{PUBLIC}"
feedback_db = "{tmp / "fb.sqlite3"}"
header_timeout = 1.0
body_timeout = 1.0
fetch_deadline = 1.0
fetch_timeout = 0.5

[[service.issuers]]
iss = "{ISS}"
jwks_file = "{tmp / "jwks.json"}"
fhir_servers = ["{fhir.url("/fhir")}"]
"""
    )
    return tmp


@pytest.fixture(scope="module")
def server(tmp):
    s = Server(tmp, "first")
    yield s
    s.stop()


def token(key, **overrides) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "aud": PUBLIC + SIGN, "exp": now + 240, "iat": now, "jti": uuid.uuid4().hex}
    return jwt.encode({**claims, **overrides}, key, algorithm="ES384", headers={"kid": "k1", "typ": "JWT"})


BODY = {
    "hook": "order-sign",
    "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    "context": {
        "userId": "Practitioner/dr1",
        "patientId": "p1",
        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": []},
    },
}


def call(base: str, tok: str) -> int:
    # a fresh connection each time, so the kernel hands the calls to either worker
    with requests.Session() as s:
        s.trust_env = False
        return s.post(base + SIGN, json=BODY, headers={"Authorization": f"Bearer {tok}"}, timeout=30).status_code


REPLAYED: list[str] = []


def test_a_token_is_accepted_once_by_all_workers_together(server, key):
    tok = token(key)
    codes = [call(server.base, tok) for _ in range(12)]
    assert codes.count(200) == 1 and codes.count(401) == 11, codes  # before: once per worker
    pids = {
        m.group(1) for m in re.finditer(r"Started server process \[(\d+)\]", server.log.read_text())
    }
    assert len(pids) == 2
    REPLAYED.append(tok)


def test_health_answers_while_many_hook_calls_wait_on_a_trickling_fhir_server(server, key, fhir):
    import threading

    procedure = {"resourceType": "Procedure", "id": "px0", "status": "completed", "subject": {"reference": "Patient/p1"}}
    fhir.routes["/fhir/Procedure/px0"] = Reply.json(procedure, trickle=0.2, trickle_for=4)
    charge = "/cds-services/dev.fhirplugin.charge-entry"
    c = claim({"lines": [{"code": "49407"}]}, proc_refs=["Procedure/px0"])
    body = {
        "hook": "dev.fhirplugin.charge-entry",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "fhirServer": fhir.url("/fhir"),
        "context": {
            "userId": "Practitioner/dr1",
            "patientId": "p1",
            "draftClaims": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": c}]},
        },
    }
    codes: list[int] = []
    took: list[float] = []

    def hook() -> None:
        tok = token(key, aud=PUBLIC + charge)
        start = time.monotonic()
        with requests.Session() as s:
            s.trust_env = False
            r = s.post(server.base + charge, json=body, headers={"Authorization": f"Bearer {tok}"}, timeout=60)
        codes.append(r.status_code)
        took.append(time.monotonic() - start)

    threads = [threading.Thread(target=hook) for _ in range(96)]  # > 40 (the thread pool) per worker
    for t in threads:
        t.start()
    time.sleep(0.3)
    start = time.monotonic()
    assert requests.get(server.base + "/health", timeout=30).status_code == 200
    health = time.monotonic() - start
    for t in threads:
        t.join(60)
    assert codes.count(412) == 96, codes  # each hook: the read did not finish within the 1 s deadline
    # bounded because every call ends at its deadline (and /health is async, off the thread pool);
    # before, each call held a pool thread as long as the server trickled (12.9 s in the campaign)
    assert health < 3.0
    assert max(took) < 20  # 96 calls on 2 workers, each bounded by the deadline (before: 4 s trickle each)


def test_two_authorization_headers_are_refused(server, key):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    body = json.dumps(BODY).encode()
    conn.putrequest("POST", SIGN)
    conn.putheader("Authorization", f"Bearer {token(key)}")
    conn.putheader("Authorization", "Bearer garbage")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    r = conn.getresponse()
    assert r.status == 401
    assert json.loads(r.read())["resourceType"] == "OperationOutcome"
    conn.close()


def test_slow_clients_are_cut_off(server):
    # slowloris: header bytes at 5 per second; header_timeout is 1 s
    socks = []
    for _ in range(8):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        socks.append(s)
    head = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
    closed: set[int] = set()
    for i in range(60):  # at most 12 s
        for n, s in enumerate(socks):
            if n in closed:
                continue
            try:
                s.sendall(head[i : i + 1])
                s.setblocking(False)
                try:
                    if s.recv(1024) == b"":
                        closed.add(n)
                except BlockingIOError:
                    pass
                finally:
                    s.setblocking(True)
            except OSError:
                closed.add(n)
        if len(closed) == len(socks):
            break
        time.sleep(0.2)
    for s in socks:
        s.close()
    assert len(closed) == len(socks), f"{len(closed)} of {len(socks)} slow connections closed"
    # a slow body is cut off too (body_timeout 1 s)
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    s.sendall(b"POST /cds-services/fhirplugin-order-sign HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
    start = time.monotonic()
    s.settimeout(6)
    try:
        got = s.recv(4096)  # the connection is closed (possibly after a short error answer)
        while got:
            got = s.recv(4096)
    except OSError:
        pass
    s.close()
    assert time.monotonic() - start < 6


def test_client_hanging_up_mid_body_is_one_info_line(server, key):
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    s.sendall(
        b"POST /cds-services/fhirplugin-order-sign HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {token(key)}\r\n".encode()
        + b"Content-Length: 5000\r\n\r\n{\"hook\": \"order-sign\", "
    )
    time.sleep(0.3)
    s.close()
    time.sleep(1.0)
    text = server.log.read_text()
    assert "client disconnected before sending the whole body" in text
    assert "Traceback" not in text and " ERROR " not in text


SECRETS = [f"SECRET{i:02d}x" for i in range(8)]


def test_log_grep_finds_no_secret(server, key):
    s = requests.Session()
    s.trust_env = False
    paths = [
        f"/cds-services/fhirplugin-order-sign/feedback?token={SECRETS[0]}&code={SECRETS[1]}",
        f"/fhir/Procedure?_id={SECRETS[2]}&id={SECRETS[3]}",
        f"/fhir/Patient/{SECRETS[4]}",
        f"/fhir/patient/{SECRETS[5]}/Condition",
    ]
    for p in paths:
        s.get(server.base + p, timeout=10)
    # a kid the issuer does not have: the rejection reason must not echo it
    bad = jwt.encode(
        {"iss": ISS, "aud": PUBLIC + SIGN, "exp": int(time.time()) + 60, "iat": int(time.time()), "jti": "j"},
        key,
        algorithm="ES384",
        headers={"kid": SECRETS[6], "typ": "JWT"},
    )
    assert call(server.base, bad) == 401
    s.post(server.base + SIGN, json=BODY, headers={"Authorization": f"Bearer {SECRETS[7]}"}, timeout=10)
    time.sleep(0.5)
    text = server.log.read_text()
    assert "JWT rejected" in text and "/fhir/Procedure?_id=[REDACTED]" in text
    for secret in SECRETS:
        assert secret not in text


def test_every_worker_logs_with_timestamps_levels_and_reasons(server):
    text = server.log.read_text()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert lines and all(LINE.match(ln) for ln in lines), [ln for ln in lines if not LINE.match(ln)][:5]
    assert re.search(r"INFO uvicorn\.access: 127\.0\.0\.1:\d+ - \"POST /cds-services/fhirplugin-order-sign", text)
    assert "JWT rejected on /cds-services/fhirplugin-order-sign: jti already used" in text
    assert "JWT rejected on /cds-services/fhirplugin-order-sign: 2 Authorization headers" in text
    for tok in REPLAYED:
        assert tok not in text and tok.split(".")[1] not in text


def test_replay_is_refused_after_a_restart(server, tmp, key):
    assert REPLAYED, "runs after the two-worker test"
    server.stop()
    again = Server(tmp, "second")
    try:
        assert call(again.base, REPLAYED[0]) == 401  # before: a restart forgot every jti
        assert call(again.base, token(key)) == 200
        assert "jti already used" in again.log.read_text()
    finally:
        again.stop()
