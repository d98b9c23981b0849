"""Which database a command opens: a mistyped one is an error, never a new, empty one.

Each test runs ``shipline`` as a user would, in a folder of its own, with no
settings from the environment, and checks that a refusal creates nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.api.conftest import free_socket, wait_for

SHIPLINE = (sys.executable, "-m", "shipline.cli")
EVENT = '{"shipment_id": "S1", "event_timestamp": "2026-01-01T00:00:00Z", "event_type": "created"}'


def shipline(folder: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``shipline ARGS`` in ``folder``, with no SHIPLINE_* settings but its shipline.toml."""
    return subprocess.run(
        [*SHIPLINE, *args],
        input=stdin,
        env=_clean_environment(),
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )


def _clean_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SHIPLINE_")}


def refused(result: subprocess.CompletedProcess[str]) -> str:
    """The one-line error of a command that exited 2 (ConfigError), with no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return " ".join(result.stderr.split())


def test_an_unknown_url_scheme_is_refused_and_creates_no_folder(tmp_path: Path) -> None:
    message = refused(shipline(tmp_path, "--database", "mysql://root@127.0.0.1/x", "init"))
    assert message == (
        "error: database mysql://...: shipline has no backend for mysql:// URLs; use a DuckDB"
        " file path, a postgresql:// (or postgres://) URL or a redshift:// URL"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_a_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    events = tmp_path / "events.parquet"
    events.write_bytes(b"PAR1" + bytes(32))
    message = refused(
        shipline(tmp_path, "--database", "events.parquet", "ingest", "-", stdin=EVENT)
    )
    assert message.startswith("error: events.parquet is not a DuckDB database (it is a Parquet")
    assert events.read_bytes() == b"PAR1" + bytes(32)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.parquet"]


def test_a_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    assert "data is a folder, not a DuckDB database" in refused(
        shipline(tmp_path, "--database", "data", "init")
    )


def test_a_missing_database_is_an_error_for_every_command_but_init(tmp_path: Path) -> None:
    # load and keys live in modules of their own; they open the database the same way
    for command in (["ingest", "-"], ["status"], ["load", "x"], ["keys", "list"]):
        message = refused(shipline(tmp_path, "--database", "data/events.duckdb", *command))
        assert message == (
            "error: no database at data/events.duckdb: run `shipline init` or set `database`"
        )
    assert list(tmp_path.iterdir()) == []

    created = shipline(tmp_path, "--database", "data/events.duckdb", "init")
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("created new database at data/events.duckdb\ninitialised")
    ingested = shipline(tmp_path, "--database", "data/events.duckdb", "ingest", "-", stdin=EVENT)
    assert ingested.returncode == 0, ingested.stderr
    again = shipline(tmp_path, "--database", "data/events.duckdb", "init")
    assert again.stdout.startswith("initialised data/events.duckdb: ")


def test_the_default_database_is_not_made_by_a_command_that_reads(tmp_path: Path) -> None:
    message = refused(shipline(tmp_path, "ingest", "-", stdin=EVENT))
    assert message == "error: no database at shipline.duckdb: run `shipline init` or set `database`"
    assert list(tmp_path.iterdir()) == []


def test_a_mistyped_setting_is_refused_before_any_database_opens(tmp_path: Path) -> None:
    (tmp_path / "shipline.toml").write_text('databse = "events.duckdb"\n')
    assert refused(shipline(tmp_path, "init")) == (
        "error: shipline.toml: unknown setting 'databse'; did you mean 'database'?"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["shipline.toml"]


def test_a_value_that_breaks_its_rule_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "shipline.toml").write_text("lookback_days = -1\n")
    assert refused(shipline(tmp_path, "status")) == (
        "error: invalid settings: lookback_days = -1 (Input should be greater than or equal"
        " to 0); fix them in shipline.toml or SHIPLINE_LOOKBACK_DAYS"
    )


def test_malformed_toml_is_named_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "shipline.toml").write_text('database = "x.duckdb"\n[aliases\n')
    message = refused(shipline(tmp_path, "status"))
    assert message.startswith("error: shipline.toml: not valid TOML: ")
    assert "(at line 2, column" in message


def test_serve_says_it_created_a_new_database(tmp_path: Path) -> None:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    server = subprocess.Popen(
        [
            *SHIPLINE,
            "--database",
            "new.duckdb",
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env={**_clean_environment(), "SHIPLINE_API_KEYRING": str(tmp_path / "keyring")},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def up() -> bool:
        assert server.poll() is None, server.communicate()
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(up, timeout=20, interval=0.05)
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
    assert server.returncode == 0, err
    assert out.startswith("created new database at new.duckdb\n")
    assert (tmp_path / "new.duckdb").is_file()


def test_demo_says_it_created_the_database_it_was_given(tmp_path: Path) -> None:
    result = shipline(
        tmp_path, "--database", "mine.duckdb", "demo", "--events", "300", "--batches", "1"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("created new database at mine.duckdb\n")
