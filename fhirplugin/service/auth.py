"""Checking the bearer JWT a CDS client sends with every call (CDS Hooks 2.0 §Trusting CDS Clients).

Checks, in order: exactly one ``Authorization`` header holding a ``Bearer`` token that parses; ``alg`` asymmetric (RS*, PS*, ES*, EdDSA; never
``none`` or HMAC); ``iss`` one of the configured issuers; a key for ``kid`` from that issuer's JWK
Set (``jwks_file``, ``jwks_url``, or the token's ``jku`` when the issuer lists it in
``allowed_jku``); the signature; ``aud`` equal to the endpoint called; ``exp`` and ``iat`` present,
JSON numbers (a numeric string is refused) and current (``jwt_leeway`` seconds of slack); a lifetime
of at most ``jwt_max_lifetime`` seconds (``exp - iat``, and ``exp`` no further ahead than that from
now; default 300 s, the short-lived tokens CDS Hooks expects); ``jti`` present and never seen before
from that issuer.

The ``aud`` policy: a string, or an array of exactly one string, equal to the URL of the service
endpoint called (a trailing slash aside). An array naming other audiences too is refused: CDS Hooks
2.0 has the client mint one token per call for the service it calls, and a token that several
services accept could be replayed by any of them to the others.

Fetched JWK Sets are cached for ``jwks_cache_seconds``; a ``kid`` that is not in the cached set makes
one refetch (at most one such refetch per :attr:`JwtVerifier.refetch_interval` seconds per URL, so a
stream of made-up ``kid``s cannot hammer the issuer); a failed fetch is not retried within that
interval either. A token's ``jku`` outside ``allowed_jku`` is never
fetched: with a ``jwks_file``/``jwks_url`` configured the issuer's own keys decide, without one the
token is refused.

Seen ``jti`` values go to a :mod:`fhirplugin.service.replay` store until each token's ``exp`` (plus
leeway): by default this process's memory; ``fhirplugin serve`` uses an SQLite file shared by the
workers and kept across restarts.

:class:`AuthError` carries a ``reason`` for the operator's log; it never contains the token. What
goes back to the caller is the app's business (a bare 401).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.exceptions import (
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidSignatureError,
    MissingRequiredClaimError,
    PyJWTError,
)

from fhirplugin.config import IssuerSettings, ServiceSettings
from fhirplugin.service.fhirclient import FetchError, get_capped

ALLOWED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
MAX_TOKEN_CHARS = 16 * 1024
MAX_JWKS_BYTES = 512 * 1024
MIN_RSA_BITS = 2048
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")


class AuthError(Exception):
    """The token is refused; ``reason`` is for the operator's log (never holds the token)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Claims:
    iss: str
    jti: str
    sub: str | None = None
    tenant: str | None = None


def _norm(url: str) -> str:
    return url.strip().rstrip("/")


def _say(value: object, n: int = 120) -> str:
    """A claim or header value quoted for a log line (bounded, no control characters)."""
    text = repr(value)
    return text if len(text) <= n else text[: n - 1] + "…"


class _JwksSource:
    """One JWK Set (a URL or a file) with its cache."""

    def __init__(self, *, url: str | None = None, path: Path | None = None) -> None:
        self.url = url
        self.path = path
        self.keys: list[dict] = []
        self.loaded_at: float | None = None  # monotonic time of the last successful load
        self.tried_at: float | None = None  # monotonic time of the last attempt
        self.forced_at: float | None = None  # monotonic time of the last refetch for an unknown kid
        self.mtime: float | None = None
        self.lock = threading.Lock()

    @property
    def label(self) -> str:
        return f"JWKS {self.url}" if self.url else f"JWKS file {self.path}"


class JwtVerifier:
    """Verifies CDS Hooks client JWTs against the issuers in ``settings.issuers``."""

    refetch_interval: float = 10.0  # seconds between forced refetches of one JWKS (unknown kid)

    def __init__(
        self, settings: ServiceSettings, *, http: requests.Session | None = None, replay=None
    ) -> None:
        from fhirplugin.service.fhirclient import watched
        from fhirplugin.service.replay import MemoryReplayStore

        self.settings = settings
        self._http = watched(http or requests.Session())
        self.replay = replay if replay is not None else MemoryReplayStore()
        self._issuers: dict[str, IssuerSettings] = {_norm(i.iss): i for i in settings.issuers}
        self._sources: dict[tuple[str, str], _JwksSource] = {}
        self._sources_lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self._issuers)

    # -- the check ----------------------------------------------------------------------------

    def verify(self, authorization_header: str | list[str] | None, audience: str) -> Claims:
        """``authorization_header``: the header's value, or every value sent (exactly one is allowed)."""
        if isinstance(authorization_header, list):
            if len(authorization_header) > 1:
                raise AuthError(f"{len(authorization_header)} Authorization headers (exactly one is allowed)")
            authorization_header = authorization_header[0] if authorization_header else None
        token = self._bearer(authorization_header)
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except PyJWTError as exc:
            raise AuthError(f"malformed token ({type(exc).__name__})") from None
        if not isinstance(unverified, dict):
            raise AuthError("malformed token (payload is not an object)")

        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise AuthError(f"algorithm {_say(alg)} is not allowed (asymmetric algorithms only)")
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
            raise AuthError(f"typ {_say(typ)} is not JWT")
        iss = unverified.get("iss")
        if not isinstance(iss, str) or not iss:
            raise AuthError("no iss claim")
        issuer = self._issuers.get(_norm(iss))
        if issuer is None:
            raise AuthError(f"issuer {_say(iss)} is not trusted")

        leeway = self.settings.jwt_leeway
        for name in ("exp", "iat"):
            value = unverified.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise AuthError(f"{name} is not a number (NumericDate), it is a {type(value).__name__}")
        key = self._key(issuer, header, alg)
        try:
            payload = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                leeway=leeway,
                options={
                    "require": ["iss", "aud", "exp", "iat", "jti"],
                    "verify_aud": False,  # checked below, with a string or array aud
                    "verify_iss": False,  # checked above against the allowlist
                },
            )
        except ExpiredSignatureError:
            raise AuthError(f"token from {_say(iss)} has expired") from None
        except MissingRequiredClaimError as exc:
            raise AuthError(f"token from {_say(iss)} has no {exc.claim} claim") from None
        except ImmatureSignatureError:
            raise AuthError(f"token from {_say(iss)} is not valid yet (iat/nbf in the future)") from None
        except InvalidSignatureError:
            raise AuthError(f"signature does not verify with {_say(iss)}'s key") from None
        except PyJWTError as exc:
            raise AuthError(f"token from {_say(iss)} refused ({type(exc).__name__})") from None
        except Exception as exc:  # noqa: BLE001 - a key that does not fit the algorithm, etc.
            raise AuthError(f"token from {_say(iss)} refused ({type(exc).__name__})") from None

        exp, iat = payload["exp"], payload["iat"]
        longest = self.settings.jwt_max_lifetime
        if exp - iat > longest + leeway:
            raise AuthError(f"token lifetime exp - iat = {exp - iat:.0f} s is longer than {longest} s")
        if exp - time.time() > longest + leeway:
            raise AuthError(f"token expires more than {longest} s from now")
        aud = payload.get("aud")
        auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if len(auds) > 1:
            raise AuthError(f"aud names {len(auds)} audiences; only this endpoint {_say(audience)} is allowed")
        if _norm(audience) not in {_norm(a) for a in auds if isinstance(a, str)}:
            raise AuthError(f"aud {_say(aud)} is not this endpoint {_say(audience)}")
        jti = payload.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            raise AuthError("jti must be a non-empty string")
        sub, tenant = payload.get("sub"), payload.get("tenant")
        self._remember(_norm(iss), jti, float(payload["exp"]) + leeway)
        return Claims(
            iss=issuer.iss,  # as configured (the token's may differ by a trailing slash)
            jti=jti,
            sub=sub if isinstance(sub, str) else None,
            tenant=tenant if isinstance(tenant, str) else None,
        )

    @staticmethod
    def _bearer(header: str | None) -> str:
        if not header or not header.strip():
            raise AuthError("no Authorization header")
        parts = header.strip().split()
        if len(parts) != 2 or parts[0].lower() != "bearer":
            raise AuthError("Authorization is not a single Bearer token")
        if len(parts[1]) > MAX_TOKEN_CHARS:
            raise AuthError("token too long")
        return parts[1]

    def _remember(self, iss: str, jti: str, until: float) -> None:
        from fhirplugin.service.replay import Replayed

        try:
            self.replay.add(iss, jti, until)
        except Replayed:
            raise AuthError(f"jti already used by {_say(iss)} (replay)") from None
        except Exception as exc:  # noqa: BLE001 - the store is unreachable: refuse rather than accept
            raise AuthError(f"the jti store could not be used ({type(exc).__name__})") from None

    # -- keys ---------------------------------------------------------------------------------

    def _key(self, issuer: IssuerSettings, header: dict[str, Any], alg: str) -> jwt.PyJWK:
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise AuthError("kid is not a string")
        jku = header.get("jku")
        if jku is not None and not isinstance(jku, str):
            raise AuthError("jku is not a string")
        allowed = {_norm(u) for u in issuer.allowed_jku}
        if jku is not None and _norm(jku) in allowed:
            source = self._source("url", jku)
        elif issuer.jwks_file is not None:
            source = self._source("file", str(issuer.jwks_file))
        elif issuer.jwks_url:
            source = self._source("url", issuer.jwks_url)
        elif jku is not None:
            raise AuthError(f"jku {_say(jku)} is not allowed for issuer {_say(issuer.iss)}")
        else:
            raise AuthError(f"token has no jku and issuer {_say(issuer.iss)} has no JWKS configured")

        keys = self._keys(source, force=False)
        jwk = _pick(keys, kid, alg)
        if jwk is None:
            keys = self._keys(source, force=True)  # maybe the issuer rotated its keys
            jwk = _pick(keys, kid, alg)
        if jwk is None:
            raise AuthError(f"no key for the token's kid and {alg} in the {source.label}")
        public = {k: v for k, v in jwk.items() if k not in _PRIVATE_MEMBERS}
        try:
            key = jwt.PyJWK(public, algorithm=alg)
        except Exception as exc:  # noqa: BLE001 - PyJWKError, InvalidKeyError, ValueError
            raise AuthError(f"the key for the token's kid does not suit {alg} ({type(exc).__name__})") from None
        if isinstance(key.key, rsa.RSAPublicKey) and key.key.key_size < MIN_RSA_BITS:
            raise AuthError(f"the RSA key for the token's kid is shorter than {MIN_RSA_BITS} bits")
        return key

    def _source(self, kind: str, where: str) -> _JwksSource:
        with self._sources_lock:
            s = self._sources.get((kind, where))
            if s is None:
                s = _JwksSource(url=where) if kind == "url" else _JwksSource(path=Path(where))
                self._sources[(kind, where)] = s
            return s

    def _keys(self, source: _JwksSource, *, force: bool) -> list[dict]:
        with source.lock:
            if source.path is not None:
                return self._file_keys(source)
            now = time.monotonic()
            fresh = source.loaded_at is not None and now - source.loaded_at < self.settings.jwks_cache_seconds
            if force:
                # an unknown kid: one refetch per interval, so made-up kids cannot make us hammer the issuer
                if source.forced_at is not None and now - source.forced_at < self.refetch_interval:
                    return source.keys
                source.forced_at = now
            elif fresh:
                return source.keys
            elif (
                source.tried_at is not None
                and source.loaded_at != source.tried_at
                and now - source.tried_at < self.refetch_interval
            ):
                raise AuthError(f"{source.label} could not be fetched a moment ago; not retried yet")
            source.tried_at = now
            try:
                source.keys = self._fetch(source.url or "")
                source.loaded_at = now
            except AuthError:
                if not fresh:
                    raise
                # a refetch for an unknown kid failed; the cached set is still within its lifetime
            return source.keys

    def _file_keys(self, source: _JwksSource) -> list[dict]:
        assert source.path is not None
        try:
            mtime = source.path.stat().st_mtime
            if source.mtime != mtime:
                source.keys = _parse_jwks(source.path.read_bytes(), source.label)
                source.mtime = mtime
        except OSError as exc:
            raise AuthError(f"{source.label} cannot be read ({type(exc).__name__})") from None
        return source.keys

    def _fetch(self, url: str) -> list[dict]:
        timeout = self.settings.fetch_timeout
        try:
            resp, body = get_capped(
                self._http,
                url,
                headers={"Accept": "application/jwk-set+json, application/json"},
                timeout=timeout,
                max_bytes=MAX_JWKS_BYTES,
                what=f"JWKS {url}",
            )
        except FetchError as exc:
            raise AuthError(exc.message) from None
        if resp.status_code != 200:
            raise AuthError(f"JWKS {url} answered HTTP {resp.status_code}")
        return _parse_jwks(body, f"JWKS {url}")


def _parse_jwks(data: bytes, label: str) -> list[dict]:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        raise AuthError(f"{label} is not JSON") from None
    keys = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(keys, list):
        raise AuthError(f"{label} has no keys array")
    return [k for k in keys if isinstance(k, dict) and k.get("kty") in ("RSA", "EC", "OKP")]


def _pick(keys: list[dict], kid: str | None, alg: str) -> dict | None:
    """The key for ``kid`` fit for ``alg``; without a kid, the only such key of the set."""

    def fits(k: dict) -> bool:
        if k.get("use") not in (None, "sig"):
            return False
        if k.get("alg") not in (None, alg):
            return False
        kty = k.get("kty")
        if alg.startswith(("RS", "PS")):
            return kty == "RSA"
        if alg.startswith("ES"):
            return kty == "EC"
        return kty == "OKP"

    candidates = [k for k in keys if fits(k)]
    if kid is not None:
        candidates = [k for k in candidates if k.get("kid") == kid]
        return candidates[0] if candidates else None
    return candidates[0] if len(candidates) == 1 else None
