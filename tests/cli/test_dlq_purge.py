"""Purging dead letters by source, by age or all of them, with a count and a
question first; ``--status`` names a state on ``dlq list`` as on ``loads list``."""

from __future__ import annotations

import json

from tests.conftest import Shipline

BAD = '{"shipment_id": "S1", "event_timestamp": "2026-01-01T00:00:00Z", "event_type": "nope"}\n'
GOOD = '{"shipment_id": "S1", "event_timestamp": "2026-01-01T00:00:00Z", "event_type": "created"}\n'


def open_sources(shipline: Shipline) -> list[str]:
    listed = shipline("dlq", "list", "--status", "open", "--json")
    assert listed.returncode == 0, listed.stderr
    return sorted(row["source"] for row in json.loads(listed.stdout))


def test_purge_by_source_counts_asks_and_leaves_the_others(shipline: Shipline) -> None:
    (shipline.folder / "a.ndjson").write_text(GOOD + BAD + BAD)
    (shipline.folder / "b.ndjson").write_text(GOOD + BAD)
    assert shipline("ingest", "a.ndjson", "b.ndjson").returncode == 0
    assert open_sources(shipline) == ["file:a.ndjson", "file:a.ndjson", "file:b.ndjson"]

    declined = shipline("dlq", "purge", "--source", "file:a.ndjson", stdin="n\n")
    assert declined.returncode == 1
    assert "purge 2 open dead letter(s)?" in declined.stderr
    assert len(open_sources(shipline)) == 3

    done = shipline("dlq", "purge", "--source", "file:a.ndjson", stdin="y\n")
    assert done.returncode == 0, done.stderr
    assert "purged 2 dead letter(s)" in done.stdout
    assert open_sources(shipline) == ["file:b.ndjson"]


def test_purge_before_a_time_and_all_with_yes(shipline: Shipline) -> None:
    assert shipline("ingest", "-", stdin=GOOD + BAD).returncode == 0
    nothing = shipline("dlq", "purge", "--before", "2000-01-01", "--yes")
    assert "no open dead letter matches" in nothing.stdout
    assert (
        shipline("dlq", "purge", "--before", "2999-01-01T00:00:00+00:00", "--yes").returncode == 0
    )
    assert open_sources(shipline) == []
    assert shipline("ingest", "-", stdin=GOOD.replace("S1", "S2") + BAD).returncode == 0
    everything = shipline("dlq", "purge", "--all", "--yes")
    assert "purged 1 dead letter(s)" in everything.stdout
    assert open_sources(shipline) == []


def test_purge_needs_exactly_one_selection(shipline: Shipline) -> None:
    assert shipline("dlq", "purge").returncode == 3
    assert shipline("dlq", "purge", "1", "--all").returncode == 3


def test_the_old_state_option_still_works_hidden(shipline: Shipline) -> None:
    assert shipline("ingest", "-", stdin=GOOD + BAD).returncode == 0
    old = shipline("dlq", "list", "--state", "open", "--json")
    assert old.returncode == 0, old.stderr
    assert len(json.loads(old.stdout)) == 1
    assert "--state" not in shipline("dlq", "list", "--help").stdout
