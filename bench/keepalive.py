"""Small keep-alive answers with one and two workers. Not a test.

    python bench/keepalive.py [--n 300]

Starts, one after another on free loopback ports: ``fhirplugin serve --workers 1``, ``fhirplugin serve
--workers 2``, and, for comparison, the same app under uvicorn's own HTTP protocol with two workers
(how ``serve --workers 2`` ran before: no TCP_NODELAY on the accepted connections). Each gets ``--n``
``GET /health`` on one keep-alive connection; the table gives ms per request and the ratio to one
worker, all from the same run.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], port: int, env: dict) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                c.close()
                time.sleep(8)  # let the second worker finish starting too
                return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"{cmd} did not start")


def measure(port: int, n: int) -> float:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        c.request("GET", "/health")
        r = c.getresponse()
        r.read()
        times.append(time.perf_counter() - t)
    c.close()
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    env = {**os.environ, "FHIRPLUGIN_SERVICE__FEEDBACK_DB": os.path.join(tmp, "fb.sqlite3")}
    serve = [sys.executable, "-m", "fhirplugin", "serve"]
    rows = []
    for label, extra, plain in (
        ("serve --workers 1", ["--workers", "1"], False),
        ("serve --workers 2", ["--workers", "2"], False),
        ("uvicorn protocol, 2 workers (before)", None, True),
    ):
        port = free_port()
        if plain:
            cmd = [
                sys.executable, "-m", "uvicorn", "--factory", "fhirplugin.service.app:create_app_from_env",
                "--workers", "2", "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
            ]
        else:
            cmd = [*serve, *extra, "--port", str(port)]
        proc = start(cmd, port, env)
        try:
            measure(port, 20)  # warm up
            rows.append((label, measure(port, args.n)))
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    base = rows[0][1]
    print(f"{'GET /health, one keep-alive connection':40} {'median ms':>10} {'x 1 worker':>11}")
    for label, ms in rows:
        print(f"{label:40} {ms:10.2f} {ms / base:11.2f}")


if __name__ == "__main__":
    main()
