"""DRN004, a site-and-approach-decide-the-code rule (:mod:`fhirplugin.rules.templates.site`) on the
drainage ConceptMaps."""

from __future__ import annotations

from fhirplugin.rules.base import register
from fhirplugin.rules.drainage.data import CODE_MAP, FAMILY, SITE_MAP, site_decision
from fhirplugin.rules.templates import site


@register
class SiteApproachCode(site.SiteDecidesCode):
    """A drainage code that does not fit the documented site or approach of the collection.

    What it checks:
        For lines coded 10030, 49405, 49406 or 49407: the SNOMED CT body site (claim item bodySite, the
        linked Procedure's bodySite, or a SNOMED procedure code listed in the site map) and the approach
        (procedure-method / procedure-approach extensions; a vagina or rectum site counts as the route).
        Sites map to a class (soft tissue, visceral organ, peritoneal, retroperitoneal, pelvic, ovary) and
        the class with the approach to the fitting code(s), through the ConceptMaps
        ``drainage-snomed-to-site-class`` and ``drainage-site-class-to-cpt``. Soft tissue → 10030; visceral
        organ → 49405; peritoneal or retroperitoneal, percutaneous → 49406, transvaginal or transrectal →
        49407; open transrectal drainage of a pelvic abscess → 45000; open vaginal drainage of an ovarian cyst
        or abscess → 58800 / 58820. Nothing documented, or nothing the maps decide: no finding.
    Why:
        Each drainage code covers one kind of site and route; the wrong one is denied or pays the wrong
        amount.
    Example:
        ``49406`` (percutaneous) with a transvaginal approach to a pelvic abscess → ``49407``; ``49407`` for
        an abdominal-wall seroma → ``10030``.
    Fix:
        Replace the code with the one the site and approach call for (a single expected code comes with a
        replace-code fix), or correct the documented site/approach if it is wrong.
    Source:
        CPT code descriptors and cross-references of 10030 (soft tissue), 49405 (visceral), 49406
        (peritoneal or retroperitoneal, percutaneous) and 49407 (transvaginal or transrectal); SNOMED CT
        body structures. Site mappings marked unverified in the ConceptMap make the finding unverified.
    """

    id = "DRN004"
    name = "drainage.site-approach-code"
    family = "drainage"
    data = FAMILY
    decide = staticmethod(site_decision)
    diagnostics = (
        f"ConceptMaps {SITE_MAP.rsplit('/', 1)[-1]} and {CODE_MAP.rsplit('/', 1)[-1]}. {{reasons}}. "
        "Documented at: {where}."
    )
