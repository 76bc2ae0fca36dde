"""Keeping tokens and patient identifiers out of the logs.

:func:`redact` blanks, in any text:

* ``Bearer <token>`` (an ``Authorization`` header however it got into a message);
* anything shaped like a JWT/JWS (three base64url segments, the first starting ``eyJ``, or all three
  long);
* the value of ``access_token``, ``accessToken``, ``refresh_token``, ``id_token``, ``client_secret``
  and ``password`` in ``key=value``, ``key: value`` and JSON ``"key": "value"`` forms;
* the values of the query parameters ``token``, ``code``, ``_id``, ``id``, ``state``, ``session``,
  ``key``, ``sig``, ``signature`` and ``auth`` (OAuth codes, resource ids in searches);
* patient identifiers: the id of a ``Patient/<id>`` reference or path segment (any case, also
  ``Patient%2F<id>`` and ``/patients/<id>``), the value of ``patientId`` /
  ``patient_id`` / ``patient`` / ``subject`` / ``identifier`` keys and search parameters, and any
  value registered for the current request with :func:`sensitive`.

:class:`RedactingFilter` applies it to a :class:`logging.LogRecord` (message, arguments, exception
and stack text); :class:`RedactingFormatter` applies it to a formatter's output. :func:`install`
makes every record of the named loggers *and their children* pass through it, whatever handlers are
configured later (uvicorn sets up its own): it hooks the log-record factory, which a logger-level
filter cannot do for records propagated from child loggers.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import threading
from collections.abc import Iterable, Iterator

MASK = "[REDACTED]"

_B64 = r"[A-Za-z0-9_\-]"
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Authorization: Bearer <token>
    (re.compile(r"(?i)\b(bearer)(\s+)[^\s\"',;]+"), rf"\1\2{MASK}"),
    # JWT / JWS compact form
    (re.compile(rf"\beyJ{_B64}*\.{_B64}+\.{_B64}*"), MASK),
    (re.compile(rf"(?<![\w.\-]){_B64}{{16,}}\.{_B64}{{16,}}\.{_B64}{{16,}}(?![\w.\-])"), MASK),
    # secrets as key/value (query strings, JSON, repr of dicts, "key: value")
    (
        re.compile(
            r"(?i)([\"']?\b(?:access_?token|refresh_?token|id_?token|client_?secret|password)\b[\"']?"
            r"\s*[:=]\s*[\"']?)(?!\[REDACTED\])([^\"'\s,&;}\]]+)"
        ),
        rf"\1{MASK}",
    ),
    # query parameters that carry codes, tokens or resource ids (OAuth ?code=, ?token=, ?_id=, ?id=)
    (
        re.compile(
            r"(?i)([?&;](?:token|code|_id|id|state|session|key|sig|signature|auth)=)"
            r"(?!\[REDACTED\])([^&#\s\"']+)"
        ),
        rf"\1{MASK}",
    ),
    # patient identifiers: Patient/<id> (any case, also percent-encoded) and /patients/<id> paths
    (re.compile(r"(?i)\b(Patients?(?:/|%2F))(?!\[REDACTED\])([A-Za-z0-9\-.%]{1,64})"), rf"\1{MASK}"),
    (
        re.compile(
            r"(?i)([\"']?\b(?:patient_?id|patient|subject|identifier|beneficiary|mrn)\b[\"']?"
            r"\s*[:=]\s*[\"']?)(?!\[REDACTED\])(?!Patient/)([^\"'\s,&;}\]]+)"
        ),
        rf"\1{MASK}",
    ),
]

_sensitive: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "fhirplugin_sensitive", default=()
)


def redact(text: str, values: Iterable[str] = ()) -> str:
    """``text`` with tokens, JWTs, secrets and patient identifiers replaced by ``[REDACTED]``.

    ``values`` (and those registered with :func:`sensitive`) are blanked wherever they stand as a
    whole word, e.g. a bare patient id taken from a hook's context.
    """
    if not isinstance(text, str) or not text:
        return text
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    extra = [v for v in (*_sensitive.get(), *values) if isinstance(v, str) and len(v.strip()) >= 2]
    for v in sorted(set(extra), key=len, reverse=True):
        text = re.sub(rf"(?<![\w\-.]){re.escape(v.strip())}(?![\w\-])", MASK, text)
    return text


@contextlib.contextmanager
def sensitive(*values: str | None) -> Iterator[None]:
    """Within the block (this thread / task and the work it starts), also redact ``values``."""
    token = _sensitive.set(_sensitive.get() + tuple(v for v in values if v))
    try:
        yield
    finally:
        _sensitive.reset(token)


def _redact_arg(a: object) -> object:
    if isinstance(a, str):
        return redact(a)
    if isinstance(a, (bytes, bytearray)):
        return redact(bytes(a).decode("utf-8", "replace"))
    if isinstance(a, (int, float, bool)) or a is None:
        return a
    return redact(str(a))  # objects could render a token in __str__/__repr__


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Redact ``record`` in place (message, args, exception and stack text) and return it."""
    if getattr(record, "_fhirplugin_redacted", False):
        return record
    try:
        original = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string; keep whatever can be kept, redacted
        original = f"{record.msg} {record.args}"
        record.args = ()
    if redact(original) != original:
        args = record.args
        if isinstance(args, tuple) and args:
            # keep the shape of args (uvicorn's access formatter unpacks them), redacting each one
            record.msg = redact(str(record.msg)) if isinstance(record.msg, str) else record.msg
            record.args = tuple(_redact_arg(a) for a in args)
        elif isinstance(args, dict) and args:
            record.msg = redact(str(record.msg)) if isinstance(record.msg, str) else record.msg
            record.args = {k: _redact_arg(v) for k, v in args.items()}
        try:
            again = record.getMessage()
        except Exception:  # noqa: BLE001
            again = original
        if redact(again) != again or again == original:
            record.msg, record.args = redact(original), ()
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record._fhirplugin_redacted = True
    return record


class RedactingFilter(logging.Filter):
    """A filter (for a logger or a handler) that redacts each record and lets it through."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


class RedactingFormatter(logging.Formatter):
    """A formatter whose output is redacted as a whole (a last line of defence on a handler)."""

    def __init__(self, fmt: str | None = None, datefmt: str | None = None, *, inner=None, **kw) -> None:
        super().__init__(fmt, datefmt, **kw)
        self._inner = inner

    def format(self, record: logging.LogRecord) -> str:
        text = self._inner.format(record) if self._inner is not None else super().format(record)
        return redact(text)


_lock = threading.Lock()
_names: set[str] = set()
_installed = False


def _covered(name: str) -> bool:
    return any(name == n or name.startswith(n + ".") for n in _names)


def install(logger_names: Iterable[str]) -> None:
    """Redact every record logged to these loggers or their children, from now on.

    Idempotent; names accumulate across calls. ``""`` or ``"root"`` covers every logger.
    """
    global _installed
    with _lock:
        for n in logger_names:
            _names.add("" if n in ("", "root") else n)
            lg = logging.getLogger(n or None)
            if not any(isinstance(f, RedactingFilter) for f in lg.filters):
                lg.addFilter(RedactingFilter())
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args, **kwargs) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if "" in _names or _covered(record.name):
                redact_record(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True
