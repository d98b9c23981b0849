"""No client input gets a 500 or a dropped connection; a record that cannot be parsed is
a dead letter beside its stored good neighbours.

A real ``shipline serve`` (a child process on a free loopback port, over a DuckDB
file) gets hostile records (lone surrogates, 5,000-digit integers, deep nesting,
NaN, duplicate keys, raw line separators, invalid UTF-8, bad timestamps, byte
flips, truncations, wrong types) mixed with good ones, as NDJSON, JSON arrays and
EventBridge PutEvents bodies, over one kept-alive connection. So does
``shipline ingest`` on NDJSON and CSV files. Every response must be the normal
per-record one (or a 400 for a body that is not JSON at all), with
received = accepted + duplicates + rejected, a dead letter for every rejected
record, and every good record stored exactly once. The helpers are in
``tests/fuzz_cases.py`` (the records) and ``tests/fuzz_server.py`` (the server and
the checks); ``python -m benchmarks.fuzz`` sends the same cases by the ten thousand.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.fuzz_cases import (
    CSV_EXPLICIT,
    EXPLICIT,
    NOT_JSON_BODIES,
    Record,
    array_body,
    bytes_record,
    csv_body,
    csv_good,
    csv_mutate,
    good,
    json_value_record,
    mutate,
    ndjson_body,
    put_events_body,
    with_event_data,
)
from tests.fuzz_server import (
    Checked,
    KeepAlive,
    Ledger,
    Reply,
    Server,
    audit,
    audit_through_api,
    bearer,
    check_events,
    check_ingest_cli,
    check_put_events,
    cli,
    serve,
    traceback_summary,
)

_numbers = itertools.count()


def tag(prefix: str) -> str:
    """A tag no other record of the session has: ``PREFIX-N``."""
    return f"{prefix}-{next(_numbers)}"


def slug(name: str) -> str:
    """A case's name as a tag prefix (shipment ids allow letters, digits, ._:-)."""
    return re.sub(r"[^A-Za-z0-9]+", ".", name).strip(".")[:24]


def send(
    server: Server, connection: KeepAlive, records: Sequence[Record], framing: str
) -> tuple[Reply, Checked]:
    """POST ``records`` as ``framing`` (ndjson, array, single or put-events) and check
    the response; a 5xx's problem carries the traceback the server logged."""
    if framing == "put-events":
        path, body, kind = "/v1/put-events", put_events_body(records), "application/json"
    elif framing == "ndjson":
        path, body, kind = "/v1/events", ndjson_body(records), "application/x-ndjson"
    else:
        body = array_body(records) if framing == "array" else records[0].raw
        path, kind = "/v1/events", "application/json"
    offset = server.stderr_size()
    reply = connection.request("POST", path, body, bearer(server.ingest, kind))
    if framing == "put-events":
        checked = check_put_events(records, body, reply)
    else:
        checked = check_events(records, framing, body, reply)
    if reply.status is None or reply.status >= 500:
        logged = traceback_summary(server.stderr_since(offset, wait=1.0))
        checked.problems.append(f"server log: {logged}")
        if not server.alive():
            checked.problems.append(f"the server died (exit {server.process.poll()})")
    return reply, checked


# The cases the issue names, one by one ----------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One ``shipline serve`` for the module's example cases."""
    with serve(tmp_path_factory.mktemp("fuzz-serve")) as running:
        yield running


@pytest.fixture(scope="module")
def connection(server: Server) -> Iterator[KeepAlive]:
    """One kept-alive connection that every example case goes over, in turn."""
    kept = server.connect()
    yield kept
    kept.close()


def framings(name: str) -> list[str]:
    """The bodies a named case can travel in."""
    sample = EXPLICIT[name]("sample-0")
    found = ["ndjson", "single"]
    if sample.framed:
        found.append("array")
    if sample.text is not None:
        found.append("put-events")
    return found


@pytest.mark.parametrize(
    ("name", "framing"), [(name, framing) for name in EXPLICIT for framing in framings(name)]
)
def test_a_hostile_record_is_answered_per_record(
    server: Server, connection: KeepAlive, name: str, framing: str
) -> None:
    prefix = slug(f"{name}.{framing}")
    case = EXPLICIT[name](tag(prefix))
    records = [case] if framing == "single" else [good(tag(prefix)), case, good(tag(prefix))]
    reply, checked = send(server, connection, records, framing)
    problems = [*checked.problems]
    if not problems:
        ledger = Ledger()
        ledger.note(records, checked)
        problems += settled_problems(server, connection, ledger)
    assert not problems, f"{name} in a {framing} body (HTTP {reply.status}):\n" + "\n".join(
        problems
    )


def settled_problems(server: Server, connection: KeepAlive, ledger: Ledger) -> list[str]:
    """Once processed: each accepted good record once in its timeline, each dead letter
    stored (with the raw record when it could not be parsed), the processor unharmed."""
    processor = wait_until_processed(server, connection)
    problems = [] if processor.get("failures") == 0 else [f"the processor failed: {processor}"]
    return problems + audit_through_api(server, connection, ledger).problems()


@pytest.mark.parametrize("endpoint", ["/v1/events", "/v1/put-events"])
@pytest.mark.parametrize("name", sorted(NOT_JSON_BODIES))
def test_a_body_that_is_not_json_is_a_400_that_says_so(
    server: Server, connection: KeepAlive, name: str, endpoint: str
) -> None:
    offset = server.stderr_size()
    reply = connection.request(
        "POST", endpoint, NOT_JSON_BODIES[name], bearer(server.ingest, "application/json")
    )
    logged = traceback_summary(server.stderr_since(offset, wait=1.0)) if reply.status != 400 else ""
    assert reply.failure is None, reply.failure
    assert reply.status == 400, f"HTTP {reply.status}: {reply.body[:300]!r} {logged}"
    message = json.dumps(reply.json())
    assert re.search(r"JSON|UTF-8|empty", message), message


# Hypothesis over whole requests --------------------------------------------------------

_text = st.text(
    alphabet=st.characters() | st.sampled_from(["\ud800", "\udfff", "\u2028", "\u2029", "\x85"]),
    max_size=12,
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_text, children, max_size=4),
    max_leaves=12,
)


@dataclass(frozen=True)
class Case:
    """A record to send, drawn by hypothesis; its ids are given when it is made."""

    kind: str
    value: Any = None

    def make(self, prefix: str) -> Record:
        """The record, tagged ``PREFIX-N``."""
        name = tag(prefix)
        if self.kind == "event_data":
            return with_event_data(name, self.value)
        if self.kind == "json value":
            return json_value_record(self.value)
        if self.kind == "bytes":
            return bytes_record(self.value)
        if self.kind == "explicit":
            return EXPLICIT[self.value](name)
        return mutate(random.Random(self.value), name)


cases = st.one_of(
    st.builds(Case, st.just("event_data"), _json | st.dictionaries(_text, _json, max_size=5)),
    st.builds(Case, st.just("json value"), _json),
    st.builds(Case, st.just("bytes"), st.binary(min_size=1, max_size=64)),
    st.builds(Case, st.just("explicit"), st.sampled_from(sorted(EXPLICIT))),
    st.builds(Case, st.just("mutation"), st.integers(0, 2**32)),
)


def test_fuzzed_requests_over_one_connection(server: Server, connection: KeepAlive) -> None:
    ledger = Ledger()

    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        drawn=st.lists(cases, min_size=1, max_size=6),
        framing=st.sampled_from(["ndjson", "array", "put-events"]),
        position=st.integers(0, 6),
    )
    @example(
        drawn=[Case("explicit", "5,000-digit integer in event_data")], framing="array", position=0
    )
    @example(drawn=[Case("explicit", "raw U+2028 inside a string")], framing="ndjson", position=1)
    def one_request(drawn: list[Case], framing: str, position: int) -> None:
        records = [case.make("fz") for case in drawn]
        records.insert(min(position, len(records)), good(tag("fz")))
        if framing == "put-events" and any(record.text is None for record in records):
            framing = "ndjson"
        reply, checked = send(server, connection, records, framing)
        ledger.note(records, checked)
        assert not checked.problems, (
            f"{framing} body of {[r.name for r in records]} (HTTP {reply.status}):\n"
            + "\n".join(checked.problems)
        )

    one_request()
    problems = settled_problems(server, connection, ledger)
    assert not problems, "\n".join(problems)


def wait_until_processed(server: Server, connection: KeepAlive, timeout: float = 30) -> Any:
    """The processor's figures once no accepted event waits for a timeline run."""
    deadline = time.monotonic() + timeout
    while True:
        reply = connection.request("GET", "/v1/status", headers=bearer(server.admin))
        status = reply.json() or {}
        if status.get("pending_events") == 0 or time.monotonic() > deadline:
            return {**status.get("processor", {}), "pending_events": status.get("pending_events")}
        time.sleep(0.05)


# Files through ``shipline ingest`` -----------------------------------------------------


@pytest.fixture(scope="module")
def ingest_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder (and DuckDB file) that the module's ``shipline ingest`` runs share."""
    folder = tmp_path_factory.mktemp("fuzz-ingest")
    initialised = cli(folder, str(folder / "ingest.duckdb"), "init")
    assert initialised.returncode == 0, initialised.stderr
    return folder


def ingest_file(folder: Path, records: Sequence[Record], suffix: str) -> list[str]:
    """``shipline ingest`` one file of ``records``; what is wrong with the outcome."""
    database = str(folder / "ingest.duckdb")
    path = folder / f"{tag('file')}{suffix}"
    path.write_bytes(csv_body(records) if suffix == ".csv" else ndjson_body(records))
    done = cli(folder, database, "ingest", str(path), "--json")
    checked = check_ingest_cli(records, done, header_lines=1 if suffix == ".csv" else 0)
    ledger = Ledger()
    ledger.note(records, checked)
    found = audit(database, ledger) if done.returncode == 0 else None
    return checked.problems + (found.problems() if found else [])


def test_every_named_case_in_an_ndjson_file_is_refused_alone(ingest_folder: Path) -> None:
    # One file, one run of the command (a second each), a good line around every case.
    records = [good(tag("nd"))]
    for make in EXPLICIT.values():
        records += [make(tag("nd")), good(tag("nd"))]
    problems = ingest_file(ingest_folder, records, ".ndjson")
    assert not problems, "\n".join(problems)


def test_every_named_case_in_a_csv_file_is_refused_alone(ingest_folder: Path) -> None:
    records = [csv_good(tag("csv"))]
    for make in CSV_EXPLICIT.values():
        records += [make(tag("csv")), csv_good(tag("csv"))]
    problems = ingest_file(ingest_folder, records, ".csv")
    assert not problems, "\n".join(problems)


@pytest.mark.slow
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    seeds=st.lists(st.integers(0, 2**32), min_size=1, max_size=30),
    suffix=st.sampled_from([".ndjson", ".csv"]),
)
def test_fuzzed_files_through_the_cli(ingest_folder: Path, seeds: list[int], suffix: str) -> None:
    records: list[Record] = []
    for seed in seeds:
        rng = random.Random(seed)
        if suffix == ".csv":
            records.append(csv_mutate(rng, tag("ff")) if seed % 2 else csv_good(tag("ff")))
        else:
            records.append(mutate(rng, tag("ff")) if seed % 2 else good(tag("ff")))
    records.append(csv_good(tag("ff")) if suffix == ".csv" else good(tag("ff")))
    problems = ingest_file(ingest_folder, records, suffix)
    assert not problems, f"{suffix} file of {[r.name for r in records]}:\n" + "\n".join(problems)


def test_a_ragged_row_that_is_not_utf8_refuses_only_itself(ingest_folder: Path) -> None:
    database = str(ingest_folder / "ingest.duckdb")
    path = ingest_folder / "ragged.csv"
    path.write_bytes(
        b"event_id,shipment_id,event_timestamp,event_type,location_id,carrier,event_data\n"
        b"bad-1,B-1,2026-\xff1-01T00:00:00Z,created\xffHUB-0,ACME,\n"
        b"good-1,G-1,2026-11-03T02:02:02Z,in_transit,HUB-2,ACME,\n"
        b"bad-2,B-2,2026-11-03T02:02:02Z,in_transit,HUB-\xfe2,ACME,\n"
    )
    done = cli(ingest_folder, database, "ingest", str(path), "--json")
    assert done.returncode == 0, done.stderr
    assert "Exception" not in done.stderr and "Traceback" not in done.stderr
    outcome = json.loads(done.stdout)
    assert (outcome["accepted"], outcome["rejected"]) == (1, 2)
    reasons = {error["line"]: " ".join(error["errors"]) for error in outcome["errors"]}
    assert "has 6 fields; the header has 7" in reasons[2]
    assert "location_id: not UTF-8 (byte 0xfe at 4)" in reasons[4]
