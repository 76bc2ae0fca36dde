"""Configuration is validated against the rule registry and reaches every rule, INP/STR included."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fhirplugin.config import ConfigError, load_settings
from fhirplugin.engine import Engine
from fhirplugin.findings import Severity

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "drainage" / "bundle.json"
# a Claim with an unknown element (STR003) and required elements missing (STR002)
BAD_STRUCTURE = {"resourceType": "Claim", "status": "active", "bogus": 1}


def cli(*args: str, env: dict | None = None, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("FHIRPLUGIN_")} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "fhirplugin", *args],
        capture_output=True,
        timeout=120,
        env=full,
        input=stdin,
    )


@pytest.mark.parametrize(
    ("toml", "named", "closest"),
    [
        ('select = ["XYZ"]\n', "'XYZ'", None),
        ('select = ["DRNX"]\n', "'DRNX'", "DRN"),
        ('ignore = ["GEN01"]\n', "'GEN01'", "GEN001"),
        ('[severity]\nDRN06 = "error"\n', "'DRN06'", "DRN006"),
        ('[severity]\nDRN = "error"\n', "'DRN'", None),  # severity takes whole ids, not prefixes
    ],
)
def test_unknown_rule_in_config_file_is_exit_2_naming_it(tmp_path, toml, named, closest):
    cfg = tmp_path / "fhirplugin.toml"
    cfg.write_text(toml)
    proc = cli("validate", "--config", str(cfg), str(EXAMPLE))
    assert proc.returncode == 2
    msg = proc.stderr.decode()
    assert named in msg and str(cfg) in msg
    if closest:
        assert "closest" in msg and closest in msg
    assert proc.stdout == b""  # nothing checked, nothing printed as if it passed


def test_unknown_rule_in_environment_is_exit_2_naming_the_variable():
    proc = cli("validate", str(EXAMPLE), env={"FHIRPLUGIN_SELECT": '["DRNX"]'})
    assert proc.returncode == 2
    msg = proc.stderr.decode()
    assert "FHIRPLUGIN_SELECT" in msg and "'DRNX'" in msg and "DRN" in msg


@pytest.mark.slow
def test_service_refuses_to_start_with_an_unknown_rule():
    proc = cli("serve", "--port", "0", env={"FHIRPLUGIN_IGNORE": '["GEN0001"]'})
    assert proc.returncode == 2
    assert "'GEN0001'" in proc.stderr.decode()


def test_known_ids_and_prefixes_are_accepted():
    s = load_settings(select=["drn", "GEN001"], ignore=["DEV"], severity={"drn006": "error"})
    assert s.select == ["DRN", "GEN001"] and s.severity == {"DRN006": Severity.ERROR}


def test_load_settings_raises_config_error_for_an_unknown_id():
    with pytest.raises(ConfigError, match="closest: DRN001"):
        load_settings(ignore=["DRN01"])


def rules_of(result) -> list[tuple[str, str]]:
    return sorted({(f.rule_id, f.severity.value) for f in result.findings})


def test_ignore_str_drops_structure_findings_and_their_exit():
    plain = Engine(load_settings()).check_object(BAD_STRUCTURE)
    assert {"STR002", "STR003"} <= {f.rule_id for f in plain.findings}
    quiet = Engine(load_settings(ignore=["STR"])).check_object(BAD_STRUCTURE)
    assert not [f for f in quiet.findings if f.rule_id.startswith("STR")]
    assert not quiet.fails(Severity.ERROR)


def test_severity_regrades_structure_and_input_findings():
    eng = Engine(load_settings(severity={"STR003": "warning", "INP001": "error"}))
    found = rules_of(eng.check_object(BAD_STRUCTURE))
    assert ("STR003", "warning") in found and ("STR002", "error") in found
    [res] = eng.check_bytes(b"not json")
    assert rules_of(res) == [("INP001", "error")]


def test_select_keeps_only_selected_reader_rules_but_never_hides_unreadable_input():
    eng = Engine(load_settings(select=["DRN"]))
    assert not eng.check_object(BAD_STRUCTURE).findings  # STR not selected
    [res] = eng.check_bytes(b"not json")  # nothing could be read: still said
    assert rules_of(res) == [("INP001", "fatal")]
    [res] = Engine(load_settings(select=["DRN"], ignore=["INP001"])).check_bytes(b"not json")
    assert res.findings == []  # named in ignore: the user asked for it


def test_cli_ignore_str_exits_0(tmp_path):
    p = tmp_path / "claim.json"
    p.write_text('{"resourceType": "Claim", "status": "active", "bogus": 1}')
    assert cli("validate", str(p)).returncode == 1
    cfg = tmp_path / "c.toml"
    cfg.write_text('ignore = ["STR"]\n')
    proc = cli("validate", "--config", str(cfg), str(p))
    assert proc.returncode == 0, proc.stdout
    assert b"STR00" not in proc.stdout


# Settings() reads the environment and the TOML file with pydantic-settings only when one of them
# names a setting; the values must be the same as when pydantic-settings reads them all
@pytest.mark.parametrize(
    ("env", "toml"),
    [
        ({}, None),
        ({"FHIRPLUGIN_SELECT": '["drn", "gen"]', "FHIRPLUGIN_MAX_DEPTH": "12"}, None),
        ({"fhirplugin_terminology__ncci_table": "hospital"}, None),  # any case, nested
        ({"FHIRPLUGIN_CACHE_DIR": "/tmp/x", "FHIRPLUGIN_PORT": "1"}, None),  # not settings
        ({"FHIRPLUGIN_IGNORE": '["DRN005"]'}, 'ignore = ["GEN"]\n[severity]\nDRN006 = "ERROR"\n'),
    ],
)
def test_settings_are_those_pydantic_settings_reads(tmp_path, monkeypatch, env, toml):
    from fhirplugin.config import Settings, _loader

    for k in [k for k in os.environ if k.upper().startswith("FHIRPLUGIN_")]:
        monkeypatch.delenv(k)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    if toml:
        cfg = tmp_path / "f.toml"
        cfg.write_text(toml)
        monkeypatch.setenv("FHIRPLUGIN_CONFIG", str(cfg))
    fast = Settings(structure_scope="checked")
    full = _loader()(structure_scope="checked")
    assert type(fast) is Settings
    assert fast.model_dump() == full.model_dump()
    assert fast.model_fields_set == full.model_fields_set


def test_validate_without_config_does_not_import_pydantic_settings():
    code = (
        "import sys; from fhirplugin.cli import main; rc = main(['validate', '-f', 'outcome', "
        f"{str(EXAMPLE)!r}]); sys.stderr.write(str(sorted(m for m in sys.modules if m.startswith("
        "('pydantic_settings', 'multiprocessing', 'fhir.resources')))))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIRPLUGIN_")}
    # the first run may build the cache folder's compiled tables (from the models); the second reads them
    subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120, env=env)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120, env=env)
    assert proc.stdout.count(b"OperationOutcome") == 1
    assert proc.stderr.decode().strip().splitlines()[-1] == "[]"
