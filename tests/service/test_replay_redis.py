"""The Redis jti store (``service.replay_url``) against a real redis-server on a free loopback port.

Skipped when the ``redis-server`` binary or the ``redis`` package (``fhirplugin[redis]``) is absent.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest

from fhirplugin.config import ServiceSettings
from fhirplugin.service.replay import RedisReplayStore, Replayed, replay_store

redis = pytest.importorskip("redis")
SERVER = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(SERVER is None, reason="redis-server is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    port = _free_port()
    tmp = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(host="127.0.0.1", port=port)
    for _ in range(100):  # bounded: up to 10 s
        try:
            if client.ping():
                break
        except redis.ConnectionError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("redis-server did not start")
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


def test_two_hosts_sharing_redis_refuse_a_replay(url):
    a, b = RedisReplayStore(url), RedisReplayStore(url)  # as two hosts would
    a.add("https://ehr.example.org", "jti-1", time.time() + 60)
    with pytest.raises(Replayed):
        b.add("https://ehr.example.org", "jti-1", time.time() + 60)
    b.add("https://other.example.org", "jti-1", time.time() + 60)  # another issuer's jti is its own


def test_redis_entries_expire_with_the_token(url):
    store = RedisReplayStore(url)
    store.add("https://ehr.example.org", "jti-2", time.time() + 1)
    for _ in range(40):  # bounded: up to 4 s for the key to expire
        try:
            store.add("https://ehr.example.org", "jti-2", time.time() + 60)
            break
        except Replayed:
            time.sleep(0.1)
    else:
        pytest.fail("the jti did not expire")


def test_replay_url_selects_the_redis_store(url):
    assert isinstance(replay_store(ServiceSettings(replay_url=url)), RedisReplayStore)
