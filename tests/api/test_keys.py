"""API keys: stored hashed, scoped, revocable, expiring; the ``shipline keys`` commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shipline.api.keys import SeenSignatures
from shipline.cli.main import app
from shipline.pipeline import Pipeline
from shipline.settings import Settings
from shipline.store.keys import Keyring, create_key, hash_key, list_keys, sigv4_secret, verify_key
from tests.engines import fresh_database


@pytest.fixture
def database(engine: str) -> Iterator[str]:
    with fresh_database(engine) as database:
        yield database


@pytest.fixture
def keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Keyring:
    """The keyring the CLI and the tests' settings use, in the test's folder."""
    path = tmp_path / "keyring"
    monkeypatch.setenv("SHIPLINE_API_KEYRING", str(path))
    return Keyring(path)


def test_keys_commands(database: str, keyring: Keyring) -> None:
    runner = CliRunner()
    created = runner.invoke(app, ["--database", database, "keys", "create", "--scope", "ingest"])
    assert created.exit_code == 0, created.output
    lines = created.output.strip().splitlines()
    key = lines[-1]
    assert key.startswith("shpl_") and " " not in key
    as_json = runner.invoke(
        app, ["--database", database, "keys", "create", "--scope", "admin", "--json"]
    )
    assert as_json.exit_code == 0, as_json.output
    admin = json.loads(as_json.output)
    assert set(admin) >= {"id", "key"}
    bad = runner.invoke(app, ["--database", database, "keys", "create", "--scope", "root"])
    assert bad.exit_code != 0

    with Pipeline(Settings(database=database)) as pipeline:
        found = verify_key(pipeline.backend, key)
        assert found is not None and found.scope == "ingest" and found.key_id in lines[0]
        stored = pipeline.backend.fetchall("SELECT * FROM api_keys")
        assert any(hash_key(key) in row for row in stored)
        assert all(key not in str(row) and admin["key"] not in str(row) for row in stored)
        pair = sigv4_secret(pipeline.backend, keyring, admin["id"])
        assert pair is not None and pair[1] == admin["key"]

    listed = runner.invoke(app, ["--database", database, "keys", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert {row["id"] for row in json.loads(listed.output)} == {found.key_id, admin["id"]}
    revoked = runner.invoke(app, ["--database", database, "keys", "revoke", admin["id"]])
    assert revoked.exit_code == 0, revoked.output
    missing = runner.invoke(app, ["--database", database, "keys", "revoke", "SHPLNOPE"])
    assert missing.exit_code != 0

    with Pipeline(Settings(database=database)) as pipeline:
        assert verify_key(pipeline.backend, admin["key"]) is None
        assert verify_key(pipeline.backend, key) is not None
        keys = {k.key_id: k for k in list_keys(pipeline.backend)}
        assert not keys[admin["id"]].active and keys[found.key_id].active
        assert keys[found.key_id].allows("ingest") and not keys[found.key_id].allows("read")


def test_a_copied_database_reveals_no_sigv4_secret(
    database: str, keyring: Keyring, tmp_path: Path
) -> None:
    with Pipeline(Settings(database=database)) as pipeline:
        new = create_key(pipeline.backend, keyring, "admin")
        other = Keyring(tmp_path / "other.keyring")
        other.secret(create=True)
        assert sigv4_secret(pipeline.backend, other, new.key_id) is None
        assert sigv4_secret(pipeline.backend, Keyring(tmp_path / "absent"), new.key_id) is None


def test_the_pipeline_creates_lists_verifies_and_revokes_keys(
    database: str, keyring: Keyring
) -> None:
    with Pipeline(Settings(database=database)) as pipeline:
        admin = pipeline.create_key("admin", "ops")
        reader = pipeline.create_key("read")
        assert sorted((k.scope, k.description) for k in pipeline.list_keys()) == [
            ("admin", "ops"),
            ("read", None),
        ]
        found = pipeline.verify_key(reader.key)
        assert found is not None and found.key_id == reader.key_id
        assert pipeline.verify_key("shpl_nope") is None
        pair = pipeline.sigv4_secret(admin.key_id)
        assert pair is not None and pair[1] == admin.key
        assert sigv4_secret(pipeline.backend, keyring, admin.key_id) == pair
        revoked = pipeline.revoke_key(reader.key_id)
        assert revoked.revoked_at is not None
        assert pipeline.verify_key(reader.key) is None
        assert [k.key_id for k in pipeline.list_keys(include_revoked=False)] == [admin.key_id]


def test_keys_expire_and_rotate_from_the_command_line(database: str, keyring: Keyring) -> None:
    runner = CliRunner()
    base = ["--database", database, "keys"]
    made = runner.invoke(app, [*base, "create", "--scope", "read", "--expires-in", "30d", "--json"])
    assert made.exit_code == 0, made.output
    created = json.loads(made.output)
    assert created["expires_at"] is not None
    at = runner.invoke(
        app, [*base, "create", "--scope", "read", "--expires-at", "2030-01-31T00:00:00Z"]
    )
    assert at.exit_code == 0 and "expires 2030-01-31" in at.output
    for bad in (
        ["--expires-in", "30"],
        ["--expires-at", "tomorrow"],
        ["--expires-in", "1d", "--expires-at", "2030-01-31T00:00:00Z"],
    ):
        refused = runner.invoke(app, [*base, "create", "--scope", "read", *bad])
        assert refused.exit_code != 0, bad

    rotated = runner.invoke(app, [*base, "rotate", created["id"], "--grace", "1h", "--json"])
    assert rotated.exit_code == 0, rotated.output
    successor = json.loads(rotated.output)
    assert successor["replaces"] == created["id"] and successor["scope"] == "read"
    listed = {
        row["id"]: row for row in json.loads(runner.invoke(app, [*base, "list", "--json"]).output)
    }
    assert listed[created["id"]]["rotated_to"] == successor["id"]
    assert listed[created["id"]]["state"] == "active"  # for the grace hour
    with Pipeline(Settings(database=database)) as pipeline:
        assert pipeline.verify_key(created["key"]) is not None
        assert pipeline.verify_key(successor["key"]) is not None
    now = runner.invoke(app, [*base, "rotate", successor["id"], "--grace", "0s"])
    assert now.exit_code == 0, now.output
    with Pipeline(Settings(database=database)) as pipeline:
        assert pipeline.verify_key(successor["key"]) is None
        assert pipeline.verify_key(now.output.strip().splitlines()[-1]) is not None
    bad_grace = runner.invoke(app, [*base, "rotate", created["id"], "--grace", "soon"])
    assert bad_grace.exit_code != 0


def test_a_signature_is_accepted_once_within_its_window_and_the_memory_is_bounded() -> None:
    seen = SeenSignatures(limit=3)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    until = now + timedelta(minutes=15)
    assert seen.first_use("a", until, now)
    assert not seen.first_use("a", until, now + timedelta(minutes=14))
    assert seen.first_use("a", until, until)  # expired: the signature itself is refused then
    for name in "bcdef":
        assert seen.first_use(name, until + timedelta(minutes=1), until)
    assert len(seen._until) <= 3
