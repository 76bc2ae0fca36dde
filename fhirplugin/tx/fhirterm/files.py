"""Reading the terminology JSON files: one resource per file, checked against the fhir.resources model
(R4B, else R5) unless told not to, kept by url with the other keys it is looked up by; and the code
normalisation per system that look-ups share."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fhirplugin.resources import read_json_object
from fhirplugin.systems import CPT, HCPCS, ICD10CM
from fhirplugin.tx import icd

if TYPE_CHECKING:
    from pydantic import BaseModel


class TerminologyDataError(ValueError):
    """A terminology file is broken or refers to something that does not exist; names the file."""


def norm_code(system: str | None, code: str) -> str:
    """A code as look-ups compare it: ICD-10-CM without the dot, CPT/HCPCS upper case, others stripped."""
    if system == ICD10CM:
        return icd.normalize(code)
    if system in (CPT, HCPCS):
        return code.strip().upper()
    return code.strip()


def strip_version(canonical: str | None) -> str | None:
    return canonical.split("|", 1)[0] if canonical else canonical


def _models(kind: str) -> tuple[type[BaseModel], type[BaseModel]]:
    """The fhir.resources R4B and R5 model classes of ``kind`` (ValueSet, ConceptMap, CodeSystem)."""
    import importlib

    module = kind.lower()
    r4b = importlib.import_module(f"fhir.resources.R4B.{module}")
    r5 = importlib.import_module(f"fhir.resources.{module}")
    return getattr(r4b, kind), getattr(r5, kind)


def _fhirpath(kind: str, loc: Iterable[Any]) -> str:
    out = kind
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _model_problem(kind: str, model: type[BaseModel], data: dict[str, Any]) -> str | None:
    """None when ``data`` passes ``model``, else a short description of what is wrong."""
    from pydantic import ValidationError

    try:
        model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        shown = "; ".join(f"{_fhirpath(kind, e['loc'])}: {e['msg']}" for e in errors[:5])
        return shown + (f" (and {len(errors) - 5} more)" if len(errors) > 5 else "")
    except (TypeError, ValueError) as exc:  # fhir.resources raises plain ValueErrors for some checks
        return str(exc)
    return None


def read_resource(path: Path, kind: str, check_models: bool = True) -> dict[str, Any]:
    """Parse one JSON file and check it is a valid ``kind`` (R4B, else R5; the model check is left out
    with ``check_models=False``, for the shipped files the tests validate)."""
    data = read_json_object(path, TerminologyDataError, f"a {kind}")
    if data.get("resourceType") != kind:
        raise TerminologyDataError(f"{path}: resourceType is {data.get('resourceType')!r}, expected {kind!r}")
    if check_models:
        r4b, r5 = _models(kind)
        problem = _model_problem(kind, r4b, data)
        if problem is not None and _model_problem(kind, r5, data) is not None:
            raise TerminologyDataError(f"{path}: not a valid FHIR {kind}: {problem}")
    if not isinstance(data.get("url"), str) or not data["url"]:
        raise TerminologyDataError(f"{path}: {kind}.url is required (resources are looked up by url)")
    return data


def json_files(folder: Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise TerminologyDataError(f"{folder}: no such folder")
    return sorted(p for p in folder.rglob("*.json") if p.is_file())


class Registry:
    """Resources of one kind keyed by url, url|version, id, ``Kind/id`` and name."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.by_key: dict[str, str] = {}  # key -> url
        self.files: dict[str, Path] = {}  # url -> file
        self.raw: dict[str, dict[str, Any]] = {}  # url -> JSON

    def add(self, path: Path, data: dict[str, Any]) -> None:
        url = data["url"]
        if url in self.files:
            raise TerminologyDataError(f"{path}: {self.kind} url {url!r} is also used by {self.files[url]}")
        keys = {url}
        if data.get("version"):
            keys.add(f"{url}|{data['version']}")
        if data.get("id"):
            keys |= {data["id"], f"{self.kind}/{data['id']}"}
        if data.get("name"):
            keys.add(data["name"])
        for key in keys:
            other = self.by_key.get(key)
            if other is not None and other != url:
                raise TerminologyDataError(
                    f"{path}: {self.kind} key {key!r} (id, name or url) is also used by {self.files[other]}"
                )
        for key in keys:
            self.by_key[key] = url
        self.files[url] = path
        self.raw[url] = data

    def resolve(self, ref: str) -> str | None:
        return self.by_key.get(ref) or self.by_key.get(strip_version(ref) or "")

    def lookup(self, ref: str) -> str:
        url = self.resolve(ref) if isinstance(ref, str) else None
        if url is None:
            raise KeyError(f"no {self.kind} {ref!r} is loaded")
        return url
