"""DEV002, a site-and-approach-decide-the-code rule (:mod:`fhirplugin.rules.templates.site`) on the
device ConceptMap."""

from __future__ import annotations

from fhirplugin.rules.base import register
from fhirplugin.rules.devices.data import FAMILY, SITE_MAP, site_decision
from fhirplugin.rules.templates import site


@register
class SiteDecidesCode(site.SiteDecidesCode):
    """A device placement code that does not fit the documented site, approach or diagnosis.

    What it checks:
        For lines coded 49411 or 49412 (claim lines, Procedures, orders): the SNOMED CT body site of the
        line or of its linked Procedure/order, and the documented approach (procedure-method /
        procedure-approach extensions). The ConceptMap ``device-site-to-cpt`` maps the site to a region
        and the region with the approach to the fitting code: prostate → 55876 (any approach); chest or
        lung → 32553 (percutaneous) or 31626 (bronchoscopic); abdomen, pelvis or retroperitoneum → 49411
        percutaneous, 49412 open, 49327 laparoscopic. With no mapped site, a diagnosis that places the
        target by itself decides when no diagnosis supports the billed code (C61 prostate cancer alone →
        55876); with neither, a documented approach is judged within the billed code's region (49411 with
        an open approach → 49412). Nothing documented, several approaches, or nothing the map decides: no
        finding.
    Why:
        49411 excludes the prostate and covers only percutaneous placement inside the abdomen, pelvis or
        retroperitoneum; the prostate, the chest and open or laparoscopic placement each have their own
        code. The wrong code is denied or pays the wrong amount.
    Example:
        ``49411`` with body site ``41216001`` (prostate), or pointing only to ``C61`` → ``55876``;
        ``49411`` with body site ``39607008`` (lung) → ``32553``; ``49411`` documented with an open
        approach → ``49412``.
    Fix:
        Replace the code with the one the site and approach call for (a single expected code comes with a
        replace-code fix), or correct the documented site, approach or diagnosis if it is wrong.
    Source:
        CPT code descriptors of 49411, 49412, 55876 (prostate), 32553 (intrathoracic) and 31626
        (endobronchial), and the 49327 (laparoscopic) cross-reference; ICD-10-CM C61 for prostate
        targets; SNOMED CT body structures; the CPT 49411 code page. Site mappings marked unverified in
        the ConceptMap make the finding unverified.
    """

    id = "DEV002"
    name = "devices.site-decides-code"
    family = "devices"
    data = FAMILY
    decide = staticmethod(site_decision)
    diagnostics = (
        f"ConceptMap {SITE_MAP.rsplit('/', 1)[-1]}. {{reasons}}. Documented at: {{where}}. "
        "Scope of {code}: {source}."
    )
