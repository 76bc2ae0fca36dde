"""fhirplugin: CPT coding validation for FHIR claims, procedures and orders."""

__version__ = "0.1.0"
