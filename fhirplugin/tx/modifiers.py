"""CPT and HCPCS Level II modifiers: which exist, and how the edits treat them.

Flags per modifier:

* ``ptp_bypass`` — an NCCI procedure-to-procedure associated modifier: it may bypass a PTP edit whose
  modifier indicator is 1 (anatomic modifiers, the global-surgery ones, 27, 59, 91 and X{EPSU});
* ``distinct`` — says the service was distinct (59 and X{EPSU}); 59 and an X modifier do not belong
  on the same line;
* ``mue_line`` — lets medically necessary units above a line-level (MAI 1) MUE be reported on another
  line (76, 77, 91 and the anatomic modifiers).

Note that CPT has no modifier 11, although some documents list one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType

from fhirplugin.resources import data_dir
from fhirplugin.systems import CPT, HCPCS

__all__ = ["Modifier", "ModifierDataError", "ModifierTable", "is_level_one_shape", "normalize_modifier"]

_SYSTEMS = {"cpt": CPT, "hcpcs": HCPCS}
_COLUMNS = (
    "code",
    "system",
    "description",
    "category",
    "ptp_bypass",
    "distinct",
    "mue_line",
    "source",
    "verified",
)


class ModifierDataError(ValueError):
    """A modifier table cannot be read; the message names the file and line."""


def is_level_one_shape(code: str) -> bool:
    """The shapes CPT (Level I) modifiers take: two digits (22, 59), P and a digit (the anesthesia
    physical status modifiers P1-P6), a digit and P (the performance measure modifiers 1P-8P).
    HCPCS Level II modifiers are two letters or a letter and a digit (XS, F1, Q6)."""
    if len(code) != 2 or not code.isascii():
        return False
    a, b = code[0], code[1]
    return (a.isdigit() and b.isdigit()) or (a == "P" and b.isdigit()) or (a.isdigit() and b == "P")


def normalize_modifier(code: str) -> str:
    """Strip blanks and upper-case a modifier (``" xs"`` → ``"XS"``)."""
    return code.strip().upper()


@dataclass(frozen=True, slots=True)
class Modifier:
    """One modifier. ``verified`` is True when its existence and flags were read in ``source``."""

    code: str
    system: str  # "cpt" | "hcpcs"
    description: str
    category: str
    ptp_bypass: bool
    distinct: bool
    mue_line: bool
    source: str
    verified: bool


class ModifierTable:
    """Modifiers by code; lookups ignore case and surrounding blanks.

    ``complete`` is True once a full Level I (CPT) and Level II (HCPCS) list is loaded
    (:meth:`load_cms`): then a modifier not in the table is certainly invalid. The built-in table is
    an excerpt (``complete`` False): a modifier it lacks may still exist.
    """

    __slots__ = ("_mods", "complete")

    def __init__(self, modifiers: dict[str, Modifier] | None = None, *, complete: bool = False) -> None:
        self._mods: MappingProxyType[str, Modifier] = MappingProxyType(dict(modifiers or {}))
        self.complete = complete

    @classmethod
    def builtin(cls) -> ModifierTable:
        """The table shipped with fhirplugin (``terminology/modifiers/modifiers.csv``)."""
        return _builtin()

    @classmethod
    def load(cls, path: Path) -> ModifierTable:
        """Read a modifier CSV (same columns as the built-in one); errors name the file and line."""
        path = Path(path)
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except OSError as exc:
            raise ModifierDataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
        except UnicodeDecodeError as exc:
            raise ModifierDataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        reader = csv.DictReader(io.StringIO(text, newline=""))
        missing = [c for c in _COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ModifierDataError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
        mods: dict[str, Modifier] = {}
        for row in reader:
            line = reader.line_num
            code = normalize_modifier(row["code"] or "")
            if len(code) != 2 or not code.isalnum():
                raise ModifierDataError(
                    f"{path}: line {line}: {row['code']!r} is not a two-character modifier"
                )
            system = (row["system"] or "").strip().lower()
            if system not in _SYSTEMS:
                raise ModifierDataError(
                    f"{path}: line {line}: system must be cpt or hcpcs, not {row['system']!r}"
                )
            if system == "cpt" and not is_level_one_shape(code):
                raise ModifierDataError(
                    f"{path}: line {line}: CPT modifiers are two digits, P1-P6 or a digit and P, not {code!r}"
                )
            if code in mods:
                raise ModifierDataError(f"{path}: line {line}: modifier {code} is listed twice")
            description = (row["description"] or "").strip()
            category = (row["category"] or "").strip()
            if not description or not category:
                raise ModifierDataError(
                    f"{path}: line {line}: modifier {code} needs a description and a category"
                )
            mods[code] = Modifier(
                code=code,
                system=system,
                description=description,
                category=category,
                ptp_bypass=_bool(path, line, "ptp_bypass", row["ptp_bypass"]),
                distinct=_bool(path, line, "distinct", row["distinct"]),
                mue_line=_bool(path, line, "mue_line", row["mue_line"]),
                source=(row["source"] or "").strip(),
                verified=_bool(path, line, "verified", row["verified"]),
            )
        return cls(mods)

    @classmethod
    def load_cms(cls, paths, *, base: ModifierTable | None = None) -> ModifierTable:
        """Read CMS modifier lists and return ``base`` (default: the built-in table) with every
        modifier they name added; the built-in flags and wording of known modifiers are kept.

        Accepted: the HCPCS Level II ANWEB file (its modifier records, record ids 7/8, are the Level
        II modifiers) and a modifier list CSV with ``modifier`` (or ``code``) and ``level`` columns
        (``I``/``CPT`` or ``II``/``HCPCS``) and optionally ``description``/``category``. The
        result is ``complete`` when the lists together hold Level I and Level II modifiers.
        """
        from fhirplugin.tx.modifier_lists import read_modifier_lists

        return read_modifier_lists(paths, base if base is not None else cls.builtin())

    def level(self, code: str) -> str | None:
        """``"I"`` for a CPT (Level I) modifier, ``"II"`` for a HCPCS Level II one, None when unknown."""
        m = self.get(code)
        if m is None:
            return None
        return "I" if m.system == "cpt" else "II"

    def get(self, code: str) -> Modifier | None:
        if not isinstance(code, str):
            return None
        return self._mods.get(normalize_modifier(code))

    def is_valid(self, code: str) -> bool:
        """True when ``code`` is a modifier in the table (``"xs"`` and ``"XS"`` alike; ``"11"`` is not)."""
        return self.get(code) is not None

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and self.is_valid(code)

    def __len__(self) -> int:
        return len(self._mods)

    def __iter__(self) -> Iterator[Modifier]:
        return iter(self._mods.values())

    def __repr__(self) -> str:
        return f"ModifierTable({len(self)} modifiers{', complete' if self.complete else ''})"


@cache
def _builtin() -> ModifierTable:
    return ModifierTable.load(data_dir("terminology") / "modifiers" / "modifiers.csv")


def _bool(path: Path, line: int, column: str, value: str | None) -> bool:
    v = (value or "").strip().lower()
    if v in {"true", "yes", "1"}:
        return True
    if v in {"false", "no", "0"}:
        return False
    raise ModifierDataError(f"{path}: line {line}: {column} must be true or false, not {value!r}")
