"""``shipline serve`` says where it is before it starts: the database, the API, the
dashboard and the docs, and how to get a read key for the dashboard."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.api.conftest import free_socket


def test_serve_prints_its_addresses_and_how_to_get_a_read_key(tmp_path: Path) -> None:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    database = tmp_path / "banner.duckdb"
    env = {**os.environ, "SHIPLINE_CONFIG": str(tmp_path / "none.toml")}
    command = [sys.executable, "-m", "shipline.cli", "--database", str(database), "serve"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    try:
        said = [process.stderr.readline() for _ in range(5)]
    finally:
        process.terminate()
        process.communicate(timeout=30)  # reads the rest and closes the pipe
    text = "".join(said)
    assert f"database {database}" in text
    assert f"API        http://127.0.0.1:{port}/v1/" in text
    assert f"dashboard  http://127.0.0.1:{port}/" in text
    assert f"API docs   http://127.0.0.1:{port}/docs" in text
    assert "shipline keys create --scope read" in text
