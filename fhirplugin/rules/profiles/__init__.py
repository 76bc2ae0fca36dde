"""Profile rules: PRF001 (a profile named in ``meta.profile`` that fhirplugin cannot check) and PRF002
(a constraint of a fhirplugin profile that the resource breaks). The checking itself is
:mod:`fhirplugin.fhir.profiles`, driven by the StructureDefinitions under ``profiles/``."""
