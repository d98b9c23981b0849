"""``load_settings``: a wrong settings file or value is a ConfigError that says what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipline.errors import ConfigError
from shipline.settings import load_settings


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The settings file ``load_settings`` reads, not written yet."""
    path = tmp_path / "shipline.toml"
    monkeypatch.setenv("SHIPLINE_CONFIG", str(path))
    for name in ("SHIPLINE_DATABASE", "SHIPLINE_LOOKBACK_DAYS"):
        monkeypatch.delenv(name, raising=False)
    return path


def refused(config: Path) -> str:
    with pytest.raises(ConfigError) as error:
        load_settings()
    return str(error.value)


def test_a_known_file_is_read(config: Path) -> None:
    config.write_text(
        'database = "events.duckdb"\nlookback_days = 3\n'
        '[aliases.status]\nDLV = "delivered"\n[loader_keys]\nreturns = ["return_id"]\n'
    )
    settings = load_settings()
    assert (settings.database, settings.lookback_days) == ("events.duckdb", 3)
    assert settings.aliases.status == {"DLV": "delivered"}
    assert settings.loader_keys == {"returns": ["return_id"]}


def test_no_file_is_no_settings(config: Path) -> None:
    assert load_settings().database == "shipline.duckdb"


def test_a_mistyped_key_is_named_with_the_likeliest_one(config: Path) -> None:
    config.write_text('databse = "events.duckdb"\n')
    assert refused(config) == f"{config}: unknown setting 'databse'; did you mean 'database'?"


def test_a_key_like_no_other_is_refused_too(config: Path) -> None:
    config.write_text("xyzzy = 1\n")
    assert refused(config) == f"{config}: unknown setting 'xyzzy'; remove it or fix its name"


def test_an_unknown_key_in_a_nested_table_is_named_by_its_path(config: Path) -> None:
    config.write_text('[aliases.statuses]\nDLV = "delivered"\n')
    assert refused(config) == (
        f"{config}: unknown setting 'aliases.statuses'; did you mean 'aliases.status'?"
    )


def test_unknown_environment_variables_stay_ignored(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPLINE_NOT_A_SETTING", "1")
    assert load_settings().lookback_days == 10


def test_a_value_that_breaks_its_rule_names_the_setting_and_the_rule(config: Path) -> None:
    config.write_text("lookback_days = -1\n")
    assert refused(config) == (
        "invalid settings: lookback_days = -1 (Input should be greater than or equal to 0);"
        f" fix them in {config} or SHIPLINE_LOOKBACK_DAYS"
    )


def test_an_environment_value_is_checked_too(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPLINE_LOOKBACK_DAYS", "ten")
    assert "lookback_days = 'ten' (Input should be a valid integer" in refused(config)


def test_a_rule_over_several_settings_is_stated(config: Path) -> None:
    config.write_text("timestamp_min = 2200-01-01T00:00:00Z\n")
    assert refused(config).startswith(
        "invalid settings: timestamp_min must be earlier than timestamp_max;"
    )


def test_a_secret_is_not_repeated(config: Path) -> None:
    config.write_text("notify_smtp_password = 123456789\n")
    message = refused(config)
    assert "notify_smtp_password (Input should be a valid string)" in message
    assert "123456789" not in message


def test_malformed_toml_names_the_file_line_and_column(config: Path) -> None:
    config.write_text('database = "x.duckdb"\nlookback_days = \n')
    message = refused(config)
    assert message.startswith(f"{config}: not valid TOML: ")
    assert "(at line 2, column 17)" in message


def test_duckdbs_memory_is_capped_by_the_setting(config: Path, tmp_path: Path) -> None:
    from shipline.pipeline import Pipeline

    config.write_text(f'database = "{tmp_path / "capped.duckdb"}"\nduckdb_memory_limit = "1GB"\n')
    with Pipeline(load_settings()) as pipeline:
        assert pipeline.backend.scalar("SELECT current_setting('memory_limit')") == "953.6 MiB"


def test_duckdbs_memory_is_capped_at_3_gib_unless_set(config: Path, tmp_path: Path) -> None:
    """Left to itself DuckDB may take 80% of a large machine for its cache."""
    from shipline.pipeline import Pipeline
    from shipline.store.duckdb import default_memory_limit

    if default_memory_limit() is None:
        pytest.skip("on this machine DuckDB's own default is under 3 GiB, and is kept")
    config.write_text(f'database = "{tmp_path / "default.duckdb"}"\n')
    with Pipeline(load_settings()) as pipeline:
        assert pipeline.backend.scalar("SELECT current_setting('memory_limit')") == "3.0 GiB"


@pytest.mark.parametrize(
    ("value", "reason"),
    [("lots", "is not a size"), ("0MB", "is outside"), ("99999999TB", "is outside")],
)
def test_a_memory_limit_duckdb_could_not_open_with_is_refused_first(
    config: Path, value: str, reason: str
) -> None:
    config.write_text(f'duckdb_memory_limit = "{value}"\n')
    assert f"duckdb_memory_limit = '{value}' ('{value}' {reason}" in refused(config)
