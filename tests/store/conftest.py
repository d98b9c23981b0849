"""The loopback proxy that lets redshift_connector reach the test PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.store.startup_proxy import StartupProxy, postgres_address


@pytest.fixture(scope="module")
def proxy() -> Iterator[StartupProxy]:
    """A proxy to the test PostgreSQL server, shared by a module's tests."""
    with StartupProxy(postgres_address()) as started:
        yield started
