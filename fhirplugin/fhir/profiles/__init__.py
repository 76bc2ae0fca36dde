"""Check resources against the fhirplugin profiles (StructureDefinitions under ``profiles/``).

The checker reads the *differential* of each StructureDefinition and applies, element by element:

* ``min`` / ``max`` cardinality (per occurrence of the parent element);
* the allowed types of a choice element (``value[x]``, ``quantity[x]``);
* ``fixed[x]`` (exact value) and ``pattern[x]`` (the value must contain the pattern);
* ``minValue[x]`` / ``maxValue[x]`` on numbers;
* ``required`` bindings: through the terminology's ValueSets (``terminology/valuesets``) or the
  profiles' own (``profiles/valuesets``). A ValueSet made only of whole external code systems (CPT,
  HCPCS) is checked by code system only: whether the code exists is a coding rule's job;
* slices told apart by ``value``/``pattern`` discriminators (extension ``url``, coding ``system``...),
  with their own cardinality; ``rules: closed`` refuses values that fit no slice;
* an extension slice whose type names one of our extension definitions also gets that definition's
  constraints (value type, binding, ``Extension.extension`` max 0...).

Nothing is specific to one profile: the constraints come from the JSON files. Resource profiles are
kept per FHIR version (``profiles/*.json`` R4, ``profiles/r5/*.json`` R5; R4B inputs use the R4
ones); extension definitions (``profiles/extensions``) serve every version.

Entry points: :func:`profile_claims` (which profiles ``meta.profile`` names and whether we hold them)
and :func:`check_resource` (the violated constraints, each with the FHIRPath of the element at fault,
0-based indexes). A broken profile file raises :class:`ProfileDataError` naming it, at load time.

The package: :mod:`.model` (what a compiled profile and a violation are), :mod:`.compile` (reading a
StructureDefinition file into the element tree), :mod:`.registry` (the profiles and extensions by
url, and the built-in set), :mod:`.checker` (walking a resource against one profile).
"""

from fhirplugin.fhir.profiles.model import (
    PROFILE_BASE,
    ProfileClaim,
    ProfileDataError,
    StructureDef,
    Violation,
)
from fhirplugin.fhir.profiles.registry import ProfileRegistry, check_resource, profile_claims

__all__ = [
    "PROFILE_BASE",
    "ProfileClaim",
    "ProfileDataError",
    "ProfileRegistry",
    "StructureDef",
    "Violation",
    "check_resource",
    "profile_claims",
]
