"""CMS NCCI edit tables: procedure-to-procedure (PTP) pairs and medically unlikely edits (MUE).

Both readers take the files exactly as CMS publishes them, so the same code reads a user's full
quarterly download and the small tables shipped under ``terminology/ncci/``:

* **PTP** (practitioner ``ccipra…`` or outpatient hospital ``ccioph…``): tab-separated text split
  into parts f1–f4, Windows-1252, CRLF, a header block of column labels first, then one row per
  edit: column 1 code, column 2 code, ``*`` when the edit existed before 1996, effective date
  ``YYYYMMDD``, deletion date ``YYYYMMDD`` or ``*`` (none), modifier indicator 0/1/9, rationale.
  A pair may have several rows with disjoint date windows; :meth:`PtpTable.lookup` picks the row
  in force on the date of service.
* **MUE** (practitioner, outpatient hospital or DME supplier services): CSV whose first cell is a
  quoted multi-line notice, then a header row (its first cell holds a line break), then one row
  per code: code, MUE value, adjudication indicator text starting with 1, 2 or 3, rationale.

``load`` accepts files, folders (every ``.txt``/``.csv`` and ``.zip`` inside) and the ``.zip``
archives CMS distributes. Any malformed data row raises :class:`NcciFileError` naming the file and
line; rows are never dropped silently.

The package: :mod:`.ptp` and :mod:`.mue` (the tables and their readers), :mod:`.files` (files,
folders, zips, decoding, the errors), :mod:`.modifiers` (the modifier sets the edits name),
:mod:`.builtin` (the shipped excerpts).
"""

from fhirplugin.tx.ncci.builtin import NCCI_KINDS, load_builtin
from fhirplugin.tx.ncci.files import CmsFileError, NcciFileError
from fhirplugin.tx.ncci.modifiers import (
    ANATOMIC_MODIFIERS,
    DISTINCT_MODIFIERS,
    GLOBAL_SURGERY_MODIFIERS,
    MUE_LINE_MODIFIERS,
    PTP_BYPASS_MODIFIERS,
)
from fhirplugin.tx.ncci.mue import MAI_TEXT, MueEntry, MueTable
from fhirplugin.tx.ncci.ptp import (
    MODIFIER_INDICATORS,
    PtpEdit,
    PtpTable,
    iter_ptp_fields,
    ptp_table_from_name,
)

__all__ = [
    "ANATOMIC_MODIFIERS",
    "DISTINCT_MODIFIERS",
    "GLOBAL_SURGERY_MODIFIERS",
    "MAI_TEXT",
    "MODIFIER_INDICATORS",
    "MUE_LINE_MODIFIERS",
    "NCCI_KINDS",
    "PTP_BYPASS_MODIFIERS",
    "CmsFileError",
    "MueEntry",
    "MueTable",
    "NcciFileError",
    "PtpEdit",
    "PtpTable",
    "iter_ptp_fields",
    "load_builtin",
    "ptp_table_from_name",
]
