"""A real uvicorn server on loopback, over a fresh database on each engine."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from shipline.pipeline import Pipeline
from shipline.server.app import create_app
from shipline.settings import Settings
from shipline.store.keys import Keyring, NewKey, create_key
from tests.engines import fresh_database


@dataclass
class Running:
    """A server and what the tests need to talk to it."""

    url: str
    pipeline: Pipeline
    keys: dict[str, NewKey]
    app: Any

    def client(self, scope: str | None = "admin") -> httpx.Client:
        """A client that sends the key of ``scope`` (none for None)."""
        headers = {} if scope is None else {"Authorization": f"Bearer {self.keys[scope].key}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)


def free_socket() -> socket.socket:
    """A listening-ready socket on a free loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def wait_for(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def api_settings(database: str, folder: Path, **overrides: Any) -> Settings:
    """Small limits and a short batching window, for fast tests; the keyring in ``folder``."""
    values: dict[str, Any] = {
        "database": database,
        "api_keyring": str(folder / "keyring"),
        "incremental_batch_window_seconds": 0.02,
        "max_batch_records": 1000,
        "api_max_request_bytes": 256 * 1024,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="module")
def server(engine: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """One server per test module and engine, with a key of each scope."""
    with fresh_database(engine) as database:
        yield from serve(api_settings(database, tmp_path_factory.mktemp("api")))


def serve(settings: Settings) -> Iterator[Running]:
    """A server over ``settings``, until the generator is closed."""
    pipeline = Pipeline(settings)
    keyring = Keyring.for_database(settings.database, settings.api_keyring)
    keys = {scope: create_key(pipeline.backend, keyring, scope) for scope in SCOPES}
    app = create_app(pipeline, settings)
    sock = free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", ws="none", lifespan="on")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_for(lambda: uv.started)
    try:
        yield Running(f"http://127.0.0.1:{port}", pipeline, keys, app)
    finally:
        uv.should_exit = True
        thread.join(30)
        sock.close()
        pipeline.close()


SCOPES = ("ingest", "read", "admin")
