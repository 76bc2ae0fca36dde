"""Configuration: built-in defaults, then a TOML file (``--config`` / ``FHIRPLUGIN_CONFIG``), then
``FHIRPLUGIN_*`` environment variables, read with pydantic-settings.

Example ``fhirplugin.toml``::

    select = ["DRN", "DEV", "GEN"]        # rule ids or prefixes; empty = all
    ignore = ["GEN003"]
    structure_scope = "checked"           # structure errors only of Claims, EOBs, ChargeItems, orders
    [severity]
    DRN005 = "error"
    [terminology]
    cpt_file = "/data/ama/MEDU.txt"
    ptp_paths = ["/data/cms/ptp"]
    mue_paths = ["/data/cms/MCR_MUE_PractitionerServices.csv"]
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from fhirplugin.findings import Severity


class TerminologySettings(BaseModel):
    cpt_file: Path | None = None  # a licensed CPT data file (AMA tab-separated or CSV)
    ptp_paths: list[Path] = Field(default_factory=list)  # CMS PTP .txt parts, folders or zips
    mue_paths: list[Path] = Field(default_factory=list)  # CMS MUE .csv files, folders or zips
    ncci_table: str = "practitioner"  # practitioner | hospital (which built-in / CMS table)
    aoc_paths: list[Path] = Field(default_factory=list)  # CMS add-on code edit files (AOC_V2024Q3…)
    pfs_paths: list[Path] = Field(default_factory=list)  # PFS relative value files (PPRRVU…, RVU24C.zip)
    hcpcs_paths: list[Path] = Field(default_factory=list)  # HCPCS Level II ANWEB files
    modifier_paths: list[Path] = Field(default_factory=list)  # full modifier lists (Level I + II)
    store: Path | None = None  # the SQLite store `fhirplugin data import` writes (default: cache folder)


class IssuerSettings(BaseModel):
    iss: str
    jwks_url: str | None = None
    jwks_file: Path | None = None
    allowed_jku: list[str] = Field(default_factory=list)
    fhir_servers: list[str] = Field(default_factory=list)


class ServiceSettings(BaseModel):
    public_url: str | None = None  # the base URL EHRs call (for the JWT `aud` check); default from request
    issuers: list[IssuerSettings] = Field(default_factory=list)
    insecure: bool = False
    feedback_db: Path = Path("fhirplugin-feedback.sqlite3")
    max_body_bytes: int = 5 * 1024 * 1024
    cors_origins: list[str] = Field(default_factory=lambda: ["*"])
    fetch_timeout: float = 3.0
    fetch_max_bytes: int = 5 * 1024 * 1024
    jwt_leeway: int = 30
    jwks_cache_seconds: int = 300  # how long a fetched JWKS (jwks_url / allowed jku) is trusted


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FHIRPLUGIN_", env_nested_delimiter="__", extra="forbid")

    select: list[str] = Field(default_factory=list)
    ignore: list[str] = Field(default_factory=list)
    severity: dict[str, Severity] = Field(default_factory=dict)
    fhir_version: str = "auto"
    max_resource_bytes: int = 16 * 1024 * 1024
    max_depth: int = 64
    # "all": structure errors of every resource submitted; "checked": only of the resources fhirplugin
    # code-checks (Claim, ExplanationOfBenefit, ChargeItem, Procedure, ServiceRequest), not of the
    # Coverage, Condition, Organization... entries around them, nor of the Bundle wrapper
    structure_scope: Literal["all", "checked"] = "all"
    terminology: TerminologySettings = Field(default_factory=TerminologySettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)

    @field_validator("select", "ignore")
    @classmethod
    def _upper(cls, v: list[str]) -> list[str]:
        return [s.strip().upper() for s in v if s.strip()]

    @field_validator("severity", mode="before")
    @classmethod
    def _sev(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {str(k).upper(): (s.lower() if isinstance(s, str) else s) for k, s in v.items()}
        return v

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _CONFIG_PATH or os.environ.get("FHIRPLUGIN_CONFIG")
        if path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(path)))
        return tuple(sources)

    def rule_enabled(self, rule_id: str) -> bool:
        rid = rule_id.upper()
        if self.select and not any(rid.startswith(s) for s in self.select):
            return False
        return not any(rid.startswith(s) for s in self.ignore)


_CONFIG_PATH: str | None = None


class ConfigError(ValueError):
    pass


def load_settings(config: Path | str | None = None, **overrides: Any) -> Settings:
    """Settings from defaults, the TOML file, the environment and ``overrides`` (highest first)."""
    global _CONFIG_PATH
    path = str(config) if config else None
    if path and not Path(path).is_file():
        raise ConfigError(f"config file {path} not found")
    _CONFIG_PATH = path
    try:
        return Settings(**overrides)
    except Exception as exc:  # noqa: BLE001 - pydantic ValidationError or TOML decode error
        raise ConfigError(f"invalid configuration{f' in {path}' if path else ''}: {exc}") from None
    finally:
        _CONFIG_PATH = None
