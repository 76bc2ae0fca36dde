"""The resources of one input, addressable by reference.

References between Bundle entries resolve by ``fullUrl`` and by ``Type/id``; ``#id`` resolves to
contained resources. The look-ups the reader repeats per claim line or per procedure (procedure
documentation by resource, the subject of a resource, reverse links to a resource) are built once per
input on first use, so reading stays linear in the number of entries and lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fhirplugin.fhir.case import ProcedureInfo
from fhirplugin.fhir.extract.values import JSON, JSONObject, as_dict, as_list, as_str, ref_str

# resource types the rules read through a reference (a Claim line's Procedure, a diagnosis' Condition…)
LINKED_TYPES = frozenset(
    {
        "Procedure",
        "Condition",
        "ServiceRequest",
        "DiagnosticReport",
        "ImagingStudy",
        "Device",
        "DocumentReference",
    }
)


@dataclass(slots=True)
class Located:
    resource: JSONObject
    path: str


@dataclass
class Index:
    """Resources of one input, addressable by reference (filled by :func:`build_index`)."""

    by_ref: dict[str, Located] = field(default_factory=dict)
    all: list[Located] = field(default_factory=list)
    # procedure documentation read once per location (see extract.procedures.procedure_info)
    procs: dict[str, ProcedureInfo] = field(default_factory=dict, repr=False)
    # every Procedure entry as documentation, and the same by CPT code (extract.procedures.standalone)
    standalone: tuple[list[ProcedureInfo], dict[str, list[ProcedureInfo]]] | None = field(
        default=None, repr=False
    )
    _subjects: dict[str, str | None] | None = field(default=None, repr=False)
    _keys: dict[int, set[str]] | None = field(default=None, repr=False)
    _backlinks: dict[str, list[int]] | None = field(default=None, repr=False)
    # references the reader followed and did not find in the input: "Type/id" -> where referenced
    missing: dict[str, str] = field(default_factory=dict)

    def add(self, resource: JSONObject, path: str, full_url: str | None = None) -> None:
        loc = Located(resource, path)
        self.all.append(loc)
        rtype, rid = as_str(resource.get("resourceType")), as_str(resource.get("id"))
        if rtype and rid:
            self.by_ref.setdefault(f"{rtype}/{rid}", loc)
        if full_url:
            self.by_ref.setdefault(full_url, loc)
            if rtype and rid and full_url.endswith(f"/{rtype}/{rid}"):
                self.by_ref.setdefault(f"{rtype}/{rid}", loc)

    def resolve(self, ref: JSON, container: Located | None = None) -> Located | None:
        reference = ref_str(ref)
        if not reference:
            return None
        if reference.startswith("#") and container is not None:
            for k, c in enumerate(as_list(container.resource.get("contained"))):
                if as_dict(c).get("id") == reference[1:]:
                    return Located(c, f"{container.path}.contained[{k}]")
            return None
        if reference in self.by_ref:
            return self.by_ref[reference]
        # absolute URL ending in Type/id
        parts = reference.rstrip("/").split("/")
        if len(parts) >= 2:
            key = f"{parts[-2]}/{parts[-1]}"
            found = self.by_ref.get(key)
            if found is None and parts[-2] in LINKED_TYPES:
                self.missing.setdefault(key, container.path if container is not None else "")
            return found
        return None

    def resolve_type(self, ref: JSON, container: Located | None, *types: str) -> Located | None:
        """:meth:`resolve`, keeping only a resource of one of ``types``."""
        target = self.resolve(ref, container)
        if target is None or target.resource.get("resourceType") not in types:
            return None
        return target

    def of_type(self, rtype: str) -> list[Located]:
        return [loc for loc in self.all if loc.resource.get("resourceType") == rtype]

    def subject_of(self, path: str) -> str | None:
        """``subject`` reference of the first indexed resource at ``path`` (None when none)."""
        if self._subjects is None:
            self._subjects = {}
            for loc in self.all:
                if loc.path not in self._subjects:
                    self._subjects[loc.path] = ref_str(loc.resource.get("subject"))
        return self._subjects.get(path)

    def keys_of(self, resource: JSONObject) -> set[str]:
        """The ``by_ref`` keys that lead to this very resource object (identity, not equality)."""
        if self._keys is None:
            self._keys = {}
            for key, loc in self.by_ref.items():
                self._keys.setdefault(id(loc.resource), set()).add(key)
        return self._keys.get(id(resource), set())

    def linking_to(self, refs: set[str]) -> list[Located]:
        """ImagingStudy / DiagnosticReport entries whose procedure links name one of ``refs``, in order."""
        if self._backlinks is None:
            self._backlinks = {}
            for pos, other in enumerate(self.all):
                for ref in back_refs(other.resource):
                    positions = self._backlinks.setdefault(ref, [])
                    if not positions or positions[-1] != pos:
                        positions.append(pos)
        found = sorted({pos for ref in refs for pos in self._backlinks.get(ref, ())})
        return [self.all[pos] for pos in found]


def back_refs(o: JSONObject) -> list[str]:
    """References an ImagingStudy (procedureReference / procedure / basedOn) or a DiagnosticReport
    (basedOn / partOf) makes to the procedure it documents."""
    ot = o.get("resourceType")
    links: list[JSON] = []
    if ot == "ImagingStudy":
        pr = o.get("procedureReference")  # R4: one Reference; tolerate a list
        links = ([pr] if isinstance(pr, dict) else as_list(pr)) + [
            as_dict(p).get("reference") for p in as_list(o.get("procedure"))
        ]
        links += [o.get("basedOn")] if isinstance(o.get("basedOn"), dict) else as_list(o.get("basedOn"))
    elif ot == "DiagnosticReport":
        links = as_list(o.get("basedOn")) + as_list(o.get("partOf"))
    refs = [ref_str(r) for r in links if isinstance(r, dict)]
    return [r for r in refs if r is not None]


def build_index(top: JSONObject, base: str) -> Index:
    idx = Index()
    if top.get("resourceType") == "Bundle":
        for i, entry in enumerate(as_list(top.get("entry"))):
            res = as_dict(entry).get("resource")
            if isinstance(res, dict):
                idx.add(res, f"{base}.entry[{i}].resource", as_str(entry.get("fullUrl")))
    elif top.get("resourceType") == "Parameters":
        for i, param in enumerate(as_list(top.get("parameter"))):
            res = as_dict(param).get("resource")
            if isinstance(res, dict):
                idx.add(res, f"{base}.parameter[{i}].resource")
                if res.get("resourceType") == "Bundle":
                    inner = build_index(res, f"{base}.parameter[{i}].resource")
                    idx.all.extend(inner.all)
                    idx.by_ref.update({k: v for k, v in inner.by_ref.items() if k not in idx.by_ref})
    else:
        idx.add(top, base)
    return idx
