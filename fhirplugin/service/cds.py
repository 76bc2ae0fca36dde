"""One CDS Hooks call: read the request leniently, gather the data, run the engine, answer cards.

Data the rules need (resources the draft Claims and orders reference) comes from the hook context,
then from ``prefetch``, then from ``fhirServer`` with the ``fhirAuthorization`` token; when none of
these has it the call ends in 412 with an OperationOutcome naming what is missing.

Three kinds of service (``Service.source``): a context Bundle to check (order-sign, order-select,
charge-entry); the orders a context field names, from prefetch or fhirServer (order-dispatch); the
encounter's Procedures, ChargeItems and Claims, from prefetch keys or searches on fhirServer
(encounter-discharge).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fhirplugin.fhir.extract.index import LINKED_TYPES
from fhirplugin.findings import Finding
from fhirplugin.jsontypes import JSONObject, JSONValue
from fhirplugin.outcome import issue as oo_issue
from fhirplugin.service import cards, logsafe
from fhirplugin.service.errors import ServiceError
from fhirplugin.service.fixes import entry_index, locate
from fhirplugin.service.hooks import (
    CHARGE_ENTRY_HOOK,
    CONFIG_KEY,
    ENCOUNTER_CHECKED,
    ENCOUNTER_SEARCHES,
    NO_PROBLEMS_CARD,
    Service,
)
from fhirplugin.systems import PROCEDURE_SYSTEMS

if TYPE_CHECKING:
    from fhirplugin.config import ServiceSettings
    from fhirplugin.engine import Engine
    from fhirplugin.service.fhirclient import FhirClient

log = logging.getLogger("fhirplugin.service")

# resource types whose content the rules read when a checked resource references them (the reader's)
FOLLOW_TYPES = LINKED_TYPES
# resource types the case model reads when they are at hand (the patient's gender and birth date, a
# facility's place of service, the encounter), but whose absence stops no rule: read from the context,
# prefetch (``patient``: ``Patient/{{context.patientId}}``) or fhirServer after the required data, never a 412
OPTIONAL_TYPES = frozenset({"Patient", "Location", "Encounter"})
_REL = re.compile(r"^(?:(https?://.+)/)?([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


def _clean(value: JSONValue) -> JSONValue:
    """Lenient reading: ``null`` means absent (the spec forbids it, real clients send it)."""
    if isinstance(value, dict):
        return _clean_object(value)
    if isinstance(value, list):
        return [_clean(v) for v in value if v is not None]
    return value


def _clean_object(value: JSONObject) -> JSONObject:
    return {k: _clean(v) for k, v in value.items() if v is not None}


@dataclass(slots=True)
class Request:
    hook: str
    hook_instance: str
    context: dict
    prefetch: dict
    fhir_server: str | None
    access_token: str | None
    extension: dict = field(default_factory=dict)

    def option(self, code: str) -> bool:
        """A boolean CRD configuration option the client set (``extension["davinci-crd.configuration"]``)."""
        conf = self.extension.get(CONFIG_KEY)
        return isinstance(conf, dict) and conf.get(code) is True


def _text(body: JSONObject, name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ServiceError(400, f"The request has no {name} (a non-empty string is required).", expression=name)
    return value


def parse_request(body: JSONValue, service: Service) -> Request:
    if not isinstance(body, dict):
        raise ServiceError(400, "The CDS Hooks request must be a JSON object.", expression="request")
    body = _clean_object(body)
    hook, hook_instance = _text(body, "hook"), _text(body, "hookInstance")
    if hook != service.hook:
        raise ServiceError(
            400,
            f"Service {service.id} answers the {service.hook} hook, not {hook}.",
            expression="hook",
        )
    context = body.get("context")
    if not isinstance(context, dict):
        raise ServiceError(400, "The request has no context object.", expression="context")
    prefetch = body.get("prefetch") or {}
    if not isinstance(prefetch, dict):
        raise ServiceError(400, "prefetch must be a JSON object of prefetch keys.", expression="prefetch")
    auth = body.get("fhirAuthorization")
    server = body.get("fhirServer")
    if auth is not None and not isinstance(auth, dict):
        raise ServiceError(400, "fhirAuthorization must be an object.", expression="fhirAuthorization")
    if auth and not server:
        raise ServiceError(
            400, "fhirAuthorization is given without fhirServer (CDS Hooks cds-r-1).", expression="fhirServer"
        )
    if server is not None and (not isinstance(server, str) or not server.startswith(("http://", "https://"))):
        raise ServiceError(400, "fhirServer must be an http(s) URL.", expression="fhirServer")
    if server is not None:
        from fhirplugin.service.fhirclient import base_problem

        problem = base_problem(server)
        if problem:
            raise ServiceError(400, problem, expression="fhirServer")
    token = auth.get("access_token") if auth else None
    if auth and not isinstance(token, str):
        raise ServiceError(
            400, "fhirAuthorization has no access_token.", expression="fhirAuthorization.access_token"
        )
    ext = body.get("extension")
    if ext is not None and not isinstance(ext, dict):
        raise ServiceError(400, "extension must be a JSON object.", expression="extension")
    return Request(
        hook,
        hook_instance,
        context,
        prefetch,
        server,
        token if isinstance(token, str) else None,
        ext or {},
    )


def _bundle(context: dict, key: str) -> dict:
    b = context.get(key)
    if not isinstance(b, dict) or b.get("resourceType") != "Bundle":
        raise ServiceError(400, f"context.{key} must be a FHIR Bundle.", expression=f"context.{key}")
    entries = b.get("entry") or []
    if not isinstance(entries, list):
        raise ServiceError(400, f"context.{key}.entry must be an array.", expression=f"context.{key}.entry")
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("resource"), dict):
            raise ServiceError(
                400,
                f"context.{key}.entry[{i}] has no resource object.",
                expression=f"context.{key}.entry[{i}].resource",
            )
    return b


def order_kind(resource: dict) -> bool | None:
    """A ServiceRequest with a CPT/HCPCS coding: True; without one: False; None when its code is not a
    CodeableConcept with a coding array (mistyped, so it cannot tell, and is checked as a draft)."""
    if resource.get("resourceType") != "ServiceRequest":
        return False
    code = resource.get("code")
    if code is None:
        return False
    if isinstance(code, dict) and isinstance(code.get("concept"), dict):  # R5 CodeableReference
        code = code["concept"]
    if not isinstance(code, dict):
        return None
    codings = code.get("coding")
    if codings is None:
        return False
    if not isinstance(codings, list) or not all(isinstance(c, dict) for c in codings):
        return None
    return any(c.get("system") in PROCEDURE_SYSTEMS for c in codings)


def is_cpt_order(resource: dict) -> bool:
    return order_kind(resource) is True


def _ref_key(resource: dict) -> str | None:
    rtype, rid = resource.get("resourceType"), resource.get("id")
    return f"{rtype}/{rid}" if isinstance(rtype, str) and isinstance(rid, str) else None


def _references(value, out: list[str]) -> None:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            ref = v.get("reference")
            if isinstance(ref, str):
                out.append(ref)
            stack.extend(x for k, x in v.items() if k != "contained" and isinstance(x, dict | list))
        elif isinstance(v, list):
            stack.extend(x for x in v if isinstance(x, dict | list))


@dataclass(slots=True)
class Slot:
    resource: dict
    editable: bool
    origin: str  # "context" | "prefetch" | "fhirServer"
    context_index: int | None = None  # index in the context Bundle
    primary: bool = False  # one of the resources the hook checks (not data they reference)


@dataclass(slots=True)
class Gathered:
    slots: list[Slot] = field(default_factory=list)
    prefetch_outcomes: list[str] = field(default_factory=list)


def _prefetch_index(prefetch: dict, gathered: Gathered) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for key, value in prefetch.items():
        if not isinstance(value, dict):
            continue
        resources: list[JSONValue] = [value]
        if value.get("resourceType") == "Bundle":
            resources = [e.get("resource") for e in value.get("entry") or [] if isinstance(e, dict)]
        for r in resources:
            if not isinstance(r, dict):
                continue
            if r.get("resourceType") == "OperationOutcome":
                gathered.prefetch_outcomes.append(key)  # the client could not run this template
                continue
            k = _ref_key(r)
            if k:
                found.setdefault(k, r)
    return found


class _Fetcher:
    """Reads and searches on fhirServer for one call (the client, and with it the call's one deadline
    for all reads, is made on first use). Every read started counts toward ``fetch_max_reads``,
    failed ones included."""

    def __init__(self, req: Request, settings: ServiceSettings, allowed_servers: list[str] | None) -> None:
        self.req, self.settings, self.allowed = req, settings, allowed_servers
        self.client: FhirClient | None = None
        self.reads = 0  # reads started
        self.cap = max(0, settings.fetch_max_reads)

    @property
    def available(self) -> bool:
        return self.req.fhir_server is not None

    def _get(self) -> FhirClient:
        if self.client is None:
            self.client = _client(self.req, self.settings, self.allowed)
        return self.client

    def why_not(self) -> str | None:
        """Why no further read can start (None: one can)."""
        if not self.available:
            return "not in the request and no fhirServer"
        if self.reads >= self.cap:
            return f"over the {self.cap}-read limit"
        return None

    def read(self, key: str) -> dict | str | None:
        """The resource, why it could not be read (a failed read), or None when no read can start."""
        return self.read_many([key]).get(key) if self.why_not() is None else None

    def read_many(self, keys: list[str]) -> dict[str, dict | str]:
        """Each key's resource, or why it was not read; at most ``fetch_concurrency`` at once."""
        out: dict[str, dict | str] = {}
        todo: list[str] = []
        for key in keys:
            why = self.why_not()
            if why is None:
                self.reads += 1
                todo.append(key)
            else:
                out[key] = why
        if todo:
            for key, got in self._get().read_many(todo, concurrency=self.settings.fetch_concurrency).items():
                if isinstance(got, dict):
                    out[key] = got
                else:
                    log.info("fhirServer read failed for a %s: %s", key.split("/")[0], got.message)
                    out[key] = _why(got)
        return out

    def search(self, rtype: str, params: dict) -> list[dict] | None:
        if not self.available:
            return None
        try:
            return self._get().search(rtype, params)
        except Exception as exc:  # noqa: BLE001
            log.info("fhirServer search failed for %s: %s", rtype, type(exc).__name__)
            return None


def _why(exc) -> str:
    text = getattr(exc, "message", "") or str(exc)
    if "deadline" in text:
        return "not read within the deadline"
    status = getattr(exc, "status", None)
    if status:
        return f"HTTP {status}"
    return text.rstrip(".")[:120]


def check_json_types(resources: list[tuple[dict, str]], fhir_version: str) -> None:
    """422 naming every element whose JSON type is wrong (``code.coding: true``, ``item: 5``).

    The same structure check the CLI runs (fast path, then fhir.resources), so a draft with a mistyped
    element is refused before any of the service's own reading touches it. Other structural findings
    (a missing element, an unknown one, a bad date) are left to the engine and come back as cards.
    """
    from fhirplugin.fhir import structure

    issues: list[Finding] = []
    for resource, base in resources:
        for f in structure.validate_tree(resource, fhir_version, base):
            # STR001 of issue type "structure": an object, array or primitive where another belongs
            if f.rule_id == "STR004" or (f.rule_id == "STR001" and f.issue_type == "structure"):
                issues.append(f)
    if issues:
        first = issues[0]
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        raise ServiceError(
            422,
            f"{first.text}{more}",
            code="structure",
            expression=first.expression[0] if first.expression else None,
            diagnostics="; ".join(f"{i.expression[0]}: {i.text}" for i in issues[:20] if i.expression),
        )


def _draft_check(bundle: dict, key: str, slots: list[Slot]) -> None:
    """The JSON types of the drafts this call checks (CPT orders, Claims); other entries are ignored."""
    from fhirplugin.fhir import version

    check_json_types(
        [(s.resource, f"context.{key}.entry[{s.context_index}].resource") for s in slots],
        version.detect(bundle),
    )


def gather(
    req: Request, service: Service, settings: ServiceSettings, allowed_servers: list[str] | None
) -> Gathered:
    g = Gathered()
    fetcher = _Fetcher(req, settings, allowed_servers)
    have: set[str] = set()
    full_urls: set[str] = set()
    context_by_key: dict[str, dict] = {}
    missing: list[str] = []
    if service.source == "dispatch":
        pre = _prefetch_index(req.prefetch, g)
        _dispatch_slots(req, g, pre, fetcher, missing)
    elif service.source == "encounter":
        pre = _prefetch_index(req.prefetch, g)
        _encounter_slots(req, g, fetcher, missing)
    else:
        from fhirplugin.service import limits

        bundle = _bundle(req.context, service.context_key)
        entries = bundle.get("entry") or []
        limits.check_budget([e["resource"] for e in entries], settings, where=f"context.{service.context_key}")
        for i, e in enumerate(entries):
            r = e["resource"]
            if service.hook != CHARGE_ENTRY_HOOK and order_kind(r) is False:
                continue  # orders without a CPT code are not ours to check
            g.slots.append(Slot(r, True, "context", i, primary=True))
        for e in entries:  # every context resource can satisfy a reference, checked or not
            k = _ref_key(e["resource"])
            if k:
                have.add(k)
            if isinstance(e.get("fullUrl"), str):
                full_urls.add(e["fullUrl"])
        if not g.slots:
            return g
        _draft_check(bundle, service.context_key, g.slots)
        pre = _prefetch_index(req.prefetch, g)
        context_by_key = {k: e["resource"] for e in entries if (k := _ref_key(e["resource"]))}
    for s in g.slots:
        k = _ref_key(s.resource)
        if k:
            have.add(k)
    queue = [s.resource for s in g.slots]
    if service.hook == CHARGE_ENTRY_HOOK:  # Procedures of the encounter that share a claim line's code
        queue += _same_code_procedures(g.slots, pre)
    skipped: list[str] = []  # "Type/id (why)": not tried (no server, over the cap)
    optional_reads: list[str] = []  # OPTIONAL_TYPES references found in none of the request's data
    while queue:
        to_read: list[str] = []
        while queue:
            res = queue.pop(0)
            refs: list[str] = []
            _references(res, refs)
            for ref in refs:
                if ref in full_urls or ref.startswith(("#", "urn:")):
                    continue
                m = _REL.match(ref)
                if not m or (m.group(2) not in FOLLOW_TYPES and m.group(2) not in OPTIONAL_TYPES):
                    continue
                key = f"{m.group(2)}/{m.group(3)}"
                if key in have:
                    if key in context_by_key and not any(s.resource is context_by_key[key] for s in g.slots):
                        # a non-checked context entry (e.g. a non-CPT order) that a checked one references
                        g.slots.append(Slot(context_by_key[key], False, "context", None))
                    continue
                have.add(key)
                optional = m.group(2) in OPTIONAL_TYPES
                if key in pre:
                    g.slots.append(Slot(pre[key], False, "prefetch"))
                    if not optional:  # what a Patient or Location references is not read
                        queue.append(pre[key])
                    continue
                (optional_reads if optional else to_read).append(key)
        if not to_read:
            break
        # the references this round found, read together (concurrently, within the call's deadline)
        for key, got in fetcher.read_many(to_read).items():
            if isinstance(got, dict):
                g.slots.append(Slot(got, False, "fhirServer"))
                queue.append(got)
            elif got.startswith(("not in the request", "over the")):
                skipped.append(f"{key} ({got})")
            else:
                missing.append(f"{key} ({got})")
    missing += skipped
    if missing:
        _fail_412(missing)
    _read_optional(optional_reads, fetcher, g)
    return g


def _read_optional(keys: list[str], fetcher: _Fetcher, g: Gathered) -> None:
    """Read what the rules use when present (the Patient, a Location, the Encounter) from fhirServer,
    after the required data and within the same deadline and cap; a failed read is left out."""
    if not keys or fetcher.why_not() is not None:
        return
    for key, got in fetcher.read_many(keys).items():
        if isinstance(got, dict) and got.get("resourceType") == key.split("/", 1)[0]:
            g.slots.append(Slot(got, False, "fhirServer"))


def _fail_412(missing: list[str]) -> None:
    if missing:
        raise ServiceError(
            412,
            "Data the coding rules need was neither in the request, nor prefetched, nor readable from "
            f"fhirServer: {', '.join(missing[:10])}{' …' if len(missing) > 10 else ''}.",
            code="processing",
            diagnostics="Send it in the hook context or prefetch, or give fhirServer and fhirAuthorization.",
        )


def _reference_list(context: dict, names: tuple[str, ...]) -> tuple[str, list]:
    """The first of ``names`` present in the context, as a list (a single string is one item)."""
    for name in names:
        if name in context:
            v = context[name]
            return name, list(v) if isinstance(v, list) else [v]
    return names[0], []


def _dispatch_slots(req: Request, g: Gathered, pre: dict, fetcher: _Fetcher, missing: list[str]) -> None:
    """order-dispatch: the orders named by dispatchedOrders (1.1), dispatched-orders or order (1.0),
    and by the focus of the fulfillment Tasks; read from prefetch, else from fhirServer."""
    name, refs = _reference_list(req.context, ("dispatchedOrders", "dispatched-orders", "order"))
    _, tasks = _reference_list(req.context, ("fulfillmentTasks", "fulfillment-tasks", "task"))
    for i, ref in enumerate(refs):
        if not isinstance(ref, str) or not _REL.match(ref):
            where = f"context.{name}[{i}]" if isinstance(req.context.get(name), list) else f"context.{name}"
            raise ServiceError(
                400, f"{where} must be a reference such as ServiceRequest/123.", expression=where
            )
    for t in tasks:
        focus = t.get("focus") if isinstance(t, dict) else None
        if isinstance(focus, dict) and isinstance(focus.get("reference"), str):
            refs.append(focus["reference"])
    if not refs:
        raise ServiceError(
            400,
            "The order-dispatch context names no order (dispatchedOrders, dispatched-orders or order).",
            expression="context.dispatchedOrders",
        )
    seen: set[str] = set()
    for ref in refs:
        m = _REL.match(ref)
        if not m or m.group(2) != "ServiceRequest":
            continue  # medication, device … orders: no CPT coding to check
        key = f"{m.group(2)}/{m.group(3)}"
        if key in seen:
            continue
        seen.add(key)
        origin, r = "prefetch", pre.get(key)
        if r is None:
            got = fetcher.read(key)
            if isinstance(got, str):  # fhirServer could not give it: say why
                missing.append(f"{key} ({got})")
                continue
            origin, r = "fhirServer", got
        if r is None:
            missing.append(key)
        elif is_cpt_order(r):
            g.slots.append(Slot(r, False, origin, primary=True))


def _fill(template: str, context: dict) -> dict | None:
    """``patient={{context.patientId}}&encounter=…`` → search parameters; None when a token is unset."""
    params = {}
    for part in template.split("&"):
        k, _, v = part.partition("=")
        m = re.fullmatch(r"\{\{context\.(\w+)\}\}", v)
        if m:
            value = context.get(m.group(1))
            if not isinstance(value, str) or not value:
                return None
            v = value
        params[k] = v
    return params


def _of_encounter(r: dict, encounter_id: str) -> bool:
    """False only when the resource names an encounter, and not this one."""
    refs: list[str] = []
    for key in ("encounter", "context"):
        v = r.get(key)
        if isinstance(v, dict) and isinstance(v.get("reference"), str):
            refs.append(v["reference"])
    if r.get("resourceType") == "Claim":
        items = r.get("item")
        for item in items if isinstance(items, list) else []:
            encounters = item.get("encounter") if isinstance(item, dict) else None
            for e in encounters if isinstance(encounters, list) else []:
                if isinstance(e, dict) and isinstance(e.get("reference"), str):
                    refs.append(e["reference"])
    return not refs or any(x.split("/_history")[0].endswith(f"Encounter/{encounter_id}") for x in refs)


def _encounter_slots(req: Request, g: Gathered, fetcher: _Fetcher, missing: list[str]) -> None:
    """encounter-discharge: the Procedures, ChargeItems and Claims of the encounter."""
    for name in ("patientId", "encounterId"):
        if not isinstance(req.context.get(name), str) or not req.context[name]:
            raise ServiceError(400, f"context.{name} is required (a FHIR id).", expression=f"context.{name}")
    encounter_id = req.context["encounterId"]
    for key in ENCOUNTER_CHECKED:
        rtype, template = ENCOUNTER_SEARCHES[key]
        value = req.prefetch.get(key)
        resources: list | None = None
        origin = "prefetch"
        if isinstance(value, dict) and value.get("resourceType") != "OperationOutcome":
            if value.get("resourceType") == "Bundle":
                resources = [e.get("resource") for e in value.get("entry") or [] if isinstance(e, dict)]
            else:
                resources = [value]
        else:
            params = _fill(template, req.context)
            origin = "fhirServer"
            resources = fetcher.search(rtype, params) if params is not None else None
        if resources is None:
            missing.append(f"prefetch {key} ({rtype}?{template})")
            continue
        for r in resources:
            if isinstance(r, dict) and r.get("resourceType") == rtype and _of_encounter(r, encounter_id):
                editable = rtype == "Claim" and r.get("status") == "draft"
                g.slots.append(Slot(r, editable, origin, primary=True))


def _items(value) -> list:
    return value if isinstance(value, list) else []


def _same_code_procedures(slots: list[Slot], pre: dict[str, dict]) -> list[dict]:
    codes: set[str] = set()
    for s in slots:
        rtype = s.resource.get("resourceType")
        if rtype in ("Claim", "ExplanationOfBenefit"):
            items = s.resource.get("item")
            ccs = [
                item.get("productOrService")
                for item in (items if isinstance(items, list) else [])
                if isinstance(item, dict)
            ]
        elif rtype == "ChargeItem":  # charge capture in EHRs is ChargeItem-shaped
            ccs = [s.resource.get("code")]
        else:
            continue
        for cc in ccs:
            codings = cc.get("coding") if isinstance(cc, dict) else None
            for c in codings if isinstance(codings, list) else []:
                if (
                    isinstance(c, dict)
                    and c.get("system") in PROCEDURE_SYSTEMS
                    and isinstance(c.get("code"), str)
                ):
                    codes.add(c["code"])
    out = []
    for r in pre.values():
        if r.get("resourceType") != "Procedure":
            continue
        code = r.get("code")
        codings = code.get("coding") if isinstance(code, dict) else None
        if any(isinstance(c, dict) and c.get("code") in codes for c in _items(codings)):
            out.append(r)
    return out


def _client(req: Request, settings: ServiceSettings, allowed_servers: list[str] | None) -> FhirClient:
    from fhirplugin.service.fhirclient import Deadline, FhirClient

    if req.fhir_server is None:  # _Fetcher reads only when it is available
        raise ValueError("no fhirServer to read from")
    return FhirClient(
        req.fhir_server,
        req.access_token,
        timeout=settings.fetch_timeout,
        max_bytes=settings.fetch_max_bytes,
        allowed_servers=allowed_servers,
        deadline=Deadline(settings.fetch_deadline),  # from the first read, for all of them together
    )


def run(
    engine: Engine,
    body: JSONValue,
    service: Service,
    settings: ServiceSettings,
    *,
    allowed_servers: list[str] | None = None,
    base_url: str | None = None,
) -> dict:
    """Answer one hook call; the patient id and access token are redacted from any log line meanwhile.

    ``base_url``: the service's public base URL, for the cards' links to the rule pages.
    """
    secrets: list[str] = []
    if isinstance(body, dict):
        context = c if isinstance(c := body.get("context"), dict) else {}
        auth = a if isinstance(a := body.get("fhirAuthorization"), dict) else {}
        secrets = [
            v
            for v in (context.get("patientId"), auth.get("access_token"), auth.get("patient"))
            if isinstance(v, str)
        ]
    with logsafe.sensitive(*secrets):
        return _run(engine, body, service, settings, allowed_servers=allowed_servers, base_url=base_url)


def _run(
    engine: Engine,
    body: JSONValue,
    service: Service,
    settings: ServiceSettings,
    *,
    allowed_servers: list[str] | None = None,
    base_url: str | None = None,
) -> dict:
    req = parse_request(body, service)
    g = gather(req, service, settings, allowed_servers)
    if not g.slots:
        if req.option(NO_PROBLEMS_CARD):
            return {"cards": [cards.no_problems_card([], hook_instance=req.hook_instance, base_url=base_url)]}
        return {"cards": []}
    bundle: JSONObject = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": s.resource} for s in g.slots],
    }
    result = engine.check_object(bundle)
    focus = _focus(req, service, g)
    key = service.context_key

    def resolve(expression: str):
        segs: list[tuple[str, int | None]] | None
        try:
            idx, segs = locate(expression)
        except ValueError:  # an element name no path segment holds (unknown, not a FHIR name): no fix
            idx, segs = entry_index(expression), None
        if idx is None or idx >= len(g.slots):
            return expression, None, None, None
        s = g.slots[idx]
        rest = expression.split(".resource", 1)[1] if ".resource" in expression else ""
        target = cards.Target(s.resource, s.editable, _ref_key(s.resource) or f"{key} entry")
        if s.context_index is not None:
            return (
                f"Bundle.entry[{s.context_index}].resource{rest}",
                target,
                segs,
                f"{_ref_key(s.resource) or s.resource.get('resourceType')} (context.{key}.entry[{s.context_index}])",
            )
        rtype = s.resource.get("resourceType", "Resource")
        return f"{rtype}{rest}", target, segs, f"{_ref_key(s.resource) or rtype} (from {s.origin})"

    kept: list[Finding] = []
    for f in result.findings:
        if f.rule_id in ("INP008",):
            continue
        idx = entry_index(f.expression[0]) if f.expression else None
        if focus is not None and idx is not None and idx < len(g.slots) and idx not in focus:
            continue
        kept.append(f)
    response: dict = {
        "cards": cards.cards_for(kept, hook_instance=req.hook_instance, resolve=resolve, base_url=base_url)
    }
    if not response["cards"] and req.option(NO_PROBLEMS_CARD):
        checked = [_ref_key(s.resource) or str(s.resource.get("resourceType")) for s in g.slots if s.primary]
        response["cards"] = [
            cards.no_problems_card(checked, hook_instance=req.hook_instance, base_url=base_url)
        ]
    issues = []
    for f in kept:
        iss = oo_issue(f)
        if f.expression:
            iss["expression"] = [resolve(e)[0] for e in f.expression]
        issues.append(iss)
    if not issues:
        issues = [
            {"severity": "information", "code": "informational", "details": {"text": "No problems found."}}
        ]
    if g.prefetch_outcomes:
        issues.append(
            {
                "severity": "information",
                "code": "informational",
                "details": {
                    "text": f"Prefetch keys answered with an OperationOutcome: {', '.join(g.prefetch_outcomes)}."
                },
            }
        )
    response["extension"] = {cards.EXT_OUTCOME: {"resourceType": "OperationOutcome", "issue": issues}}
    return response


def _focus(req: Request, service: Service, g: Gathered) -> set[int] | None:
    """order-select: the slot indexes of the selected orders (and of non-context data)."""
    if service.hook != "order-select":
        return None
    selections = req.context.get("selections")
    if not isinstance(selections, list) or not selections:
        return None
    chosen = {s for s in selections if isinstance(s, str)}
    return {i for i, s in enumerate(g.slots) if s.context_index is None or (_ref_key(s.resource) in chosen)}
