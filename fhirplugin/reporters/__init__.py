"""Output formats for validation results: text, json, outcome (NDJSON), sarif."""

from fhirplugin.reporters.render import FORMATS, render

__all__ = ["FORMATS", "render"]
