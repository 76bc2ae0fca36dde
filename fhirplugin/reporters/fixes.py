"""A finding's machine-readable fix in words, for the text and json outputs (the CDS cards turn the
same fix into a suggestion: :mod:`fhirplugin.service.fixes`)."""

from __future__ import annotations


def describe(fix: dict | None) -> str | None:
    """"Replace 49411 by 55876", "Delete the line …", "Remove modifier 59"; None when there is no fix."""
    if not fix:
        return None
    kind = fix.get("action")
    path = fix.get("path")
    at = f" ({path})" if path else ""
    if kind == "replace-code":
        return f"Replace {fix.get('from')} by {fix.get('to')}{at}"
    if kind == "delete-line":
        return f"Delete {path}" if path else "Delete the order"
    if kind == "remove-modifier":
        return f"Remove modifier {fix.get('code')}{at}"
    if kind == "set-units":
        return f"Set the units to {fix.get('value')}{at}"
    if kind == "set-system":
        return f"Set the code system of {fix.get('code')} to {fix.get('system')}{at}"
    return None


def record(fix: dict | None) -> dict | None:
    """The fix as shown in the json output: the machine-readable fields plus its description."""
    text = describe(fix)
    if text is None or fix is None:
        return None
    return {**fix, "description": text}
