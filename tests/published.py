"""The HL7 FHIR example packages from the npm registry, fetched once into a cache outside the checkout.

``fetch(name, version)`` returns the path of ``<name>-<version>.tgz`` in the cache
(``FHIRPLUGIN_TEST_CACHE``, else ``$XDG_CACHE_HOME/fhirplugin-test``, else ``~/.cache/fhirplugin-test``),
running ``npm pack`` when it is not there yet; None with the reason when npm or the registry is not
available. ``.ci/run`` prefetches the same packages. Nothing is written inside the repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import orjson

PACKAGES = {"R4": ("hl7.fhir.r4.examples", "4.0.1"), "R5": ("hl7.fhir.r5.examples", "5.0.0")}
CHECKED = ("Claim", "Procedure", "ServiceRequest", "ExplanationOfBenefit", "ChargeItem")


def cache_dir() -> Path:
    if env := os.environ.get("FHIRPLUGIN_TEST_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fhirplugin-test"


def fetch(name: str, version: str) -> tuple[Path | None, str]:
    folder = cache_dir()
    path = folder / f"{name}-{version}.tgz"
    if path.is_file() and path.stat().st_size > 0:
        return path, "cached"
    npm = shutil.which("npm")
    if npm is None:
        return None, f"npm is not installed, and {path} is not cached"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            [npm, "pack", f"{name}@{version}", "--pack-destination", str(folder), "--silent"],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"npm pack {name}@{version} failed: {exc}"
    if proc.returncode != 0 or not path.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return None, f"npm pack {name}@{version} failed (registry unreachable?): {tail[0][:200]}"
    return path, "fetched"


def examples(tgz: Path, types: tuple[str, ...] = CHECKED) -> Iterator[tuple[str, bytes]]:
    """(file name, bytes) of every example file of one of ``types`` in a package (by file name, then
    resourceType)."""
    prefixes = tuple(f"package/{t}-" for t in types)
    with tarfile.open(tgz) as tf:
        for member in tf:
            if (
                not member.isfile()
                or not member.name.endswith(".json")
                or not member.name.startswith(prefixes)
            ):
                continue
            f = tf.extractfile(member)
            if f is None:
                continue
            data = f.read()
            try:
                value = orjson.loads(data)
            except orjson.JSONDecodeError:
                continue
            if isinstance(value, dict) and value.get("resourceType") in types:
                yield member.name.removeprefix("package/"), data
