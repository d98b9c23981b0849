"""A first project: ``shipline init`` writes commented starter files (never over a
file), ``shipline.toml`` is found from any folder below it, and ``shipline config
show`` says what each setting is and where it came from."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

from shipline.settings import Settings
from tests.cli.test_exits import run


def settings_shown(folder: Path, *args: str, **env: str) -> dict[str, dict[str, Any]]:
    shown = run(folder, *args, "config", "show", "--json", **env)
    assert shown.returncode == 0, shown.stderr
    return {row["setting"]: row for row in json.loads(shown.stdout)}


def test_init_writes_commented_starter_files_beside_the_database(tmp_path: Path) -> None:
    done = run(tmp_path, "init")
    assert done.returncode == 0, done.stderr
    assert "wrote shipline.toml" in done.stdout
    assert "wrote alerts.yaml" in done.stdout
    assert {p.name for p in tmp_path.iterdir()} >= {"shipline.duckdb", "shipline.toml"}

    starter = (tmp_path / "shipline.toml").read_text()
    assert tomllib.loads(starter) == {"database": "shipline.duckdb"}
    commented = re.findall(r"^# (\w+) = ", starter, flags=re.M)
    assert {"lookback_days", "retention_days", "alerts_file"} <= set(commented)
    assert set(commented) - {"timezone", "DLV"} <= set(Settings.model_fields)
    assert "Alerts:" in (tmp_path / "alerts.yaml").read_text()
    assert run(tmp_path, "alerts", "check", "--no-notify").returncode in (0, 10)


def test_init_never_overwrites_a_settings_or_rules_file(tmp_path: Path) -> None:
    (tmp_path / "shipline.toml").write_text("lookback_days = 3\n")
    (tmp_path / "alerts.yaml").write_text("Alerts: {}\n")
    done = run(tmp_path, "init")
    assert done.returncode == 0, done.stderr
    assert "wrote" not in done.stdout
    assert (tmp_path / "shipline.toml").read_text() == "lookback_days = 3\n"
    assert (tmp_path / "alerts.yaml").read_text() == "Alerts: {}\n"


def test_the_settings_file_is_found_from_a_folder_below_it(tmp_path: Path) -> None:
    (tmp_path / "shipline.toml").write_text('database = "project.duckdb"\nlookback_days = 3\n')
    below = tmp_path / "models" / "staging"
    below.mkdir(parents=True)
    assert run(tmp_path, "init").returncode == 0

    shown = settings_shown(below)
    assert shown["lookback_days"] == {
        "setting": "lookback_days",
        "value": "3",
        "source": str(tmp_path / "shipline.toml"),
    }
    # a relative path in the file is relative to the file, not to the working folder
    assert shown["database"]["value"] == str(tmp_path / "project.duckdb")
    status = run(below, "status")
    assert status.returncode == 0, status.stderr


def test_config_show_says_which_source_won(tmp_path: Path) -> None:
    (tmp_path / "shipline.toml").write_text("lookback_days = 3\nretention_days = 100\n")
    shown = settings_shown(tmp_path, "--database", "flag.duckdb", SHIPLINE_RETENTION_DAYS="200")
    assert shown["database"]["value"] == "flag.duckdb"
    assert shown["database"]["source"] == "flag"
    assert (shown["retention_days"]["value"], shown["retention_days"]["source"]) == (
        "200",
        "SHIPLINE_RETENTION_DAYS",
    )
    assert shown["lookback_days"]["source"] == "shipline.toml"
    assert (shown["api_threads"]["value"], shown["api_threads"]["source"]) == ("16", "default")


def test_config_show_never_prints_a_secret(tmp_path: Path) -> None:
    shown = settings_shown(
        tmp_path,
        SHIPLINE_KEY_SECRET="s3cr3t-value",
        SHIPLINE_DATABASE="postgresql://me:hunter2@127.0.0.1:5432/x",
        SHIPLINE_CONFIG=str(tmp_path / "none.toml"),
    )
    assert shown["key_secret"]["value"] == "(set, hidden)"
    assert shown["database"]["value"] == "postgresql://me:***@127.0.0.1:5432/x"
    assert shown["database"]["source"] == "SHIPLINE_DATABASE"
    assert "s3cr3t" not in json.dumps(shown) and "hunter2" not in json.dumps(shown)


def test_a_settings_file_in_a_folder_anyone_may_write_to_is_not_searched(
    tmp_path: Path,
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # as /tmp is
    (shared / "shipline.toml").write_text("lookback_days = 3\n")
    below = shared / "mine"
    below.mkdir(mode=0o700)
    assert settings_shown(below)["lookback_days"]["source"] == "default"


def test_init_writes_no_starter_in_a_folder_anyone_may_write_to(tmp_path: Path) -> None:
    tmp_path.chmod(0o1777)
    done = run(tmp_path, "--database", str(tmp_path / "db.duckdb"), "init")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db.duckdb"]
