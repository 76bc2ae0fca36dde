"""uvicorn's HTTP protocol with what a service facing the network needs and uvicorn does not do.

* ``TCP_NODELAY`` on every accepted connection. With ``--workers N`` uvicorn binds the listening
  socket itself (``socket.socket(family)``, protocol number 0), and asyncio only sets ``TCP_NODELAY``
  on sockets whose protocol number says TCP; the accepted connections kept Nagle's algorithm, so each
  small keep-alive response waited for the client's delayed ACK (~40 ms). One worker was not
  affected (asyncio binds that socket with ``IPPROTO_TCP``).
* Slow clients are cut off: a connection must deliver a request's headers within ``header_timeout``
  seconds of opening (or of the previous response), and its body within ``body_timeout`` seconds of
  the headers; otherwise it is closed. uvicorn has no such limit: a client sending a byte a second
  (slowloris) held a connection, and a worker's slot, forever.

``fhirplugin serve`` passes ``fhirplugin.service.protocol:GuardedHTTPProtocol`` as uvicorn's ``http``
class; the limits come from ``service.header_timeout`` / ``service.body_timeout`` (through the
``FHIRPLUGIN_HEADER_TIMEOUT`` / ``FHIRPLUGIN_BODY_TIMEOUT`` environment variables, so the worker
processes see them too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from typing import Protocol

from uvicorn.protocols.http.auto import AutoHTTPProtocol

log = logging.getLogger("fhirplugin.service")


def _env_seconds(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


def set_nodelay(sock: socket.socket | None) -> None:
    if sock is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Cycle(Protocol):
    """What the guard reads of uvicorn's request-response cycle (h11 and httptools alike)."""

    response_complete: bool
    more_body: bool


# uvicorn picks AutoHTTPProtocol at import (httptools or h11) and types it as a variable, not a class
class GuardedHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    header_timeout: float = _env_seconds("FHIRPLUGIN_HEADER_TIMEOUT", 10.0)
    body_timeout: float = _env_seconds("FHIRPLUGIN_BODY_TIMEOUT", 30.0)
    _guard_cycle: _Cycle | None  # the request cycle whose headers are in
    _guard_wait: float | None  # monotonic time since which request headers are awaited
    _guard_body: float | None  # monotonic time since which a request body is awaited
    _guard_timer: asyncio.TimerHandle | None

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)
        set_nodelay(transport.get_extra_info("socket"))
        self._guard_cycle = None
        self._guard_wait = time.monotonic()  # waiting for a request's headers since
        self._guard_body = None  # receiving a body since
        self._guard_timer = None
        self._guard_schedule()

    def _guard_schedule(self) -> None:
        period = max(0.05, min(1.0, self.header_timeout / 4, self.body_timeout / 4))
        self._guard_timer = self.loop.call_later(period, self._guard_check)

    def connection_lost(self, exc: Exception | None) -> None:
        timer = getattr(self, "_guard_timer", None)
        if timer is not None:
            timer.cancel()
            self._guard_timer = None
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        self._guard_wait = time.monotonic()
        self._guard_body = None
        super().on_response_complete()

    def _guard_check(self) -> None:
        self._guard_timer = None
        if self.transport is None or self.transport.is_closing():
            return
        now = time.monotonic()
        cycle: _Cycle | None = getattr(self, "cycle", None)
        if cycle is not None and cycle is not self._guard_cycle and not cycle.response_complete:
            self._guard_cycle = cycle  # a new request: its headers are in
            self._guard_wait = None
            self._guard_body = now
        if cycle is not None and cycle is self._guard_cycle and not cycle.more_body:
            self._guard_body = None  # the body is in; the app is working on it
        if self._guard_wait is not None and now - self._guard_wait > self.header_timeout:
            self._guard_close(f"no complete request headers within {self.header_timeout:g} s")
            return
        if self._guard_body is not None and now - self._guard_body > self.body_timeout:
            self._guard_close(f"the request body did not arrive within {self.body_timeout:g} s")
            return
        self._guard_schedule()

    def _guard_close(self, why: str) -> None:
        log.info("closed a slow connection: %s", why)
        self.transport.close()
