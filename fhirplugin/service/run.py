"""``fhirplugin serve``: start uvicorn with the security stance of the contract.

One and several workers are started the same way: the same logging configuration (applied by
uvicorn in every worker process: access log, timestamps, levels, and the redaction of
:mod:`fhirplugin.service.logsafe` on every line), the same HTTP protocol class
(:mod:`fhirplugin.service.protocol`: ``TCP_NODELAY`` and the slow-client timeouts).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from fhirplugin.config import Settings

if TYPE_CHECKING:
    from fhirplugin.service.logsafe import RedactingFormatter

log = logging.getLogger("fhirplugin.service")


def check_binding(settings: Settings, host: str, insecure: bool) -> str | None:
    """An error message when the service must not start on ``host`` with these settings."""
    from fhirplugin.service.guards import is_loopback

    if settings.service.issuers or is_loopback(host):
        return None
    if insecure or settings.service.insecure:
        return None
    return (
        f"refusing to serve unauthenticated CDS Hooks on {host}: configure trusted issuers "
        "([[service.issuers]] in the config file) or pass --insecure"
    )


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
HTTP_PROTOCOL = "fhirplugin.service.protocol:GuardedHTTPProtocol"


def redacting_formatter(fmt: str = LOG_FORMAT, datefmt: str | None = None) -> RedactingFormatter:
    from fhirplugin.service.logsafe import RedactingFormatter

    return RedactingFormatter(fmt, datefmt)


def log_config(level: str = "INFO") -> dict[str, Any]:
    """The ``logging.config.dictConfig`` uvicorn applies in the main process and in every worker."""
    handler = {"class": "logging.StreamHandler", "formatter": "redacted", "stream": "ext://sys.stderr"}
    named = {"handlers": ["default"], "level": level, "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"redacted": {"()": "fhirplugin.service.run.redacting_formatter"}},
        "handlers": {"default": handler},
        "loggers": {
            "uvicorn": named,
            "uvicorn.error": {"level": level},
            "uvicorn.access": named,
            "fhirplugin": named,
        },
        "root": {"handlers": ["default"], "level": "WARNING"},
    }


class UvicornOptions(TypedDict):
    """The keyword arguments both ways of starting pass to ``uvicorn.run`` (typed, so each is checked)."""

    host: str
    port: int
    log_config: dict[str, Any]
    proxy_headers: bool
    http: str
    timeout_keep_alive: int


def run(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    insecure: bool = False,
    config: Path | None = None,
) -> int:
    import uvicorn

    problem = check_binding(settings, host, insecure)
    if problem:
        print(f"fhirplugin: {problem}", file=sys.stderr)
        return 2
    import logging.config

    from fhirplugin.service import logsafe

    logsafe.install(["fhirplugin", "uvicorn", "uvicorn.access", "uvicorn.error"])
    logging.config.dictConfig(log_config())
    svc = settings.service
    # the protocol class reads these in every process (the workers are spawned, not forked)
    os.environ["FHIRPLUGIN_HEADER_TIMEOUT"] = str(svc.header_timeout)
    os.environ["FHIRPLUGIN_BODY_TIMEOUT"] = str(svc.body_timeout)
    from fhirplugin.service.protocol import GuardedHTTPProtocol

    GuardedHTTPProtocol.header_timeout = svc.header_timeout
    GuardedHTTPProtocol.body_timeout = svc.body_timeout
    common: UvicornOptions = {
        "host": host,
        "port": port,
        "log_config": log_config(),
        "proxy_headers": False,
        "http": HTTP_PROTOCOL,
        "timeout_keep_alive": 5,
    }
    if settings.service.issuers:
        log.info("JWT required from %d trusted issuer(s)", len(settings.service.issuers))
    elif insecure or settings.service.insecure:
        log.warning("no trusted issuers and --insecure: accepting UNAUTHENTICATED calls on %s", host)
    else:
        log.warning("no trusted issuers: accepting unauthenticated calls, loopback only (%s)", host)
    log.info("CDS Hooks feedback is stored in %s", Path(settings.service.feedback_db).resolve())
    if workers > 1:
        os.environ["FHIRPLUGIN_BIND_HOST"] = host
        os.environ["FHIRPLUGIN_INSECURE"] = "1" if insecure else "0"
        if config:
            os.environ["FHIRPLUGIN_CONFIG"] = str(config)
        uvicorn.run("fhirplugin.service.app:create_app_from_env", factory=True, workers=workers, **common)
        return 0
    from fhirplugin.service.app import create_app

    app = create_app(settings, bind_host=host, insecure=insecure)
    uvicorn.run(app, **common)
    return 0
