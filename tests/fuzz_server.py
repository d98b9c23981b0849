"""A real ``shipline serve`` for fuzzing, a kept-alive connection to it, and the checks.

The server is a child process over its own DuckDB file, with its stderr in a file
so that a 5xx can be shown with the traceback it logged. Requests go over one
``http.client`` connection that never reopens by itself (``auto_open = 0``): a
request that gets no response, or a connection the server closes after one, is
seen, not papered over.

The checks return lists of problems (strings) rather than asserting, so that the
test can assert on them and the benchmark can count them. ``Ledger`` keeps what
the responses promised (good records accepted, dead letter ids) and ``audit``
holds the stopped server's database to it.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from tests.fuzz_cases import ACCEPT, REJECT, Record

SHIPLINE = (sys.executable, "-m", "shipline.cli")
"""The ``shipline`` command, from this interpreter's environment."""
MAX_REQUEST_BYTES = 8 * 1024 * 1024
"""The server's default ``api_max_request_bytes``: a larger body is a fair 413."""


def cli(
    folder: Path, database: str, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``shipline --database DATABASE ARGS`` as a user runs it, in ``folder``."""
    return subprocess.run(
        [*SHIPLINE, "--database", database, *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=folder,
        env=environment(folder),
        timeout=timeout,
    )


def environment(folder: Path, window: float = 0.02) -> dict[str, str]:
    """The server's and the CLI's environment: no shipline.toml, a keyring in ``folder``."""
    return {
        **os.environ,
        "SHIPLINE_CONFIG": str(folder / "none.toml"),
        "SHIPLINE_API_KEYRING": str(folder / "keyring"),
        "SHIPLINE_INCREMENTAL_BATCH_WINDOW_SECONDS": str(window),
    }


@dataclass
class Key:
    """An API key as ``shipline keys create --json`` prints it."""

    key_id: str
    key: str


def create_key(folder: Path, database: str, scope: str) -> Key:
    """A new key of ``scope``, made through the CLI (the server must be stopped)."""
    done = cli(folder, database, "keys", "create", "--scope", scope, "--json")
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout.strip().splitlines()[-1])
    return Key(created["id"], created["key"])


@dataclass
class Server:
    """A running ``shipline serve`` child process."""

    process: subprocess.Popen[bytes]
    port: int
    database: str
    folder: Path
    stderr_path: Path
    ingest: Key
    admin: Key

    def stderr_size(self) -> int:
        """How many bytes the server has written to stderr so far."""
        return self.stderr_path.stat().st_size

    def stderr_since(self, offset: int, wait: float = 0.0) -> str:
        """What the server wrote to stderr after ``offset``; waits up to ``wait`` s for it
        (uvicorn logs a traceback after it has sent the 500)."""
        deadline = time.monotonic() + wait
        while self.stderr_size() <= offset and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.02 if wait else 0)
        with self.stderr_path.open("rb") as stream:
            stream.seek(offset)
            return stream.read().decode("utf-8", errors="replace")

    def connect(self) -> KeepAlive:
        """A new kept-alive connection to the server."""
        return KeepAlive(self.port)

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.process.poll() is None


@contextmanager
def serve(folder: Path, window: float = 0.02) -> Iterator[Server]:
    """``shipline serve`` over a new DuckDB file in ``folder`` (``shipline init``), with
    an ingest and an admin key made by ``shipline keys create``; stopped by SIGTERM."""
    database = str(folder / "fuzz.duckdb")
    initialised = cli(folder, database, "init")
    assert initialised.returncode == 0, initialised.stderr
    ingest = create_key(folder, database, "ingest")
    admin = create_key(folder, database, "admin")
    port = _free_port()
    stderr_path = folder / "serve.stderr"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [
                *SHIPLINE,
                "--database",
                database,
                "serve",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            cwd=folder,
            env=environment(folder, window),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    server = Server(process, port, database, folder, stderr_path, ingest, admin)
    try:
        _wait_until_up(server)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(server: Server) -> None:
    deadline = time.monotonic() + 30
    while True:
        if not server.alive():
            raise AssertionError(f"shipline serve exited: {server.stderr_since(0)[-2000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=1)
            try:
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    return
            finally:
                connection.close()
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("shipline serve did not answer /healthz within 30 s")
        time.sleep(0.05)


@dataclass
class Reply:
    """What one request got back: a response, or why there was none."""

    status: int | None
    body: bytes = b""
    failure: str | None = None
    """"no response: ..." or "closed the connection after ..."; None when kept alive."""

    def json(self) -> Any:
        """The body as JSON (None when it is not)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class KeepAlive:
    """One HTTP/1.1 connection, kept alive, that never silently reconnects."""

    IDLE_SECONDS = 3.0
    """uvicorn closes a connection idle for 5 s; reconnect before that, as clients do."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.resets = 0
        self._open()

    def _open(self) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        self.connection.auto_open = 0
        self.connection.connect()
        self.last_used = time.monotonic()

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Reply:
        """Send one request and read its whole response; then check, with ``GET /healthz``
        on the same connection, that the server kept the connection open."""
        if time.monotonic() - self.last_used > self.IDLE_SECONDS:
            self.close()
            self._open()
        reply = self._exchange(method, path, body, headers or {})
        if reply.failure is None:
            probe = self._exchange("GET", "/healthz", b"", {})
            if probe.failure is not None or probe.status != 200:
                reply.failure = f"the next request on the connection failed: {probe.failure}"
        if reply.failure is not None:
            self.resets += 1
            self.close()
            self._open()
        self.last_used = time.monotonic()
        return reply

    def _exchange(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> Reply:
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as error:
            return Reply(None, failure=f"no response: {type(error).__name__}: {error}")
        failure = "closed the connection after responding" if response.will_close else None
        return Reply(response.status, data, failure)


def bearer(key: Key, content_type: str = "application/json") -> dict[str, str]:
    """Headers of a request authenticated with ``key``."""
    return {"Authorization": f"Bearer {key.key}", "Content-Type": content_type}


def traceback_summary(stderr: str) -> str:
    """The exception a server log ends with, and the innermost shipline frame raising it."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    exception = next(
        (
            line.strip()
            for line in reversed(lines)
            if re.match(r"^[A-Za-z_.]+(Error|Exception|Warning|Exit)\b", line.strip())
        ),
        lines[-1].strip() if lines else "(nothing on stderr)",
    )
    frames = [line.strip() for line in lines if "/shipline/" in line and "File " in line]
    where = frames[-1] if frames else ""
    where = re.sub(r'File ".*?/(shipline/[^"]+)", line (\d+), in (\S+)', r"\1:\2 \3", where)
    return f"{exception[:300]}{f' (at {where})' if where else ''}"


# Checks ----------------------------------------------------------------------------


@dataclass
class Checked:
    """What one response says, and what is wrong with it."""

    problems: list[str] = field(default_factory=list)
    accepted: list[Record] = field(default_factory=list)
    dead_letters: list[tuple[int, Record]] = field(default_factory=list)
    wrong: list[tuple[Record, str]] = field(default_factory=list)
    """Records whose outcome is not the one they must have, with the outcome."""


def must_parse(records: Sequence[Record], framing: str) -> bool:
    """Whether the body must get the normal per-record response (not a 400).

    NDJSON with a good line, and arrays or single records whose records are all
    complete JSON values, are bodies that parse; their bad records are per-record
    errors. Anything else may also be refused whole."""
    if framing == "ndjson":
        return len(records) > 1 and any(record.expect == ACCEPT for record in records)
    return all(record.framed for record in records)


def check_events(records: Sequence[Record], framing: str, body: bytes, reply: Reply) -> Checked:
    """Check a ``POST /v1/events`` response to ``records`` sent as ``framing``
    (``ndjson``, ``array`` or ``single``)."""
    checked = Checked()
    if not _check_status(checked, reply, must_parse(records, framing), body):
        return checked
    data = reply.json()
    if not isinstance(data, dict) or not isinstance(data.get("records"), list):
        checked.problems.append(f"HTTP 200 without per-record outcomes: {reply.body[:300]!r}")
        return checked
    received = data.get("received")
    counts: list[Any] = [data.get(name) for name in ("accepted", "duplicates", "rejected")]
    if not all(isinstance(n, int) for n in (received, *counts)) or received != sum(counts):
        checked.problems.append(
            f"received != accepted + duplicates + rejected: {counts} {received}"
        )
    outcomes = data["records"]
    if len(outcomes) != received:
        checked.problems.append(f"{len(outcomes)} outcomes for received = {received}")
    exact = framing == "ndjson" or all(record.framed for record in records)
    if exact and received != len(records):
        checked.problems.append(f"received = {received} for {len(records)} records")
        return checked
    if not exact:
        return checked
    for record, outcome in zip(records, outcomes, strict=False):
        _check_outcome(checked, record, outcome.get("outcome"), outcome.get("dead_letter_id"))
        if outcome.get("outcome") == "rejected" and not outcome.get("errors"):
            checked.problems.append(f"{record.name}: rejected without errors")
    return checked


def check_put_events(records: Sequence[Record], body: bytes, reply: Reply) -> Checked:
    """Check a PutEvents response (``/v1/put-events`` or the AWS JSON endpoint) to
    ``records`` sent as the Details of routed entries."""
    checked = Checked()
    if not _check_status(checked, reply, True, body):
        return checked
    data = reply.json()
    entries = data.get("Entries") if isinstance(data, dict) else None
    if not isinstance(entries, list) or len(entries) != len(records):
        checked.problems.append(
            f"Entries do not match the {len(records)} sent: {reply.body[:300]!r}"
        )
        return checked
    failed = sum(1 for entry in entries if "ErrorCode" in entry)
    if data.get("FailedEntryCount") != failed:
        checked.problems.append(f"FailedEntryCount {data.get('FailedEntryCount')} != {failed}")
    for record, entry in zip(records, entries, strict=True):
        if "EventId" in entry:
            _check_outcome(checked, record, "accepted", None)
            continue
        found = re.search(r"dead letter (\d+)", str(entry.get("ErrorMessage", "")))
        _check_outcome(checked, record, "rejected", int(found.group(1)) if found else None)
    return checked


def _check_status(checked: Checked, reply: Reply, must_parse: bool, body: bytes) -> bool:
    """Note a bad status or a dropped connection; whether the body is a 200 to read."""
    if reply.failure is not None:
        checked.problems.append(reply.failure)
    if reply.status is None:
        return False
    if reply.status == 413 and len(body) > MAX_REQUEST_BYTES:
        return False
    if reply.status >= 500 or (reply.status != 200 and (must_parse or reply.status != 400)):
        checked.problems.append(f"HTTP {reply.status}: {reply.body[:300]!r}")
        return False
    return reply.status == 200


def _check_outcome(checked: Checked, record: Record, outcome: Any, dead_letter_id: Any) -> None:
    if outcome == "rejected":
        if isinstance(dead_letter_id, int):
            checked.dead_letters.append((dead_letter_id, record))
        else:
            checked.problems.append(f"{record.name}: rejected without a dead letter id")
    if record.expect == ACCEPT and outcome == "accepted":
        checked.accepted.append(record)
    elif record.expect in (ACCEPT, REJECT) and outcome != f"{record.expect}ed":
        checked.wrong.append((record, str(outcome)))
        checked.problems.append(f"{record.name}: {outcome}, must be {record.expect}ed")


# The stopped server's database -----------------------------------------------------


@dataclass
class Ledger:
    """What the server's responses promised, to hold its database to."""

    sent_good: list[Record] = field(default_factory=list)
    accepted: list[Record] = field(default_factory=list)
    dead_letters: list[tuple[int, Record]] = field(default_factory=list)

    def note(self, records: Sequence[Record], checked: Checked) -> None:
        """Add one request's records and what its response said."""
        self.sent_good.extend(record for record in records if record.expect == ACCEPT)
        self.accepted.extend(checked.accepted)
        self.dead_letters.extend(checked.dead_letters)


@dataclass
class Audit:
    """Where the database breaks the ledger's promises."""

    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    missing_dead_letters: list[int] = field(default_factory=list)
    shared_dead_letters: list[int] = field(default_factory=list)
    raw_not_kept: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Each broken promise, described."""
        found = []
        if self.lost:
            found.append(f"{len(self.lost)} accepted good records not stored: {self.lost[:5]}")
        if self.duplicated:
            found.append(f"{len(self.duplicated)} good records stored twice: {self.duplicated[:5]}")
        if self.missing_dead_letters:
            found.append(f"dead letters not stored: {self.missing_dead_letters[:10]}")
        if self.shared_dead_letters:
            found.append(f"dead letter ids given to two records: {self.shared_dead_letters[:10]}")
        found.extend(
            f"dead letter does not keep the raw record: {n}" for n in self.raw_not_kept[:10]
        )
        return found


def audit(database: str, ledger: Ledger) -> Audit:
    """Hold the (stopped) server's DuckDB file to ``ledger``."""
    found = Audit()
    with duckdb.connect(database, read_only=True) as con:
        wanted = pa.table(
            {"event_id": [r.event_id for r in ledger.sent_good]},
            pa.schema([("event_id", pa.string())]),
        )
        con.register("wanted_events", wanted)
        stored = dict(
            con.execute(
                "SELECT event_id, count(*) FROM shipment_events"
                " WHERE event_id IN (SELECT event_id FROM wanted_events) GROUP BY event_id"
            ).fetchall()
        )
        ids = [dead_letter_id for dead_letter_id, _ in ledger.dead_letters]
        con.register("wanted_letters", pa.table({"id": pa.array(ids, pa.int64())}))
        payloads = dict(
            con.execute(
                "SELECT dead_letter_id, payload FROM dead_letters"
                " WHERE dead_letter_id IN (SELECT id FROM wanted_letters)"
            ).fetchall()
        )
    found.lost = [r.event_id or "" for r in ledger.accepted if stored.get(r.event_id, 0) == 0]
    found.duplicated = [r.event_id or "" for r in ledger.sent_good if stored.get(r.event_id, 0) > 1]
    _check_letters(found, ledger, payloads)
    return found


def audit_through_api(server: Server, connection: KeepAlive, ledger: Ledger) -> Audit:
    """Hold the running server to ``ledger`` through its API, once nothing is pending:
    each accepted good record once in its shipment's timeline, each dead letter listed."""
    found = Audit()
    counts: dict[str | None, int] = {}
    for shipment_id in sorted({r.shipment_id for r in ledger.sent_good if r.shipment_id}):
        reply = connection.request(
            "GET", f"/v1/shipments/{shipment_id}/timeline", headers=bearer(server.admin)
        )
        rows = (reply.json() or {}).get("timeline", []) if reply.status == 200 else []
        for row in rows:
            counts[row.get("event_id")] = counts.get(row.get("event_id"), 0) + 1
    found.lost = [r.event_id or "" for r in ledger.accepted if counts.get(r.event_id, 0) == 0]
    found.duplicated = [r.event_id or "" for r in ledger.sent_good if counts.get(r.event_id, 0) > 1]
    # One by one: a list cuts long payloads, a dead letter asked for alone is whole.
    payloads = {}
    for dead_letter_id in {dead_letter_id for dead_letter_id, _ in ledger.dead_letters}:
        reply = connection.request(
            "GET", f"/v1/dead-letters/{dead_letter_id}", headers=bearer(server.admin)
        )
        if reply.status == 200:
            payloads[dead_letter_id] = (reply.json() or {}).get("payload")
    _check_letters(found, ledger, payloads)
    return found


def _check_letters(found: Audit, ledger: Ledger, payloads: dict[int, Any]) -> None:
    seen: set[int] = set()
    for dead_letter_id, record in ledger.dead_letters:
        if dead_letter_id in seen:
            found.shared_dead_letters.append(dead_letter_id)
        seen.add(dead_letter_id)
        if dead_letter_id not in payloads:
            found.missing_dead_letters.append(dead_letter_id)
        elif not keeps_raw(record, payloads[dead_letter_id]):
            found.raw_not_kept.append(f"{record.name} (dead letter {dead_letter_id})")


def keeps_raw(record: Record, payload: Any) -> bool:
    """Whether a dead letter's payload is what it must be for ``record``: its own text
    for a record that cannot be parsed, anything but empty otherwise."""
    if not isinstance(payload, str) or not payload:
        return False
    text = record.text
    if not record.keeps_raw or text is None:
        return True
    if payload.strip() == text.strip():
        return True
    # A "record" that is itself a JSON array, sent alone, is a body of records: its
    # elements are the records, each kept as its own text.
    inner = text.strip()
    return inner.startswith("[") and payload.strip() == inner[1:-1].strip()


def check_ingest_cli(
    records: Sequence[Record], done: subprocess.CompletedProcess[str], header_lines: int = 0
) -> Checked:
    """Check ``shipline ingest FILE --json`` over a file holding ``records``, one per line
    after ``header_lines``: it exits 0 without a traceback, with an outcome for every
    line, and each error's ``index`` is its record's (its ``line`` says which that is)."""
    checked = Checked()
    if done.returncode != 0 or "Traceback" in done.stderr:
        checked.problems.append(
            f"exit {done.returncode}: {traceback_summary(done.stderr) or done.stdout[-300:]}"
        )
        return checked
    try:
        stats = json.loads(done.stdout)
    except ValueError:
        checked.problems.append(f"--json printed no JSON: {done.stdout[:300]!r}")
        return checked
    counts = [stats.get(name) for name in ("accepted", "duplicates", "rejected")]
    if stats.get("events") != sum(counts):
        checked.problems.append(f"events != accepted + duplicates + rejected: {stats}")
    if stats.get("events") != len(records):
        checked.problems.append(f"events = {stats.get('events')} for {len(records)} lines")
        return checked
    errors = {}
    for error in stats.get("errors", []):
        index = error["index"]
        if isinstance(error.get("line"), int):
            index = error["line"] - header_lines - 1
            if index != error["index"]:
                name = records[index].name if 0 <= index < len(records) else "?"
                checked.problems.append(
                    f"{name}: the error of line {error['line']} says index {error['index']},"
                    f" but that line is record {index}"
                )
        errors[index] = error
    for index, record in enumerate(records):
        error = errors.get(index)
        outcome = "rejected" if error else "accepted"
        _check_outcome(checked, record, outcome, error.get("dead_letter_id") if error else None)
    return checked
