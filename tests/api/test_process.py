"""``shipline serve`` as a real process: graceful SIGTERM, and kill -9 mid-stream."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipline.pipeline import Pipeline
from shipline.settings import Settings
from shipline.store.keys import Keyring, NewKey, create_key
from tests.api.conftest import free_socket, wait_for
from tests.engines import fresh_database


@pytest.fixture
def database(engine: str) -> Iterator[str]:
    with fresh_database(engine) as database:
        yield database


@pytest.fixture
def keyring(tmp_path: Path) -> Path:
    return tmp_path / "keyring"


def make_key(database: str, keyring: Path) -> NewKey:
    with Pipeline(Settings(database=database)) as pipeline:
        return create_key(pipeline.backend, Keyring(keyring), "admin")


@contextmanager
def serve(
    database: str, keyring: Path, window: float
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``shipline serve`` in a child process, until it exits (or is killed)."""
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    env = {
        **os.environ,
        "SHIPLINE_INCREMENTAL_BATCH_WINDOW_SECONDS": str(window),
        "SHIPLINE_API_KEYRING": str(keyring),
        "SHIPLINE_CONFIG": str(keyring.parent / "none.toml"),
    }
    command = [
        sys.executable,
        "-c",
        "from shipline.cli.main import main; main()",
        "--database",
        database,
        "serve",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert process.poll() is None, "the server exited"
        try:
            return httpx.get(url + "/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(up, timeout=20, interval=0.05)
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def events(start: int, count: int) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"e{i}",
            "shipment_id": f"S{i % 37}",
            "event_timestamp": f"2026-11-{1 + (i * 7919) % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
            "event_type": ("created", "in_transit", "arrived_at_facility", "delivered")[i % 4],
            "location_id": f"HUB-{i % 5}",
        }
        for i in range(start, start + count)
    ]


def test_sigterm_drains_pending_processing(database: str, keyring: Path) -> None:
    key = make_key(database, keyring)
    headers = {"Authorization": f"Bearer {key.key}"}
    with serve(database, keyring, window=60) as (process, url):
        response = httpx.post(url + "/v1/events", json=events(0, 50), headers=headers)
        assert response.json()["accepted"] == 50
        status = httpx.get(url + "/v1/status", headers=headers).json()
        assert status["pending_events"] == 50  # the 60 s window has not ended
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    with Pipeline(Settings(database=database)) as pipeline:
        current = pipeline.status()
        assert current.pending_events == 0
        assert current.checkpoint.last_ingest_seq == 50
        assert pipeline.verify().drift == 0


@pytest.mark.slow
def test_kill_9_mid_stream_loses_and_duplicates_nothing(database: str, keyring: Path) -> None:
    key = make_key(database, keyring)
    headers = {"Authorization": f"Bearer {key.key}"}
    acknowledged: set[str] = set()
    batches = [events(i * 40, 40) for i in range(400)]
    sent = [0]
    stop = threading.Event()

    def stream(url: str) -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=5) as client:
            while sent[0] < len(batches) and not stop.is_set():
                batch = batches[sent[0]]
                try:
                    response = client.post("/v1/events", json=batch)
                except httpx.TransportError:
                    return
                assert response.status_code == 200
                acknowledged.update(e["event_id"] for e in batch)
                sent[0] += 1

    with serve(database, keyring, window=0.05) as (process, url):
        streamer = threading.Thread(target=stream, args=(url,))
        streamer.start()
        wait_for(lambda: sent[0] >= 20, timeout=30)
        process.kill()  # SIGKILL, mid-stream
        process.wait(10)
        streamer.join(10)
    assert 20 <= sent[0] < len(batches)
    resume_from = sent[0]
    with serve(database, keyring, window=0.05) as (process, url):
        # The client retries the batch in flight and carries on.
        with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
            for batch in batches[resume_from : resume_from + 20]:
                assert client.post("/v1/events", json=batch).status_code == 200
                acknowledged.update(e["event_id"] for e in batch)

            def processed() -> bool:
                return bool(client.get("/v1/status").json()["pending_events"] == 0)

            wait_for(processed, timeout=30)
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    with Pipeline(Settings(database=database)) as pipeline:
        rows = pipeline.backend.fetchall(
            "SELECT event_id, count(*) FROM shipment_events GROUP BY event_id"
        )
        counts = dict(rows)
        assert acknowledged <= set(counts)
        assert all(n == 1 for n in counts.values())
        assert pipeline.verify().drift == 0
