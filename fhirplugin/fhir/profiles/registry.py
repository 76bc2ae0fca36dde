"""The profiles we hold: resource profiles per FHIR major version, extension definitions for every
version, the profiles' own ValueSets; the built-in set from ``profiles/``, and the module API."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from fhirplugin.fhir.profiles.checker import Checker
from fhirplugin.fhir.profiles.compile import compile_definition, load_json, model_check
from fhirplugin.fhir.profiles.model import (
    PROFILE_BASE,
    ProfileClaim,
    ProfileDataError,
    StructureDef,
    Violation,
    fhir_major,
    strip_version,
)
from fhirplugin.resources import data_dir
from fhirplugin.tx.fhirterm import CodeSystems, TerminologyDataError, ValueSets

if TYPE_CHECKING:
    from fhirplugin.tx.store import Terminology


class ProfileRegistry:
    """StructureDefinitions by url (resource profiles per FHIR major version, extensions for all)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self._profiles: dict[str, dict[str, StructureDef]] = {}  # url -> major -> SD
        self._extensions: dict[str, StructureDef] = {}
        self.valuesets: ValueSets | None = None  # the profiles' own ValueSets
        self._whole: dict[str, frozenset[str] | None] = {}
        self._local_systems: CodeSystems | None = None

    @classmethod
    def load_dir(
        cls, folder: Path, *, codesystems: CodeSystems | None = None, check_models: bool = True
    ) -> ProfileRegistry:
        """Every StructureDefinition under ``folder`` (not ``examples/``); ValueSets from ``valuesets/``.

        Each file is also validated with fhir.resources unless ``check_models=False`` (the shipped
        profiles, which the tests validate: building those models is most of a cold start)."""
        self = cls(Path(folder))
        folder = Path(folder)
        if not folder.is_dir():
            raise ProfileDataError(f"{folder}: no such folder")
        self._local_systems = codesystems if codesystems is not None else CodeSystems.builtin()
        for path in sorted(folder.rglob("*.json")):
            rel = path.relative_to(folder).parts
            if rel[0] in ("examples", "valuesets"):
                continue
            data = load_json(path)
            if data.get("resourceType") != "StructureDefinition":
                raise ProfileDataError(
                    f"{path}: resourceType is {data.get('resourceType')!r}; profiles/ holds StructureDefinitions "
                    "(ValueSets go in profiles/valuesets/, instances in profiles/examples/)"
                )
            sd = compile_definition(path, data)
            if check_models:
                model_check(path, data, sd.major)
            self.add(sd)
        vs_dir = folder / "valuesets"
        if vs_dir.is_dir():
            try:
                self.valuesets = ValueSets.load_dir(
                    vs_dir, codesystems=self._local_systems, check_models=check_models
                )
            except TerminologyDataError as exc:
                raise ProfileDataError(str(exc)) from None
        return self

    @classmethod
    def builtin(cls) -> ProfileRegistry:
        return _builtin(str(data_dir("profiles")))

    def add(self, sd: StructureDef) -> None:
        if sd.type == "Extension":
            other = self._extensions.get(sd.url)
            if other is not None:
                raise ProfileDataError(f"{sd.path}: extension {sd.url} is also defined by {other.path}")
            self._extensions[sd.url] = sd
            return
        by_version = self._profiles.setdefault(sd.url, {})
        if sd.major in by_version:
            raise ProfileDataError(
                f"{sd.path}: profile {sd.url} for FHIR {sd.major} is also defined by {by_version[sd.major].path}"
            )
        by_version[sd.major] = sd

    # -- look-ups -----------------------------------------------------------------------------
    def profile(self, url: str, fhir_version: str) -> StructureDef | None:
        """The resource profile (or extension definition) for ``url`` and the input's FHIR version."""
        url = strip_version(url)
        if url in self._extensions:
            return self._extensions[url]
        return self._profiles.get(url, {}).get(fhir_major(fhir_version))

    def extension(self, url: str) -> StructureDef | None:
        return self._extensions.get(strip_version(url))

    def profiles(self) -> list[StructureDef]:
        return [sd for by_v in self._profiles.values() for sd in by_v.values()]

    def __contains__(self, url: object) -> bool:
        return isinstance(url, str) and (
            strip_version(url) in self._profiles or strip_version(url) in self._extensions
        )

    # -- what a resource claims -----------------------------------------------------------------
    def claims(self, resource: dict, base: str, fhir_version: str) -> list[ProfileClaim]:
        meta = resource.get("meta") if isinstance(resource, dict) else None
        profiles = meta.get("profile") if isinstance(meta, dict) else None
        out: list[ProfileClaim] = []
        seen: set[str] = set()
        for k, raw in enumerate(profiles if isinstance(profiles, list) else []):
            if not isinstance(raw, str) or not raw.strip():
                continue
            url = strip_version(raw.strip())
            if url in seen:
                continue
            seen.add(url)
            expr = f"{base}.meta.profile[{k}]"
            if self.profile(url, fhir_version) is not None:
                out.append(ProfileClaim(url, expr, "known"))
            elif url in self._profiles:
                versions = tuple(sorted(sd.fhir_version for sd in self._profiles[url].values()))
                out.append(ProfileClaim(url, expr, "other-version", versions))
            elif url.startswith(PROFILE_BASE):
                out.append(ProfileClaim(url, expr, "unknown"))
            else:
                out.append(ProfileClaim(url, expr, "foreign"))
        return out

    # -- conformance ----------------------------------------------------------------------------
    def check(
        self, resource: dict, base: str, fhir_version: str, tx: Terminology | None = None
    ) -> list[Violation]:
        """Violations of every profile of ours that ``resource.meta.profile`` names (and we hold)."""
        if not isinstance(resource, dict):
            return []
        out: list[Violation] = []
        for claim in self.claims(resource, base, fhir_version):
            if claim.status != "known":
                continue
            sd = self.profile(claim.url, fhir_version)
            assert sd is not None
            out.extend(Checker(self, sd, tx).run(resource, base, claim.expression))
        return out

    # -- bindings ---------------------------------------------------------------------------------
    def member(self, tx_valuesets: ValueSets | None, vs: str, system: str | None, code: str) -> bool | None:
        """Is (system, code) in ValueSet ``vs``? None when the ValueSet is not loaded anywhere."""
        for registry in (tx_valuesets, self.valuesets):
            if registry is None or vs not in registry:
                continue
            systems = self._whole_systems(registry, vs)
            if systems is not None:
                return system in systems
            return registry.contains(vs, system, code)
        return None

    def valueset_title(self, tx_valuesets: ValueSets | None, vs: str) -> str | None:
        for registry in (tx_valuesets, self.valuesets):
            if registry is not None and vs in registry:
                data = registry.get(vs)
                return data.get("title") or data.get("name")
        return None

    def _whole_systems(self, registry: ValueSets, vs: str) -> frozenset[str] | None:
        """The systems of a ValueSet made only of whole external code systems, else None."""
        key = f"{id(registry)}|{vs}"
        if key not in self._whole:
            data = registry.get(vs)
            compose = data.get("compose") or {}
            includes = compose.get("include") or []
            whole = (
                bool(includes)
                and not compose.get("exclude")
                and all(
                    inc.get("system")
                    and not inc.get("concept")
                    and not inc.get("filter")
                    and not inc.get("valueSet")
                    and not (self._local_systems is not None and inc["system"] in self._local_systems)
                    for inc in includes
                )
            )
            self._whole[key] = frozenset(inc["system"] for inc in includes) if whole else None
        return self._whole[key]


@cache
def _builtin(folder: str) -> ProfileRegistry:
    return ProfileRegistry.load_dir(Path(folder), check_models=False)


def profile_claims(resource: dict, base: str, fhir_version: str) -> list[ProfileClaim]:
    """What ``resource.meta.profile`` names, against the built-in profiles."""
    return ProfileRegistry.builtin().claims(resource, base, fhir_version)


def check_resource(
    resource: dict, base: str, fhir_version: str, tx: Terminology | None = None
) -> list[Violation]:
    """Violations of the built-in profiles that ``resource`` claims in ``meta.profile``.

    ``base`` is the FHIRPath of the resource in the input (``Claim``, ``Bundle.entry[2].resource``);
    ``fhir_version`` R4 / R4B / R5; ``tx`` the terminology (ValueSets for bindings; default: built-in).
    """
    return ProfileRegistry.builtin().check(resource, base, fhir_version, tx)
