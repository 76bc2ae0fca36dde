"""What a rule may ask of each CMS table, whoever answers it.

The in-memory tables (:mod:`fhirplugin.tx.ncci`, :mod:`fhirplugin.tx.cms`: the built-in excerpts
and files read at start-up) and the store tables (:mod:`fhirplugin.tx.cmsstore`, which fall back on
an in-memory table or on another store) answer the same questions; :class:`fhirplugin.tx.store.
Terminology` holds either. A rule that needs more than these methods would break on a store, so the
type checker holds it to them.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from fhirplugin.tx.cms import AocEdit, HcpcsCode, PfsRow
    from fhirplugin.tx.ncci import MueEntry, PtpEdit

__all__ = ["AocSource", "HcpcsSource", "MueSource", "PfsSource", "PtpSource"]


class PtpSource(Protocol):
    """NCCI procedure-to-procedure edits of one setting."""

    def lookup(self, column1: str, column2: str, dos: date | None) -> PtpEdit | None: ...
    def among(self, codes: Collection[str], dos: date | None) -> list[PtpEdit]: ...
    def column2_for(self, column1: str, dos: date | None) -> list[PtpEdit]: ...
    def rows(self, column1: str, column2: str) -> list[PtpEdit]: ...
    def __len__(self) -> int: ...


class MueSource(Protocol):
    """Medically unlikely edits of one setting."""

    def get(self, code: str, dos: date | None = None) -> MueEntry | None: ...
    def __contains__(self, code: object) -> bool: ...
    def __len__(self) -> int: ...


class AocSource(Protocol):
    """The add-on code edits."""

    def get(self, add_on: str, dos: date | None = None) -> AocEdit | None: ...
    def is_add_on(self, code: str, dos: date | None = None) -> bool: ...
    def __len__(self) -> int: ...


class PfsSource(Protocol):
    """The physician fee schedule payment-policy indicators."""

    def get(self, code: str, dos: date | None = None, modifier: str = "") -> PfsRow | None: ...
    def __len__(self) -> int: ...


class HcpcsSource(Protocol):
    """HCPCS Level II codes."""

    def get(self, code: str) -> HcpcsCode | None: ...
    def __contains__(self, code: object) -> bool: ...
    def __len__(self) -> int: ...
