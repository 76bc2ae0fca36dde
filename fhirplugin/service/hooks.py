"""The CDS Hooks services fhirplugin offers (discovery entries) and the charge-entry hook definition."""

from __future__ import annotations

from dataclasses import dataclass, field

CHARGE_ENTRY_HOOK = "dev.fhirplugin.charge-entry"
CHARGE_ENTRY_HOOK_VERSION = "1.0"


@dataclass(frozen=True, slots=True)
class Service:
    id: str
    hook: str
    title: str
    description: str
    context_key: str  # the context field holding the Bundle to check
    prefetch: dict[str, str] = field(default_factory=dict)
    usage: str | None = None

    def discovery(self) -> dict:
        out: dict = {"hook": self.hook, "title": self.title, "description": self.description, "id": self.id}
        if self.prefetch:
            out["prefetch"] = dict(self.prefetch)
        if self.usage:
            out["usageRequirements"] = self.usage
        return out


_ORDER_PREFETCH = {
    # reasonReference targets of the orders (supporting diagnoses)
    "conditions": "Condition?patient={{context.patientId}}",
}
_CHARGE_PREFETCH = {
    # the encounter's Procedures (body site, approach, devices, guidance) and diagnoses
    "procedures": "Procedure?patient={{context.patientId}}&encounter={{context.encounterId}}",
    "conditions": "Condition?patient={{context.patientId}}&encounter={{context.encounterId}}",
}

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
            id=CHARGE_ENTRY_HOOK,
            hook=CHARGE_ENTRY_HOOK,
            title="CPT coding check at charge entry",
            description=(
                "Checks draft Claims or ChargeItems (with the Procedures, orders, Conditions and reports they "
                "reference) against CPT coding rules, NCCI procedure-to-procedure edits and MUE limits."
            ),
            context_key="draftClaims",
            prefetch=_CHARGE_PREFETCH,
            usage="The CDS client sends context.draftClaims, a Bundle holding the draft Claim(s) or ChargeItem(s).",
        ),
    )
}
