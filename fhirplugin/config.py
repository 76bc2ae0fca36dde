"""Configuration: built-in defaults, then a TOML file (``--config`` / ``FHIRPLUGIN_CONFIG``), then
``FHIRPLUGIN_*`` environment variables, read with pydantic-settings.

pydantic-settings (and the asyncio, dotenv and cloud-provider modules it imports, ~50 ms of every
start) is imported only when a TOML file is given or a ``FHIRPLUGIN_*`` variable names a setting;
otherwise :class:`Settings` is the built-in defaults and the keyword arguments, validated by the
same model.

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
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
    fetch_timeout: float = 3.0  # connect timeout and the limit on each socket read from fhirServer
    fetch_deadline: float = 5.0  # wall-clock limit on all fhirServer reads of one hook call together
    fetch_max_reads: int = 100  # fhirServer reads per hook call, failed ones included
    fetch_concurrency: int = 8  # fhirServer reads in flight at once for one hook call
    fetch_max_bytes: int = 5 * 1024 * 1024
    jwt_leeway: int = 30
    jwt_max_lifetime: int = 300  # seconds a client JWT may live (exp - iat, and exp - now), plus leeway
    jwks_cache_seconds: int = 300  # how long a fetched JWKS (jwks_url / allowed jku) is trusted
    replay_db: Path | None = None  # the seen-jti store (SQLite); default: beside feedback_db
    replay_url: str | None = None  # redis://host:port/db: a jti store shared by several hosts
    validate_open: bool = False  # with issuers configured, $validate without a JWT too
    max_resources: int = 500  # resources checked for one request ($validate body or hook call)
    max_lines: int = 1_000  # Claim lines checked for one request, all Claims together
    header_timeout: float = 10.0  # seconds to receive a request's headers (slow clients are cut off)
    body_timeout: float = 30.0  # seconds to receive a request's body once its headers are in


if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

ENV_PREFIX = "FHIRPLUGIN_"


class Settings(BaseModel):
    """The settings. ``Settings(**values)`` reads the ``FHIRPLUGIN_*`` variables and the TOML file
    (``FHIRPLUGIN_CONFIG``, or the one :func:`load_settings` is given) with pydantic-settings, as a
    ``BaseSettings`` would: the keyword arguments first, then the environment, then the file."""

    model_config = ConfigDict(extra="forbid")
    _reads_sources: ClassVar[bool] = True  # False in the pydantic-settings loader (a subclass)

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

    @model_validator(mode="after")
    def _known_rules(self) -> Settings:
        """Every id or prefix in select/ignore/[severity] must match a rule: a typo must not turn the
        checks off (``select = ["XYZ"]`` would otherwise select nothing and pass every input)."""
        problems = unknown_rule_ids(self.select, "select") + unknown_rule_ids(self.ignore, "ignore")
        problems += unknown_rule_ids(list(self.severity), "severity", exact=True)
        if problems:
            raise ValueError("; ".join(problems) + " (`fhirplugin rules` lists the rules)")
        return self

    def __init__(self, **values: Any) -> None:
        if self._reads_sources and (_config_path() or _env_names_a_setting()):
            loaded = _loader()(**values)  # validated there, so its errors are pydantic-settings' own
            values = {name: getattr(loaded, name) for name in loaded.model_fields_set}
        super().__init__(**values)

    def rule_enabled(self, rule_id: str) -> bool:
        rid = rule_id.upper()
        if self.select and not any(rid.startswith(s) for s in self.select):
            return False
        return not any(rid.startswith(s) for s in self.ignore)


_CONFIG_PATH: str | None = None


def _config_path() -> str | None:
    return _CONFIG_PATH or os.environ.get("FHIRPLUGIN_CONFIG")


def _env_names_a_setting() -> bool:
    """Whether some ``FHIRPLUGIN_<field>`` or ``FHIRPLUGIN_<field>__...`` variable is set (any case,
    as pydantic-settings matches them); other FHIRPLUGIN_* variables (CACHE_DIR, PORT) are not read
    by the settings."""
    fields = Settings.model_fields
    n = len(ENV_PREFIX)
    return any(
        k[:n].upper() == ENV_PREFIX and k[n:].lower().split("__", 1)[0] in fields for k in os.environ
    )


@cache
def _loader() -> type[BaseSettings]:
    """:class:`Settings` as a pydantic-settings ``BaseSettings`` (same fields and validators), made
    on first use."""
    from pydantic_settings import (
        BaseSettings,
        PydanticBaseSettingsSource,
        SettingsConfigDict,
        TomlConfigSettingsSource,
    )

    class Settings_(BaseSettings, Settings):
        model_config = SettingsConfigDict(
            env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", title="Settings"
        )
        _reads_sources: ClassVar[bool] = False

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
            path = _config_path()
            if path:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(path)))
            return tuple(sources)

    return Settings_


def unknown_rule_ids(values: list[str], field: str, *, exact: bool = False) -> list[str]:
    """One message per entry of ``values`` that matches no registered rule id (as a prefix, unless
    ``exact``), each naming the closest ids and families."""
    if not values:
        return []
    import difflib

    from fhirplugin.rules import REGISTRY  # registers every rule; only when there is something to check

    ids = [cls.id for cls in REGISTRY.all()]
    families = sorted({i[:3] for i in ids})
    out = []
    for value in values:
        v = value.upper()
        if (v in ids) if exact else any(i.startswith(v) for i in ids):
            continue
        pool = ids if exact else ids + families
        close = difflib.get_close_matches(v, pool, n=3, cutoff=0.5)
        if not close and len(v) >= 3:
            close = [i for i in ids if i.startswith(v[:3])][:3]
        hint = f" (closest: {', '.join(close)})" if close else ""
        what = "rule id" if exact else "rule id or prefix"
        out.append(f"{field}: {value!r} is not a {what}{hint}")
    return out


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
        raise ConfigError(f"invalid configuration{_origin(path, exc)}: {_explain(exc)}") from None
    finally:
        _CONFIG_PATH = None


def _origin(path: str | None, exc: Exception) -> str:
    """Where the bad settings came from, for an error message: the file and the FHIRPLUGIN_*
    variables set for the fields in error."""
    from pydantic import ValidationError

    fields: set[str] = set()
    if isinstance(exc, ValidationError):
        for e in exc.errors(include_url=False):
            if e.get("loc"):
                fields.add(str(e["loc"][0]))
            else:  # a whole-model check (unknown rule ids) names its fields in the message
                fields.update(f for f in Settings.model_fields if f"{f}: " in str(e.get("msg", "")))
    env = sorted(
        k
        for k in os.environ
        if k.startswith("FHIRPLUGIN_") and k.removeprefix("FHIRPLUGIN_").split("__")[0].lower() in fields
    )
    parts = ([path] if path else []) + env
    return f" ({', '.join(parts)})" if parts else ""


def _explain(exc: Exception) -> str:
    """A pydantic ValidationError as one line per problem (``field: message``), without its URLs."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        lines = []
        for e in exc.errors(include_url=False):
            loc = ".".join(str(p) for p in e.get("loc") or ())
            msg = str(e.get("msg", "")).removeprefix("Value error, ")
            lines.append(f"{loc}: {msg}" if loc else msg)
        return "; ".join(lines)
    return str(exc)
