"""``shipline demo``: on the database the user names, or on its own DuckDB file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import Shipline

SMALL = ("demo", "--events", "2000", "--batches", "2", "--workdir", "demo")


def _said(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return " ".join(result.stdout.split())


def _without_database_settings() -> dict[str, str]:
    return {
        k: v for k, v in os.environ.items() if k not in ("SHIPLINE_DATABASE", "SHIPLINE_CONFIG")
    }


def test_demo_runs_on_the_named_database_and_refuses_to_mix_with_its_data(
    shipline: Shipline,
) -> None:
    out = _said(shipline(*SMALL))
    assert "batch 2:" in out
    assert "drift 0" in out
    assert "shipline --database" in out
    assert not (shipline.folder / "demo" / "demo.duckdb").exists()
    assert _said(shipline("verify")).startswith("verify: ")
    assert "(0 pending" in _said(shipline("status"))

    again = shipline(*SMALL)
    assert again.returncode == 2
    assert "error: this database already holds shipline data (" in " ".join(again.stderr.split())
    assert "the demo needs one of its own" in " ".join(again.stderr.split())


def test_demo_takes_its_database_from_shipline_database(shipline: Shipline) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "shipline.cli", *SMALL],
        env={**_without_database_settings(), "SHIPLINE_DATABASE": shipline.database},
        cwd=shipline.folder,
        capture_output=True,
        text=True,
        check=False,
    )
    out = _said(result)
    # The environment already names the database: the hints leave it out.
    assert "shipline status shipline timeline SHP-" in out
    assert "--database" not in out
    assert re.search(r"events [1-9][\d,]*;", _said(shipline("status")))


def test_demo_without_a_database_writes_its_own_file_in_the_workdir(tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "stale.txt").write_text("from an earlier run")
    result = subprocess.run(
        [sys.executable, "-m", "shipline.cli", *SMALL],
        env=_without_database_settings(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    out = _said(result)
    assert "drift 0" in out
    assert "shipline --database demo/demo.duckdb status" in out
    assert sorted(path.name for path in (tmp_path / "demo").iterdir()) == ["demo.duckdb", "input"]
    assert not (tmp_path / "shipline.duckdb").exists()
