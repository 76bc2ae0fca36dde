"""DRN002, a units-vs-documented-count rule (:mod:`fhirplugin.rules.templates.units`) on the drainage
tables."""

from __future__ import annotations

from fhirplugin.rules.base import register
from fhirplugin.rules.drainage.data import FAMILY
from fhirplugin.rules.templates import units


@register
class UnitsVsCollections(units.UnitsVsDocumentedCount):
    """More units or lines of a drainage code than collections drained with their own catheter.

    What it checks:
        For 10030, 49405, 49406 and 49407, the units of one code on one date for one patient and provider
        (all lines added up; claim lines, or orders with a quantity) against the collections the linked
        documentation shows: the collection-count extension of the Procedure (or order), else the catheters
        on the Procedure that were not removed. With no such documentation there is nothing to compare and
        no finding; a drainage whose catheters were all removed is left to DRN005.
    Why:
        The unit of these codes is one collection drained through its own catheter: two catheters in one
        abscess are one unit, and units beyond the catheterised collections are denied. The Medicare MUE for
        the date is checked separately by the generic MUE rule.
    Example:
        ``49406`` with ``quantity 2`` while the Procedure shows one catheter left in one collection.
    Fix:
        Report one unit per separate collection drained with its own catheter; if a second collection was
        drained, document it (its site and catheter) on the Procedure.
    Source:
        CPT guidance for image-guided fluid collection drainage by catheter (10030, 49405-49407): one
        unit per collection drained with a separate catheter.
    """

    id = "DRN002"
    name = "drainage.units-vs-collections"
    family = "drainage"
    data = FAMILY
    text = (
        "{code} is {what} for {units} on {lines} for this date, but the documentation shows {documented} "
        "drained with its own catheter; report one unit per catheterised collection."
    )
    diagnostics = (
        "One unit of {code} per collection drained through a separate catheter (CPT instruction; {source}). "
        "Documented: {evidence}."
    )
