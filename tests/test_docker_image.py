"""The Docker image, built and run here: /health, a $validate and a CDS call answer; the HEALTHCHECK
follows the configured port; feedback lands in the /data volume; a bad configuration stops it.

Slow: it builds the image with deploy/build-image.sh (a local Debian base from deploy/build-base.sh
when no registry answers). Skips, saying why, when no Docker daemon answers. The container shares
the host's network and the service binds 127.0.0.1, so every request stays on loopback.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

from servers import free_port

ROOT = Path(__file__).resolve().parents[1]
TAG = "fhirplugin:test"
pytestmark = pytest.mark.slow


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=check)


@pytest.fixture(scope="module")
def image() -> str:
    if shutil.which("docker") is None:
        pytest.skip("no docker client on this machine")
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    if info.returncode != 0:
        pytest.skip(f"no Docker daemon answers (`docker info`: {info.stderr.strip()[-200:]})")
    started = time.monotonic()
    proc = subprocess.run(
        ["bash", str(ROOT / "deploy" / "build-image.sh"), TAG],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        pytest.fail(f"image build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    size = int(docker("image", "inspect", "--format", "{{.Size}}", TAG).stdout.strip())
    print(f"\nimage {TAG}: {size / 1e6:.0f} MB, built in {time.monotonic() - started:.0f} s")
    return TAG


def _wait_healthy(base: str, cid: str, deadline: float = 60) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < deadline:
        try:
            if requests.get(f"{base}/health", timeout=1).status_code == 200:
                return time.monotonic() - t0
        except requests.ConnectionError:
            pass
        state = docker("inspect", "--format", "{{.State.Running}}", cid, check=False).stdout.strip()
        if state != "true":
            pytest.fail(f"container stopped: {docker('logs', cid, check=False).stderr[-2000:]}")
        time.sleep(0.1)
    pytest.fail(f"no /health in {deadline} s: {docker('logs', cid, check=False).stderr[-2000:]}")


def test_image_serves_health_validate_and_cds_and_keeps_feedback_in_data(image):
    port = free_port()
    volume = f"fhirplugin-test-{uuid.uuid4().hex[:8]}"
    name = f"fhirplugin-test-{uuid.uuid4().hex[:8]}"
    t0 = time.monotonic()
    cid = docker(
        "run", "-d", "--name", name, "--network", "host", "-v", f"{volume}:/data",
        "--health-interval", "1s", "--health-start-period", "1s",
        image, "--host", "127.0.0.1", "--port", str(port),
    ).stdout.strip()  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base, cid)
        print(f"\ndocker run to /health 200: {time.monotonic() - t0:.1f} s")
        bundle = (ROOT / "examples" / "drainage" / "bundle.json").read_bytes()
        r = requests.post(
            f"{base}/fhir/Bundle/$validate",
            data=bundle,
            headers={"Content-Type": "application/fhir+json"},
            timeout=30,
        )
        assert r.status_code == 200
        assert "DRN001" in {i["details"]["coding"][0]["code"] for i in r.json()["issue"]}
        req = json.loads((ROOT / "examples" / "cds-hooks" / "order-sign.json").read_text())
        r = requests.post(f"{base}/cds-services/fhirplugin-order-sign", json=req, timeout=30)
        assert r.status_code == 200
        card = r.json()["cards"][0]
        assert card["indicator"] == "critical" and card["source"]["topic"]["code"] == "DEV002"
        fb = {
            "feedback": [
                {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-23T10:00:00Z"}
            ]
        }
        assert requests.post(f"{base}/cds-services/fhirplugin-order-sign/feedback", json=fb, timeout=10).ok
        # the HEALTHCHECK asks the port given with --port, not 8080
        for _ in range(100):
            health = docker("inspect", "--format", "{{.State.Health.Status}}", cid).stdout.strip()
            if health != "starting":
                break
            time.sleep(0.2)
        assert health == "healthy"
    finally:
        docker("rm", "-f", cid, check=False)
    # the feedback outlives the container: it is in the /data volume
    ls = docker("run", "--rm", "--entrypoint", "ls", "-v", f"{volume}:/data", image, "/data", check=False)
    docker("volume", "rm", "-f", volume, check=False)
    assert "feedback.sqlite3" in ls.stdout


def test_image_refuses_a_bad_configuration(image):
    proc = docker(
        "run", "--rm", "--network", "host", "-e", 'FHIRPLUGIN_SELECT=["DRNX"]',
        image, "--host", "127.0.0.1", "--port", str(free_port()),
        check=False, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "'DRNX'" in proc.stderr


def test_shipped_config_loads_and_the_default_bind_needs_issuers(image):
    # deploy/fhirplugin.toml (as the README mounts it) names an issuer: JWTs are required; it is
    # started on loopback here. Without issuers the container's default 0.0.0.0 bind is refused.
    port = free_port()
    cid = docker(
        "run", "-d", "--network", "host", "-v", f"{ROOT / 'deploy'}:/config:ro",
        "-e", "FHIRPLUGIN_CONFIG=/config/fhirplugin.toml",
        image, "--host", "127.0.0.1", "--port", str(port),
    ).stdout.strip()  # fmt: skip
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", cid)
        health = requests.get(f"http://127.0.0.1:{port}/health", timeout=5).json()
        assert health["authentication"] == "jwt"
    finally:
        docker("rm", "-f", cid, check=False)
    proc = docker("run", "--rm", "--network", "none", image, "--port", "8080", check=False, timeout=60)
    assert proc.returncode == 2 and "refusing" in proc.stderr
