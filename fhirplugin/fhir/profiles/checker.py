"""Walk one resource against one compiled profile: cardinality, choice types, fixed/pattern values,
numeric limits, required bindings and slices, each broken constraint a
:class:`~fhirplugin.fhir.profiles.model.Violation` with the FHIRPath of the element at fault."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fhirplugin.fhir.profiles.model import (
    Node,
    StructureDef,
    Violation,
    describe_value,
    dig,
    pattern_contains,
    typed_key,
)

if TYPE_CHECKING:
    from fhirplugin.fhir.profiles.registry import ProfileRegistry
    from fhirplugin.tx.store import Terminology

_NUMERIC_LIMITS = ("Integer", "Decimal", "PositiveInt", "UnsignedInt", "Integer64")
_CODE_TYPES = {"code", "string", "uri"}
_PRIMITIVES = {
    t.lower()
    for t in [
        "base64Binary",
        "boolean",
        "canonical",
        "code",
        "date",
        "dateTime",
        "decimal",
        "id",
        "instant",
        "integer",
        "integer64",
        "markdown",
        "oid",
        "positiveInt",
        "string",
        "time",
        "unsignedInt",
        "uri",
        "url",
        "uuid",
    ]
}


def _times(n: int) -> str:
    return f"{n} occurrence" + ("" if n == 1 else "s")


def _type_name(key: str, name: str, element: dict, value: Any) -> str:
    """The FHIR type of one value, lower-cased: from the choice suffix, the element's type, or its shape."""
    if name.endswith("[x]"):
        return key[len(name) - 3 :].lower()
    types = element.get("type") or []
    if len(types) == 1 and isinstance(types[0], dict) and types[0].get("code"):
        return str(types[0]["code"]).lower()
    if isinstance(value, str):
        return "code"
    if isinstance(value, dict):
        if "coding" in value or ("text" in value and len(value) == 1):
            return "codeableconcept"
        if "concept" in value or "reference" in value:
            return "codeablereference"
        if "system" in value or "code" in value:
            return "coding"
    return ""


class Checker:
    def __init__(self, reg: ProfileRegistry, sd: StructureDef, tx: Terminology | None) -> None:
        self.reg = reg
        self.sd = sd
        if tx is None:
            from fhirplugin.tx.store import default_terminology

            tx = default_terminology()
        self.tx_vs = tx.valuesets
        self.out: list[Violation] = []

    def run(self, resource: dict, base: str, claim_expr: str) -> list[Violation]:
        rtype = resource.get("resourceType")
        if rtype != self.sd.type:
            what = "extension definitions" if self.sd.type == "Extension" else f"{self.sd.type} resources"
            self._add(
                self.sd,
                self.sd.type,
                "resource-type",
                claim_expr,
                f"{base} is a {rtype} but names profile {self.sd.label}, which is for {what}; "
                "remove the profile or send the right resource.",
                "invalid",
            )
            return self.out
        self._walk(self.sd, self.sd.root, [(resource, base)])
        return self.out

    # -- helpers -------------------------------------------------------------------------------
    def _where(self, sd: StructureDef) -> str:
        if sd is self.sd:
            return f"profile {self.sd.label}"
        return f"extension {sd.label} (used by profile {self.sd.label})"

    def _add(self, sd: StructureDef, eid: str, constraint: str, expr: str, text: str, itype: str) -> None:
        self.out.append(Violation(self.sd.url, sd.url, eid, constraint, expr, text, itype))

    @staticmethod
    def _values(parent: dict, name: str, ppath: str) -> list[tuple[Any, str, str]]:
        """(value, path, key) of element ``name`` in ``parent``; lists give one entry per item."""
        if name.endswith("[x]"):
            prefix = name[:-3]
            keys = [k for k in parent if k.startswith(prefix) and k[len(prefix) : len(prefix) + 1].isupper()]
        else:
            keys = [name] if name in parent else []
            if not keys and f"_{name}" in parent:  # a primitive with only an id/extension
                return [(None, f"{ppath}.{name}", name)]
        out: list[tuple[Any, str, str]] = []
        for key in keys:
            value = parent[key]
            if isinstance(value, list):
                out.extend((v, f"{ppath}.{key}[{i}]", key) for i, v in enumerate(value))
            elif value is not None:
                out.append((value, f"{ppath}.{key}", key))
        return out

    # -- the walk ------------------------------------------------------------------------------
    def _walk(self, sd: StructureDef, node: Node, instances: list[tuple[Any, str]]) -> None:
        for name, base, slices in node.groups():
            for parent, ppath in instances:
                if not isinstance(parent, dict):
                    continue
                values = self._values(parent, name, ppath)
                label = name.removesuffix("[x]")
                if base is not None:
                    self._element(sd, base, values, f"{ppath}.{label}", None)
                    self._walk(sd, base, [(v, p) for v, p, _ in values])
                if slices:
                    self._slices(sd, base, slices, values, f"{ppath}.{label}")

    def _slices(
        self,
        sd: StructureDef,
        base: Node | None,
        slices: list[Node],
        values: list[tuple[Any, str, str]],
        epath: str,
    ) -> None:
        assigned: dict[str, list[tuple[Any, str, str]]] = {sl.eid: [] for sl in slices}
        for v in values:
            for sl in slices:
                assert sl.slicing is not None
                if all(
                    any(pattern_contains(exp, got) for got in dig(v[0], p))
                    for p, exp in sl.slicing.discriminators
                ):
                    assigned[sl.eid].append(v)
                    break
            else:
                rules = ((base.element or {}).get("slicing") or {}).get("rules") if base else None
                if rules == "closed":
                    self._add(
                        sd,
                        base.eid if base else epath,
                        "slicing",
                        v[1],
                        f"{v[1]} fits none of the slices {', '.join(s.slice or '' for s in slices)} that "
                        f"{self._where(sd)} allows for {base.eid if base else epath} (closed slicing).",
                        "structure",
                    )
        for sl in slices:
            matched = assigned[sl.eid]
            self._element(sd, sl, matched, epath, sl.slicing.described if sl.slicing else None)
            self._walk(sd, sl, [(v, p) for v, p, _ in matched])
            for t in (sl.element or {}).get("type") or []:
                for prof in t.get("profile") or []:
                    ext = self.reg.extension(prof)
                    if ext is not None and t.get("code") == "Extension":
                        self._walk(ext, ext.root, [(v, p) for v, p, _ in matched])

    def _element(
        self,
        sd: StructureDef,
        node: Node,
        values: list[tuple[Any, str, str]],
        epath: str,
        slice_desc: str | None,
    ) -> None:
        el = node.element
        if not el:
            return
        where = self._where(sd)
        count = len(values)
        mn = el.get("min")
        if isinstance(mn, int) and count < mn:
            if slice_desc:
                text = (
                    f"{epath} has {_times(count)} with {slice_desc}, but {where} requires at least {mn} "
                    f"(element {node.eid}, min {mn})."
                )
            elif count == 0:
                text = f"{epath} is missing, but {where} requires it (element {node.eid}, min {mn})."
            else:
                text = (
                    f"{epath} has {_times(count)}, but {where} requires at least {mn} "
                    f"(element {node.eid}, min {mn})."
                )
            self._add(sd, node.eid, "min", epath, text, "required")
        mx = el.get("max")
        if isinstance(mx, str) and mx.isdigit() and count > int(mx):
            first = values[int(mx)][1]
            with_ = f" with {slice_desc}" if slice_desc else ""
            if mx == "0":
                text = (
                    f"{first} is present, but {where} does not allow {node.name}{with_} "
                    f"(element {node.eid}, max 0)."
                )
            else:
                text = (
                    f"{epath} has {_times(count)}{with_}, but {where} allows at most {mx}; {first} is one too "
                    f"many (element {node.eid}, max {mx})."
                )
            self._add(sd, node.eid, "max", first, text, "structure")
        for value, vpath, key in values:
            self._value(sd, node, value, vpath, key)

    def _value(self, sd: StructureDef, node: Node, value: Any, vpath: str, key: str) -> None:
        el = node.element or {}
        where = self._where(sd)
        if node.name.endswith("[x]") and el.get("type"):
            suffix = key[len(node.name) - 3 :]
            allowed = [str(t.get("code", "")) for t in el["type"] if isinstance(t, dict)]
            if suffix.lower() not in {a.lower() for a in allowed}:
                shown = suffix[:1].lower() + suffix[1:] if suffix.lower() in _PRIMITIVES else suffix
                self._add(
                    sd,
                    node.eid,
                    "type",
                    vpath,
                    f"{vpath} is of type {shown}, but {where} allows only {' or '.join(allowed)} for {node.name} "
                    f"(element {node.eid}, type).",
                    "structure",
                )
                return
        fixed = typed_key(el, "fixed")
        if fixed is not None and value != fixed[1]:
            self._add(
                sd,
                node.eid,
                "fixed",
                vpath,
                f"{vpath} must be exactly {describe_value(fixed[1])} in {where} (element {node.eid}, "
                f"fixed{fixed[0]}).",
                "value",
            )
        pattern = typed_key(el, "pattern")
        if pattern is not None and not pattern_contains(pattern[1], value):
            self._add(
                sd,
                node.eid,
                "pattern",
                vpath,
                f"{vpath} does not match {describe_value(pattern[1])}, which {where} requires "
                f"(element {node.eid}, pattern{pattern[0]}).",
                "value",
            )
        self._limits(sd, node, value, vpath)
        binding = el.get("binding")
        if isinstance(binding, dict) and binding.get("strength") == "required" and binding.get("valueSet"):
            self._binding(sd, node, binding["valueSet"], value, vpath, key)

    def _limits(self, sd: StructureDef, node: Node, value: Any, vpath: str) -> None:
        el = node.element or {}
        number = value.get("value") if isinstance(value, dict) else value
        if not isinstance(number, int | float) or isinstance(number, bool):
            return
        for bound, word in (("minValue", "below the minimum"), ("maxValue", "above the maximum")):
            hit = typed_key(el, bound)
            if hit is None:
                continue
            limit = hit[1].get("value") if isinstance(hit[1], dict) else hit[1]
            if hit[0] not in (*_NUMERIC_LIMITS, "Quantity") or not isinstance(limit, int | float):
                continue
            if (bound == "minValue" and number < limit) or (bound == "maxValue" and number > limit):
                self._add(
                    sd,
                    node.eid,
                    bound,
                    vpath,
                    f"{vpath} is {number}, {word} {limit} that {self._where(sd)} sets "
                    f"(element {node.eid}, {bound}).",
                    "value",
                )

    def _binding(self, sd: StructureDef, node: Node, vs: str, value: Any, vpath: str, key: str) -> None:
        tname = _type_name(key, node.name, node.element or {}, value)
        if tname == "codeablereference":
            if not isinstance(value, dict) or "concept" not in value:
                return  # a reference only: nothing coded to check
            value, vpath, tname = value["concept"], f"{vpath}.concept", "codeableconcept"
        pairs: list[tuple[str | None, str]] = []
        if tname == "codeableconcept":
            codings = value.get("coding") if isinstance(value, dict) else None
            for c in codings if isinstance(codings, list) else []:
                if isinstance(c, dict) and isinstance(c.get("code"), str):
                    pairs.append((c.get("system") if isinstance(c.get("system"), str) else None, c["code"]))
        elif tname == "coding":
            if isinstance(value, dict) and isinstance(value.get("code"), str):
                pairs.append(
                    (value.get("system") if isinstance(value.get("system"), str) else None, value["code"])
                )
        elif tname in _CODE_TYPES:
            if not isinstance(value, str):
                return
            found = self.reg.member(self.tx_vs, vs, None, value)
            if found is False:
                self._binding_violation(sd, node, vs, vpath, f"{value!r}")
            return
        else:
            return  # Quantity units etc.: not checked
        results = [self.reg.member(self.tx_vs, vs, s, c) for s, c in pairs]
        if any(r is None for r in results) or any(results):
            return  # ValueSet not loaded: not checked; or a member found
        shown = ", ".join(f"{c} ({s or 'no system'})" for s, c in pairs) or "no coding"
        self._binding_violation(sd, node, vs, vpath, shown)

    def _binding_violation(self, sd: StructureDef, node: Node, vs: str, vpath: str, shown: str) -> None:
        title = self.reg.valueset_title(self.tx_vs, vs)
        named = f"{vs.rsplit('/', 1)[-1]}" + (f" ({title})" if title else "")
        self._add(
            sd,
            node.eid,
            "binding",
            vpath,
            f"{vpath} has no code from ValueSet {named}, which {self._where(sd)} requires; found: {shown} "
            f"(element {node.eid}, required binding).",
            "code-invalid",
        )
