"""Fuzz benchmark: hostile client input against a real ``shipline serve``.

    python -m benchmarks.fuzz [--records 10000] [--seed 0] [--batch 50]

It starts ``shipline serve`` over a new DuckDB file and sends ``--records``
records, about half of them good and half hostile (the cases of
``tests/fuzz_cases.py``: lone surrogates, 5,000-digit integers, nesting 1,000 and
100,000 deep, NaN, duplicate keys, raw line separators, bytes that are not UTF-8,
bad timestamps, byte flips, truncations, wrong types, huge strings), in batches
of random size (1 to twice ``--batch``) over one kept-alive connection. The
batches take turns: ``/v1/events`` as NDJSON, ``/v1/events`` as a JSON array,
``/v1/put-events``, and the AWS JSON protocol (``POST /``, SigV4-signed with
botocore). Then it waits until every accepted event is processed, stops the
server, holds its database to what the responses promised, and runs
``shipline verify``.

It prints a table per endpoint and per case, then the totals: 5xx responses,
connection resets, good records lost or stored twice, bad records not
dead-lettered, and ``verify``'s result. Every figure should be 0 (verify: exit 0).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from tests.fuzz_cases import (
    ACCEPT,
    REJECT,
    Record,
    array_body,
    good,
    mutate,
    ndjson_body,
    put_events_body,
)
from tests.fuzz_server import (
    Audit,
    Checked,
    KeepAlive,
    Ledger,
    Server,
    audit,
    bearer,
    check_events,
    check_put_events,
    cli,
    serve,
    traceback_summary,
)

ENDPOINTS = ("events, NDJSON", "events, JSON array", "put-events", "AWS JSON (SigV4)")


@dataclass
class Tally:
    """Counts for one endpoint or one case."""

    requests: int = 0
    records: int = 0
    server_errors: int = 0
    refused: int = 0
    resets: int = 0
    in_failed: int = 0
    culprit: int = 0
    wrong: int = 0
    expect: str = ""


@dataclass
class Run:
    """Everything one run saw."""

    ledger: Ledger = field(default_factory=Ledger)
    endpoints: dict[str, Tally] = field(default_factory=lambda: {e: Tally() for e in ENDPOINTS})
    cases: dict[str, Tally] = field(default_factory=dict)
    logged: Counter[str] = field(default_factory=Counter)
    problems: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    isolated: int = 0


def make_batch(rng: random.Random, size: int, run_tag: str, start: int) -> list[Record]:
    """``size`` records, each good or hostile with even odds."""
    batch = []
    for number in range(start, start + size):
        tag = f"{run_tag}-{number}"
        batch.append(good(tag) if rng.random() < 0.5 else mutate(rng, tag))
    return batch


def send(server: Server, connection: KeepAlive, endpoint: str, records: list[Record]) -> Checked:
    """One batch to one endpoint, checked; a 5xx's server log is kept."""
    if endpoint == "events, NDJSON":
        body = ndjson_body(records)
        reply = connection.request(
            "POST", "/v1/events", body, bearer(server.ingest, "application/x-ndjson")
        )
        return check_events(records, "ndjson", body, reply)
    if endpoint == "events, JSON array":
        body = array_body(records)
        reply = connection.request("POST", "/v1/events", body, bearer(server.ingest))
        return check_events(records, "array", body, reply)
    body = put_events_body(records)
    if endpoint == "put-events":
        reply = connection.request("POST", "/v1/put-events", body, bearer(server.ingest))
    else:
        reply = connection.request("POST", "/", body, signed_headers(server, body))
    return check_put_events(records, body, reply)


def signed_headers(server: Server, body: bytes) -> dict[str, str]:
    """Headers of a PutEvents call as boto3 would sign it, with the ingest key."""
    request = AWSRequest(
        method="POST",
        url=f"http://127.0.0.1:{server.port}/",
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AWSEvents.PutEvents",
        },
    )
    credentials = Credentials(server.ingest.key_id, server.ingest.key)
    SigV4Auth(credentials, "events", "us-east-1").add_auth(request)
    return {name: str(value) for name, value in request.headers.items()}


def drive(server: Server, options: argparse.Namespace) -> Run:
    """Send the records, batch by batch, each endpoint in turn."""
    rng = random.Random(options.seed)
    run = Run()
    connection = server.connect()
    began = time.perf_counter()
    sent = 0
    turn = 0
    try:
        while sent < options.records:
            size = min(rng.randint(1, 2 * options.batch), options.records - sent)
            records = make_batch(rng, size, f"fz{options.seed}", sent)
            sent += size
            endpoint = ENDPOINTS[turn % len(ENDPOINTS)]
            turn += 1
            if endpoint in ("put-events", "AWS JSON (SigV4)"):
                # A Detail is a JSON string: bytes that are not UTF-8 go as NDJSON.
                bare = [record for record in records if record.text is None]
                records = [record for record in records if record.text is not None]
                if bare:
                    count(run, server, "events, NDJSON", bare, connection)
                if not records:
                    continue
            count(run, server, endpoint, records, connection)
    finally:
        connection.close()
    run.seconds = time.perf_counter() - began
    return run


def count(
    run: Run, server: Server, endpoint: str, records: list[Record], connection: KeepAlive
) -> None:
    """Send one batch and add what happened to the tallies; when it fails, send each of
    its hostile records again on its own, to find the ones that fail alone."""
    offset = server.stderr_size()
    resets_before = connection.resets
    checked = send(server, connection, endpoint, records)
    run.ledger.note(records, checked)
    tally = run.endpoints[endpoint]
    tally.requests += 1
    tally.records += len(records)
    tally.resets += connection.resets - resets_before
    status = _status(checked)
    failed = status is None or status >= 500 or connection.resets > resets_before
    if status is not None and status >= 500:
        tally.server_errors += 1
    if status == 400:
        tally.refused += 1
    if failed:
        run.logged[traceback_summary(server.stderr_since(offset, wait=1.0))] += 1
    for problem in checked.problems:
        run.problems[re.sub(r"\d+", "N", problem)[:160]] += 1
    wrong = Counter(record.name for record, _ in checked.wrong)
    for record in records:
        case = run.cases.setdefault(record.name, Tally(expect=record.expect))
        case.records += 1
        case.in_failed += failed
    for name, n in wrong.items():
        run.cases[name].wrong += n
    if failed:
        for record in records:
            if record.expect != ACCEPT:
                run.cases[record.name].culprit += fails_alone(run, server, endpoint, record)


def fails_alone(run: Run, server: Server, endpoint: str, record: Record) -> bool:
    """Whether ``record`` beside one new good record still gets a 5xx or a reset
    (on a connection of its own, so as not to count in the tallies)."""
    run.isolated += 1
    records = [good(f"alone{run.isolated}-0"), record]
    connection = server.connect()
    try:
        checked = send(server, connection, endpoint, records)
        failed = connection.resets > 0
    finally:
        connection.close()
    run.ledger.note(records, checked)
    status = _status(checked)
    return failed or status is None or status >= 500


def _status(checked: Checked) -> int | None:
    for problem in checked.problems:
        found = re.match(r"HTTP (\d+)", problem)
        if found:
            return int(found.group(1))
        if problem.startswith("no response"):
            return None
    return 200


def wait_until_processed(server: Server, timeout: float = 60) -> dict[str, object]:
    """The processor's figures once no accepted event waits (or after ``timeout``)."""
    connection = server.connect()
    deadline = time.monotonic() + timeout
    try:
        while True:
            reply = connection.request("GET", "/v1/status", headers=bearer(server.admin))
            status = reply.json() or {}
            if status.get("pending_events") == 0 or time.monotonic() > deadline:
                return {**status.get("processor", {}), "pending": status.get("pending_events")}
            time.sleep(0.2)
    finally:
        connection.close()


def main() -> None:
    """Run the benchmark and print its tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=50, help="mean records per request")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="shipline-fuzz-") as name:
        folder = Path(name)
        with serve(folder, window=0.05) as server:
            run = drive(server, options)
            processor = wait_until_processed(server)
        found = audit(server.database, run.ledger)
        verified = cli(folder, server.database, "verify", "--json")
        report(run, options, processor, found, verified)


def report(
    run: Run,
    options: argparse.Namespace,
    processor: dict[str, object],
    found: Audit,
    verified: subprocess.CompletedProcess[str],
) -> None:
    """Print the tables and the totals."""
    requests = sum(t.requests for t in run.endpoints.values())
    print(
        f"shipline fuzz benchmark: {options.records:,} records (seed {options.seed}),"
        f" {requests:,} requests over one kept-alive connection in {run.seconds:.1f} s"
    )
    print(
        "(a reset is a request without a response, or whose connection did not serve the"
        " next request; 'failing alone' counts re-sends of the record beside one good one)"
    )
    print(f"{'endpoint':<22}{'requests':>10}{'records':>10}{'5xx':>7}{'400':>7}{'resets':>8}")
    for name, t in run.endpoints.items():
        print(
            f"{name:<22}{t.requests:>10,}{t.records:>10,}{t.server_errors:>7,}{t.refused:>7,}"
            f"{t.resets:>8,}"
        )
    print()
    print(
        f"{'case':<42}{'must be':>9}{'sent':>7}{'in failed requests':>20}{'failing alone':>15}"
        f"{'wrong outcome':>15}"
    )
    for name, t in sorted(run.cases.items(), key=lambda item: (-item[1].culprit, item[0])):
        print(
            f"{name[:41]:<42}{t.expect:>9}{t.records:>7,}{t.in_failed:>20,}{t.culprit:>15,}"
            f"{t.wrong:>15,}"
        )
    print()
    wrong = {
        expect: sum(t.wrong for t in run.cases.values() if t.expect == expect)
        for expect in (ACCEPT, REJECT)
    }
    totals = [
        ("cases sent", f"{sum(t.records for t in run.cases.values()):,}"),
        ("5xx responses", f"{sum(t.server_errors for t in run.endpoints.values()):,}"),
        (
            "connection resets (no response, or closed)",
            f"{sum(t.resets for t in run.endpoints.values()):,}",
        ),
        ("hostile records re-sent alone after a failure", f"{run.isolated:,}"),
        ("good records sent", f"{len(run.ledger.sent_good):,}"),
        ("good records lost (acknowledged, not stored)", f"{len(found.lost):,}"),
        ("good records stored more than once", f"{len(found.duplicated):,}"),
        ("good records not accepted in a 200", f"{wrong[ACCEPT]:,}"),
        ("bad records not dead-lettered", f"{wrong[REJECT] + len(found.missing_dead_letters):,}"),
        ("dead letters not keeping the raw record", f"{len(found.raw_not_kept):,}"),
        ("processor failures", f"{processor.get('failures')} (pending {processor.get('pending')})"),
        ("shipline verify", _verify_line(verified)),
    ]
    for label, value in totals:
        print(f"{label:<48}{value}")
    if run.logged:
        print("\nserver errors logged (count, exception at the innermost shipline frame):")
        for line, n in run.logged.most_common(8):
            print(f"{n:>6}  {line}")
    if run.problems:
        print("\nproblems (count, first 160 characters, digits as N):")
        for line, n in run.problems.most_common(12):
            print(f"{n:>6}  {line}")
    if found.raw_not_kept:
        print("\ndead letters not keeping the raw record, by case:")
        names = Counter(re.sub(r" \(dead letter \d+\)$", "", n) for n in found.raw_not_kept)
        for line, n in names.most_common():
            print(f"{n:>6}  {line}")
    if processor.get("last_error"):
        print(f"\nprocessor's last error: {processor['last_error']}")


def _verify_line(verified: subprocess.CompletedProcess[str]) -> str:
    try:
        data = json.loads(verified.stdout)
    except ValueError:
        return f"exit {verified.returncode}: {(verified.stderr or verified.stdout).strip()[-300:]}"
    return f"exit {verified.returncode}, drift {data.get('drift')}"


if __name__ == "__main__":
    main()
