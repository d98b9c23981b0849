"""A real ``shipline`` server for the dashboard: uvicorn on loopback, over a fresh
database on each engine, with generated shipments ingested and processed first."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
import uvicorn

from shipline.generate import generate_dataset, write_dataset
from shipline.pipeline import Pipeline
from shipline.server.app import create_app
from shipline.settings import Settings
from shipline.store.keys import Keyring, NewKey, create_key
from tests.api.conftest import free_socket, wait_for
from tests.engines import fresh_database

SCOPES = ("read", "ingest", "admin")


@dataclass
class Dashboard:
    """A running server with data, and a key of each scope."""

    url: str
    pipeline: Pipeline
    keys: dict[str, NewKey]

    def client(self, scope: str = "read") -> httpx.Client:
        """An httpx client sending the key of ``scope``."""
        headers = {"Authorization": f"Bearer {self.keys[scope].key}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def status(self) -> dict[str, Any]:
        """``GET /v1/status``."""
        with self.client() as client:
            response = client.get("/v1/status")
            response.raise_for_status()
            data: dict[str, Any] = response.json()
            return data

    def settled(self) -> dict[str, Any]:
        """The status once nothing is pending (the processor caught up)."""
        return dict(wait_for(lambda: (s := self.status())["pending_events"] == 0 and s, 20))


def seed(pipeline: Pipeline, folder: Path) -> None:
    """History, a base run, then a stream batch and an incremental run (with late events),
    and one landing-zone file through the loader."""
    dataset = generate_dataset(1500, seed=11, days=5, late_fraction=0.1, bad_fraction=0.01)
    files = write_dataset(dataset, folder / "input")
    pipeline.load_reference("locations", files.locations)
    pipeline.load_reference("packages", files.packages)
    feed = pq.read_table(files.events[0])
    history = int(feed.num_rows * 0.8)
    pipeline.ingest_table(feed.slice(0, history), "demo")
    pipeline.base()
    pipeline.ingest_table(feed.slice(history), "demo-stream")
    pipeline.incremental()
    landing = folder / "landing"
    landing.mkdir()
    (landing / "order_summary_20261123_001.csv").write_text(
        "order_id,customer,total\n1,ada,12.50\n2,bob,7.25\n3,cy,99.00\n"
    )
    pipeline.load_files([str(landing)])


@contextmanager
def running(database: str, folder: Path, seeded: bool) -> Iterator[Dashboard]:
    """A server over ``database``, seeded with data or left empty; its files in ``folder``."""
    settings = Settings(
        database=database,
        api_keyring=str(folder / "keyring"),
        incremental_batch_window_seconds=0.05,
        alerts_file=str(folder / "no-alerts.yaml"),
    )
    pipeline = Pipeline(settings)
    if seeded:
        seed(pipeline, folder)
    keyring = Keyring.for_database(settings.database, settings.api_keyring)
    keys = {scope: create_key(pipeline.backend, keyring, scope) for scope in SCOPES}
    app = create_app(pipeline, settings)
    sock = free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="none", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_for(lambda: server.started)
    try:
        yield Dashboard(f"http://127.0.0.1:{port}", pipeline, keys)
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
        pipeline.close()


@pytest.fixture(scope="module")
def dashboard(engine: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """One seeded server per test module and engine."""
    folder = tmp_path_factory.mktemp("dashboard")
    with fresh_database(engine) as database, running(database, folder, seeded=True) as server:
        yield server


@pytest.fixture(scope="module")
def empty_dashboard(engine: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """A server over an empty store (no events, runs, files or dead letters)."""
    folder = tmp_path_factory.mktemp("empty")
    with fresh_database(engine) as database, running(database, folder, seeded=False) as server:
        yield server
