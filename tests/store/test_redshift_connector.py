"""The Redshift backend over AWS's driver, ``redshift_connector``.

No Redshift runs here: the driver reaches the test PostgreSQL through
``startup_proxy.StartupProxy``, which drops the Redshift-only settings from its
startup message. The whole pipeline over this driver is in
``test_redshift_dialect.py``; here are the URL form, transactions and errors.
"""

from __future__ import annotations

import gc
import socket
from collections.abc import Iterator

import psycopg
import pyarrow as pa
import pytest

from shipline.errors import BackendError, ConfigError, TransientBackendError
from shipline.settings import Settings
from shipline.store import open_backend
from shipline.store.postgres import PsycopgConnection
from shipline.store.redshift import RedshiftBackend
from shipline.store.redshift_connector_driver import (
    RedshiftConnectorConnection,
    connect_arguments,
)
from tests.engines import POSTGRES_URL, fresh_database
from tests.store.startup_proxy import (
    StartupProxy,
    postgres_address,
    redshift_connector_url,
    schema_of,
)

pytestmark = [pytest.mark.postgres]


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_database("postgres") as url:
        yield url


@pytest.fixture
def backend(database: str, proxy: StartupProxy) -> Iterator[RedshiftBackend]:
    """A Redshift backend over redshift_connector, in the test's own schema."""
    opened = RedshiftBackend(redshift_connector_url(database, proxy))
    opened._con.run(f'SET search_path TO "{schema_of(database)}"')
    opened.execute("CREATE TABLE counts (id INTEGER, n INTEGER)")
    opened.execute("INSERT INTO counts VALUES (1, 0)")
    yield opened
    opened.close()


def test_a_redshift_url_with_driver_redshift_connector_opens_that_driver(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with StartupProxy(postgres_address()) as own_proxy:
        monkeypatch.setenv("SHIPLINE_DATABASE", redshift_connector_url(database, own_proxy))
        backend = open_backend(Settings().database)
        try:
            assert isinstance(backend, RedshiftBackend)
            assert isinstance(backend._con, RedshiftConnectorConnection)
            assert backend.scalar("SELECT CAST(? AS INTEGER) + 1", [41]) == 42
        finally:
            backend.close()
        # It came through the proxy, which dropped what only Redshift knows.
        assert {"client_protocol_version", "driver_version", "os_version"} <= own_proxy.dropped


def test_a_redshift_url_without_a_driver_connects_with_psycopg_as_before() -> None:
    backend = open_backend(POSTGRES_URL.replace("postgresql://", "redshift://", 1))
    try:
        assert isinstance(backend, RedshiftBackend)
        assert isinstance(backend._con, PsycopgConnection)
        assert backend.scalar("SELECT 1") == 1
    finally:
        backend.close()


def test_query_parameters_become_typed_connect_keywords() -> None:
    arguments = connect_arguments(
        "redshift://ship%40line:p%2Fw@wg.123456789012.us-east-1.redshift-serverless.amazonaws.com"
        "/dev?driver=redshift_connector&iam=true&region=us-east-1"
        "&serverless_work_group=shipline-dev&serverless_acct_id=012345678901"
        "&timeout=30&ssl=False&db_groups=loaders,readers"
    )
    assert arguments == {
        "host": "wg.123456789012.us-east-1.redshift-serverless.amazonaws.com",
        "port": 5439,
        "database": "dev",
        "user": "ship@line",
        "password": "p/w",
        "iam": True,
        "region": "us-east-1",
        "serverless_work_group": "shipline-dev",
        "serverless_acct_id": "012345678901",  # an account id stays text
        "timeout": 30,
        "ssl": False,
        "db_groups": ["loaders", "readers"],
    }


@pytest.mark.parametrize(
    ("query", "complaint"),
    [
        ("iam=maybe", "iam must be true or false"),
        ("timeout=soon", "timeout must be a whole number"),
        ("search_path=x", "has no setting 'search_path'"),
    ],
)
def test_a_wrong_query_parameter_is_a_config_error(query: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        connect_arguments(f"redshift://u@host/dev?driver=redshift_connector&{query}")


def test_an_unknown_driver_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown driver 'pg8000'"):
        open_backend("redshift://u@127.0.0.1:5432/dev?driver=pg8000")


def test_a_refused_connection_is_worth_a_retry() -> None:
    port = free_port()
    with pytest.raises(TransientBackendError) as raised:
        open_backend(f"redshift://u@127.0.0.1:{port}/dev?driver=redshift_connector&ssl=false")
    assert f"cannot connect to 127.0.0.1:{port}/dev: communication error: " in str(raised.value)


def test_a_server_error_keeps_its_message_and_is_not_retried(backend: RedshiftBackend) -> None:
    with pytest.raises(BackendError) as raised:
        backend.fetchall("SELECT * FROM missing_table")
    assert not isinstance(raised.value, TransientBackendError)
    assert 'relation "missing_table" does not exist' in str(raised.value)
    assert backend.scalar("SELECT n FROM counts") == 0  # the connection goes on


def test_a_serialization_conflict_is_worth_a_retry(backend: RedshiftBackend, database: str) -> None:
    conflict = pytest.raises(TransientBackendError, match="transaction conflict")
    with conflict as raised, backend.transaction():
        backend._con.run("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
        assert backend.scalar("SELECT n FROM counts WHERE id = 1") == 0
        with psycopg.connect(database, autocommit=True) as other:
            other.execute("UPDATE counts SET n = 1 WHERE id = 1")
        backend.execute("UPDATE counts SET n = 2 WHERE id = 1")
    assert "could not serialize access" in str(raised.value)
    assert backend.scalar("SELECT n FROM counts") == 1


def test_a_terminated_session_is_worth_a_retry(backend: RedshiftBackend, database: str) -> None:
    pid = backend.scalar("SELECT pg_backend_pid()")
    with psycopg.connect(database, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    with pytest.raises(TransientBackendError, match="database unavailable"):
        backend.fetchall("SELECT 1")


def test_a_failed_transaction_rolls_back_and_reports_its_own_error(
    backend: RedshiftBackend,
) -> None:
    stage = pa.table({"id": [1, 2], "n": [10, 20]})
    with pytest.raises(BackendError, match="division by zero"), backend.transaction():
        backend.execute("UPDATE counts SET n = 5")
        with backend.transaction():  # joins the outer one: Redshift has no savepoints
            backend.register("stage", stage)
            try:
                backend.execute("SELECT n / 0 FROM stage")
            finally:
                # The transaction accepts nothing now; a DROP would hide the error.
                backend.unregister("stage")
    assert backend.fetchall("SELECT id, n FROM counts") == [(1, 0)]
    with backend.transaction():
        backend.register("stage", stage)
        backend.execute("INSERT INTO counts SELECT id + 1, n FROM stage")
        backend.unregister("stage")
    assert backend.execute_count("UPDATE counts SET n = n + 1") == 3
    assert sorted(backend.fetchall("SELECT id, n FROM counts")) == [(1, 1), (2, 11), (3, 21)]


def test_copy_from_stdin_is_refused_and_the_connection_goes_on(backend: RedshiftBackend) -> None:
    """Redshift has no COPY FROM STDIN, and the driver cannot send one to PostgreSQL."""
    with pytest.raises(BackendError, match="not available over redshift_connector"):
        backend._con.copy_in("COPY counts FROM STDIN WITH (FORMAT csv)", b"7,70\n")
    assert backend.fetchall("SELECT id, n FROM counts") == [(1, 0)]


# redshift_connector makes its SSL context in ways Python deprecates (ssl.SSLContext()
# with no protocol, so PROTOCOL_TLS), and leaves its socket open when SSL is refused.
@pytest.mark.filterwarnings(r"ignore::DeprecationWarning:redshift_connector\.core")
@pytest.mark.filterwarnings("ignore:unclosed <socket:ResourceWarning")
def test_without_ssl_false_the_driver_asks_for_ssl_and_is_refused(
    database: str, proxy: StartupProxy
) -> None:
    url = redshift_connector_url(database, proxy).replace("&ssl=false", "")
    asked = proxy.ssl_requests
    with pytest.raises(TransientBackendError, match=r"cannot connect .*Server refuses SSL"):
        open_backend(url)
    assert proxy.ssl_requests == asked + 1
    gc.collect()  # the driver's socket, closed while its warning is ignored


def free_port() -> int:
    """A loopback port nobody listens on (bound a moment ago, then closed)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port: int = server.getsockname()[1]
    return port
