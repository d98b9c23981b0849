"""``open_backend``: which database a name opens, and which names it refuses."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from shipline.errors import ConfigError
from shipline.pipeline import Pipeline
from shipline.settings import Settings
from shipline.store import open_backend
from shipline.store.backend import is_new_database
from shipline.store.duckdb import DuckDBBackend
from tests.engines import POSTGRES_URL


@pytest.mark.parametrize(
    "url", ["mysql://root@127.0.0.1/x", "sqlite:///tmp/x.db", "s3://bucket/db", "duckdb://x"]
)
def test_an_unknown_url_scheme_is_refused_listing_the_supported_ones(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as refused:
        open_backend(url, create=True)
    message = str(refused.value)
    assert f"no backend for {url.split('://')[0]}:// URLs" in message
    assert (
        "use a DuckDB file path, a postgresql:// (or postgres://) URL or a redshift://" in message
    )
    assert list(tmp_path.iterdir()) == []  # no `mysql:` folder


def test_a_refused_url_is_not_repeated_whole_and_a_near_miss_is_named() -> None:
    with pytest.raises(ConfigError) as refused:
        open_backend("PostgreSQL://admin:secret@db.example.com/prod")
    assert "secret" not in str(refused.value)
    assert "(did you mean postgresql://?)" in str(refused.value)


def test_a_file_that_is_not_a_duckdb_database_is_refused_by_name(tmp_path: Path) -> None:
    events = tmp_path / "events.parquet"
    events.write_bytes(b"PAR1" + bytes(64))
    with pytest.raises(ConfigError, match=r"events\.parquet is not a DuckDB database"):
        open_backend(str(events), create=True)
    assert events.read_bytes() == b"PAR1" + bytes(64)


def test_an_empty_file_is_not_a_database(tmp_path: Path) -> None:
    empty = tmp_path / "shipline.duckdb"
    empty.touch()
    with pytest.raises(ConfigError, match=r"is not a DuckDB database \(it is empty\)"):
        open_backend(str(empty), create=True)


def test_a_folder_is_not_a_database(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a folder, not a DuckDB database"):
        open_backend(str(tmp_path), create=True)


def test_a_missing_database_is_created_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "data" / "shipline.duckdb"
    assert is_new_database(str(path))
    with pytest.raises(ConfigError) as refused:
        open_backend(str(path), create=False)
    assert str(refused.value) == f"no database at {path}: run `shipline init` or set `database`"
    assert not (tmp_path / "data").exists()

    open_backend(str(path), create=True).close()
    assert not is_new_database(str(path))
    reopened = open_backend(str(path), create=False)
    assert isinstance(reopened, DuckDBBackend)
    reopened.close()


def test_a_database_duckdb_made_itself_opens(tmp_path: Path) -> None:
    path = tmp_path / "made.duckdb"
    duckdb.connect(str(path)).close()
    open_backend(str(path), create=False).close()


def test_memory_is_new_every_time_and_opens_only_when_creating() -> None:
    assert is_new_database(":memory:")
    open_backend(":memory:", create=True).close()
    with pytest.raises(ConfigError, match="gone when the command ends"):
        open_backend(":memory:", create=False)


@pytest.mark.parametrize("create", [True, False])
def test_an_empty_name_is_refused(create: bool) -> None:
    with pytest.raises(ConfigError, match="database is empty"):
        open_backend(" ", create=create)


def test_a_server_url_is_never_new() -> None:
    assert not is_new_database(POSTGRES_URL)
    assert not is_new_database("redshift://u@host:5439/dev")
    assert not is_new_database("mysql://root@127.0.0.1/x")


def test_pipeline_creates_by_default_and_pipeline_open_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPLINE_CONFIG", str(tmp_path / "none.toml"))
    path = str(tmp_path / "shipline.duckdb")
    with pytest.raises(ConfigError, match="no database at"):
        Pipeline.open(database=path)
    with Pipeline(Settings(database=path)):
        pass
    with Pipeline.open(database=path) as reopened:
        assert "shipment_events" in reopened.tables()
