"""The CDS Hooks services fhirplugin offers (discovery entries) and the charge-entry hook definition.

Each service names where its resources come from (``source``): a Bundle in the context
(``draftOrders``, ``draftClaims``), the orders a context field references (order-dispatch), or the
encounter's resources from prefetch or the FHIR server (encounter-discharge).
"""

from __future__ import annotations

from dataclasses import dataclass, field

CHARGE_ENTRY_HOOK = "dev.fhirplugin.charge-entry"
CHARGE_ENTRY_HOOK_VERSION = "1.0"

# Da Vinci CRD client configuration (CRD 2.0.1 §Configuration options): discovery offers the options in
# extension["davinci-crd.configuration-options"], a request sets them in extension["davinci-crd.configuration"]
CONFIG_OPTIONS_KEY = "davinci-crd.configuration-options"
CONFIG_KEY = "davinci-crd.configuration"
NO_PROBLEMS_CARD = "no-problems-card"
CONFIG_OPTIONS = [
    {
        "code": NO_PROBLEMS_CARD,
        "type": "boolean",
        "name": "Card when no problems are found",
        "description": (
            "Send one information card saying what was checked when no coding problem is found "
            "(by default a clean request answers with no card)."
        ),
        "default": False,
    }
]


@dataclass(frozen=True, slots=True)
class Service:
    id: str
    hook: str
    title: str
    description: str
    context_key: str  # the context field holding the Bundle to check, or naming the orders to check
    prefetch: dict[str, str] = field(default_factory=dict)
    usage: str | None = None
    source: str = "bundle"  # "bundle" | "dispatch" | "encounter"

    def discovery(self) -> dict:
        out: dict = {"hook": self.hook, "title": self.title, "description": self.description, "id": self.id}
        if self.prefetch:
            out["prefetch"] = dict(self.prefetch)
        if self.usage:
            out["usageRequirements"] = self.usage
        out["extension"] = {CONFIG_OPTIONS_KEY: [dict(o) for o in CONFIG_OPTIONS]}
        return out


# the patient (gender and birth date: the sex edit GEN008); optional, read from fhirServer when absent
_PATIENT_PREFETCH = {"patient": "Patient/{{context.patientId}}"}
_ORDER_PREFETCH = {
    **_PATIENT_PREFETCH,
    # reasonReference targets of the orders (supporting diagnoses)
    "conditions": "Condition?patient={{context.patientId}}",
}
_CHARGE_PREFETCH = {
    **_PATIENT_PREFETCH,
    # the encounter's Procedures (body site, approach, devices, guidance) and diagnoses
    "procedures": "Procedure?patient={{context.patientId}}&encounter={{context.encounterId}}",
    "conditions": "Condition?patient={{context.patientId}}&encounter={{context.encounterId}}",
}

_DISPATCH_PREFETCH = {
    **_PATIENT_PREFETCH,
    # the patient's active orders: the dispatched ones are among them
    "orders": "ServiceRequest?patient={{context.patientId}}&status=active",
    "conditions": "Condition?patient={{context.patientId}}",
}
# encounter-discharge: which prefetch key holds which resource type, and the search that fills it
_ENC = "patient={{context.patientId}}"
ENCOUNTER_SEARCHES: dict[str, tuple[str, str]] = {
    # key: (resource type, search parameters); the first three are what the hook checks
    "procedures": ("Procedure", _ENC + "&encounter={{context.encounterId}}"),
    "chargeItems": ("ChargeItem", _ENC + "&context={{context.encounterId}}"),
    "claims": ("Claim", _ENC + "&encounter={{context.encounterId}}"),
    "conditions": ("Condition", _ENC + "&encounter={{context.encounterId}}"),
    "reports": ("DiagnosticReport", _ENC + "&encounter={{context.encounterId}}"),
    "imaging": ("ImagingStudy", _ENC + "&encounter={{context.encounterId}}"),
    "devices": ("Device", _ENC),
}
ENCOUNTER_CHECKED = ("procedures", "chargeItems", "claims")
_DISCHARGE_PREFETCH = {**_PATIENT_PREFETCH, **{k: f"{t}?{q}" for k, (t, q) in ENCOUNTER_SEARCHES.items()}}

SERVICES: dict[str, Service] = {
    s.id: s
    for s in (
        Service(
            id="fhirplugin-order-sign",
            hook="order-sign",
            title="CPT coding check at order signing",
            description=(
                "Checks CPT-coded ServiceRequests in draftOrders against CPT coding rules (code choice "
                "for site and approach, bundled imaging guidance, units) before the order is signed."
            ),
            context_key="draftOrders",
            prefetch=_ORDER_PREFETCH,
        ),
        Service(
            id="fhirplugin-order-select",
            hook="order-select",
            title="CPT coding check when an order is selected",
            description=(
                "Checks the selected CPT-coded ServiceRequests in draftOrders against CPT coding rules; "
                "the other draft orders are context (e.g. a bundled imaging-guidance order)."
            ),
            context_key="draftOrders",
            prefetch=_ORDER_PREFETCH,
        ),
        Service(
            id="fhirplugin-order-dispatch",
            hook="order-dispatch",
            title="CPT coding check when an order is dispatched to a performer",
            description=(
                "Runs the order checks on the CPT-coded ServiceRequests named in dispatchedOrders (or the "
                "1.0 field order, or fulfillment Task focus) when they are sent to a performer."
            ),
            context_key="dispatchedOrders",
            prefetch=_DISPATCH_PREFETCH,
            usage=(
                "The orders come from prefetch (any key holding them) or are read from fhirServer; "
                "dispatchedOrders, dispatched-orders and order (hook versions 1.0 and 1.1) are all read."
            ),
            source="dispatch",
        ),
        Service(
            id="fhirplugin-encounter-discharge",
            hook="encounter-discharge",
            title="CPT coding check of an encounter's charges at discharge",
            description=(
                "Checks the encounter's Procedures, ChargeItems and draft Claims (from prefetch or the "
                "FHIR server) against CPT coding rules, NCCI edits and MUE limits, with a card for "
                "every finding."
            ),
            context_key="encounterId",
            prefetch=_DISCHARGE_PREFETCH,
            usage=(
                "Prefetch procedures, chargeItems and claims (or give fhirServer and fhirAuthorization); "
                "without them the call answers 412."
            ),
            source="encounter",
        ),
        Service(
            id=CHARGE_ENTRY_HOOK,
            hook=CHARGE_ENTRY_HOOK,
            title="CPT coding check at charge entry",
            description=(
                "Checks draft Claims or ChargeItems (with the Procedures, orders, Conditions and reports they "
                "reference) against CPT coding rules, NCCI procedure-to-procedure edits and MUE limits."
            ),
            context_key="draftClaims",
            prefetch=_CHARGE_PREFETCH,
            usage=(
                "The CDS client sends context.draftClaims, a Bundle holding the draft Claim(s) or "
                "ChargeItem(s) and the resources they reference."
            ),
        ),
    )
}
