"""``fhirplugin serve``: start uvicorn with the security stance of the contract."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from fhirplugin.config import Settings

log = logging.getLogger("fhirplugin.service")


def check_binding(settings: Settings, host: str, insecure: bool) -> str | None:
    """An error message when the service must not start on ``host`` with these settings."""
    from fhirplugin.service.app import is_loopback

    if settings.service.issuers or is_loopback(host):
        return None
    if insecure or settings.service.insecure:
        return None
    return (
        f"refusing to serve unauthenticated CDS Hooks on {host}: configure trusted issuers "
        "([[service.issuers]] in the config file) or pass --insecure"
    )


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
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
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
        uvicorn.run(
            "fhirplugin.service.app:create_app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=None,
            proxy_headers=False,
        )
        return 0
    from fhirplugin.service.app import create_app

    app = create_app(settings, bind_host=host, insecure=insecure)
    uvicorn.run(app, host=host, port=port, log_config=None, proxy_headers=False)
    return 0
