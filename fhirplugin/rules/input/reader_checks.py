"""Findings the reader produces (bad JSON, unknown types, structure errors).

They are registered as rules so that ids are stable, documented (``fhirplugin rules INP001``) and can be
selected, ignored or re-graded like any other rule. Their ``check`` yields nothing: the engine and
:mod:`fhirplugin.fhir.structure` emit them while reading.
"""

from __future__ import annotations

from collections.abc import Iterator

from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import Rule, RuleContext, register


class ReaderCheck(Rule):
    family = "input"

    runs = False

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        return iter(())


@register
class NotJson(ReaderCheck):
    """The input is not valid JSON.

    What it checks:
        Each file, HTTP body or NDJSON line parses as JSON.
    Why:
        Nothing can be checked in text that is not JSON; the decoder's message says where it broke.
    Example:
        ``{"resourceType": "Claim",`` (cut off).
    Fix:
        Send well-formed JSON (one resource per line for NDJSON).
    Source:
        RFC 8259; FHIR JSON format.
    """

    id = "INP001"
    name = "input.not-json"
    severity = Severity.FATAL
    issue_type = "structure"


@register
class NotFhir(ReaderCheck):
    """The JSON is not a FHIR resource of this version.

    What it checks:
        The object has a ``resourceType`` that names a resource type of the FHIR version in use.
    Why:
        Without a known resource type there is no definition to check the content against.
    Example:
        ``{"resourceType": "Claimz"}`` or an object without ``resourceType``.
    Fix:
        Send a FHIR resource; check the spelling of ``resourceType`` and the FHIR version.
    Source:
        FHIR JSON representation (resourceType is required).
    """

    id = "INP002"
    name = "input.not-fhir"
    issue_type = "structure"


@register
class UnsupportedType(ReaderCheck):
    """A resource type that carries no codes fhirplugin checks was submitted at the top level.

    What it checks:
        The top-level resource is a Claim, ExplanationOfBenefit, ChargeItem, Procedure, ServiceRequest,
        Bundle, or Parameters wrapping one. Any other FHIR resource (ClaimResponse, Patient, Coverage...)
        gets this one information issue: nothing in it was code-checked.
    Why:
        Coding rules read claims, paid claims, charges, procedures and orders; other resources only matter
        as references inside a Bundle. Saying so plainly avoids a silent "no problems".
    Example:
        A lone ``ClaimResponse`` or ``Patient`` resource.
    Fix:
        Nothing, if the resource was sent on purpose; otherwise submit the Claim, EOB, ChargeItem,
        Procedure or ServiceRequest, or a Bundle that holds them and what they reference.
    Source:
        fhirplugin contract (CLI and $validate inputs).
    """

    id = "INP003"
    name = "input.unsupported-type"
    severity = Severity.INFORMATION
    issue_type = "informational"


@register
class UnsupportedVersion(ReaderCheck):
    """The content is FHIR STU3 or DSTU2, which fhirplugin does not check.

    What it checks:
        The detected FHIR version (from ``meta.profile`` and from elements only STU3 defines, such as
        ``Claim.organization`` or ``Procedure.notDone``) is R4, R4B or R5.
    Why:
        Checking STU3 content against R4 definitions would report every renamed element as an error;
        one plain "not supported" says what is wrong.
    Example:
        An STU3 Claim with ``organization`` and ``item.service``.
    Fix:
        Convert the content to R4 or R5, or give ``--fhir-version`` when the detection is wrong.
    Source:
        FHIR version history (STU3 3.0, R4 4.0, R4B 4.3, R5 5.0).
    """

    id = "INP009"
    name = "input.unsupported-version"
    issue_type = "not-supported"


@register
class VersionConflict(ReaderCheck):
    """The evidence of which FHIR version the content is disagrees.

    What it checks:
        ``meta.profile`` canonicals that name a version and the elements of every resource in the input
        (contained resources and Bundle entries included) point to one FHIR version.
    Why:
        A profile that says R4 on R5 content, or a Bundle that mixes R4 and R5 resources, would otherwise be
        checked silently against the wrong definitions; the issue says which version was used and why.
    Example:
        ``meta.profile`` ``http://hl7.org/fhir/R4/StructureDefinition/Claim`` on a Claim with R5's ``event``.
    Fix:
        Make the profile and the content agree, or give ``--fhir-version``.
    Source:
        FHIR Resource.meta.profile; FHIR version-specific resource definitions.
    """

    id = "INP010"
    name = "input.version-conflict"
    severity = Severity.INFORMATION
    issue_type = "informational"


@register
class TooLarge(ReaderCheck):
    """The input is too large or nested too deeply to be a FHIR resource.

    What it checks:
        One resource is at most ``max_resource_bytes`` (16 MiB by default) and nests JSON at most
        ``max_depth`` (64) levels.
    Why:
        Limits keep one hostile or broken input from exhausting memory or stack; no real claim comes near them.
    Example:
        A 50 MB single-line file, or ``[[[[…]]]]`` thousands deep.
    Fix:
        Split large inputs into NDJSON, one resource per line; raise ``FHIRPLUGIN_MAX_RESOURCE_BYTES`` if needed.
    Source:
        fhirplugin limits (OWASP input validation guidance).
    """

    id = "INP004"
    name = "input.too-large"
    severity = Severity.FATAL
    issue_type = "too-costly"


@register
class EmptyBundle(ReaderCheck):
    """The Bundle has no entries.

    What it checks:
        A submitted Bundle holds at least one entry.
    Why:
        An empty Bundle usually means the sender dropped the resources it meant to send.
    Example:
        ``{"resourceType": "Bundle", "type": "collection"}``.
    Fix:
        Put the Claim, Procedure or ServiceRequest (and what they reference) in ``Bundle.entry``.
    Source:
        fhirplugin contract.
    """

    id = "INP005"
    name = "input.empty-bundle"
    issue_type = "required"


@register
class NotObject(ReaderCheck):
    """The JSON value is not an object.

    What it checks:
        Each input (file, body, NDJSON line) is a JSON object.
    Why:
        A FHIR resource is a JSON object; arrays, strings and numbers are not resources.
    Example:
        ``[{"resourceType": "Claim"}]`` or ``42``.
    Fix:
        Send each resource as an object; wrap several in a Bundle or use NDJSON.
    Source:
        FHIR JSON representation.
    """

    id = "INP006"
    name = "input.not-object"
    severity = Severity.FATAL
    issue_type = "structure"


@register
class ParametersWithoutResource(ReaderCheck):
    """A Parameters resource was sent without a ``resource`` parameter.

    What it checks:
        ``Parameters.parameter`` has an entry named ``resource`` holding the resource to validate.
    Why:
        ``$validate`` takes the resource directly or in the ``resource`` parameter; without it nothing is checked.
    Example:
        ``{"resourceType": "Parameters", "parameter": [{"name": "mode", "valueCode": "create"}]}``.
    Fix:
        Add ``{"name": "resource", "resource": {…}}``.
    Source:
        FHIR Resource $validate operation definition.
    """

    id = "INP007"
    name = "input.parameters-without-resource"
    issue_type = "required"


@register
class NothingToCheck(ReaderCheck):
    """The input holds no Claim, ExplanationOfBenefit, ChargeItem, Procedure or ServiceRequest.

    What it checks:
        A Bundle or Parameters contains something the coding rules read.
    Why:
        Says plainly that no coding rule ran, rather than reporting a misleading "all OK".
    Example:
        A Bundle with only a Patient and a Coverage.
    Fix:
        Include the Claim, Procedure or ServiceRequest to check.
    Source:
        fhirplugin contract.
    """

    id = "INP008"
    name = "input.nothing-to-check"
    severity = Severity.INFORMATION
    issue_type = "informational"


@register
class InvalidValue(ReaderCheck):
    """An element has a value of the wrong type or format for FHIR.

    What it checks:
        Every element against the FHIR datatype definitions (via fhir.resources): numbers, dates, codes,
        CodeableConcepts, references.
    Why:
        A receiver rejects or misreads a resource that breaks the datatypes.
    Example:
        ``"quantity": {"value": "two"}`` or ``"productOrService": 49407``.
    Fix:
        Use the datatype the element is defined with (the message names it).
    Source:
        FHIR R4/R5 datatypes; fhir.resources models.
    """

    id = "STR001"
    name = "structure.invalid-value"
    issue_type = "value"


@register
class RequiredMissing(ReaderCheck):
    """A required element is missing.

    What it checks:
        Elements with minimum cardinality 1 in the FHIR version of the input.
    Why:
        A resource without its required elements is not valid FHIR (R4 Claim needs patient, provider,
        priority, insurance; R5 relaxed some of these).
    Example:
        A Claim without ``patient``; an item without ``sequence``.
    Fix:
        Add the element named in the message.
    Source:
        FHIR R4/R5 resource definitions.
    """

    id = "STR002"
    name = "structure.required-missing"
    issue_type = "required"


@register
class UnknownElement(ReaderCheck):
    """An element that FHIR does not define at that place.

    What it checks:
        Every JSON property is an element of the resource or datatype.
    Why:
        Unknown properties are data the receiver will drop or reject; often a misspelling or an R4/R5 mix-up.
    Example:
        ``"item": [{"productorService": …}]``.
    Fix:
        Correct the spelling, use the element of the right FHIR version, or move the data into an extension.
    Source:
        FHIR JSON representation (unknown elements are an error).
    """

    id = "STR003"
    name = "structure.unknown-element"
    issue_type = "structure"


@register
class Unparseable(ReaderCheck):
    """The resource could not be read at all.

    What it checks:
        That the FHIR model can be built from the content.
    Why:
        Some shapes break the parser itself (an unknown resourceType inside ``contained``); they are reported
        instead of crashing, and other resources in the input are still checked.
    Example:
        ``"contained": [{"resourceType": "Nope"}]``.
    Fix:
        Correct the resource at the location given.
    Source:
        FHIR JSON representation.
    """

    id = "STR004"
    name = "structure.unparseable"
    severity = Severity.FATAL
    issue_type = "structure"


@register
class LinkedDataMissing(ReaderCheck):
    """Rules could not check part of the input: the data they read is referenced but not included.

    What it checks:
        Every Procedure, Condition, ServiceRequest, DiagnosticReport, ImagingStudy, Device or
        DocumentReference that a submitted resource references is in the input, when a rule that
        would have run reads it.
    Why:
        A claim whose Procedures are missing cannot be checked for units against the documented
        collections, or for the code the documented site calls for; saying nothing would read as a
        clean result. The service answers 412 for the same gap.
    Example:
        A lone Claim for 49406 whose line points to Procedure/p1, sent without that Procedure.
    Fix:
        Send a Bundle holding the Claim and every resource it references (or use the CDS Hooks
        service, which reads them from prefetch or the FHIR server).
    Source:
        FHIR Bundle and Reference (resolving references inside a Bundle); CDS Hooks 2.0 prefetch.
    """

    id = "INP011"
    name = "input.linked-data-missing"
    severity = Severity.INFORMATION
    issue_type = "incomplete"
