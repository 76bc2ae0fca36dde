"""Image-guided fluid-collection drainage by catheter: CPT 10030, 49405, 49406, 49407.

Rules DRN001–DRN007: imaging guidance is part of the drainage code (DRN001); units against the
collections drained with their own catheter (DRN002); the modifier an extra same-day line needs
(DRN003); the code the documented site and approach call for (DRN004); an indwelling catheter left in
place (DRN005); a diagnosis of a collection in that region (DRN006); imaging documentation (DRN007).
The code lists, pairs, site maps and diagnosis sets are data: ``terminology/drainage/``,
``terminology/valuesets/drainage-*.json`` and ``terminology/conceptmaps/drainage-*.json``, read
through :mod:`fhirplugin.rules.drainage.data`. The MUE value itself is checked by the generic MUE
rule, not here.
"""
