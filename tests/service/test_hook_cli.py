"""`fhirplugin hook NAME FILE [--url URL]`: in-process, and against a real `fhirplugin serve`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import crd
import pytest
from test_server_process import _free_port, server  # noqa: F401 - the real `fhirplugin serve` fixture

from fhirplugin.cli import main

ROOT = Path(__file__).resolve().parents[2]
ORDER_SIGN = str(ROOT / "examples" / "cds-hooks" / "order-sign-drainage.json")
CLEAN = str(ROOT / "examples" / "cds-hooks" / "order-sign-clean.json")
DRAINAGE = str(ROOT / "examples" / "drainage" / "bundle.json")


def test_hook_request_in_process_prints_the_cards(capsys):
    assert main(["hook", "order-sign", ORDER_SIGN]) == 1  # a critical card
    out = capsys.readouterr().out
    assert out.startswith("fhirplugin-order-sign (order-sign): 1 card(s)")
    assert "[CRITICAL] DRN001: Imaging guidance 76942" in out
    assert (
        "suggestion: Delete the order ServiceRequest/guidance-order (delete ServiceRequest/guidance-order)"
        in out
    )
    assert "link: Rule DRN001: what it checks and how to fix it <http://127.0.0.1:8080/rules/DRN001>" in out
    assert "**" not in out  # Markdown emphasis is dropped in text


def test_clean_request_exits_0_with_the_opted_in_card(capsys):
    assert main(["hook", "fhirplugin-order-sign", CLEAN]) == 0
    out = capsys.readouterr().out
    assert "1 card(s)" in out and "[INFO] fhirplugin: No CPT coding problems found" in out


@pytest.mark.parametrize(
    ("name", "codes"),
    [
        ("dev.fhirplugin.charge-entry", {"DRN001", "DRN002", "DRN004"}),
        ("encounter-discharge", {"DRN001", "DRN002", "DRN004"}),
    ],
)
def test_bundle_is_wrapped_as_the_hook_request(capsys, name, codes):
    assert main(["hook", name, DRAINAGE, "--json"]) == 1
    body = json.loads(capsys.readouterr().out)
    assert codes <= {c["source"]["topic"]["code"] for c in body["cards"]}
    if crd.available():
        assert crd.problems(body) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["hook", "patient-view", DRAINAGE], "no CDS service or hook 'patient-view'"),
        (["hook", "order-sign", "/nonexistent.json"], "cannot read /nonexistent.json"),
        (["hook", "order-dispatch", DRAINAGE], "no CPT-coded ServiceRequest"),
        (["hook", "encounter-discharge", str(ROOT / "pyproject.toml")], "not JSON"),
    ],
)
def test_failures_exit_2_with_a_message(capsys, args, message):
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_412_is_reported(tmp_path, capsys):
    req = {
        "hook": "order-dispatch",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {
            "patientId": "p1",
            "dispatchedOrders": ["ServiceRequest/gone"],
            "performer": "Organization/x",
        },
    }
    f = tmp_path / "req.json"
    f.write_text(json.dumps(req))
    assert main(["hook", "order-dispatch", str(f)]) == 2
    err = capsys.readouterr().err
    assert "HTTP 412" in err and "ServiceRequest/gone" in err


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fhirplugin", *args], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


@pytest.mark.slow
def test_against_a_running_service_prints_what_in_process_prints(server, capsys):  # noqa: F811
    base, _, _ = server
    remote = _cli("hook", "encounter-discharge", DRAINAGE, "--url", base)
    assert remote.returncode == 1, remote.stderr
    assert main(["hook", "encounter-discharge", DRAINAGE]) == 1
    local = capsys.readouterr().out
    assert remote.stdout.strip().replace(base, "http://127.0.0.1:8080") == local.strip()
    assert f"<{base}/rules/DRN001>" in remote.stdout
    as_json = _cli(
        "hook",
        "fhirplugin-order-dispatch",
        str(ROOT / "examples" / "devices" / "bundle.json"),
        "--url",
        base,
        "--json",
    )
    assert as_json.returncode == 1, as_json.stderr
    body = json.loads(as_json.stdout)
    assert any(c["source"]["topic"]["code"] == "DEV002" for c in body["cards"])
    if crd.available():
        assert crd.problems(body) == []


@pytest.mark.slow
def test_remote_errors_exit_2(server):  # noqa: F811
    base, _, _ = server
    r = _cli("hook", "order-sign", DRAINAGE, "--url", f"http://127.0.0.1:{_free_port()}")
    assert r.returncode == 2 and "cannot reach" in r.stderr
    bad = ROOT / "examples" / "cds-hooks" / "order-sign-drainage.json"
    r = _cli("hook", "order-select", str(bad), "--url", base)  # an order-sign request sent to order-select
    assert r.returncode == 2 and "HTTP 400" in r.stderr and "(hook)" in r.stderr


def test_an_odd_error_answer_is_reported_not_a_crash(capsys):
    """A server whose error body is not a well-formed OperationOutcome (issues that are strings, an
    expression that is not a list): exit 2 with the status and what could be read, not a traceback."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    odd = {
        "resourceType": "OperationOutcome",
        "issue": [
            "boom",
            {"details": "x", "expression": "Claim"},
            {"diagnostics": "no such order", "expression": [1]},
        ],
    }

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def _send(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._send(200, {"services": [{"id": "fhirplugin-order-sign", "hook": "order-sign"}]})

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._send(500, odd)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        code = main(["hook", "order-sign", ORDER_SIGN, "--url", f"http://127.0.0.1:{srv.server_address[1]}"])
    finally:
        srv.shutdown()
        srv.server_close()
    assert code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "HTTP 500: no such order" in err
