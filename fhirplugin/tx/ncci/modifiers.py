"""The modifiers the NCCI edits name (coding-rules §1.6 and §2.2, [V])."""

from __future__ import annotations

ANATOMIC_MODIFIERS: frozenset[str] = frozenset(
    {"E1", "E2", "E3", "E4", "FA", "TA", "LT", "RT", "LC", "LD", "RC", "LM", "RI"}
    | {f"F{i}" for i in range(1, 10)}
    | {f"T{i}" for i in range(1, 10)}
)
GLOBAL_SURGERY_MODIFIERS: frozenset[str] = frozenset({"24", "25", "57", "58", "78", "79"})
DISTINCT_MODIFIERS: frozenset[str] = frozenset({"59", "XE", "XS", "XP", "XU"})
# the NCCI PTP-associated modifiers: the only ones that can bypass an indicator-1 edit
PTP_BYPASS_MODIFIERS: frozenset[str] = (
    ANATOMIC_MODIFIERS | GLOBAL_SURGERY_MODIFIERS | DISTINCT_MODIFIERS | frozenset({"27", "91"})
)
# modifiers that let units of an MAI-1 (line edit) code be reported on a separate line
MUE_LINE_MODIFIERS: frozenset[str] = frozenset({"76", "77", "91"}) | ANATOMIC_MODIFIERS
