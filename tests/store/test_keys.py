"""API keys at rest: what a copy of the data folder reveals (nothing), the upgrade of
keys made before derivation, expiry and rotation."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shipline.errors import ConfigError, NotFoundError, ValidationError
from shipline.pipeline import Pipeline
from shipline.settings import Settings
from shipline.store.keys import (
    Keyring,
    _wrap,
    expiry,
    find_key,
    hash_key,
    parse_duration,
    well_formed,
)
from tests.engines import fresh_database


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's config folder, where the server secret goes by default."""
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.delenv("SHIPLINE_API_KEYRING", raising=False)
    monkeypatch.delenv("SHIPLINE_KEY_SECRET_FILE", raising=False)
    monkeypatch.delenv("SHIPLINE_KEY_SECRET", raising=False)
    return home


@pytest.fixture
def data_folder(tmp_path: Path) -> Path:
    """An empty data folder: a new database is made in it."""
    folder = tmp_path / "data"
    return folder


@pytest.fixture
def database(engine: str, config_home: Path) -> Iterator[str]:
    with fresh_database(engine) as database:
        yield database


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def every_byte(folder: Path) -> bytes:
    """Everything in ``folder``, as an attacker who copied it has it."""
    return b"".join(path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file())


def test_a_copy_of_the_data_folder_reveals_no_key(
    config_home: Path, data_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = data_folder / "shipline.duckdb"
    with Pipeline(Settings(database=str(database))) as pipeline:
        admin = pipeline.create_key("admin")
        reader = pipeline.create_key("read")
        pipeline.revoke_key(reader.key_id)
        assert pipeline.sigv4_secret(admin.key_id) == (pipeline.verify_key(admin.key), admin.key)
    secret_file = config_home / "shipline" / "secret"
    assert mode(secret_file) == 0o600 and mode(database) == 0o600
    assert [path.name for path in data_folder.iterdir()] == ["shipline.duckdb"]

    stolen = tmp_path / "stolen"
    shutil.copytree(data_folder, stolen)
    loot = every_byte(stolen)
    for key in (admin.key, reader.key):
        assert key.encode() not in loot
        assert key.split("_", 1)[1].encode() not in loot
    assert bytes.fromhex(secret_file.read_text()) not in loot

    # The thief's own server: the keys are there, by id and hash, but not one secret.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "thief"))
    with Pipeline(Settings(database=str(stolen / "shipline.duckdb"))) as thief:
        assert {key.key_id for key in thief.list_keys()} == {admin.key_id, reader.key_id}
        assert thief.sigv4_secret(admin.key_id) is None


def test_bearer_keys_are_stored_as_their_sha256_only(database: str) -> None:
    with Pipeline(Settings(database=database)) as pipeline:
        new = pipeline.create_key("ingest", "scanner")
        stored = pipeline.backend.fetchall("SELECT * FROM api_keys")
    assert len(stored) == 1 and new.key not in str(stored)
    assert hash_key(new.key) == hashlib.sha256(new.key.encode()).hexdigest()
    assert hash_key(new.key) in stored[0]
    assert well_formed(new.key) and len(new.key) == 48


def test_the_secret_can_come_from_the_environment(
    database: str, config_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPLINE_KEY_SECRET", secrets.token_hex(32))
    with Pipeline(Settings(database=database)) as pipeline:
        new = pipeline.create_key("admin")
        assert pipeline.sigv4_secret(new.key_id) is not None
    assert not config_home.exists()
    monkeypatch.setenv("SHIPLINE_KEY_SECRET", "another secret")
    with Pipeline(Settings(database=database)) as pipeline:
        assert pipeline.sigv4_secret(new.key_id) is None  # SigV4 needs the same secret
        assert pipeline.verify_key(new.key) is not None  # a bearer key does not


def test_a_secret_file_others_can_read_is_refused(database: str, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text(secrets.token_hex(32))
    os.chmod(secret, 0o644)
    settings = Settings(database=database, key_secret_file=str(secret))
    with Pipeline(settings) as pipeline, pytest.raises(ConfigError, match="chmod 600"):
        pipeline.create_key("admin")


def old_key(pipeline: Pipeline, legacy: bytes, scope: str) -> tuple[str, str]:
    """A key as versions before derivation made it: random, its copy wrapped with the
    keyring beside the database."""
    key_id = "SHPL" + secrets.token_hex(8).upper()
    key = "shpl_" + secrets.token_urlsafe(32)
    pipeline.backend.execute(
        "INSERT INTO api_keys (key_id, key_hash, scope, sigv4_wrapped, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        [key_id, hash_key(key), scope, _wrap(legacy, key_id, key), datetime.now(UTC)],
    )
    return key_id, key


def test_keys_made_before_the_upgrade_keep_working_and_leave_the_data_folder(
    config_home: Path, data_folder: Path, tmp_path: Path
) -> None:
    database = data_folder / "shipline.duckdb"
    legacy_file = Path(str(database) + ".keyring")
    with Pipeline(Settings(database=str(database))) as old_version:
        legacy = secrets.token_bytes(32)
        old = [old_key(old_version, legacy, scope) for scope in ("admin", "ingest")]
    fd = os.open(legacy_file, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, legacy.hex().encode())
    os.close(fd)

    with Pipeline(Settings(database=str(database))) as upgraded:
        for key_id, key in old:
            found = upgraded.verify_key(key)
            assert found is not None and found.key_id == key_id
            assert upgraded.sigv4_secret(key_id) == (found, key)
    assert not legacy_file.exists()
    stolen = every_byte(data_folder)
    assert all(key.encode() not in stolen for _, key in old)
    with Pipeline(Settings(database=str(database))) as reopened:
        assert all(reopened.sigv4_secret(key_id) is not None for key_id, _ in old)


def test_a_key_can_expire(database: str) -> None:
    with Pipeline(Settings(database=database)) as pipeline:
        soon = pipeline.create_key("read", expires_at=datetime.now(UTC) + timedelta(seconds=1))
        later = pipeline.create_key("read", expires_at=expiry("30d", None))
        assert pipeline.verify_key(soon.key) is not None
        assert pipeline.sigv4_secret(soon.key_id) is not None
        with pytest.raises(ValidationError, match="has passed"):
            pipeline.create_key("read", expires_at=datetime(2020, 1, 1, tzinfo=UTC))
        deadline = datetime.now(UTC) + timedelta(seconds=5)
        while pipeline.verify_key(soon.key) is not None and datetime.now(UTC) < deadline:
            pass
        assert pipeline.verify_key(soon.key) is None
        assert pipeline.sigv4_secret(soon.key_id) is None
        expired = find_key(pipeline.backend, soon.key)
        assert expired is not None and expired.state == "expired"
        assert pipeline.verify_key(later.key) is not None
        states = {key.key_id: key.state for key in pipeline.list_keys()}
        assert states == {soon.key_id: "expired", later.key_id: "active"}
        assert [key.key_id for key in pipeline.list_keys(include_revoked=False)] == [later.key_id]


def test_rotation_gives_a_successor_and_a_grace_period(database: str) -> None:
    with Pipeline(Settings(database=database)) as pipeline:
        old = pipeline.create_key("ingest", "scanner")
        new = pipeline.rotate_key(old.key_id, timedelta(hours=24))
        assert new.scope == "ingest" and new.key != old.key
        still = pipeline.verify_key(old.key)
        assert still is not None and still.rotated_to == new.key_id
        assert still.expires_at is not None
        assert timedelta(hours=23) < still.expires_at - datetime.now(UTC) <= timedelta(hours=24)
        successor = pipeline.verify_key(new.key)
        assert successor is not None and successor.description == "scanner"

        now = pipeline.rotate_key(new.key_id, timedelta(0))
        assert pipeline.verify_key(new.key) is None
        assert pipeline.verify_key(now.key) is not None
        with pytest.raises(ValidationError, match="only an active key"):
            pipeline.rotate_key(new.key_id, timedelta(hours=1))
        with pytest.raises(NotFoundError):
            pipeline.rotate_key("SHPL0000000000000000", timedelta(hours=1))


def test_durations_and_expiry_times_are_read_strictly() -> None:
    assert parse_duration("30d") == timedelta(days=30)
    assert parse_duration("90m") == timedelta(minutes=90)
    for bad in ("30", "1y", "-1d", "1.5h", ""):
        with pytest.raises(ValidationError, match="s, m, h, d or w"):
            parse_duration(bad)
    assert expiry(None, "2030-01-31T00:00:00Z") == datetime(2030, 1, 31, tzinfo=UTC)
    assert expiry(None, None) is None
    with pytest.raises(ValidationError, match="offset"):
        expiry(None, "2030-01-31T00:00:00")
    with pytest.raises(ValidationError, match="not both"):
        expiry("1d", "2030-01-31T00:00:00Z")


def test_a_malformed_key_is_not_looked_up(database: str) -> None:
    with Pipeline(Settings(database=database)) as pipeline:
        pipeline.create_key("read")
        for bad in (
            "",
            "shpl_",
            "shpl_" + "a" * 42,
            "shpl_" + "a" * 44,
            "SHPL_" + "a" * 43,
            "shpl_" + "a" * 42 + "!",
            "x" * 10_000,
        ):
            assert not well_formed(bad)
            assert pipeline.verify_key(bad) is None


def test_a_keyring_value_is_hashed_into_a_secret() -> None:
    one = Keyring(None, "correct horse").secret(create=False)
    assert one is not None and len(one) == 32
    assert one == Keyring(None, "correct horse").secret(create=False)
    assert one != Keyring(None, "battery staple").secret(create=False)
