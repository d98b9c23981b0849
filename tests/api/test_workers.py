"""``shipline serve --workers N``: several API processes over one PostgreSQL database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from shipline.cli.main import app
from shipline.cli.serve import serve_workers
from shipline.errors import ConfigError
from shipline.pipeline import Pipeline
from shipline.settings import Settings
from shipline.store.keys import Keyring, create_key
from tests.api.conftest import free_socket, wait_for
from tests.engines import fresh_database
from tests.store.redshift_on_postgres import redshift_on_postgres


def test_duckdb_refuses_a_second_worker() -> None:
    """DuckDB only: its file is owned by one process, so workers cannot share it."""
    with fresh_database("duckdb") as database:
        result = CliRunner().invoke(app, ["--database", database, "serve", "--workers", "2"])
    assert isinstance(result.exception, ConfigError)
    assert "use --workers 1, or a PostgreSQL database" in str(result.exception)


@pytest.mark.postgres
def test_redshift_refuses_a_second_worker() -> None:
    """No advisory locks on Redshift, so no lease to elect the worker that runs the
    nightly base and the monitor: one process only."""
    with fresh_database("postgres") as database:
        pipeline = Pipeline(
            Settings(database=database), backend=redshift_on_postgres(database, "psycopg")
        )
        with pytest.raises(ConfigError, match="Redshift has no advisory locks"):
            serve_workers(pipeline, "127.0.0.1", 0, "warning", workers=2)


@pytest.mark.postgres
@pytest.mark.slow
def test_two_workers_accept_concurrently_and_the_view_is_exact(tmp_path: Path) -> None:
    with fresh_database("postgres") as database:
        keyring = str(tmp_path / "keyring")
        with Pipeline(Settings(database=database)) as pipeline:
            key = create_key(pipeline.backend, Keyring.for_database(database, keyring), "admin")
        sock = free_socket()
        port = sock.getsockname()[1]
        sock.close()
        env = {
            **os.environ,
            "SHIPLINE_API_KEYRING": keyring,
            "SHIPLINE_CONFIG": str(tmp_path / "none.toml"),
        }
        command = [
            sys.executable, "-m", "shipline.cli", "--database", database, "serve",
            "--port", str(port), "--workers", "2", "--log-level", "warning",
        ]  # fmt: skip
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {key.key}"}
        try:

            def up() -> bool:
                assert server.poll() is None, "the server exited"
                try:
                    return httpx.get(url + "/healthz", timeout=1).status_code == 200
                except httpx.TransportError:
                    return False

            wait_for(up, timeout=30)

            def send(client_number: int) -> int:
                accepted = 0
                with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
                    for number in range(10):
                        events = [
                            {
                                "shipment_id": f"C{client_number}-S{i % 3}",
                                "event_timestamp": f"2026-01-01T{number:02d}:{i:02d}:00Z",
                                "event_type": "in_transit",
                            }
                            for i in range(10)
                        ]
                        response = client.post("/v1/events", json=events)
                        assert response.status_code == 200, response.text
                        accepted += int(response.json()["accepted"])
                return accepted

            with ThreadPoolExecutor(6) as pool:
                accepted = sum(pool.map(send, range(6)))
            assert accepted == 600

            def processed() -> bool:
                status = httpx.get(url + "/v1/status", headers=headers, timeout=5).json()
                return bool(status["pending_events"] == 0)

            wait_for(processed, timeout=30)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
        with Pipeline(Settings(database=database)) as pipeline:
            assert pipeline.backend.scalar("SELECT count(*) FROM shipment_timeline_realtime") == 600
            assert pipeline.verify().drift == 0
