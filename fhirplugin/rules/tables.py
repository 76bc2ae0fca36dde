"""One validated reader for every CSV table under ``terminology/`` that the rules read.

A table is described by a pydantic row model: a field per column, its type the check of the cell
(:data:`Bool` is ``true``/``false``, :data:`Code` a CPT/HCPCS code, :data:`Codes` a ``;`` list of
them, ``Literal[...]`` a closed list of words). A column is optional when its field has a default;
``source`` and ``note`` are optional in every table (:class:`Row`), and a column the model does not
name is refused (a misspelt optional column would otherwise read as its default). A broken file raises
:class:`TableError` naming the file, the line and the column::

    terminology/drainage/codes.csv: line 3, column verified: must be true or false, not 'yes'

Use :func:`read_table` for the rows in file order and :func:`read_keyed` for a mapping that refuses a
key listed twice.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Hashable, Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from fhirplugin.tx.cpt import normalize_code


class TableError(ValueError):
    """A table cannot be read; the message names the file, the line, the column and the problem."""


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    v = str(value).strip().lower()
    if v not in ("true", "false"):
        raise ValueError(f"must be true or false, not {value!r}")
    return v == "true"


def _code(value: object) -> str:
    code = normalize_code(str(value))
    if not code:
        raise ValueError("empty")
    return code


def _codes(value: object) -> tuple[str, ...]:
    if isinstance(value, tuple):
        return value
    return tuple(normalize_code(v) for v in str(value).replace(",", ";").split(";") if v.strip())


def _lower(value: object) -> str:
    return str(value).strip().lower()


Bool = Annotated[bool, BeforeValidator(_bool)]
Code = Annotated[str, BeforeValidator(_code)]
Codes = Annotated[tuple[str, ...], BeforeValidator(_codes)]
Lower = Annotated[str, BeforeValidator(_lower)]


class Row(BaseModel):
    """Base of a table's row model: ``source`` and ``note`` may be empty in every table."""

    # defer_build: a model is compiled when a table is first read, not when the rules are imported
    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True, defer_build=True)

    source: str = ""
    note: str = ""


class VerifiedRow(Row):
    """A row of a family table: where the fact comes from, and whether it was checked there."""

    verified: Bool


R = TypeVar("R", bound=BaseModel)
K = TypeVar("K", bound=Hashable)


def _required(model: type[BaseModel]) -> list[str]:
    return [name for name, f in model.model_fields.items() if f.is_required()]


def read_table(path: Path, model: type[R]) -> list[tuple[int, R]]:
    """The rows of ``path`` as ``(line number, row)`` in file order, each checked by ``model``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TableError(f"{path}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    missing = [c for c in _required(model) if c not in header]
    if missing:
        raise TableError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
    columns = [f.alias or name for name, f in model.model_fields.items()]
    unknown = [c for c in header if c not in columns and c not in model.model_fields]
    if unknown:
        # a misspelt optional column would otherwise be read as its default
        known = ", ".join(columns)
        raise TableError(f"{path}: line 1: unknown column(s) {', '.join(unknown)} (the columns are {known})")
    out: list[tuple[int, R]] = []
    for lineno, raw in enumerate(reader, start=2):
        if None in raw:
            raise TableError(f"{path}: line {lineno}: more cells than columns")
        cells: dict[str, Any] = {}
        for k, v in raw.items():
            if k is None:
                continue
            value = (v or "").strip()
            field = model.model_fields.get(k)
            if value or field is None or field.is_required():
                cells[k] = value
        for name in _required(model):
            if not cells.get(name):
                raise TableError(f"{path}: line {lineno}, column {name}: empty")
        try:
            out.append((lineno, model.model_validate(cells)))
        except ValidationError as exc:
            err = exc.errors()[0]
            column = ".".join(str(p) for p in err["loc"]) or "?"
            msg = err["msg"].removeprefix("Value error, ")
            raise TableError(f"{path}: line {lineno}, column {column}: {msg}") from None
    return out


def read_keyed(
    path: Path,
    model: type[R],
    key: Callable[[R], K],
    what: Callable[[K], str] = str,
) -> Mapping[K, R]:
    """The rows of ``path`` by ``key(row)``, in file order; a key listed twice raises TableError
    (``what(key)`` says it in the message, e.g. ``pair 49406/76942``)."""
    out: dict[K, R] = {}
    for lineno, row in read_table(path, model):
        k = key(row)
        if k in out:
            raise TableError(f"{path}: line {lineno}: {what(k)} is listed twice")
        out[k] = row
    return MappingProxyType(out)


def unique(
    path: Path, rows: Iterable[tuple[int, R]], key: Callable[[R], K], what: Callable[[K], str]
) -> None:
    """Raise TableError at the first row whose ``key`` an earlier row already has."""
    seen: set[K] = set()
    for lineno, row in rows:
        k = key(row)
        if k in seen:
            raise TableError(f"{path}: line {lineno}: {what(k)} is listed twice")
        seen.add(k)
