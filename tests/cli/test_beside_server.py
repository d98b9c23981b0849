"""The CLI beside a running ``shipline serve`` on a DuckDB file: every command works
through the server that owns the file, with the output and exit code it has alone."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from shipline.pipeline import Pipeline
from shipline.settings import Settings
from tests.api.conftest import free_socket, wait_for

pytestmark = pytest.mark.slow  # a server and some twenty commands, each its own process

EVENTS = [
    {
        "event_id": f"e{i}",
        "shipment_id": f"S{i % 3}",
        "event_timestamp": f"2026-11-2{i % 5}T{i:02d}:00:00Z",
        "event_type": ("created", "picked_up", "in_transit", "delivered")[i % 4],
        "location_id": f"HUB-{i % 2}",
    }
    for i in range(12)
]


@dataclass
class Served:
    """``shipline serve`` over a DuckDB file in a folder, and the CLI beside it."""

    folder: Path
    database: Path
    process: subprocess.Popen[bytes]
    env: dict[str, str]

    @property
    def server_file(self) -> Path:
        return Path(f"{self.database}.server.json")

    @property
    def url(self) -> str:
        found = json.loads(self.server_file.read_text())
        return f"http://{found['host']}:{found['port']}"

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """``shipline --database DB ARGS``, as a user runs it in the folder."""
        return subprocess.run(
            [sys.executable, "-m", "shipline.cli", "--database", str(self.database), *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            cwd=self.folder,
            env=self.env,
            timeout=120,
        )

    def stop(self) -> int:
        """SIGTERM, as an operator stops it; its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)


def environment(folder: Path) -> dict[str, str]:
    return {
        **os.environ,
        "SHIPLINE_KEY_SECRET": "beside-the-server-" + "s" * 32,
        "SHIPLINE_CONFIG": str(folder / "none.toml"),
        "COLUMNS": "200",
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("beside")
    database = folder / "ship.duckdb"
    with Pipeline(Settings(database=str(database)), create=True) as pipeline:
        pipeline.ingest_records(EVENTS[:8], "seed")
    env = environment(folder)
    command = [sys.executable, "-m", "shipline.cli", "--database", str(database), "serve"]
    with (folder / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            [*command, "--port", "0", "--log-level", "warning"],
            env=env,
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        server = Served(folder, database, process, env)

        def announced() -> bool:
            assert process.poll() is None, "the server exited"
            return server.server_file.exists()

        try:
            wait_for(announced, timeout=60, interval=0.1)
            yield server
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(30)


def test_the_server_announces_itself_to_its_owner_only(served: Served) -> None:
    found = json.loads(served.server_file.read_text())
    assert stat.S_IMODE(served.server_file.stat().st_mode) == 0o600
    assert found["pid"] == served.process.pid
    assert found["scheme"] == "http"
    assert httpx.get(served.url + "/healthz").status_code == 200
    local = {"Authorization": f"Bearer {found['token']}"}
    assert httpx.get(served.url + "/v1/status", headers=local).status_code == 200


def test_ingest_base_incremental_and_verify_work_beside_the_server(served: Served) -> None:
    events = served.folder / "more.ndjson"
    lines = [json.dumps(event) for event in EVENTS[8:]] + ['{"shipment_id": "S9"}']
    events.write_text("\n".join(lines) + "\n")

    ingested = served("ingest", events.name)
    assert ingested.returncode == 0, ingested.stderr
    assert "4 accepted" in ingested.stdout
    assert "event_timestamp" in ingested.stdout  # the rejected record's reason

    again = served("ingest", "--json", events.name)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["duplicates"] == 4

    piped = served("ingest", "-", stdin=json.dumps({**EVENTS[0], "event_id": "p1"}))
    assert piped.returncode == 0, piped.stderr

    base = served("base", "--json")
    assert base.returncode == 0, base.stderr
    assert json.loads(base.stdout)["process_type"] == "daily_base"
    incremental = served("incremental", "--json")
    assert incremental.returncode == 0, incremental.stderr
    assert json.loads(incremental.stdout)["process_type"] == "incremental"

    verify = served("verify")
    assert verify.returncode == 0, verify.stderr + verify.stdout
    assert "drift 0" in verify.stdout


def test_dry_runs_and_replays_say_what_they_select_beside_the_server(served: Served) -> None:
    before = json.loads(served("status", "--json").stdout)["checkpoint"]
    plan = served("base", "--rebuild", "--dry-run", "--json")
    assert plan.returncode == 0, plan.stderr
    planned = json.loads(plan.stdout)
    assert planned["dry_run"] is True and planned["rebuild"] is True
    assert planned["shipments"] >= 3
    said = served("incremental", "--dry-run", "--replay-from", "2026-11-23T00:00:00Z")
    assert said.returncode == 0, said.stderr
    assert "incremental --dry-run" in said.stdout and "nothing was written" in said.stdout
    assert "timestamped at or after it" in said.stdout
    assert json.loads(served("status", "--json").stdout)["checkpoint"] == before

    replayed = served("incremental", "--replay-from", "2100-01-01T00:00:00Z")
    assert replayed.returncode == 0, replayed.stderr
    assert "selected nothing beyond the new events" in replayed.stdout


def test_predict_train_and_evaluate_work_beside_the_server(served: Served) -> None:
    trained = served("predict", "train", "--json")
    assert trained.returncode == 0, trained.stderr
    assert json.loads(trained.stdout)["model_version"] >= 1
    evaluated = served("predict", "evaluate", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["test_shipments"] >= 1


def test_reads_work_beside_the_server(served: Served) -> None:
    status = served("status")
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith("checkpoint: ingest_seq")

    timeline = served("timeline", "S1")
    assert timeline.returncode == 0, timeline.stderr
    assert "events" in timeline.stdout and "in transit" in timeline.stdout

    dead = served("dlq", "list", "--json")
    assert dead.returncode == 0, dead.stderr
    assert {row["source"] for row in json.loads(dead.stdout)} == {"file:more.ndjson"}

    metrics = served("metrics", "--json")
    assert metrics.returncode == 0, metrics.stderr
    assert json.loads(metrics.stdout)["dead_letters_open"] >= 1


def test_analytics_work_beside_the_server(served: Served) -> None:
    kpis = served("kpis", "--by", "carrier", "--json")
    assert kpis.returncode == 0, kpis.stderr
    assert json.loads(kpis.stdout)["by"] == "carrier"
    stuck = served("stuck", "--json")
    assert stuck.returncode == 0, stuck.stderr
    assert isinstance(json.loads(stuck.stdout), list)
    listed = served("shipments", "list", "--limit", "2", "--json")
    assert listed.returncode == 0, listed.stderr
    page = json.loads(listed.stdout)
    assert len(page["shipments"]) == 2 and page["next_cursor"]


def test_errors_keep_their_message_and_exit_code(served: Served) -> None:
    missing = served("timeline", "NO-SUCH-SHIPMENT")
    assert missing.returncode == 4
    assert "not in the timeline view" in missing.stderr

    bad_file = served("ingest", "no-such-file.ndjson")
    assert bad_file.returncode == 3
    assert "no such file" in bad_file.stderr


def test_a_command_that_needs_the_file_itself_says_why(served: Served) -> None:
    for args in (["init"], ["audit", "list"]):
        refused = served(*args)
        assert refused.returncode == 64, refused.stdout + refused.stderr  # as a usage error
        assert "shipline serve" in refused.stderr
        assert str(served.process.pid) in refused.stderr


def test_a_key_revoked_beside_the_server_is_refused_within_seconds(served: Served) -> None:
    created = served("keys", "create", "--scope", "read", "--json")
    assert created.returncode == 0, created.stderr
    new = json.loads(created.stdout)
    headers = {"Authorization": f"Bearer {new['key']}"}
    assert httpx.get(served.url + "/v1/status", headers=headers).status_code == 200

    listed = served("keys", "list", "--json")
    assert new["id"] in [key["id"] for key in json.loads(listed.stdout)]
    revoked = served("keys", "revoke", new["id"])
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.startswith(f"revoked {new['id']} at ")

    wait_for(
        lambda: httpx.get(served.url + "/v1/status", headers=headers).status_code == 401,
        timeout=5,
        interval=0.1,
    )


def test_dlq_purge_by_source_works_beside_the_server(served: Served) -> None:
    served("ingest", "-", stdin='{"shipment_id": "S8"}\n')
    asked = served("dlq", "purge", "--source", "stdin")
    assert asked.returncode != 0 and "purge 1 open dead letter" in asked.stderr  # no --yes
    purged = served("dlq", "purge", "--source", "stdin", "--yes")
    assert purged.returncode == 0, purged.stderr
    assert "purged 1 dead letter" in purged.stdout


def test_after_the_server_stops_commands_open_the_file_with_the_same_output(
    served: Served,
) -> None:
    reads = [
        ["timeline", "S1", "--format", "json"],
        ["dlq", "list", "--json"],
        ["keys", "list", "--json"],
        ["timeline", "NO-SUCH-SHIPMENT"],
    ]
    beside = [served(*args) for args in reads]
    status_beside = json.loads(served("status", "--json").stdout)

    assert served.stop() == 0
    assert not served.server_file.exists()

    alone = [served(*args) for args in reads]
    for args, there, here in zip(reads, beside, alone, strict=True):
        assert (there.returncode, there.stdout, there.stderr) == (
            here.returncode,
            here.stdout,
            here.stderr,
        ), args
    status_alone = json.loads(served("status", "--json").stdout)
    assert status_alone.keys() == status_beside.keys()
    assert status_alone["events"] == status_beside["events"]


@pytest.mark.parametrize("whose", ["a process that ended", "a process that does not listen"])
def test_a_stale_server_file_is_ignored_and_removed(tmp_path: Path, whose: str) -> None:
    database = tmp_path / "ship.duckdb"
    with Pipeline(Settings(database=str(database)), create=True) as pipeline:
        pipeline.ingest_records(EVENTS[:2], "seed")
    if whose == "a process that ended":
        ended = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            check=True,
            capture_output=True,
            text=True,
        )
        pid = int(ended.stdout)
    else:
        pid = os.getpid()
    closed = free_socket()
    port = closed.getsockname()[1]
    closed.close()
    stale = Path(f"{database}.server.json")
    stale.write_text(
        json.dumps(
            {
                "host": "127.0.0.1",
                "port": port,
                "scheme": "http",
                "token": "shpl_" + "x" * 43,
                "key_id": "SHPL0000000000000000",
                "pid": pid,
            }
        )
    )
    alone = Served(tmp_path, database, None, environment(tmp_path))  # type: ignore[arg-type]
    status = alone("status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["events"] == 2
    assert not stale.exists()
