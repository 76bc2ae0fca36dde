"""Reading batch inputs: files and folders as :class:`Source` s, each read as NDJSON lines or one
JSON document (:class:`_Reader`), grouped in :class:`Chunk` s of at most ``size`` items in input order.
See :mod:`fhirplugin.batch` for the input rules."""

from __future__ import annotations

import contextlib
import gzip
import sys
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Self

import orjson

FOLDER_SUFFIXES = (".ndjson", ".ndjson.gz", ".json", ".json.gz")
DEFAULT_CHUNK = 500
_READ_PIECE = 1 << 20

# one input item: (index in its file, 1-based line or None for a whole document, the bytes — or, for a
# line above the size limit, its length in bytes)
Item = tuple[int, int | None, bytes | int]


@dataclass(slots=True)
class Source:
    name: str  # as shown in outcomes: the path as given, or found under a folder
    path: Path | None  # None: standard input
    size: int | None  # bytes on disk (compressed for .gz), None for stdin

    @property
    def gz(self) -> bool:
        return self.path is not None and self.path.name.endswith(".gz")

    @property
    def ndjson_by_name(self) -> bool:
        return self.path is not None and self.path.name.endswith((".ndjson", ".ndjson.gz"))


def expand(
    paths: Sequence[str | Path], *, exclude: Path | None = None
) -> tuple[list[Source], list[str], list[str]]:
    """Files and folders → sources in order; one message per path that cannot be read; notes."""
    sources: list[Source] = []
    problems: list[str] = []
    notes: list[str] = []
    skip = _resolve(exclude)
    for given in paths:
        name = str(given)
        if name == "-":
            sources.append(Source("-", None, None))
            continue
        p = Path(given)
        try:
            if p.is_dir():
                found = sorted(
                    f
                    for f in p.rglob("*")
                    if f.name.endswith(FOLDER_SUFFIXES) and f.is_file() and _resolve(f) != skip
                )
                if not found:
                    notes.append(f"no {', '.join(FOLDER_SUFFIXES)} files under {name}")
                sources.extend(Source(str(f), f, f.stat().st_size) for f in found)
            elif p.exists():
                sources.append(Source(name, p, p.stat().st_size))
            else:
                problems.append(f"cannot read {name}: No such file or directory")
        except OSError as exc:
            problems.append(f"cannot read {name}: {exc.strerror or exc}")
    return sources, problems, notes


def _resolve(p: Path | None) -> Path | None:
    if p is None:
        return None
    try:
        return p.resolve()
    except OSError:
        return None


class _Reader:
    """Reads one source as items, counting bytes consumed (compressed bytes for gzip)."""

    def __init__(self, source: Source, max_bytes: int) -> None:
        self.source = source
        self.max_bytes = max_bytes
        self._raw: BinaryIO | None = None
        self._fh: BinaryIO | gzip.GzipFile | None = None
        self._plain_pos = 0
        self._done_at = 0
        self._raw_closed = False

    def __enter__(self) -> Self:
        if self.source.path is None:
            self._fh = sys.stdin.buffer
        else:
            self._raw = open(self.source.path, "rb")
            self._fh = gzip.GzipFile(fileobj=self._raw, mode="rb") if self.source.gz else self._raw
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._done_at = self.position
        self._raw_closed = True
        if self._fh is not None and self._fh is not self._raw and self.source.path is not None:
            self._fh.close()
        if self._raw is not None:
            self._raw.close()

    @property
    def position(self) -> int:
        if self._raw_closed:
            return self._done_at
        if self._raw is not None and self.source.gz:
            return self._raw.tell()
        return self._plain_pos

    def _readline(self) -> bytes | int:
        """The next line (with its newline), b"" at the end; an int (its length) when it is too long."""
        assert self._fh is not None
        line = self._fh.readline(self.max_bytes + 2)
        self._plain_pos += len(line)
        if len(line) <= self.max_bytes + 1 or line.endswith(b"\n"):
            return line
        n = len(line)
        while True:  # skip the rest of an oversized line without holding it
            more = self._fh.readline(_READ_PIECE)
            self._plain_pos += len(more)
            n += len(more)
            if not more or more.endswith(b"\n"):
                return n - (1 if more.endswith(b"\n") else 0)

    def items(self) -> Iterator[Item]:
        lineno = 0
        first: bytes | int = b""
        while True:  # the first non-blank line decides NDJSON or one document
            first = self._readline()
            lineno += 1
            if isinstance(first, int):
                break
            if lineno == 1 and first.startswith(b"\xef\xbb\xbf"):
                first = first[3:]
            if not first or first.strip():
                break
        if isinstance(first, bytes) and not first:
            yield (0, None, b"")  # empty input: the engine reports "not valid JSON"
            return
        if not self.source.ndjson_by_name and isinstance(first, bytes) and not _standalone_object(first):
            yield (0, None, self._rest_as_document(first))
            return
        index = 0
        line: bytes | int = first
        while True:
            if isinstance(line, int):
                yield (index, lineno, line)
                index += 1
            elif line.strip():
                yield (index, lineno, line.rstrip(b"\r\n"))  # the size limit counts the content only
                index += 1
            line = self._readline()
            if isinstance(line, bytes) and not line:
                return
            lineno += 1

    def _rest_as_document(self, head: bytes) -> bytes | int:
        assert self._fh is not None
        parts = [head]
        size = len(head)
        while size <= self.max_bytes:
            piece = self._fh.read(_READ_PIECE)
            if not piece:
                return b"".join(parts)
            parts.append(piece)
            size += len(piece)
        parts.clear()
        while piece := self._fh.read(_READ_PIECE):  # too large: count the rest, keep none of it
            size += len(piece)
        return size


def _standalone_object(line: bytes) -> bool:
    s = line.strip()
    if not (s.startswith(b"{") and s.endswith(b"}")):
        return False
    try:
        orjson.loads(s)
    except orjson.JSONDecodeError:
        return False
    return True


@dataclass(slots=True)
class Chunk:
    source: str
    items: list[Item]
    position: int  # bytes read over the whole run once this chunk was read (for the progress bar)


def chunks(
    sources: Sequence[Source],
    *,
    max_bytes: int,
    size: int = DEFAULT_CHUNK,
    on_unreadable: Callable[[str], None],
) -> Iterator[Chunk]:
    """Chunks of at most ``size`` items, in input order, never spanning two files."""
    done = 0
    for src in sources:
        reader = _Reader(src, max_bytes)
        items: list[Item] = []
        try:
            with reader:
                for item in reader.items():
                    items.append(item)
                    if len(items) >= size:
                        yield Chunk(src.name, items, done + reader.position)
                        items = []
        except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
            # what was read before the failure is still checked; the path counts as unreadable
            msg = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            on_unreadable(f"cannot read {src.name}: {msg}")
        if items:
            yield Chunk(src.name, items, done + reader.position)
        done += reader.position
