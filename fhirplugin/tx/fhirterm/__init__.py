"""FHIR CodeSystems, ValueSets and ConceptMaps kept as JSON files, evaluated locally (no terminology
server).

Files live under ``data_dir("terminology")``: ``codesystems/*.json`` (our own code lists),
``valuesets/*.json`` and ``conceptmaps/*.json``. A folder given to ``load_dir`` is checked file by
file against the fhir.resources R4B model (R5 accepted), so a broken file fails at load time with a
message naming it. The files shipped with fhirplugin (``builtin()``) skip that check: the test suite
validates every one of them with fhir.resources, and building those models took most of the start-up
time. What each reader understands is in its module: :mod:`.codesystems`, :mod:`.valuesets`,
:mod:`.conceptmaps`; :mod:`.files` reads and keys the files.
"""

from fhirplugin.tx.fhirterm.codesystems import CodeSystems
from fhirplugin.tx.fhirterm.conceptmaps import ConceptMaps, Translation
from fhirplugin.tx.fhirterm.files import TerminologyDataError
from fhirplugin.tx.fhirterm.valuesets import ValueSets

__all__ = [
    "CodeSystems",
    "ConceptMaps",
    "TerminologyDataError",
    "Translation",
    "ValueSets",
]
