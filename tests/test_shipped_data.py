"""Every FHIR resource shipped under ``terminology/`` and ``profiles/`` is valid for fhir.resources.

The engine reads these files without building fhir.resources models (that made up most of a cold
start), so this is where a broken shipped file is caught: each file through the same loaders with
the model check on, and each file straight through the fhir.resources models (R4B, else R5).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhirplugin.fhir.profiles import ProfileRegistry
from fhirplugin.resources import data_dir
from fhirplugin.tx.fhirterm import CodeSystems, ConceptMaps, ValueSets

KINDS = ("ValueSet", "ConceptMap", "CodeSystem", "StructureDefinition")


def _shipped() -> list[Path]:
    files = []
    for kind in ("terminology", "profiles"):
        for path in sorted(data_dir(kind).rglob("*.json")):
            if "examples" not in path.relative_to(data_dir(kind)).parts:
                files.append(path)
    return files


def _model(kind: str, version: str):
    if version == "R5":
        from fhir.resources import get_fhir_model_class
    else:
        from fhir.resources.R4B import get_fhir_model_class
    return get_fhir_model_class(kind)


@pytest.mark.parametrize("path", _shipped(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_resource_is_valid_fhir(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    kind = data.get("resourceType")
    assert kind in KINDS, f"{path}: unexpected resourceType {kind!r}"
    declared = str(data.get("fhirVersion", ""))
    versions = ["R5"] if declared.startswith("5") else ["R4B", "R5"]
    errors = []
    for version in versions:
        try:
            _model(kind, version).model_validate(data)
            return
        except Exception as exc:  # noqa: BLE001 - pydantic ValidationError or fhir.resources ValueError
            errors.append(f"{version}: {exc}")
    pytest.fail(f"{path} is not a valid FHIR {kind}: " + " | ".join(errors)[:2000])


def test_shipped_folders_load_with_the_model_check() -> None:
    root = data_dir("terminology")
    codesystems = CodeSystems.load_dir(root / "codesystems", check_models=True)
    checked = ValueSets.load_dir(root / "valuesets", codesystems=codesystems, check_models=True)
    maps = ConceptMaps.load_dir(root / "conceptmaps", check_models=True)
    assert set(checked) == set(ValueSets.builtin())
    assert set(maps) == set(ConceptMaps.builtin())
    registry = ProfileRegistry.load_dir(data_dir("profiles"), check_models=True)
    fast = ProfileRegistry.builtin()
    assert {sd.url for sd in registry.profiles()} == {sd.url for sd in fast.profiles()}
    extensions = [
        json.loads(p.read_text(encoding="utf-8"))["url"]
        for p in (data_dir("profiles") / "extensions").glob("*.json")
    ]
    assert extensions and all(registry.extension(u) and fast.extension(u) for u in extensions)
