"""Which FHIR version a payload is, from what it says and from what it holds.

Evidence, strongest first:

* ``meta.profile`` canonicals that name a version (``…/R5/…``, ``|4.0.1``, ``|4.3.0``, ``/STU3/``) of any
  resource in the tree (a Bundle's entries, contained resources, Parameters resources);
* the elements: every element of every resource in the tree (contained resources included) is looked up
  in the fhir.resources models of STU3, R4/R4B and R5; an element one version does not define, or defines
  with another shape (a list where the other has one value, an object where the other has a string),
  counts against that version. The version that explains the most elements wins; nothing is listed by
  hand, so the answer follows the installed models.

R4 and R4B share one model set here (fhir.resources ships R4B; the two differ in no element fhirplugin
reads), so element evidence says "R4"; R4B is reported when a profile or the content type says 4.3.
STU3 (3.0) and DSTU2 (1.0) are recognised so the engine can refuse them plainly. When profile and
elements disagree, or no version explains every element, :attr:`Detection.conflict` says so and the
stronger evidence decides.
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass, field
from functools import cache, lru_cache

from fhirplugin.fhir.fast import _strip_optional

VERSIONS = ("R4", "R4B", "R5")
UNSUPPORTED = ("STU3", "DSTU2")
_LABEL = {
    "R4": "R4 (4.0)",
    "R4B": "R4B (4.3)",
    "R5": "R5 (5.0)",
    "STU3": "STU3 (3.0)",
    "DSTU2": "DSTU2 (1.0)",
}


def label(version: str) -> str:
    return _LABEL.get(version, version)


def normalize(version: str | None) -> str | None:
    """Map user spellings (4.0, 4.0.1, r4, 5.0, R5, 4.3) to R4 / R4B / R5; None for auto/unknown."""
    if not version:
        return None
    v = version.strip().upper()
    if v in ("AUTO", ""):
        return None
    if v in VERSIONS:
        return v
    if v.startswith("4.0"):
        return "R4"
    if v.startswith("4.3"):
        return "R4B"
    if v.startswith("5.0"):
        return "R5"
    raise ValueError(f"unknown FHIR version {version!r}; use auto, R4, R4B or R5 (or 4.0, 4.3, 5.0)")


# ------------------------------------------------------------------------------ profile evidence
_PROFILE_MARKS = (
    (re.compile(r"/R4B/|\|4\.3(?:\.\d+)?$"), "R4B"),
    (re.compile(r"/R4/|\|4\.0(?:\.\d+)?$|-r4$"), "R4"),
    (re.compile(r"/R5/|\|5\.0(?:\.\d+)?$|-r5$"), "R5"),
    (re.compile(r"/STU3/|\|3\.0(?:\.\d+)?$"), "STU3"),
    (re.compile(r"/DSTU2/|\|1\.0\.2$"), "DSTU2"),
)


def _profile_version(url: str) -> str | None:
    for rx, ver in _PROFILE_MARKS:
        if rx.search(url):
            return ver
    return None


# ------------------------------------------------------------------------------ model tables
# element alias -> (kind, many, child): kind "p" primitive, "c" complex, "r" resource, "?" unknown.
# R4 and R5 read the fast check's tables (fhirplugin.fhir.fast, compiled and cached by
# fhirplugin.fhir.compiled, so detection imports no model); STU3 reads the STU3 model classes.
_Spec = tuple[str, bool, object]
_MODEL_SETS = ("STU3", "R4", "R5")  # fhir.resources packages: STU3, R4B (used for R4 and R4B), R5


@lru_cache(maxsize=2048)  # type names come from the input: remember a bounded number
def _rt(rtype: str, mset: str):
    """The fast check's table of a resource type in R4 or R5 (None: no such type there)."""
    from fhirplugin.fhir import fast

    return fast._resource_table(rtype, mset)


@lru_cache(maxsize=2048)
def _model(rtype: str, mset: str):
    try:
        if mset == "R5":
            from fhir.resources import get_fhir_model_class
        elif mset == "R4":
            from fhir.resources.R4B import get_fhir_model_class
        else:
            from fhir.resources.STU3 import get_fhir_model_class
        return get_fhir_model_class(rtype)
    except (KeyError, ValueError, ImportError, AttributeError):
        return None


def _spec(annotation) -> _Spec:
    from fhir_core import types as ft

    tp = _strip_optional(annotation)
    many = False
    if typing.get_origin(tp) is list:
        many = True
        args = typing.get_args(tp)
        tp = _strip_optional(args[0]) if len(args) == 1 else tp
    if isinstance(tp, type) and issubclass(tp, ft.FhirBase):
        if issubclass(tp, ft.FhirElementOrResourceBase):
            return ("r" if tp._model_klass.endswith(".Resource") else "?"), many, None
        return "c", many, tp
    return "p", many, None


@cache
def _table(handle) -> dict[str, _Spec]:
    """Element specs of a fast-check table (R4/R5) or of a model class (STU3)."""
    from fhirplugin.fhir import fast

    out: dict[str, _Spec] = {}
    if isinstance(handle, fast._Table):
        kinds = {fast._PRIM: "p", fast._CPLX: "c", fast._RES: "r"}
        for alias, (kind, many, arg, _group) in handle.fields.items():
            if alias == "resourceType" or alias[:1] == "_":
                continue
            k = kinds.get(kind, "?")
            out[alias] = (k, many, arg if k == "c" else None)
        return out
    for name, f in handle.model_fields.items():
        if name == "fhir_comments" or name.endswith("__ext"):
            continue
        out[f.alias or name] = _spec(f.annotation)
    return out


def _child(spec: _Spec):
    """The table (or model class) of a complex element's type."""
    child = spec[2]
    if child is None:
        return None
    if hasattr(child, "resolve"):
        return child.resolve()  # a fast-check _Ref: compiled, or built from the model on first use
    return child.get_model_klass()  # type: ignore[attr-defined]  # a fhir_core type class (STU3 models)


def _fits(spec: _Spec, value) -> bool:
    kind, many, _ = spec
    if many:
        if type(value) is not list:
            return False
        value = next((v for v in value if v is not None), None)
        if value is None:
            return True
    elif type(value) is list:
        return False
    if kind == "p":
        return type(value) is not dict
    if kind in ("c", "r"):
        return type(value) is dict
    return True


@cache
def _same(classes: tuple) -> bool:
    """True when the model classes (one per model set) accept exactly the same element names with the
    same shapes, all the way down: such a subtree holds no version evidence."""
    if any(c is None for c in classes):
        return False
    if all(
        getattr(c, "name", None) == "Extension" or getattr(c, "__name__", None) == "Extension"
        for c in classes
    ):
        return True  # R5 added value[x] types; an extension's value is not version evidence worth a walk
    tables = [_table(c) for c in classes]
    first = tables[0]
    if any(t.keys() != first.keys() for t in tables[1:]):
        return False
    _same_pending.add(classes)
    try:
        for alias, spec in first.items():
            specs = [t[alias] for t in tables]
            if any(s[:2] != spec[:2] for s in specs[1:]) or spec[0] == "r":
                return False  # a different shape, or resources inside (they hold evidence)
            if spec[0] == "c":
                kids = tuple(_child(s) for s in specs)
                if kids != classes and kids not in _same_pending and not _same(kids):
                    return False
    finally:
        _same_pending.discard(classes)
    return True


_same_pending: set[tuple] = set()
_SKIP = object()  # an element both versions define alike, all the way down: no evidence in it
_RESOURCE = object()  # an element holding resources (contained, entry.resource): walk each


@cache
def _plan(c4, c5) -> dict[str, object]:
    """For an R4 and an R5 model class: element name -> _SKIP, _RESOURCE or the two specs to compare."""
    t4, t5 = _table(c4), _table(c5)
    plan: dict[str, object] = {}
    for key in t4.keys() | t5.keys():
        s4, s5 = t4.get(key), t5.get(key)
        if s4 is not None and s5 is not None and s4[:2] == s5[:2]:
            if s4[0] == "r":
                plan[key] = _RESOURCE
                continue
            if s4[0] != "c" or _same((_child(s4), _child(s5))):
                plan[key] = _SKIP
                continue
        plan[key] = (s4, s5)
    return plan


@cache
def _interesting(c4, c5) -> frozenset[str]:
    """The element names of a plan that may hold evidence (intersected with an object's keys in C)."""
    return frozenset(k for k, p in _plan(c4, c5).items() if p is not _SKIP)


# how the walk treats an element that may hold evidence (the plan, compiled once per pair of tables)
_WALK_RESOURCES = 0  # resources inside (contained, entry.resource): walk each
_WALK_CHILDREN = 1  # the same complex shape in both versions, different below: walk the children
_COMPARE = 2  # anything else: count what one version holds and the other cannot


@cache
def _steps(c4, c5) -> tuple[frozenset[str], dict[str, tuple]]:
    """:func:`_interesting` and, per element name, (step, s4, s5, child table R4, child table R5).
    The children of a _WALK_CHILDREN element are those :func:`_plan` resolved already (to compare
    them), so compiling the steps builds no table the plan did not."""
    steps: dict[str, tuple] = {}
    for key, p in _plan(c4, c5).items():
        if p is _SKIP:
            continue
        if p is _RESOURCE:
            steps[key] = (_WALK_RESOURCES, None, None, None, None)
            continue
        s4, s5 = typing.cast("tuple[_Spec | None, _Spec | None]", p)
        if s4 is not None and s5 is not None and s4[:2] == s5[:2] and s4[0] == "c":
            steps[key] = (_WALK_CHILDREN, s4, s5, _child(s4), _child(s5))
        else:
            steps[key] = (_COMPARE, s4, s5, None, None)
    return frozenset(steps), steps


@lru_cache(maxsize=2048)
def _stu3_keys(rtype: str) -> tuple[frozenset[str], frozenset[str]]:
    """(elements only STU3 defines, elements R4/R5 define that STU3 does not) of a resource type."""
    c3, c4, c5 = _model(rtype, "STU3"), _rt(rtype, "R4"), _rt(rtype, "R5")
    t3 = set(_table(c3)) if c3 is not None else set()
    later = (set(_table(c4)) if c4 is not None else set()) | (set(_table(c5)) if c5 is not None else set())
    return frozenset(t3 - later), frozenset(later - t3) if c3 is not None else frozenset()


@lru_cache(maxsize=2048)
def _later_keys(rtype: str) -> frozenset[str] | None:
    """Element names R4 or R5 define on a resource type (with resourceType); None when neither has it."""
    c4, c5 = _rt(rtype, "R4"), _rt(rtype, "R5")
    if c4 is None and c5 is None:
        return None
    keys = {"resourceType"}
    for c in (c4, c5):
        if c is not None:
            keys |= _table(c).keys()
    return frozenset(keys)


def _stu3_misfits(w: _Walk) -> int:
    """Elements of the walked resources that STU3 does not define (computed only when STU3 is in play)."""
    n = 0
    for rtype, res in w.resources:
        if _model(rtype, "STU3") is None:
            n += 5
            continue
        _only3, not3 = _stu3_keys(rtype)
        n += sum(1 for k in res if k in not3)
    return n


@dataclass(slots=True)
class Detection:
    version: str  # R4 | R4B | R5 | STU3 | DSTU2
    conflict: str | None = None  # plain words, when the evidence disagrees
    evidence: str = "default"  # "profile" | "elements" | "default"
    misfits: dict[str, int] = field(default_factory=dict)


class _Walk:
    """One walk over the tree, counting the elements each version cannot hold (its misfits)."""

    __slots__ = ("m3", "m4", "m5", "profiles", "resources", "stu3_only")

    def __init__(self) -> None:
        self.m3 = self.m4 = self.m5 = 0
        self.resources: list[tuple[str, dict]] = []  # (type, resource) of every resource in the tree
        self.stu3_only = 0  # elements or types only STU3 has: STU3 is chosen only on such evidence
        self.profiles: list[tuple[str, str]] = []  # (url, version)

    def resource(self, res: dict, depth: int) -> None:
        rtype = res.get("resourceType")
        if type(rtype) is not str or depth > 40:
            return
        meta = res.get("meta")
        if type(meta) is dict and type(meta.get("profile")) is list:
            for url in meta["profile"]:
                if type(url) is str and (ver := _profile_version(url)):
                    self.profiles.append((url, ver))
        c4, c5 = _rt(rtype, "R4"), _rt(rtype, "R5")
        self.resources.append((rtype, res))
        # STU3 models are looked at only when R4 and R5 cannot explain the resource (an element or a
        # type neither defines): valid R4/R5 data never pays for importing them
        later = _later_keys(rtype)
        if later is None or any(k[:1] != "_" for k in res.keys() - later):
            only3, _not3 = _stu3_keys(rtype)
            self.stu3_only += sum(1 for key in res if key in only3)
            if c4 is None and c5 is None and _model(rtype, "STU3") is not None:
                self.stu3_only += 1
        if c4 is None or c5 is None:
            if c4 is None:
                self.m4 += 5
            if c5 is None:
                self.m5 += 5
            return
        # (a required element left out is not counted: it is the sender's error in the version it
        # meant, and counting it would turn a broken R4 Claim into a valid-looking R5 one)
        self.node(res, c4, c5, depth)

    def node(self, d: dict, c4, c5, depth: int) -> None:
        if depth > 40:
            return
        interesting, steps = _steps(c4, c5)
        keys = d.keys() & interesting  # not "_x", resourceType, unknown names, or no evidence
        if not keys:
            return
        for key in keys:
            value = d[key]
            if value is None:
                continue
            step, s4, s5, k4, k5 = steps[key]
            if step == _WALK_CHILDREN:
                # one shape in both versions: it fits both or neither, and is no evidence itself
                if s4[1]:
                    # a list fits when its first non-null item is an object (as _fits says)
                    if type(value) is not list or type(next((v for v in value if v is not None), {})) is not dict:
                        continue
                    for v in value:
                        if type(v) is dict:
                            self.node(v, k4, k5, depth + 1)
                elif type(value) is dict:
                    self.node(value, k4, k5, depth + 1)
                continue
            if step == _WALK_RESOURCES:
                for v in value if type(value) is list else (value,):
                    if type(v) is dict:
                        self.resource(v, depth + 1)
                continue
            f4 = s4 is not None and _fits(s4, value)
            f5 = s5 is not None and _fits(s5, value)
            # only what one version holds and the other cannot is evidence (a value neither version
            # accepts is a structure error, reported as such)
            if f5 and not f4:
                self.m4 += 1
            elif f4 and not f5:
                self.m5 += 1
            if f4 and f5 and s4[0] == "c" and s5[0] == "c":
                k4, k5 = _child(s4), _child(s5)
                for v in value if type(value) is list else (value,):
                    if type(v) is dict:
                        self.node(v, k4, k5, depth + 1)
            elif f4 and f5 and s4[0] == "r":
                for v in value if type(value) is list else (value,):
                    if type(v) is dict:
                        self.resource(v, depth + 1)


_ORDER = {"R4": 0, "R5": 1, "STU3": 2}


def analyse(resource: dict) -> Detection:
    """The version of a resource and everything it holds (see the module docstring)."""
    w = _Walk()
    w.resource(resource, 0)
    # STU3-only elements count against R4 and R5 alike: they decide only between STU3 and the others
    misfit = {"STU3": _stu3_misfits(w) if w.stu3_only else 0, "R4": w.m4, "R5": w.m5}
    if w.stu3_only:
        misfit = {"STU3": misfit["STU3"], "R4": w.m4 + w.stu3_only, "R5": w.m5 + w.stu3_only}
    if w.stu3_only:
        best = min(_MODEL_SETS, key=lambda m: (misfit[m], _ORDER[m]))
    else:
        best = "R5" if w.m5 < w.m4 else "R4"  # the fewer misfits; R4 on a tie
    # no evidence when R4 and R5 fit the elements alike (and STU3 does not win)
    by_elements = best if best == "STU3" or misfit["R4"] != misfit["R5"] else None
    if w.profiles:
        profile_versions = {v for _, v in w.profiles}
        # the most frequent named version; R4B wins over R4 (a 4.3 profile is more specific)
        counts = {v: sum(1 for _, pv in w.profiles if pv == v) for v in profile_versions}
        named = max(counts, key=lambda v: (counts[v], v == "R4B"))
        family = "R4" if named == "R4B" else named
        conflict = None
        if len(profile_versions - {"R4", "R4B"} if family == "R4" else profile_versions - {named}) > 0:
            conflict = (
                f"The profiles name different FHIR versions ({', '.join(sorted(profile_versions))}); "
                f"checked as {label(named)}, the version most of them name."
            )
        elif family in misfit and misfit[family] > 0 and by_elements and misfit[by_elements] < misfit[family]:
            conflict = (
                f"meta.profile names FHIR {label(named)}, but {misfit[family]} element(s) do not fit that "
                f"version and {label(by_elements)} fits better; checked as {label(named)}, as the profile says."
            )
        return Detection(named, conflict, "profile", misfit)
    conflict = None
    if best != "STU3" and w.m4 > 0 and w.m5 > 0:
        other = "R5" if best == "R4" else "R4"
        why = "which fits more of them" if misfit[best] < misfit[other] else "the default when they tie"
        conflict = (
            f"The elements fit no single FHIR version: {misfit[best]} only R5 allows and {misfit[other]} "
            f"only R4 allows; checked as {label(best)}, {why}."
            if best == "R4"
            else f"The elements fit no single FHIR version: {misfit[best]} only R4 allows and "
            f"{misfit[other]} only R5 allows; checked as {label(best)}, {why}."
        )
    if by_elements is None:
        return Detection("R4", conflict, "default", misfit)
    return Detection(best, conflict, "elements", misfit)


def detect(resource: dict) -> str:
    """The version of a resource (and the resources a Bundle or Parameters holds); default R4."""
    return analyse(resource).version


def prebuild(resource_types: typing.Iterable[str]) -> None:
    """Build the model tables for these resource types now (so a batch worker does not pay for them
    when the type first appears mid-run)."""
    for rtype in resource_types:
        c4, c5 = _rt(rtype, "R4"), _rt(rtype, "R5")
        _later_keys(rtype)
        if c4 is not None and c5 is not None:
            _plans_below(c4, c5, set())


def _plans_below(c4, c5, done: set) -> None:
    if (c4, c5) in done:
        return
    done.add((c4, c5))
    for p in _plan(c4, c5).values():
        if type(p) is tuple and p[0] is not None and p[1] is not None and p[0][0] == p[1][0] == "c":
            _plans_below(_child(p[0]), _child(p[1]), done)
