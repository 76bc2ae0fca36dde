"""Read one StructureDefinition file into a :class:`~fhirplugin.fhir.profiles.model.StructureDef`:
its differential as an element tree, slices with their discriminator values. A broken file raises
:class:`~fhirplugin.fhir.profiles.model.ProfileDataError` naming it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fhirplugin.fhir.profiles.model import (
    Node,
    ProfileDataError,
    Slice,
    StructureDef,
    describe_value,
    dig,
    fixed_or_pattern,
    strip_version,
)
from fhirplugin.resources import read_json_object

_DISCRIMINATORS = ("value", "pattern")


def load_json(path: Path) -> dict:
    return read_json_object(path, ProfileDataError, "a StructureDefinition")


def model_check(path: Path, data: dict, major: str) -> None:
    from fhir.resources.R4B.structuredefinition import StructureDefinition as R4B
    from fhir.resources.structuredefinition import StructureDefinition as R5
    from pydantic import ValidationError

    model: type[R4B | R5] = R5 if major == "5" else R4B
    try:
        model.model_validate(data)
    except ValidationError as exc:
        errs = exc.errors()
        shown = "; ".join(
            "StructureDefinition"
            + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"])
            + f": {e['msg']}"
            for e in errs[:3]
        )
        raise ProfileDataError(f"{path}: not a valid FHIR StructureDefinition: {shown}") from None
    except (TypeError, ValueError) as exc:
        raise ProfileDataError(f"{path}: not a valid FHIR StructureDefinition: {exc}") from None


def compile_definition(path: Path, data: dict) -> StructureDef:
    for key in ("url", "type", "fhirVersion", "kind"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ProfileDataError(f"{path}: StructureDefinition.{key} is required here")
    if data.get("derivation") != "constraint":
        raise ProfileDataError(f"{path}: only constraint profiles (derivation 'constraint') are read")
    elements = (data.get("differential") or {}).get("element")
    if not isinstance(elements, list) or not elements:
        raise ProfileDataError(f"{path}: StructureDefinition.differential.element is empty")
    rtype = data["type"]
    root = Node(rtype, None, rtype)
    for i, element in enumerate(elements):
        where = f"{path}: differential.element[{i}]"
        eid = element.get("id") or element.get("path")
        if not isinstance(eid, str) or not eid:
            raise ProfileDataError(f"{where} has neither id nor path")
        segs = eid.split(".")
        if segs[0] != rtype:
            raise ProfileDataError(f"{where} ({eid}) does not start with the profiled type {rtype}")
        if element.get("path") != ".".join(s.split(":", 1)[0] for s in segs):
            raise ProfileDataError(f"{where}: path {element.get('path')!r} does not match id {eid!r}")
        node = root
        for k, seg in enumerate(segs[1:], start=2):
            child = node.children.get(seg)
            if child is None:
                name, _, sl = seg.partition(":")
                child = Node(name, sl or None, ".".join(segs[:k]))
                node.children[seg] = child
            node = child
        if node.element is not None:
            raise ProfileDataError(f"{where}: element {eid!r} is defined twice")
        node.element = element
        bind = element.get("binding")
        if isinstance(bind, dict) and bind.get("strength") == "required" and not bind.get("valueSet"):
            raise ProfileDataError(f"{where}: a required binding needs a valueSet")
    compile_slices(path, root)
    sd = StructureDef(
        url=data["url"],
        id=str(data.get("id") or ""),
        version=data.get("version"),
        fhir_version=data["fhirVersion"],
        type=rtype,
        kind=data["kind"],
        path=path,
        root=root,
    )
    return sd


def compile_slices(path: Path, node: Node) -> None:
    for name, base, slices in node.groups():
        if slices:
            slicing = (base.element or {}).get("slicing") if base else None
            if slicing:
                discs = [(d.get("type"), d.get("path")) for d in slicing.get("discriminator") or []]
            elif name in ("extension", "modifierExtension"):
                discs = [("value", "url")]  # the core definition of Element.extension
            else:
                raise ProfileDataError(
                    f"{path}: {slices[0].eid} is a slice but {node.eid}.{name} has no slicing"
                )
            if not discs:
                raise ProfileDataError(f"{path}: slicing of {node.eid}.{name} has no discriminator")
            for dtype, dpath in discs:
                if dtype not in _DISCRIMINATORS or not isinstance(dpath, str):
                    raise ProfileDataError(
                        f"{path}: slicing of {node.eid}.{name}: discriminator {dtype!r} on {dpath!r} is not "
                        f"supported (only {' / '.join(_DISCRIMINATORS)} on a path)"
                    )
            for sl in slices:
                expected = []
                for _, dpath in discs:
                    value = _slice_value(sl, dpath)
                    if value is None:
                        raise ProfileDataError(
                            f"{path}: slice {sl.eid} fixes no value for discriminator path {dpath!r}"
                        )
                    expected.append((dpath, value))
                sl.slicing = Slice(expected, "; ".join(f"{p} {describe_value(v)}" for p, v in expected))
        for child in node.children.values():
            compile_slices(path, child)


def _slice_value(sl: Node, dpath: str) -> Any:
    """The value slice ``sl`` fixes at discriminator path ``dpath`` (child element, own pattern, type profile)."""
    if dpath == "$this":
        return fixed_or_pattern(sl.element)
    node: Node | None = sl
    for seg in dpath.split("."):
        node = node.children.get(seg) if node else None
    value = fixed_or_pattern(node.element if node else None)
    if value is not None:
        return value
    own = fixed_or_pattern(sl.element)
    if isinstance(own, dict):
        found = dig(own, dpath)
        if found:
            return found[0]
    if dpath == "url":
        for t in (sl.element or {}).get("type") or []:
            for prof in t.get("profile") or []:
                return strip_version(prof)
    return None
