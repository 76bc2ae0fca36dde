"""A fast structural pre-check that answers "valid" or "suspicious", never a message.

fhir.resources builds a pydantic model for every element (≈ 0.9 ms for a typical Claim). Most
submissions are structurally fine, so :func:`accepts` first walks the plain JSON dict against tables
made from the fhir.resources model classes themselves (element name → primitive checker, complex
type, list or single, required, choice group). When it says True, fhir.resources would accept the
resource too and no model is built; when it says False, the caller runs the fhir.resources path,
which stays the reference and writes the findings. The check is deliberately stricter than
fhir.resources: anything it does not know how to prove valid is "suspicious".

The tables are built lazily (per model class, on first use) from ``model_fields``,
``get_required_fields`` and ``get_one_of_many_fields``, so they follow the installed fhir.resources.
A class with validators this module does not know, or a primitive whose constraint differs from the
one checked here, makes every element of that kind suspicious instead of silently passing.

Public API::

    accepts(resource, version, max_depth=64) -> bool    # True: fhir.resources accepts it as is,
                                                        # and it nests no deeper than max_depth
    explain(resource, version, max_depth=64) -> str | None  # first suspicious element, for people/tests
    element_validator(cls) -> Callable[[object], bool]   # the same check for one model class
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable
from functools import cache

from fhirplugin.fhir.jsonload import DEFAULT_MAX_DEPTH
from fhirplugin.fhir.primitives import _boolean, _same_type, checker_from_spec, primitive_checker

# the primitive checks are in fhirplugin.fhir.primitives; this module is the walk: tables made from the
# model classes, the validators built from them, accepts / explain.

# fhir_core / fhir.resources are imported only where tables are built from the models: a process
# that finds its tables compiled (fhirplugin.fhir.compiled) never imports them on the fast path.

__all__ = [
    "accepts",
    "checker_from_spec",
    "element_validator",
    "explain",
    "prebuild",
    "primitive_checker",
    "table_for",
]

# ------------------------------------------------------------------------------------------- kinds
_PRIM = 0  # arg: checker(value) -> bool
_CPLX = 1  # arg: _Ref to the element's model class
_RES = 2  # any resource, by its own resourceType (contained, Bundle.entry.resource, ...)
_NO = 3  # present → suspicious (a type this module does not check)

DEFAULT_LEVELS = DEFAULT_MAX_DEPTH // 2  # levels of objects (see levels_for)


_KNOWN_MODEL_VALIDATORS = {"reject_null_complex_elements", "validate_after_model_construction"}
# FHIRPrimitiveExtension (the `_field` siblings) also requires id, extension or fhir_comments;
# a non-empty object with only id / extension (all that the fast path allows) satisfies it.
_EXTRA_VALIDATORS = {"FHIRPrimitiveExtension": {"validate_extension_or_fhir_comment_required"}}


# ------------------------------------------------------------------------------------------ tables
class _Ref:
    """A complex element's model class, turned into a table the first time a value needs it: from
    the fhir.resources type (``fhirtype``), or from the compiled tables (``key``, the class's dotted
    name, see :mod:`fhirplugin.fhir.compiled`)."""

    __slots__ = ("fhirtype", "key", "table")

    def __init__(self, fhirtype, key: str | None = None) -> None:
        self.fhirtype = fhirtype
        self.key = key or getattr(fhirtype, "_model_klass", None)
        self.table: _Table | None = None

    def resolve(self) -> _Table:
        if self.table is None:
            if self.fhirtype is None:
                from fhirplugin.fhir import compiled

                if self.key is None:  # made with neither (compiled refs always carry the key)
                    raise ValueError("a complex element type with no model class")
                self.table = compiled.table(self.key)
            else:
                self.table = table_for(self.fhirtype.get_model_klass())
        return self.table


class _Table:
    """What one model class allows: alias → (kind, many, arg, choice group)."""

    __slots__ = ("fields", "groups_required", "name", "required", "resource", "supported", "version")

    def __init__(self, name: str, version: str) -> None:
        self.name = name
        self.version = version  # "R5" or "R4B": where a nested resource's type is looked up
        # arg: the checker of a primitive, the _Ref of a complex element, else None
        self.fields: dict[str, tuple[int, bool, _Arg, str | None]] = {}
        self.required: frozenset[str] = frozenset()
        self.groups_required: tuple[str, ...] = ()
        self.resource = False
        self.supported = True


def _strip_optional(tp):
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


_Arg: typing.TypeAlias = "Callable[[object], bool] | _Ref | None"


def _field_spec(annotation) -> tuple[int, bool, _Arg]:
    tp = _strip_optional(annotation)
    many = False
    if typing.get_origin(tp) is list:
        many = True
        args = typing.get_args(tp)
        if len(args) != 1:
            return _NO, many, None
        tp = _strip_optional(args[0])
    if tp is bool:
        return _PRIM, many, _boolean
    if typing.get_origin(tp) is typing.Annotated:
        base, *metas = typing.get_args(tp)
        named = [m for m in metas if getattr(m, "__visit_name__", None)]
        if len(named) == 1 and len(metas) == 1:
            check = primitive_checker(named[0].__visit_name__, named[0], base)
            if check is not None:
                return _PRIM, many, check
        return _NO, many, None
    from fhir_core import types as _ft

    if isinstance(tp, type) and issubclass(tp, _ft.FhirBase):
        if issubclass(tp, _ft.FhirElementOrResourceBase):
            return (_RES if tp._model_klass.endswith(".Resource") else _NO), many, None
        return _CPLX, many, _Ref(tp)
    return _NO, many, None


def _class_supported(cls) -> bool:
    from fhir_core.fhirabstractmodel import FHIRAbstractModel

    if cls.__init__ is not FHIRAbstractModel.__init__:
        return False
    for meth in ("_validate_one_of_many", "_validate_required_primitive_elements"):
        if getattr(cls, meth) is not getattr(FHIRAbstractModel, meth):
            return False
    dec = cls.__pydantic_decorators__
    if dec.validators or dec.field_validators or dec.root_validators:
        return False
    allowed = _KNOWN_MODEL_VALIDATORS | _EXTRA_VALIDATORS.get(cls.__name__, set())
    return set(dec.model_validators) <= allowed


@cache
def table_for(cls) -> _Table:
    """The table for one fhir.resources model class (built once, on first use)."""
    t = _Table(cls.__name__, "R4B" if ".R4B." in cls.__module__ else "R5")
    if not _class_supported(cls):
        t.supported = False
        return t
    fields = cls.model_fields
    by_alias = {(f.alias or n): n for n, f in fields.items()}
    try:
        required_prims = [name for name, _ext in cls.get_required_fields(None)]
        groups = cls.get_one_of_many_fields(None)
    except Exception:  # noqa: BLE001 - an override that needs an instance: do not guess
        t.supported = False
        return t
    group_of: dict[str, str] = {}
    required_groups = []
    for prefix, names in groups.items():
        for n in names:
            if n not in fields:
                t.supported = False
                return t
            group_of[fields[n].alias or n] = prefix
        extra = fields[names[0]].json_schema_extra or {}
        if extra.get("one_of_many_required") is True:
            required_groups.append(prefix)
    required = set()
    for name, f in fields.items():
        alias = f.alias or name
        if name == "fhir_comments":
            continue  # allowed by fhir.resources, never by the fast path
        if name.endswith("__ext"):
            kind, many, arg = _field_spec(f.annotation)
            # `_field` for a single primitive; the list form (with null placeholders) is left to pydantic
            t.fields[alias] = (kind if not many else _NO, False, arg, None)
            continue
        kind, many, arg = _field_spec(f.annotation)
        t.fields[alias] = (kind, many, arg, group_of.get(alias))
        if f.is_required():
            required.add(alias)
    for name in required_prims:
        alias = name if name in by_alias else (fields[name].alias if name in fields else None)
        if alias is None:
            t.supported = False
            return t
        required.add(alias)
    t.required = frozenset(required)
    t.groups_required = tuple(required_groups)
    if cls.has_resource_base():
        t.resource = True
        t.fields["resourceType"] = (_PRIM, False, _same_type(cls.__resource_type__), None)
    return t


_TYPE_NAME = re.compile(r"[A-Z][A-Za-z]{1,63}")


def _resource_table(rtype: object, version: str) -> _Table | None:
    """Table for a concrete resource type of the version (R4/R4B → fhir.resources.R4B, R5 → default)."""
    if type(rtype) is not str or not _TYPE_NAME.fullmatch(rtype) or rtype in ("Resource", "DomainResource"):
        return None
    from fhirplugin.fhir import compiled

    found = compiled.resource_table(rtype, version)
    if found is not compiled.MISSING:
        return found  # a table (None: not a concrete resource type, or one this module cannot check)
    try:
        if version == "R5":
            from fhir.resources import get_fhir_model_class
        else:
            from fhir.resources.R4B import get_fhir_model_class
        cls = get_fhir_model_class(rtype)
    except (KeyError, ValueError, ImportError, AttributeError):
        return None
    if cls.__resource_type__ != rtype or not cls.has_resource_base():
        return None
    t = table_for(cls)
    return t if t.supported else None


# ------------------------------------------------------------------------------------------- walk
# Each table is turned into one closure ``validate(value) -> bool``; a field's checker is a closure
# too (primitive checker, list wrapper, nested validator), so the walk is one dict lookup and one
# call per value. Nested validators are bound on first use (the model graph is cyclic: Extension).
def _all(check: Callable[[object], bool]) -> Callable[[object], bool]:
    def many(v) -> bool:
        return type(v) is list and len(v) > 0 and all(map(check, v))

    return many


def _reject(v) -> bool:
    return False


def _resource_any(version: str, levels: int) -> Callable[[object], bool]:
    def check(v) -> bool:
        if type(v) is not dict:
            return False
        validate = _resource_validator(v.get("resourceType"), version, levels)
        return validate is not None and validate(v)

    return check


def _field_checker(spec, fields: dict, alias: str, version: str, levels: int) -> Callable[[object], bool]:
    """The checker of one element of an object that may hold ``levels`` more levels of objects."""
    kind, many, arg, _group = spec
    if kind == _PRIM:
        return _all(arg) if many else arg
    if kind not in (_RES, _CPLX) or levels < 1:
        return _reject
    if kind == _RES:
        check = _resource_any(version, levels)
        return _all(check) if many else check

    def bind(v) -> bool:  # first use: build the nested validator, then stand aside
        check = _validator(arg.resolve(), levels)
        if many:
            check = _all(check)
        fields[alias] = check
        return check(v)

    return bind


@cache
def _validator(t: _Table, levels: int) -> Callable[[object], bool]:
    """``validate(d) -> bool`` for objects of table ``t`` holding at most ``levels`` levels of objects.

    One closure per (table, levels): an object nested deeper than the budget (Extension in Extension
    in ...) is suspicious, so an accepted resource is proven within the depth limit without a walk of
    its own. The pairs are built on first use; real data reaches a few dozen.
    """
    if not t.supported or levels < 1:
        return _reject
    version = t.version
    fields: dict[str, Callable[[object], bool]] = {}
    for alias, spec in t.fields.items():
        fields[alias] = _field_checker(spec, fields, alias, version, levels - 1)
    get = fields.get
    required = t.required or None
    groups = {alias: spec[3] for alias, spec in t.fields.items() if spec[3] is not None}
    groups_required = t.groups_required

    if not groups:

        def validate(d) -> bool:
            if type(d) is not dict or not d:
                return False
            for k, v in d.items():
                check = get(k)
                if check is None or not check(v):
                    return False
            return required is None or d.keys() >= required

        return validate

    group_of = groups.get

    def validate_choices(d) -> bool:
        if type(d) is not dict or not d:
            return False
        seen = None
        for k, v in d.items():
            check = get(k)
            if check is None or not check(v):
                return False
            g = group_of(k)
            if g is not None:
                if seen is None:
                    seen = [g]
                elif g in seen:
                    return False  # two values for one choice[x]
                else:
                    seen.append(g)
        if required is not None and not d.keys() >= required:
            return False
        return all(seen is not None and g in seen for g in groups_required)

    return validate_choices


_RESOURCE_VALIDATORS: dict[tuple[str, str, int], Callable[[object], bool]] = {}


def _resource_validator(rtype: object, version: str, levels: int) -> Callable[[object], bool] | None:
    """The validator for a resource type; only known types are remembered (input picks the names)."""
    if type(rtype) is not str:
        return None
    validate = _RESOURCE_VALIDATORS.get((rtype, version, levels))
    if validate is None:
        t = _resource_table(rtype, version)
        if t is None:
            return None
        validate = _RESOURCE_VALIDATORS[(rtype, version, levels)] = _validator(t, levels)
    return validate


def prebuild(rtype: str, version: str, max_tables: int = 2000) -> int:
    """Build the tables of a resource type and of every element type reachable from it now (a batch
    worker meeting the type mid-run would otherwise pay for them then). Returns the tables built."""
    t = _resource_table(rtype, version)
    if t is None:
        return 0
    seen: set[int] = set()
    stack = [t]
    while stack and len(seen) < max_tables:
        table = stack.pop()
        if id(table) in seen:
            continue
        seen.add(id(table))
        for kind, _many, arg, _group in table.fields.values():
            if kind == _CPLX and isinstance(arg, _Ref):
                try:
                    stack.append(arg.resolve())
                except Exception:  # noqa: BLE001, S112 - a type the fast path cannot build: left to first use
                    continue
    return len(seen)


def element_validator(cls) -> Callable[[object], bool]:
    """``validate(value) -> bool`` for one fhir.resources model class (an element or a resource)."""
    return _validator(table_for(cls), DEFAULT_LEVELS)


def levels_for(max_depth: int) -> int:
    """Levels of objects that keep JSON nesting (objects and arrays) within ``max_depth``.

    Each object sits at most one array deeper than its parent object, and the deepest object may hold
    an array of primitives: ``n`` levels of objects nest at most ``2n`` deep.
    """
    return max(0, max_depth // 2)


def accepts(resource: object, version: str, max_depth: int = DEFAULT_MAX_DEPTH) -> bool:
    """True when fhir.resources (R4B models for R4/R4B, R5 models for R5) accepts ``resource`` and
    its JSON nesting is within ``max_depth`` (objects and arrays, the top-level object counting 1).

    False means "suspicious": not necessarily invalid or too deep, only not proven otherwise here.
    """
    if type(resource) is not dict:
        return False
    validate = _resource_validator(
        resource.get("resourceType"), "R5" if version == "R5" else "R4B", levels_for(max_depth)
    )
    if validate is None:
        return False
    try:
        return validate(resource)
    except RecursionError:
        return False


# ---------------------------------------------------------------------------------------- explain
def explain(resource: object, version: str, max_depth: int = DEFAULT_MAX_DEPTH) -> str | None:
    """The first element :func:`accepts` finds suspicious, as ``path: reason``; None when accepted."""
    ver = "R5" if version == "R5" else "R4B"
    if type(resource) is not dict:
        return f"(root): not a JSON object ({type(resource).__name__})"
    rtype = resource.get("resourceType")
    t = _resource_table(rtype, ver)
    if t is None:
        return f"(root): resourceType {rtype!r} is not a concrete FHIR {ver} resource type here"
    try:
        return _why(resource, t, ver, str(rtype), levels_for(max_depth))
    except RecursionError:
        return f"{rtype}: nested too deeply to walk"


def _why(d: dict, t: _Table, version: str, path: str, levels: int) -> str | None:
    if levels < 1:
        return f"{path}: nested deeper than the depth limit allows"
    if not t.supported:
        return f"{path}: {t.name} has validators the fast path does not model"
    if not d:
        return f"{path}: empty object"
    seen: set[str] = set()
    for k, v in d.items():
        spec = t.fields.get(k)
        here = f"{path}.{k}"
        if spec is None:
            return f"{here}: not an element of {t.name}"
        kind, many, arg, group = spec
        if group is not None:
            if group in seen:
                return f"{here}: a second value for the choice {group}[x]"
            seen.add(group)
        if kind == _NO:
            return f"{here}: a type the fast path does not check"
        if many:
            if type(v) is not list or not v:
                return f"{here}: expected a non-empty array"
            items = [(f"{here}[{i}]", x) for i, x in enumerate(v)]
        else:
            items = [(here, v)]
        for where, x in items:
            if kind == _PRIM:
                if not (callable(arg) and arg(x)):
                    return f"{where}: value {x!r:.60} not accepted"
            elif kind == _CPLX:
                if type(x) is not dict:
                    return f"{where}: expected an object"
                if not isinstance(arg, _Ref):
                    return f"{where}: a type the fast path does not check"
                why = _why(x, arg.resolve(), version, where, levels - 1)
                if why:
                    return why
            else:
                if type(x) is not dict:
                    return f"{where}: expected a resource object"
                sub = _resource_table(x.get("resourceType"), version)
                if sub is None:
                    return f"{where}: resourceType {x.get('resourceType')!r} not checked here"
                why = _why(x, sub, version, where, levels - 1)
                if why:
                    return why
    missing = sorted(t.required - d.keys())
    if missing:
        return f"{path}.{missing[0]}: required but missing"
    for g in t.groups_required:
        if g not in seen:
            return f"{path}.{g}[x]: required but missing"
    return None
