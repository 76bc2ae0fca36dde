"""The fast structure check's tables, compiled once from the fhir.resources models and cached.

:mod:`fhirplugin.fhir.fast` checks plain JSON against tables it reads from the fhir.resources model
classes. Building those classes (pydantic schemas for a Bundle, a Claim and the data types they use)
took about half of a cold ``fhirplugin validate``, in every process. So the tables of the resource
types fhirplugin meets (:data:`RESOURCES`) and of every element type they reach are compiled once
into plain data (names, kinds, required elements, choice groups and how each primitive is checked),
kept in the cache folder of the ICD-10-CM index (``FHIRPLUGIN_CACHE_DIR``, ...) and read back with
:mod:`marshal` in a few milliseconds. The names of every FHIR type of each version are kept too, so
telling a resource type from a misspelling needs no model either.

The compiled tables are the same tables, made again from the same data: a test compares them with
the ones built from the models, type by type. Any resource type not compiled, and every resource the
fast check declines, goes to fhir.resources as before (the models are imported then). The cache is
keyed by the fhir.resources, fhir.core and pydantic versions and by the source of the fast check
(fast.py and primitives.py);
when it is stale or unreadable it is rebuilt, when the folder is unwritable or caching is off
(``FHIRPLUGIN_CACHE_DIR=""``) the tables are built from the models on first use, as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import logging
import marshal
import os
import sys
import tempfile
from functools import cache
from pathlib import Path

from fhirplugin.fhir import fast, primitives

log = logging.getLogger("fhirplugin.fhir.compiled")

__all__ = ["MISSING", "RESOURCES", "build", "prepare", "resource_table", "table", "type_names"]

_FORMAT = 1
MISSING = object()  # "not compiled here: build it from the models"

# what fhirplugin checks, and what Bundles, prefetch and CDS Hooks requests carry beside it
RESOURCES = (
    "Bundle", "Parameters", "Claim", "ExplanationOfBenefit", "ChargeItem", "Procedure", "ServiceRequest",
    "Patient", "Practitioner", "PractitionerRole", "Organization", "Location", "Encounter", "Condition",
    "Coverage", "Device", "DeviceRequest", "DiagnosticReport", "ImagingStudy", "Observation",
    "DocumentReference", "Specimen", "Medication", "MedicationRequest", "NutritionOrder", "Task",
    "Appointment", "OperationOutcome", "Questionnaire", "QuestionnaireResponse", "Communication",
    "CommunicationRequest", "CarePlan", "AllergyIntolerance", "Immunization", "ClaimResponse",
    "Account", "Binary", "Provenance", "RelatedPerson", "HealthcareService", "Goal",
)  # fmt: skip


def _package(version: str) -> str:
    return "fhir.resources" if version == "R5" else "fhir.resources.R4B"


def _key(version: str) -> dict:
    """What a compiled file must match: the packages the tables come from and the code that reads them."""
    from fhirplugin.tx.icd import dist_version

    versions = {
        dist: dist_version(dist) for dist in ("fhir.resources", "fhir.core", "pydantic", "pydantic-core")
    }
    source = hashlib.sha256()
    for module in (fast, primitives, sys.modules[__name__]):  # the walk, its checkers, this reader
        if module.__file__ is not None:
            with contextlib.suppress(OSError):
                source.update(Path(module.__file__).read_bytes())
    return {
        "format": _FORMAT,
        "version": version,
        "packages": versions,
        "source": source.hexdigest()[:16],
        "resources": list(RESOURCES),
    }


# ------------------------------------------------------------------------------------------- build
def _field_out(spec: tuple) -> tuple:
    kind, many, arg, group = spec
    if kind == fast._PRIM:
        data = arg.spec  # every checker the fast module makes carries its spec
    elif kind == fast._CPLX:
        data = arg.key
        arg.resolve()
    else:
        data = None
    return kind, many, data, group


def _table_out(t: fast._Table) -> tuple:
    fields = tuple((alias, *_field_out(spec)) for alias, spec in t.fields.items())
    return (
        t.name,
        t.version,
        t.supported,
        tuple(sorted(t.required)),
        t.groups_required,
        t.resource,
        fields,
    )


def _type_names(version: str) -> list[str]:
    """Every name ``get_fhir_model_class`` answers for (its ``<Name>Type`` exists and its module is
    there), found without importing the models."""
    from fhir_core.types import FhirBase

    ft = importlib.import_module(_package(version) + ".fhirtypes")
    names = []
    for attr in dir(ft):
        tp = getattr(ft, attr)
        if not (attr.endswith("Type") and isinstance(tp, type) and issubclass(tp, FhirBase)):
            continue
        target = getattr(tp, "_model_klass", None)
        if not isinstance(target, str) or "." not in target:
            continue
        if importlib.util.find_spec(target.rsplit(".", 1)[0]) is not None:
            names.append(attr[: -len("Type")])
    return sorted(names)


def build(version: str) -> dict:
    """The compiled tables for ``version`` ("R4B" or "R5"), straight from the models (slow)."""
    get = importlib.import_module(_package(version)).get_fhir_model_class
    resources: dict[str, str | None] = {}
    todo: list[fast._Table] = []
    tables: dict[str, tuple] = {}
    keys: dict[int, str] = {}
    for rtype in RESOURCES:
        try:
            cls = get(rtype)
        except (KeyError, ValueError, ImportError, AttributeError):
            continue
        t = fast.table_for(cls)
        ok = cls.__resource_type__ == rtype and cls.has_resource_base() and t.supported
        key = f"{cls.__module__}.{cls.__qualname__}"
        resources[rtype] = key if ok else None
        if ok:
            keys[id(t)] = key
            todo.append(t)
    while todo:
        t = todo.pop()
        key = keys[id(t)]
        if key in tables:
            continue
        tables[key] = _table_out(t)
        for kind, _many, arg, _group in t.fields.values():
            if kind == fast._CPLX and isinstance(arg, fast._Ref):
                if arg.key is None:  # a model class fhir.resources does not name: not compilable
                    raise ValueError(f"{t.name}: an element type without a model class name")
                sub = arg.resolve()
                keys[id(sub)] = arg.key
                if arg.key not in tables:
                    todo.append(sub)
    return {"resources": resources, "tables": tables, "types": _type_names(version)}


# ------------------------------------------------------------------------------------------- cache
def _path(version: str, key: dict | None = None) -> Path | None:
    """The cache file of ``version``'s tables, named by their key: two installations (or checkouts) of
    other versions sharing one cache folder each keep their own file instead of rebuilding each other's."""
    from fhirplugin.tx.icd import cache_dir

    folder = cache_dir()
    if folder is None:
        return None
    digest = hashlib.sha256(repr(key if key is not None else _key(version)).encode()).hexdigest()[:12]
    tag = f"py{sys.version_info[0]}{sys.version_info[1]}"
    return folder / f"fhir-tables-{version}-{tag}-{digest}.marshal"


def _write(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".fhir-tables-", suffix=".marshal")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(marshal.dumps(doc))
        os.chmod(tmp, 0o644)  # readable by a service user other than the builder
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _read(path: Path, key: dict) -> dict | None:
    try:
        doc = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if not isinstance(doc, dict) or doc.get("key") != key:
        return None
    if not all(
        isinstance(doc.get(k), t) for k, t in (("resources", dict), ("tables", dict), ("types", list))
    ):
        return None
    return doc


@cache
def _store(version: str) -> dict | None:
    """The compiled tables of ``version``: read from the cache, else built and cached; None when
    there is no cache to keep them in (the fast module then builds tables from the models itself)."""
    key = _key(version)
    path = _path(version, key)
    if path is None:
        return None
    doc = _read(path, key) if path.is_file() else None
    if doc is None:
        try:
            doc = {"key": key, **build(version)}
        except Exception as exc:  # noqa: BLE001 - a model this module cannot compile: build tables live
            log.warning("FHIR %s tables not compiled (%s: %s)", version, type(exc).__name__, exc)
            return None
        try:
            _write(path, doc)
        except OSError as exc:
            log.info("FHIR tables not cached in %s: %s", path.parent, exc.strerror or exc)
            return None
    doc["types"] = frozenset(doc["types"])
    return doc


def prepare() -> list[Path]:
    """Compile and cache the tables of both versions now (the Docker image does this at build time)."""
    done = []
    for version in ("R4B", "R5"):
        path = _path(version)
        if _store(version) is not None and path is not None:
            done.append(path)
    return done


_TABLES: dict[str, fast._Table] = {}


def table(key: str) -> fast._Table:
    """The table of the element or resource class ``key`` (its dotted name)."""
    t = _TABLES.get(key)
    if t is not None:
        return t
    version = "R4B" if key.startswith("fhir.resources.R4B.") else "R5"
    store = _store(version)
    raw = store["tables"].get(key) if store is not None else None
    if raw is None:  # not compiled: from the model class itself
        module, _, name = key.rpartition(".")
        t = fast.table_for(getattr(importlib.import_module(module), name))
    else:
        name, ver, supported, required, groups_required, resource, fields = raw
        t = fast._Table(name, ver)
        t.supported = supported
        t.required = frozenset(required)
        t.groups_required = tuple(groups_required)
        t.resource = resource
        for alias, kind, many, data, group in fields:
            arg: fast._Arg
            if kind == fast._PRIM:
                arg = fast.checker_from_spec(tuple(data))
            elif kind == fast._CPLX:
                arg = fast._Ref(None, data)
            else:
                arg = None
            t.fields[alias] = (kind, many, arg, group)
    _TABLES[key] = t
    return t


def resource_table(rtype: str, version: str):
    """The table of a concrete resource type: a table, None (not one the fast check takes), or
    :data:`MISSING` when it is not compiled here (then the caller reads the models)."""
    store = _store(version)
    if store is None:
        return MISSING
    if rtype in store["resources"]:
        key = store["resources"][rtype]
        return table(key) if key is not None else None
    if rtype not in store["types"]:
        return None  # no such FHIR type in this version
    return MISSING


def type_names(version: str) -> frozenset[str] | None:
    """Every type name of ``version`` ("R4B" or "R5") the models answer for; None without a cache."""
    store = _store(version)
    return store["types"] if store is not None else None
