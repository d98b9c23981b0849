"""Local times (DESIGN 2a): a timestamp without an offset is read in its location's
zone, else its source's; with neither it is refused with both fixes named."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shipline.errors import ConfigError
from shipline.pipeline import Pipeline
from shipline.settings import SourceSettings, load_settings


def local(at: str, location: str | None = None) -> dict[str, str | None]:
    return {
        "shipment_id": "S",
        "event_timestamp": at,
        "event_type": "in_transit",
        "location_id": location,
        "event_id": f"{at}-{location}",
    }


@pytest.fixture
def chicago(pipeline: Pipeline) -> Pipeline:
    pipeline.backend.execute(
        "INSERT INTO locations (location_id, location_name, region, timezone) VALUES"
        " ('CHI', 'Chicago hub', 'central', 'America/Chicago'),"
        " ('BAD', 'Nowhere', 'none', 'Mars/Olympus')"
    )
    pipeline.settings.sources = {"x12": SourceSettings(timezone="Europe/Amsterdam")}
    return pipeline


def stored_time(pipeline: Pipeline, event_id: str) -> datetime:
    value = pipeline.backend.scalar(
        "SELECT event_timestamp FROM shipment_events WHERE event_id = ?", [event_id]
    )
    assert isinstance(value, datetime)
    return value.astimezone(UTC)


def test_the_locations_zone_comes_first_then_the_sources(chicago: Pipeline) -> None:
    result = chicago.ingest_records(
        [local("2026-07-01T08:00:00", "CHI"), local("2026-07-01T08:00:00", "UNKNOWN")], "x12:a.edi"
    )
    assert result.rejected == 0
    assert stored_time(chicago, "2026-07-01T08:00:00-CHI") == datetime(2026, 7, 1, 13, tzinfo=UTC)
    assert stored_time(chicago, "2026-07-01T08:00:00-UNKNOWN") == datetime(
        2026, 7, 1, 6, tzinfo=UTC
    )


def test_a_repeated_wall_time_is_the_first_and_a_skipped_one_is_refused(chicago: Pipeline) -> None:
    # 2026-11-01 01:30 happens twice in Chicago; 2026-03-08 02:30 never does.
    result = chicago.ingest_records(
        [local("2026-11-01T01:30:00", "CHI"), local("2026-03-08T02:30:00", "CHI")], "api"
    )
    assert stored_time(chicago, "2026-11-01T01:30:00-CHI") == datetime(
        2026, 11, 1, 6, 30, tzinfo=UTC
    )
    assert result.rejected == 1
    assert "does not exist in America/Chicago" in result.errors[0].errors[0]


def test_without_a_zone_the_reason_names_the_field_and_both_fixes(chicago: Pipeline) -> None:
    result = chicago.ingest_records([local("2026-07-01T08:00:00")], "api")
    [error] = result.errors[0].errors
    assert error.startswith('event_timestamp: "2026-07-01T08:00:00" has no UTC offset')
    assert "locations table" in error and "[sources.NAME]" in error


def test_a_location_zone_that_is_not_iana_is_refused_by_name(chicago: Pipeline) -> None:
    result = chicago.ingest_records([local("2026-07-01T08:00:00", "BAD")], "api")
    assert "location 'BAD''s zone 'Mars/Olympus' is not an IANA" in result.errors[0].errors[0]


def test_a_source_zone_that_is_not_iana_is_a_settings_error() -> None:
    with pytest.raises(ConfigError, match="not an IANA time zone name"):
        load_settings(sources={"x12": {"timezone": "Central Time"}})


def test_a_local_estimate_is_read_in_the_same_zone_as_an_event(chicago: Pipeline) -> None:
    # An appointment of an X12 feed, in the source's local time; a skipped wall time
    # refuses its record, naming the estimates.
    appointment = {"kind": "delivery", "estimated_at": "2026-07-02T09:00:00"}
    gap = {"kind": "delivery", "estimated_at": "2026-03-29T02:30:00"}
    result = chicago.ingest_records(
        [
            {"shipment_id": "S", "estimates": [appointment]},
            {"shipment_id": "T", "estimates": [gap]},
        ],
        "x12:a.edi",
    )
    assert result.rejected == 1
    assert result.errors[0].errors[0].startswith("estimates: '2026-03-29T02:30:00' does not exist")
    stored = chicago.backend.scalar(
        "SELECT estimated_at FROM shipment_estimates WHERE shipment_id = 'S'"
    )
    # The source's zone (x12: Europe/Amsterdam) is two hours ahead of UTC in July.
    assert stored.astimezone(UTC) == datetime(2026, 7, 2, 7, tzinfo=UTC)
