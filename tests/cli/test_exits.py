"""How a command ends when something is wrong: one line naming the problem, no
traceback, and an exit code of its own for each kind (the README's table)."""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import Shipline


def run(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``shipline ARGS`` in ``folder`` with these SHIPLINE_* variables and no others."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("SHIPLINE_")}
    return subprocess.run(
        [sys.executable, "-m", "shipline.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=folder,
        env={**inherited, **env},
    )


def error_of(result: subprocess.CompletedProcess[str], exit_code: int) -> str:
    """The one error a command printed, as one line, once its exit code is checked."""
    assert result.returncode == exit_code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return " ".join(result.stderr.split())


def test_a_malformed_settings_file_is_named_with_its_line_and_column(tmp_path: Path) -> None:
    (tmp_path / "shipline.toml").write_text('database = "x.duckdb"\nlookback_days = = 3\n')
    message = error_of(run(tmp_path, "status"), 2)
    assert "shipline.toml" in message
    assert "line 2, column 17" in message


def test_an_invalid_setting_in_the_file_names_the_setting_and_its_rule(tmp_path: Path) -> None:
    (tmp_path / "shipline.toml").write_text("lookback_days = -1\n")
    message = error_of(run(tmp_path, "status"), 2)
    assert "lookback_days = -1 (Input should be greater than or equal to 0)" in message


def test_an_invalid_setting_in_the_environment_names_the_variable(tmp_path: Path) -> None:
    message = error_of(run(tmp_path, "status", SHIPLINE_LOOKBACK_DAYS="abc"), 2)
    assert "lookback_days = 'abc'" in message
    assert "valid integer" in message
    assert "SHIPLINE_LOOKBACK_DAYS" in message


def test_a_usage_error_exits_with_a_code_apart_from_a_configuration_error(
    tmp_path: Path,
) -> None:
    assert error_of(run(tmp_path, "status", "--no-such-option"), 64)
    assert error_of(run(tmp_path, "no-such-command"), 64)


def test_a_corrupt_database_file_says_so(tmp_path: Path) -> None:
    database = tmp_path / "shipline.duckdb"
    assert run(tmp_path, "--database", str(database), "init").returncode == 0
    with database.open("r+b") as file:  # a block past the header, overwritten
        file.seek(8192)
        file.write(os.urandom(64 * 1024))
    message = error_of(run(tmp_path, "--database", str(database), "status"), 5)
    assert "is corrupt or truncated" in message
    assert "restore it from a backup" in message


def test_a_truncated_database_file_is_not_reported_as_locked(tmp_path: Path) -> None:
    database = tmp_path / "shipline.duckdb"
    assert run(tmp_path, "--database", str(database), "init").returncode == 0
    os.truncate(database, 20_000)
    message = error_of(run(tmp_path, "--database", str(database), "status"), 5)
    assert "is corrupt or truncated" in message
    assert "Another process" not in message


def test_ctrl_c_during_an_ingest_commits_nothing_and_exits_130(shipline: Shipline) -> None:
    command = [sys.executable, "-m", "shipline.cli", "--database", shipline.database]
    # A terminal starts a command with Ctrl-C at its default. A test run started in
    # the background by a shell without job control has it ignored, and a child
    # inherits an ignored signal through exec, so the child gets the default here.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        ingest = subprocess.Popen(
            [*command, "ingest", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=shipline.folder,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    assert ingest.stdin is not None
    ingest.stdin.write(
        '{"shipment_id": "S1", "event_timestamp": "2026-01-01T00:00:00Z",'
        ' "event_type": "created"}\n'
    )
    ingest.stdin.flush()
    _wait_until_reading_stdin(ingest.pid)
    ingest.send_signal(signal.SIGINT)
    _, stderr = ingest.communicate(timeout=60)

    assert ingest.returncode == 130
    assert "interrupted; nothing was committed" in " ".join(stderr.split())
    assert "Traceback" not in stderr
    assert "events 0;" in " ".join(shipline("status").stdout.split())


def _wait_until_reading_stdin(pid: int, timeout: float = 60) -> None:
    """Wait until the process's main thread blocks in read(2) on its stdin (fd 0),
    past its imports and the opening of the store, and is still there a moment later.

    A busy machine shows other pipe reads on the way (a library asking a helper
    program), and a Ctrl-C there is not the one this test is about."""
    deadline = time.monotonic() + timeout
    while True:
        while not _reading_stdin(pid):
            assert time.monotonic() < deadline, "the command never read its stdin"
            time.sleep(0.05)
        time.sleep(0.5)
        if _reading_stdin(pid):
            return


_READ = {"x86_64": "0", "aarch64": "63"}
"""The read(2) system call's number, as /proc/PID/syscall shows it."""


def _reading_stdin(pid: int) -> bool:
    fields = Path(f"/proc/{pid}/syscall").read_text().split()
    number = _READ.get(platform.machine())
    if number is None:  # another machine: the wait channel says it reads a pipe
        return "pipe" in Path(f"/proc/{pid}/wchan").read_text()
    return len(fields) > 1 and fields[0] == number and int(fields[1], 16) == 0


def test_an_input_with_no_accepted_record_exits_9(shipline: Shipline) -> None:
    refused = shipline("ingest", "-", stdin='{"shipment_id": "S1", "event_type": "nope"}\n')
    assert "no record accepted of 1" in error_of(refused, 9)
    assert "no record accepted of 0" in error_of(shipline("ingest", "-", stdin=""), 9)
    assert shipline("dlq", "list").returncode == 0
