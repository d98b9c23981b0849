"""Settings: ``shipline.toml``, overridden by ``SHIPLINE_*`` environment variables.

This is the only place that reads the environment. The facade receives a
``Settings`` object; nothing else looks at ``os.environ``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Aliases(BaseModel):
    """Source codes mapped onto the closed vocabulary, e.g. ``"DLV" = "delivered"``."""

    event_type: dict[str, str] = Field(default_factory=dict)
    status: dict[str, str] = Field(default_factory=dict)


class Settings(BaseSettings):
    """Everything an operator can set.

    ``database`` is a DuckDB file path (the embedded default).
    """

    model_config = SettingsConfigDict(
        env_prefix="SHIPLINE_", env_nested_delimiter="__", extra="ignore"
    )

    database: str = "shipline.duckdb"
    lookback_days: int = Field(default=10, ge=0)
    """The base run covers shipments whose latest event is within this many days."""
    incremental_batch_size: int = Field(default=500, ge=1)
    incremental_batch_window_seconds: float = Field(default=0.25, ge=0)
    max_batch_records: int = Field(default=10_000, ge=1)
    aliases: Aliases = Field(default_factory=Aliases)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get("SHIPLINE_CONFIG", "shipline.toml"))
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=toml_file),
        )


def load_settings(**overrides: Any) -> Settings:
    """Read the settings; explicit overrides (from CLI flags) win over everything."""
    clean = {key: value for key, value in overrides.items() if value is not None}
    return Settings(**clean)
