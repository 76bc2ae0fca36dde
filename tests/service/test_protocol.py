"""The HTTP protocol class ``fhirplugin serve`` gives uvicorn: TCP_NODELAY on connections accepted
from a listening socket bound the way ``--workers N`` binds it (protocol number 0), which asyncio
leaves with Nagle's algorithm on: small keep-alive answers then waited ~40 ms for a delayed ACK."""

from __future__ import annotations

import asyncio
import socket

from uvicorn.config import Config
from uvicorn.protocols.http.auto import AutoHTTPProtocol
from uvicorn.server import ServerState

from fhirplugin.service.protocol import GuardedHTTPProtocol


async def _app(scope, receive, send):  # pragma: no cover - never called: no request is sent
    raise AssertionError


def _nodelay_of_accepted(protocol_class) -> int:
    async def main() -> int:
        config = Config(_app, log_config=None)
        config.load()
        state = ServerState()
        made: list = []

        def factory():
            p = protocol_class(config=config, server_state=state, app_state={})
            made.append(p)
            return p

        listener = socket.socket(socket.AF_INET)  # as uvicorn's Config.bind_socket does for workers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        server = await asyncio.get_running_loop().create_server(factory, sock=listener)
        _reader, writer = await asyncio.open_connection(*listener.getsockname())
        for _ in range(100):  # bounded: the accept lands within a few loop turns
            if made and made[0].transport is not None:
                break
            await asyncio.sleep(0.01)
        sock = made[0].transport.get_extra_info("socket")
        value = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        writer.close()
        for p in made:
            p.transport.close()
        server.close()
        await server.wait_closed()
        return value

    return asyncio.run(main())


def test_guarded_protocol_sets_nodelay_where_uvicorn_does_not():
    assert _nodelay_of_accepted(AutoHTTPProtocol) == 0  # the cause of the 44 ms with --workers 2
    assert _nodelay_of_accepted(GuardedHTTPProtocol) != 0
