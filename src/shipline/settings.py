"""Settings: ``shipline.toml``, overridden by ``SHIPLINE_*`` environment variables.

This is the only place that reads the environment. The facade receives a
``Settings`` object; nothing else looks at ``os.environ``.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import tomllib
import typing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeGuard
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from shipline.errors import ConfigError


class Aliases(BaseModel):
    """Source codes mapped onto the closed vocabulary, e.g. ``"DLV" = "delivered"``."""

    event_type: dict[str, str] = Field(default_factory=dict)
    status: dict[str, str] = Field(default_factory=dict)


class SourceSettings(BaseModel):
    """What shipline knows of one source of events (``[sources.x12]``)."""

    timezone: str | None = None
    """The IANA zone its local times (with no offset) are in, when their location has none."""
    webhook_secret: str | None = None
    """The secret of its webhook (``/v1/webhooks/NAME``): the signing key of a provider
    that signs (EasyPost, AfterShip), else the ``token`` its webhook URL carries."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"{value!r} is not an IANA time zone name, such as 'America/Chicago'"
                ) from None
        return value


def _default_loader_keys() -> dict[str, list[str]]:
    """A fresh copy of the loader's own default keys (``shipline.loader.DEFAULT_KEYS``).

    Imported here, not at the top: importing settings must stay light, and the loader
    package brings pyarrow and the store with it.
    """
    from shipline.loader import DEFAULT_KEYS

    return {table: list(key) for table, key in DEFAULT_KEYS.items()}


_MEMORY_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]i?B)", re.IGNORECASE)
_MEMORY_UNITS = {"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}
"""Decimal units; a binary one (GiB) differs by under 10%, which the range allows."""
_MEMORY_FLOOR, _MEMORY_CEILING = 256e6, 1024e12


class Settings(BaseSettings):
    """Everything an operator can set.

    ``database`` is a DuckDB file path (the embedded default).
    """

    # Extra keys are ignored here so that unrelated SHIPLINE_* variables pass; the
    # settings file's keys are checked on their own (see _checked_toml).
    model_config = SettingsConfigDict(
        env_prefix="SHIPLINE_", env_nested_delimiter="__", extra="ignore"
    )

    database: str = "shipline.duckdb"
    lookback_days: int = Field(default=10, ge=0)
    """The base run covers shipments whose latest event is within this many days."""
    retention_days: int = Field(default=730, ge=1)
    """A shipment whose latest event is older than this is removed whole, by the nightly
    run and ``shipline retention apply``; until then it stays in the view."""
    incremental_batch_size: int = Field(default=500, ge=1)
    incremental_batch_window_seconds: float = Field(default=0.25, ge=0)
    max_batch_records: int = Field(default=10_000, ge=1)
    aliases: Aliases = Field(default_factory=Aliases)
    formats: dict[str, dict[str, str]] = Field(default_factory=dict)
    """Per industry format, its importer's options (``[formats.epcis] shipment_key =
    "business_transaction"``); a format's unknown option is a ConfigError at import."""
    sources: dict[str, SourceSettings] = Field(default_factory=dict)
    """Per source (the first part of an ingest's source name): its local time zone."""
    timestamp_min: datetime = datetime(1970, 1, 1, tzinfo=UTC)
    """The earliest ``event_timestamp`` accepted (inclusive); earlier ones are refused."""
    timestamp_max: datetime = datetime(2100, 1, 1, tzinfo=UTC)
    """The end of the accepted ``event_timestamp`` range (exclusive)."""
    duckdb_memory_limit: str | None = None
    """How much memory DuckDB may use (``"3GB"``, ``"3GiB"``); past it, it spills to a
    folder beside the database. Unset, 3 GiB (or DuckDB's own default, 80% of the
    machine's memory, where that is less): left to itself on a large machine, DuckDB
    fills most of it with a cache of the tables it read (``verify --all`` of 10M events
    peaked at 7.8 GiB), and under 3 GiB it takes as long."""
    verify_max_pending_seconds: float = Field(default=300, gt=0)
    """``verify`` fails as stuck when an accepted event has waited longer than this
    for a timeline run (or when any shipment is held)."""
    api_max_request_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    """The largest request body ``shipline serve`` accepts (413 above it)."""
    api_threads: int = Field(default=16, ge=1)
    """Threads an API process runs blocking work on (anyio's pool, 40 by default). On
    PostgreSQL each holds a connection of its own, so an API process opens at most
    this many plus four (ingest, processor, monitor, leader lease)."""
    api_rate_limit_per_key: float = Field(default=1000, ge=0)
    """Requests per second one API key may make to ``/v1`` and ``/dashboard/api``
    (per process; 0 turns the limit off). Above it: 429 with ``Retry-After``."""
    api_rate_limit_per_address: float = Field(default=2000, ge=0)
    """Requests per second one client address may make (per process; 0 is off). Behind
    a proxy, see ``api_forwarded_allow_ips``."""
    api_rate_limit_burst_seconds: float = Field(default=2, gt=0)
    """How many seconds' worth of requests a key or address may send at once."""
    api_forwarded_allow_ips: str = "127.0.0.1"
    """Proxies whose ``X-Forwarded-For`` names the client (uvicorn's list; ``*`` is any)."""
    api_header_timeout_seconds: float = Field(default=10, gt=0)
    """A request's headers must arrive within this long of the connection opening or
    of the previous response; a slower client is disconnected."""
    api_body_timeout_seconds: float = Field(default=60, gt=0)
    """A request's body must arrive within this long of its headers (408 after)."""
    api_keep_alive_seconds: int = Field(default=5, ge=1)
    """How long an idle keep-alive connection stays open."""
    api_max_connections: int = Field(default=1000, ge=1)
    """Connections and requests one API process serves at once; above it, 503."""
    tls_cert: str | None = None
    """A PEM certificate (chain) file: ``shipline serve`` speaks HTTPS with it."""
    tls_key: str | None = None
    """The PEM private key of ``tls_cert``."""
    key_secret_file: str | None = None
    """The file (mode 0600) holding the server secret API keys are derived from; keep it
    outside the data folder. Default: ``~/.config/shipline/secret``, made on first use."""
    key_secret: SecretStr | None = None
    """The server secret itself (``SHIPLINE_KEY_SECRET``), instead of ``key_secret_file``."""
    api_keyring: str | None = None
    """The older name of ``key_secret_file`` (used when that is not set)."""
    sigv4_region: str = "us-east-1"
    """The only region a SigV4-signed request may be scoped to."""
    # Loader (seed 004) ---
    loader_keys: dict[str, list[str]] = Field(default_factory=_default_loader_keys)
    """Upsert key columns per landing-zone table; a table without a key is refused."""
    loader_quarantine_dir: str | None = None
    """Where failed local files go (default: ``_quarantine/`` inside the landing root)."""
    loader_s3_endpoint_url: str | None = None
    loader_s3_quarantine_prefix: str = "_quarantine/"
    loader_poll_seconds: float = Field(default=5.0, gt=0)
    loader_max_uncompressed_bytes: int = Field(default=1024 * 1024 * 1024, ge=1)
    """The most a landing file may expand to when decompressed (gzip bombs are refused)."""
    loader_redshift_iam_role: str | None = None
    """On Redshift: the role (an ARN, or ``default``) its COPY assumes to read landing
    files from S3. Unset, the loader sends a file's rows by INSERT."""
    notify_backends: list[str] = Field(default_factory=lambda: ["log"])
    """Any of log, webhook, email."""
    notify_webhook_url: str | None = None
    notify_smtp_host: str | None = None
    notify_smtp_port: int = 25
    notify_smtp_starttls: bool = False
    notify_smtp_username: str | None = None
    notify_smtp_password: SecretStr | None = None
    notify_email_from: str = "shipline@localhost"
    notify_email_to: list[str] = Field(default_factory=list)
    # Monitoring ---
    monitor_retention_days: float = Field(default=7, gt=0)
    """How long ``monitor_metrics`` keeps recorded values."""
    monitor_window_minutes: float = Field(default=60, gt=0)
    """The window of throughput, error rate and batch figures."""
    alerts_file: str = "alerts.yaml"
    """Alert rules; the packaged default rules when this file does not exist."""
    cost_per_million_events: float = Field(default=4.0, ge=0)
    cost_per_compute_second: float = Field(default=0.001, ge=0)
    """The cost model behind ``daily_cost`` (dollars, last 24 hours of runs)."""
    quality_expected_dwell_hours: dict[str, float] = Field(
        default_factory=lambda: {
            "pre_transit": 72.0,
            "in_transit": 48.0,
            "exception": 48.0,
            "out_for_delivery": 24.0,
            "ready_for_pickup": 120.0,
        }
    )
    """How long a shipment may stay silent in each status; terminal statuses have none."""
    quality_clock_skew_seconds: float = Field(default=300, ge=0)
    """Events timestamped further than this in the future count as clock skew."""
    monitor_interval_seconds: float = Field(default=60, gt=0)
    """How often ``shipline serve`` records metrics and evaluates the alert rules."""

    @field_validator("duckdb_memory_limit")
    @classmethod
    def _memory_size(cls, value: str | None) -> str | None:
        """A size DuckDB takes, and room enough to open a database: DuckDB would
        refuse too large a value, and too small a one fails every statement, both
        only once the database is opened."""
        if value is None:
            return None
        found = _MEMORY_SIZE.fullmatch(value.strip())
        if found is None:
            raise ValueError(f"{value!r} is not a size such as '3GB' or '512MiB'")
        size = float(found[1]) * _MEMORY_UNITS[found[2].upper().replace("I", "")]
        if not _MEMORY_FLOOR <= size <= _MEMORY_CEILING:
            raise ValueError(f"{value!r} is outside 256MB to 1024TB")
        return value.strip()

    @model_validator(mode="after")
    def _timestamp_range_is_not_empty(self) -> Settings:
        if self.timestamp_min.tzinfo is None or self.timestamp_max.tzinfo is None:
            raise ValueError("timestamp_min and timestamp_max need a UTC offset (Z or +HH:MM)")
        if self.timestamp_min >= self.timestamp_max:
            raise ValueError("timestamp_min must be earlier than timestamp_max")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _checked_toml(settings_cls, config_file()))


def load_settings(**overrides: Any) -> Settings:
    """Read the settings; explicit overrides (from CLI flags) win over everything.

    ``ConfigError`` when a value breaks its rule, naming the setting and the rule.
    """
    clean = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**clean)
    except PydanticValidationError as error:
        raise ConfigError(_describe_invalid(error)) from error


CONFIG_NAME = "shipline.toml"

PATH_SETTINGS = (
    "database",
    "alerts_file",
    "tls_cert",
    "tls_key",
    "key_secret_file",
    "api_keyring",
    "loader_quarantine_dir",
)
"""Settings that name a file or folder: relative in a ``shipline.toml`` found above the
working folder, they are relative to that file's folder (a project's file means its
own database, from any folder of the project)."""


def config_file() -> Path:
    """The settings file: ``SHIPLINE_CONFIG``, else the nearest ``shipline.toml`` in the
    working folder or a folder above it (as dbt finds ``dbt_project.yml``); when there
    is none, ``./shipline.toml``, which does not exist.

    The search stops below a folder anyone may write to (``/tmp``): a file there is
    anyone's, and it would reach every project under it.
    """
    named = os.environ.get("SHIPLINE_CONFIG")
    if named:
        return Path(named)
    here = Path.cwd()
    if (here / CONFIG_NAME).is_file():
        return Path(CONFIG_NAME)
    for folder in here.parents:
        if is_shared_folder(folder):
            break
        if (folder / CONFIG_NAME).is_file():
            return folder / CONFIG_NAME
    return Path(CONFIG_NAME)


def is_shared_folder(folder: Path) -> bool:
    """Whether every user may write to ``folder`` (``/tmp`` is)."""
    try:
        return bool(folder.stat().st_mode & stat.S_IWOTH)
    except OSError:
        return True


class _SettingsFile(TomlConfigSettingsSource):
    """``shipline.toml`` as a source; found in a folder above the working one, its
    relative paths are anchored at its own folder."""

    def __init__(self, settings_cls: type[BaseSettings], toml_file: Path) -> None:
        above = not os.environ.get("SHIPLINE_CONFIG") and toml_file.parent != Path()
        self._anchor = toml_file.parent if above else None
        super().__init__(settings_cls, toml_file=toml_file)

    def _read_file(self, file_path: Path | Any) -> dict[str, Any]:
        data = super()._read_file(file_path)
        return data if self._anchor is None else anchored(data, self._anchor)


def anchored(data: dict[str, Any], folder: Path) -> dict[str, Any]:
    """``data`` with its relative ``PATH_SETTINGS`` made relative to ``folder``."""
    fixed = dict(data)
    for name in PATH_SETTINGS:
        value = fixed.get(name)
        if isinstance(value, str) and _is_relative_path(value):
            fixed[name] = str(folder / value)
    return fixed


def _is_relative_path(value: str) -> bool:
    return "://" not in value and value != ":memory:" and not Path(value).expanduser().is_absolute()


def setting_sources(**overrides: Any) -> dict[str, str]:
    """Where each setting's value comes from: ``flag`` (an explicit override), the
    variable (``SHIPLINE_LOOKBACK_DAYS``), the settings file, or ``default``; in the
    order they win."""
    from_env = EnvSettingsSource(Settings)()
    path = config_file()
    in_file = _checked_toml(Settings, path).toml_data
    sources = {}
    for name in Settings.model_fields:
        if overrides.get(name) is not None:
            sources[name] = "flag"
        elif name in from_env:
            sources[name] = f"SHIPLINE_{name.upper()}"
        elif name in in_file:
            sources[name] = str(path)
        else:
            sources[name] = "default"
    return sources


def _checked_toml(settings_cls: type[BaseSettings], path: Path) -> TomlConfigSettingsSource:
    """The settings file as a source, refused when it is not TOML or has unknown keys.

    A mistyped key would otherwise be ignored, and its setting left at the default
    (``databse = ...`` would open a new ``shipline.duckdb``). A missing file is no
    settings at all.
    """
    try:
        source = _SettingsFile(settings_cls, toml_file=path)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from error
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from error
    unknown = _unknown_keys(source.toml_data, settings_cls)
    if unknown:
        raise ConfigError(f"{path}: " + "; ".join(unknown))
    return source


def _unknown_keys(table: dict[str, Any], model: type[BaseModel], prefix: str = "") -> list[str]:
    """A line per key of ``table`` that ``model`` has no field for, with the likeliest one.

    Tables of a nested model (``[aliases]``) are checked too; dictionaries of free
    keys (``[loader_keys]``) are not.
    """
    fields = model.model_fields
    problems = []
    for key, value in table.items():
        field = fields.get(key)
        if field is None:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f"did you mean '{prefix}{close[0]}'?" if close else "remove it or fix its name"
            problems.append(f"unknown setting '{prefix}{key}'; {hint}")
            continue
        nested = field.annotation
        if isinstance(value, dict) and _is_model(nested):
            problems += _unknown_keys(value, nested, f"{prefix}{key}.")
    return problems


def _is_model(annotation: Any) -> TypeGuard[type[BaseModel]]:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _describe_invalid(error: PydanticValidationError) -> str:
    """One message for every broken rule: the setting, its value, the rule, where to fix it."""
    problems, variables = [], []
    for item in error.errors():
        place = [str(part) for part in item["loc"]]
        rule = item["msg"].removeprefix("Value error, ")
        if not place:
            problems.append(rule)  # a rule over several settings (the timestamp range)
            continue
        value = item["input"]
        shown = f" = {value!r}" if _may_show(place[0], value) else ""
        problems.append(f"{'.'.join(place)}{shown} ({rule})")
        variables.append(f"SHIPLINE_{place[0].upper()}")
    where = ", ".join(dict.fromkeys(variables)) or "the SHIPLINE_* variables"
    return f"invalid settings: {'; '.join(problems)}; fix them in {config_file()} or {where}"


def _may_show(name: str, value: Any) -> bool:
    """Whether a refused value can be repeated: a short scalar, and not a secret."""
    field = Settings.model_fields.get(name)
    secret = field is not None and SecretStr in _types_in(field.annotation)
    return not secret and isinstance(value, int | float | str) and len(repr(value)) <= 60


def _types_in(annotation: Any) -> set[Any]:
    found = {annotation}
    for argument in typing.get_args(annotation):
        found |= _types_in(argument)
    return found
