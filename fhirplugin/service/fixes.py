"""Turn a finding's machine-readable ``fix`` into a CDS Hooks action on the draft resource.

A fix names a FHIRPath (0-based, as in OperationOutcome.issue.expression) into the Bundle the engine
checked. :func:`locate` splits it into the entry index and the path inside that entry's resource;
:func:`apply` returns the edited copy of the resource (``update``) or a ``delete`` of the order.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

_SEG = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?")
_ENTRY = re.compile(r"^Bundle\.entry\[(\d+)\]\.resource(?:\.(.*))?$")


@dataclass(frozen=True, slots=True)
class Action:
    type: str  # update | delete
    description: str
    resource: dict | None = None
    resource_id: str | None = None

    def to_json(self) -> dict:
        out: dict = {"type": self.type, "description": self.description}
        if self.resource is not None:
            out["resource"] = self.resource
        if self.resource_id:
            out["resourceId"] = self.resource_id
        return out


def entry_index(expression: str) -> int | None:
    """The entry index of a ``Bundle.entry[i].resource…`` path (None for another path), whatever the
    element names after it hold."""
    m = _ENTRY.match(expression)
    return int(m.group(1)) if m else None


def locate(expression: str) -> tuple[int | None, list[tuple[str, int | None]]]:
    """``Bundle.entry[2].resource.item[0].modifier[1]`` → (2, [("item", 0), ("modifier", 1)])."""
    m = _ENTRY.match(expression)
    idx: int | None = None
    rest = expression
    if m:
        idx = int(m.group(1))
        rest = m.group(2) or ""
    else:
        rest = rest.split(".", 1)[1] if "." in rest else ""
    segs = []
    for part in rest.split(".") if rest else []:
        sm = _SEG.fullmatch(part)
        if not sm:
            raise ValueError(f"unsupported path segment {part!r}")
        segs.append((sm.group(1), int(sm.group(2)) if sm.group(2) is not None else None))
    return idx, segs


def _walk(obj, segs):
    """Return (parent, key) of the last segment; key is (name, index)."""
    cur = obj
    for name, i in segs[:-1]:
        cur = cur[name]
        if i is not None:
            cur = cur[i]
        elif isinstance(cur, list):
            cur = cur[0]
    return cur, segs[-1]


def _get(obj, segs):
    cur = obj
    for name, i in segs:
        cur = cur[name]
        if i is not None:
            cur = cur[i]
    return cur


def _ref(resource: dict) -> str | None:
    rid = resource.get("id")
    rtype = resource.get("resourceType")
    return f"{rtype}/{rid}" if isinstance(rid, str) and isinstance(rtype, str) else None


def apply(fix: dict, resource: dict, segs: list[tuple[str, int | None]]) -> Action | None:
    """The action that applies ``fix`` to ``resource`` (never modified), or None when it cannot."""
    kind = fix.get("action")
    try:
        if kind == "delete-line":
            return _delete_line(resource, segs)
        if kind in ("replace-code", "set-system"):
            return _replace_code(fix, resource, segs)
        if kind == "remove-modifier":
            cut = next((k for k, (name, i) in enumerate(segs) if name == "modifier" and i is not None), None)
            if cut is None:
                return None
            return _remove_element(
                resource, segs[: cut + 1], f"Remove modifier {fix.get('code', '')}".strip()
            )
        if kind == "set-units":
            new = copy.deepcopy(resource)
            target = _get(new, segs)
            target["value"] = fix["value"]
            return Action("update", f"Set units to {fix['value']}", resource=new)
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return None


def _delete_line(resource: dict, segs) -> Action | None:
    rtype = resource.get("resourceType")
    if not segs:  # the whole resource: an order
        ref = _ref(resource)
        if ref is None:
            return None
        return Action("delete", f"Delete the order {ref}", resource_id=ref)
    name, i = segs[0]
    if rtype == "Claim" and name == "item" and i is not None and len(segs) >= 1:
        return _remove_element(resource, segs[:1], f"Remove claim line {i + 1}")
    return None


def _remove_element(resource: dict, segs, description: str) -> Action | None:
    # cut the path at the last indexed segment: that list element is removed
    cut = max((k for k, (_, i) in enumerate(segs) if i is not None), default=None)
    if cut is None:
        return None
    new = copy.deepcopy(resource)
    parent, (name, i) = _walk(new, segs[: cut + 1])
    items = parent[name]
    del items[i]
    if not items:
        del parent[name]
    return Action("update", description, resource=new)


def _replace_code(fix: dict, resource: dict, segs) -> Action | None:
    new = copy.deepcopy(resource)
    target = _get(new, segs)
    if isinstance(target, dict) and "coding" in target and isinstance(target["coding"], list):
        target = next(
            (
                c
                for c in target["coding"]
                if c.get("code") == fix.get("from") or c.get("code") == fix.get("code")
            ),
            target["coding"][0] if target["coding"] else None,
        )
    if not isinstance(target, dict):
        return None
    if fix.get("action") == "set-system":
        target["system"] = fix["system"]
        return Action("update", f"Set the system of {target.get('code')} to {fix['system']}", resource=new)
    target["code"] = fix["to"]
    if fix.get("system"):
        target["system"] = fix["system"]
    target.pop("display", None)
    if fix.get("display"):
        target["display"] = fix["display"]
    return Action("update", f"Replace {fix.get('from')} by {fix['to']}", resource=new)
