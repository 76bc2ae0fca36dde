"""A real HTTP server on 127.0.0.1 for the service tests (http.server in a thread).

Routes map a path (without query) to a :class:`Reply` or to a function ``(handler) -> Reply``; every
request is recorded with its path, query and headers.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import urlsplit


@dataclass
class Reply:
    status: int = 200
    body: bytes | dict | list = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    content_length: bool = True  # False: close-delimited body of unknown length
    trickle: float = 0.0  # > 0: send the whole answer (status line, headers, body) a byte at a time
    trickle_for: float = 30.0  # ... for at most this long (a bounded loop), then give up

    @classmethod
    def json(cls, data, status: int = 200, **kw) -> Reply:
        return cls(status=status, body=data, headers={"Content-Type": "application/fhir+json"}, **kw)


@dataclass
class Seen:
    path: str
    query: str
    headers: dict[str, str]


class Loopback:
    def __init__(self) -> None:
        self.routes: dict[str, object] = {}
        self.requests: list[Seen] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                outer.requests.append(Seen(parts.path, parts.query, dict(self.headers.items())))
                route = outer.routes.get(parts.path)
                reply = route(self) if callable(route) else route
                if reply is None:
                    reply = Reply(404, {"resourceType": "OperationOutcome"})
                if reply.delay:
                    time.sleep(reply.delay)
                body = reply.body
                if isinstance(body, (dict, list)):
                    body = json.dumps(body).encode()
                if reply.trickle:
                    self._trickle(reply, body)
                    return
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    if reply.content_length:
                        self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    for i in range(0, len(body), 65536):
                        self.wfile.write(body[i : i + 65536])
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading (size cap, timeout): expected in some tests

            def _trickle(self, reply: Reply, body: bytes) -> None:
                head = f"HTTP/1.0 {reply.status} OK\r\n"
                for k, v in {**reply.headers, "Content-Length": str(len(body))}.items():
                    head += f"{k}: {v}\r\n"
                data = (head + "\r\n").encode() + body
                end = time.monotonic() + reply.trickle_for
                try:
                    for i in range(len(data)):
                        if time.monotonic() > end:
                            break
                        self.wfile.write(data[i : i + 1])
                        self.wfile.flush()
                        time.sleep(reply.trickle)
                except OSError:
                    pass  # the client hung up (its deadline passed): expected

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def url(self, path: str = "", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def hits(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path == path)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
