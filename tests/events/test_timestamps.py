"""What an ``event_timestamp`` may be (DESIGN section 2): strict RFC 3339 text with
a UTC offset, or a typed timestamp, and in either case an instant inside the
accepted range (1970-01-01T00:00:00Z inclusive until 2100-01-01T00:00:00Z
exclusive, unless ``timestamp_range`` says otherwise)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pyarrow as pa
import pytest

from shipline.events.shapes import records_to_raw
from shipline.events.validate import ValidatedBatch, validate


def event(timestamp: str, **fields: str) -> dict[str, str]:
    return {"shipment_id": "S", "event_timestamp": timestamp, "event_type": "created", **fields}


def check(
    *timestamps: str, timestamp_range: tuple[datetime, datetime] | None = None
) -> ValidatedBatch:
    raw = records_to_raw([event(t) for t in timestamps])
    return (
        validate(raw) if timestamp_range is None else validate(raw, timestamp_range=timestamp_range)
    )


def accepted_instant(timestamp: str) -> datetime:
    batch = check(timestamp)
    assert batch.rejected == [], batch.rejected[0].errors
    [instant] = batch.accepted.column("event_timestamp").to_pylist()
    assert isinstance(instant, datetime)
    return instant


def only_error(batch: ValidatedBatch) -> str:
    assert batch.accepted.num_rows == 0
    [rejection] = batch.rejected
    [error] = rejection.errors
    return error


@pytest.mark.parametrize(
    ("timestamp", "instant"),
    [
        ("2026-11-23T08:00:00z", datetime(2026, 11, 23, 8, tzinfo=UTC)),
        ("2026-11-23t08:00:00Z", datetime(2026, 11, 23, 8, tzinfo=UTC)),
        ("2026-11-23 08:00:00+05:30", datetime(2026, 11, 23, 2, 30, tzinfo=UTC)),
        ("2026-11-23T08:00:00+05", datetime(2026, 11, 23, 3, tzinfo=UTC)),
        # nine fractional digits are kept to the microsecond, truncated, not rounded
        (
            "2026-11-23T08:00:00.123456789-0800",
            datetime(2026, 11, 23, 16, 0, 0, 123456, tzinfo=UTC),
        ),
        ("2026-11-23T08:00:00+18:00", datetime(2026, 11, 22, 14, tzinfo=UTC)),
        ("2026-11-23T08:00:00-18:00", datetime(2026, 11, 24, 2, tzinfo=UTC)),
        ("1970-01-01T00:00:00Z", datetime(1970, 1, 1, tzinfo=UTC)),
        ("2099-12-31T23:59:59.999999Z", datetime(2099, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ],
)
def test_an_rfc_3339_time_is_accepted_as_its_utc_instant(timestamp: str, instant: datetime) -> None:
    assert accepted_instant(timestamp) == instant


@pytest.mark.parametrize(
    "timestamp",
    [
        "2026-11-23",
        "2026-11-23T08:00:00+25:00",
        "2026-11-23T08:00:00-99:99",
        "2026-11-23T08:00:00+99",
        "2026-11-23T08:00:00+18:01",
        "2026-11-23T8:0:0Z",
        "2026/11/23 08:00:00Z",
        "-0001-01-01T00:00:00Z",
        "10000-01-01T00:00:00Z",
        "294247-01-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-11-23T24:00:00Z",
        "yesterday+01:00",
    ],
)
def test_anything_else_is_not_an_rfc_3339_time(timestamp: str) -> None:
    assert only_error(check(timestamp)) == (
        f'event_timestamp: "{timestamp}" is not an RFC 3339 time;'
        " write YYYY-MM-DDTHH:MM:SS[.ffffff] then Z or an offset within ±18:00"
    )


def test_year_zero_is_refused() -> None:
    # It is a valid RFC 3339 date, but long before any shipment.
    assert only_error(check("0000-01-01T00:00:00Z")).startswith(
        'event_timestamp: "0000-01-01T00:00:00Z" '
    )


def test_a_time_without_an_offset_says_so() -> None:
    assert only_error(check("2026-11-23T08:00:00")) == (
        'event_timestamp: "2026-11-23T08:00:00" has no UTC offset;'
        " write it as ISO-8601 with Z or +HH:MM, or give its location a timezone in the"
        " locations table, or set [sources.NAME] timezone in shipline.toml"
    )


@pytest.mark.parametrize("timestamp", ["1969-12-31T23:59:59Z", "2100-01-01T00:00:00Z"])
def test_an_instant_outside_the_range_names_both_bounds(timestamp: str) -> None:
    assert only_error(check(timestamp)) == (
        f'event_timestamp: "{timestamp}" is outside the accepted range,'
        " from 1970-01-01T00:00:00Z until 2100-01-01T00:00:00Z;"
        " widen timestamp_min/timestamp_max in shipline.toml if it is right"
    )


def test_the_range_is_judged_on_the_utc_instant_not_the_written_date() -> None:
    # 2099-12-31T20:00 at -04:00 is 2100-01-01T00:00Z, the first instant refused.
    assert "outside the accepted range" in only_error(check("2099-12-31T20:00:00-04:00"))
    assert accepted_instant("1970-01-01T01:00:00+01:00") == datetime(1970, 1, 1, tzinfo=UTC)


def test_timestamp_range_overrides_the_bounds() -> None:
    lo, hi = datetime(1950, 1, 1, tzinfo=UTC), datetime(2000, 1, 1, tzinfo=UTC)
    batch = check(
        "1950-01-01T00:00:00Z",
        "1999-12-31T23:59:59Z",
        "1949-12-31T23:59:59Z",
        "2000-01-01T00:00:00Z",
        timestamp_range=(lo, hi),
    )
    assert sorted(batch.accepted.column("event_timestamp").to_pylist()) == [
        lo,
        hi - timedelta(seconds=1),
    ]
    assert [r.record_index for r in batch.rejected] == [2, 3]
    assert all(
        "from 1950-01-01T00:00:00Z until 2000-01-01T00:00:00Z" in r.errors[0]
        for r in batch.rejected
    )


def test_a_long_refused_value_is_quoted_to_80_characters() -> None:
    value = "2026-11-23T08:00:00" + "9" * 200
    assert only_error(check(value)).startswith(
        f'event_timestamp: "{value[:80]}…" has no UTC offset;'
        " write it as ISO-8601 with Z or +HH:MM,"
    )


def test_a_7_mb_value_gets_a_short_message() -> None:
    batch = validate(
        records_to_raw([{**event("2026-11-23T08:00:00Z"), "event_type": "x" * 7_000_000}])
    )
    [rejection] = batch.rejected
    assert rejection.errors[0].startswith('event_type: unknown value "' + "x" * 80 + '…"')
    assert len(rejection.reason) < 1_000


def typed(*instants: datetime, unit: str = "us") -> ValidatedBatch:
    return validate(
        pa.table(
            {
                "shipment_id": ["S"] * len(instants),
                "event_timestamp": pa.array(list(instants), pa.timestamp(unit, tz="UTC")),
                "event_type": ["created"] * len(instants),
            }
        )
    )


@pytest.mark.parametrize("unit", ["us", "ns"])
def test_a_typed_timestamp_inside_the_range_is_accepted(unit: str) -> None:
    instant = datetime(2026, 11, 23, 8, tzinfo=timezone(timedelta(hours=5)))
    batch = typed(instant, unit=unit)
    assert batch.rejected == []
    assert batch.accepted.column("event_timestamp").to_pylist() == [instant]


@pytest.mark.parametrize("unit", ["us", "ns"])
@pytest.mark.parametrize(
    "instant", [datetime(2200, 1, 1, tzinfo=UTC), datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)]
)
def test_a_typed_timestamp_outside_the_range_is_refused_naming_the_field(
    unit: str, instant: datetime
) -> None:
    error = only_error(typed(instant, unit=unit))
    assert error.startswith(f'event_timestamp: "{instant:%Y-%m-%d %H:%M:%S}')
    assert "is outside the accepted range" in error


def test_a_refused_typed_timestamp_keeps_its_value_in_the_payload() -> None:
    [rejection] = typed(datetime(2200, 1, 1, tzinfo=UTC)).rejected
    assert '"event_timestamp":"2200-01-01T00:00:00.000000Z"' in rejection.payload
