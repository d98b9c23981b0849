"""Predicted delivery: when a shipment not yet delivered should arrive, with an interval.

The model is a table of empirical quantiles (10th, 50th, 90th percentile) of the
time left to delivery, per *segment*: the lane (origin and destination region,
from ``packages`` and ``locations``), the carrier of the last event, the service
level, and the stage (the last event's type). It is learned from every delivered
shipment in the view: each event before its delivery is one sample of "time left
after an event of this stage". A segment with fewer than ``min_samples`` samples
is not kept, and a shipment falls back to the next coarser segment it has:

    lane+carrier+service+stage > lane+service+stage > service+stage > stage > all

Why quantiles per segment and not gradient boosting: learning is one GROUP BY in
the database over the timeline (seconds, nightly, no model server or extra
dependency); applying it is one equi-join per touched shipment, so an incremental
run stays O(k); a quantile is a sample value (``quantile_disc``), so a prediction is
a pure function of (last row, reference data, model version) and an incremental
run's predictions equal a full recompute's to the microsecond, which a boosted
model's floating-point scores across engines and library versions would not
promise; and each prediction names the segment and sample count it came from, so
a user can see why it says what it says. Boosting would see interactions finer
than a segment (weight, hour of day, elapsed dwell); ``shipline predict evaluate``
measures what this simpler model leaves on the table against the baselines.

What the model sees: lane (regions), carrier, service level, stage. What it does
not: the weekday and hour of the last event, the time already spent since it (a
prediction is anchored at the last event, not at "now", which keeps it
deterministic), how many hops remain, weight, weather, carrier estimates (served
beside the prediction, not fed into it) and anything that is not an event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shipline.store import Backend

MIN_SAMPLES = 20
"""A segment with fewer delivered samples than this falls back to a coarser one."""

KEPT_VERSIONS = 5
"""Model versions kept; older ones are deleted when a new one is trained."""

TERMINAL_STATUSES = ("delivered", "returned", "cancelled")
"""A shipment whose current status is one of these gets no prediction."""

_LANE = "coalesce(f.origin_region, '?') || '>' || coalesce(f.destination_region, '?')"
_CARRIER = "coalesce(f.carrier, '?')"
_SERVICE = "coalesce(f.service, '?')"

SEGMENT_LEVELS: tuple[str, ...] = (
    f"'lane=' || {_LANE} || ' carrier=' || {_CARRIER} || ' service=' || {_SERVICE}"
    " || ' stage=' || f.stage",
    f"'lane=' || {_LANE} || ' service=' || {_SERVICE} || ' stage=' || f.stage",
    f"'service=' || {_SERVICE} || ' stage=' || f.stage",
    "'stage=' || f.stage",
    "'all'",
)
"""The segment of a features row ``f`` at each level, finest first."""

LEVEL_COLUMNS: tuple[tuple[str, ...], ...] = (
    ("origin_region", "destination_region", "carrier", "service", "stage"),
    ("origin_region", "destination_region", "service", "stage"),
    ("service", "stage"),
    ("stage",),
    (),
)
"""The features each level's segment is made of (``SEGMENT_LEVELS``)."""


def segments_of(features: str) -> str:
    """(every column of ``features``, level, segment): one row per level."""
    return " UNION ALL ".join(
        f"SELECT f.*, {level} AS level, {segment} AS segment FROM {features} AS f"
        for level, segment in enumerate(SEGMENT_LEVELS)
    )


def features_of(rows: str, packages: str = "packages", extra: tuple[str, ...] = ()) -> str:
    """A features relation from ``rows`` (shipment_id, event_id, event_timestamp,
    event_type, carrier, ...): the row's own columns plus stage, service and lane,
    and the ``extra`` columns of ``rows`` as they are."""
    kept = "".join(f" r.{name}," for name in extra)
    return (
        f"SELECT r.shipment_id, r.event_id, r.event_timestamp, r.event_type AS stage,{kept}"
        f" r.carrier, p.service_level AS service,"
        f" lo.region AS origin_region, ld.region AS destination_region"
        f" FROM {rows} AS r"
        f" LEFT JOIN {packages} AS p ON p.shipment_id = r.shipment_id"
        f" LEFT JOIN locations AS lo ON lo.location_id = p.origin_location_id"
        f" LEFT JOIN locations AS ld ON ld.location_id = p.destination_location_id"
    )


def _history(delivered_before: datetime | None) -> tuple[str, list[Any]]:
    """Every event of a delivered shipment before its delivery, with its features and
    the time left. A table: each segment level reads it, and a relation would be
    computed again from the view for each."""
    sql = f"""
CREATE OR REPLACE TEMP TABLE prediction_history AS
WITH delivered AS (
    SELECT shipment_id, min(event_timestamp) AS delivered_at
    FROM shipment_timeline_realtime WHERE event_type = 'delivered'
    GROUP BY shipment_id
    HAVING CAST(? AS TIMESTAMPTZ) IS NULL OR min(event_timestamp) < CAST(? AS TIMESTAMPTZ)
),
before_delivery AS (
    SELECT t.shipment_id, t.event_id, t.event_timestamp, t.event_type, t.carrier,
        epoch_us(d.delivered_at) - epoch_us(t.event_timestamp) AS remaining_us
    FROM shipment_timeline_realtime AS t JOIN delivered AS d ON d.shipment_id = t.shipment_id
    WHERE t.event_timestamp < d.delivered_at
)
{features_of("before_delivery", extra=("remaining_us",))}
"""
    return sql, [delivered_before, delivered_before]


def fit_quantiles(
    backend: Backend,
    into: str,
    *,
    delivered_before: datetime | None = None,
    min_samples: int = MIN_SAMPLES,
) -> int:
    """Learn segment quantiles into the temporary table ``into`` (segment, level,
    samples, p10_us, p50_us, p90_us) from shipments delivered before
    ``delivered_before`` (every one, if None); return how many segments it kept."""
    sql, params = _history(delivered_before)
    backend.execute(sql, params)
    if backend.DIALECT == "duckdb":
        _fit_by_level(backend, into, min_samples)
    else:
        # The server engines sort each segment's samples however they are grouped,
        # and grouping by the segment is the cheaper there (1.9 s, against 2.7 s by
        # level, at 1M events on PostgreSQL).
        backend.execute(f"CREATE OR REPLACE TEMP TABLE {into} AS {_by_segment()}", [min_samples])
    backend.execute("DROP TABLE prediction_history")
    return int(backend.scalar(f"SELECT count(*) FROM {into}"))


QUANTILES = (0.1, 0.5, 0.9)


def _by_segment(among: str | None = None) -> str:
    """Each segment's samples and quantiles, grouped by the segment each sample spells
    at each level: of every segment, or of those in the relation ``among``."""
    quantiles = ", ".join(
        f"CAST(quantile_disc(remaining_us, {q}) AS BIGINT) AS p{round(q * 100)}_us"
        for q in QUANTILES
    )
    where = f" WHERE segment IN (SELECT segment FROM {among})" if among else ""
    return (
        f"SELECT segment, min(level) AS level, count(*) AS samples, {quantiles}"
        f" FROM ({segments_of('prediction_history')}) AS samples{where}"
        " GROUP BY segment HAVING count(*) >= ? OR segment = 'all'"
    )


def _fit_by_level(backend: Backend, into: str, min_samples: int) -> None:
    """``fit_quantiles`` on DuckDB: each level grouped by its features, and the three
    quantiles of a group from one sort. Building and hashing a segment for each
    sample at each level cost more than the quantiles there (the fit took 5.6 s of
    a 26.8 s base at 10M events that way, 2.5 s this way)."""
    backend.execute(_BY_LEVEL)
    # Two levels' features could spell the same segment (a region named with
    # " service=" in it): such a segment is learned from every sample that spells
    # it, as predictions_sql matches it.
    backend.execute(
        "CREATE OR REPLACE TEMP TABLE prediction_spelled_twice AS"
        " SELECT segment FROM prediction_levels GROUP BY segment HAVING count(*) > 1"
    )
    backend.execute(
        f"CREATE OR REPLACE TEMP TABLE {into} AS"
        " SELECT segment, level, samples, p10_us, p50_us, p90_us FROM prediction_levels"
        " WHERE (samples >= ? OR segment = 'all')"
        " AND segment NOT IN (SELECT segment FROM prediction_spelled_twice)",
        [min_samples],
    )
    if backend.scalar("SELECT count(*) FROM prediction_spelled_twice"):
        backend.execute(
            f"INSERT INTO {into} {_by_segment('prediction_spelled_twice')}", [min_samples]
        )
    for table in ("prediction_levels", "prediction_spelled_twice"):
        backend.execute(f"DROP TABLE {table}")


_BY_LEVEL = (
    "CREATE OR REPLACE TEMP TABLE prediction_levels AS SELECT level, segment, samples, "
    + ", ".join(
        f"CAST(q[{i}] AS BIGINT) AS p{round(q * 100)}_us" for i, q in enumerate(QUANTILES, 1)
    )
    + " FROM ("
    + " UNION ALL ".join(
        f"(SELECT {level} AS level, {segment} AS segment, count(*) AS samples,"
        f" quantile_disc(f.remaining_us, [{', '.join(map(str, QUANTILES))}]) AS q"
        f" FROM prediction_history AS f"
        + (f" GROUP BY {', '.join(f'f.{key}' for key in keys)}" if keys else "")
        + " HAVING count(*) > 0)"
        for level, (segment, keys) in enumerate(zip(SEGMENT_LEVELS, LEVEL_COLUMNS, strict=True))
    )
    + ") AS levels"
)
"""The samples, count and quantiles of every segment of every level."""


@dataclass(frozen=True)
class TrainResult:
    """What ``train`` stored."""

    model_version: int
    segments: int
    samples: int
    predictions: int

    def as_dict(self) -> dict[str, int]:
        """JSON-ready figures."""
        return {
            "model_version": self.model_version,
            "segments": self.segments,
            "samples": self.samples,
            "predictions": self.predictions,
        }


def train(backend: Backend, *, min_samples: int = MIN_SAMPLES) -> TrainResult:
    """Learn a new model version from every delivered shipment in the view, and
    predict every open shipment with it (so no prediction is left on an older one).

    Runs inside the caller's transaction when there is one (the base run's)."""
    with backend.transaction():
        segments = fit_quantiles(backend, "prediction_fit", min_samples=min_samples)
        version = int(
            backend.scalar("SELECT coalesce(max(model_version), 0) FROM prediction_model")
        )
        version += 1
        backend.execute(
            "INSERT INTO prediction_model SELECT ?, segment, level, samples, p10_us, p50_us,"
            " p90_us, ?, CAST(NULL AS TIMESTAMPTZ) FROM prediction_fit",
            [version, datetime.now(UTC)],
        )
        samples = int(
            backend.scalar("SELECT samples FROM prediction_fit WHERE segment = 'all'") or 0
        )
        backend.execute("DROP TABLE prediction_fit")
        backend.execute(
            "DELETE FROM prediction_model WHERE model_version <= ?", [version - KEPT_VERSIONS]
        )
        predictions = predict_all(backend)
    return TrainResult(version, segments, samples, predictions)


def current_version(backend: Backend) -> int | None:
    """The model version predictions use: the newest."""
    found = backend.scalar("SELECT max(model_version) FROM prediction_model")
    return None if found is None else int(found)


def _open(rows: str) -> str:
    statuses = ", ".join(f"'{status}'" for status in TERMINAL_STATUSES)
    return f"(SELECT * FROM {rows} AS candidate WHERE status NOT IN ({statuses}))"


def _plus(instant: str, microseconds: str) -> str:
    """``instant`` plus a BIGINT of microseconds, exactly. Seconds and the remainder
    apart: an engine may multiply an interval by a 32-bit integer only."""
    return (
        f"{instant} + CAST({microseconds} // 1000000 AS INTEGER) * INTERVAL '1 second'"
        f" + CAST({microseconds} - {microseconds} // 1000000 * 1000000 AS INTEGER)"
        f" * INTERVAL '1 microsecond'"
    )


def predictions_sql(features: str, model: str) -> str:
    """SELECT of one prediction per row of ``features`` from the finest segment of it
    that ``model`` (segment, level, samples, p10_us, p50_us, p90_us) has."""
    return f"""
SELECT shipment_id, event_id, event_timestamp, stage, segment, samples,
    {_plus("event_timestamp", "p50_us")} AS point,
    {_plus("event_timestamp", "p10_us")} AS p10,
    {_plus("event_timestamp", "p90_us")} AS p90
FROM (
    SELECT k.shipment_id, k.event_id, k.event_timestamp, k.stage, m.segment, m.samples,
        m.p10_us, m.p50_us, m.p90_us,
        row_number() OVER (PARTITION BY k.shipment_id, k.event_id ORDER BY m.level) AS finest
    FROM ({segments_of(f"({features})")}) AS k
    JOIN {model} AS m ON m.segment = k.segment
) AS matched
WHERE finest = 1
"""


def _insert(backend: Backend, last_rows: str, packages: str, version: int) -> None:
    backend.execute(
        "CREATE OR REPLACE TEMP TABLE prediction_current AS SELECT segment, level, samples,"
        " p10_us, p50_us, p90_us FROM prediction_model WHERE model_version = ?",
        [version],
    )
    backend.execute(
        f"INSERT INTO shipment_predictions SELECT shipment_id, ?, event_id, event_timestamp,"
        f" point, p10, p90, ?, segment, samples"
        f" FROM ({predictions_sql(features_of(_open(last_rows), packages), 'prediction_current')})"
        f" AS predicted",
        [datetime.now(UTC), version],
    )
    backend.execute("DROP TABLE prediction_current")


def predict_all(backend: Backend) -> int:
    """Replace every prediction: one per open shipment in the view, from the current
    model (the base run's step, and a full recompute's definition)."""
    with backend.transaction():
        backend.execute("DELETE FROM shipment_predictions")
        version = current_version(backend)
        if version is not None:
            _insert(backend, "(SELECT * FROM shipment_state WHERE in_view)", "packages", version)
        return int(backend.scalar("SELECT count(*) FROM shipment_predictions"))


def predict_touched(backend: Backend, scope: str, last_rows: str) -> None:
    """Replace the predictions of the shipments in ``scope`` from their new last rows
    ``last_rows`` (an incremental run's step: it reads only those shipments)."""
    backend.execute(
        f"DELETE FROM shipment_predictions WHERE shipment_id IN (SELECT shipment_id FROM {scope})"
    )
    version = current_version(backend)
    if version is None:
        return
    backend.select_rows_of("packages", "shipment_id", scope, into="prediction_packages")
    _insert(backend, last_rows, "prediction_packages", version)
    backend.execute("DROP TABLE prediction_packages")


PREDICTION_COLUMNS = (
    "shipment_id",
    "from_event_id",
    "from_event_timestamp",
    "point",
    "p10",
    "p90",
    "model_version",
    "segment",
    "samples",
)
"""A prediction's columns but when it was computed: what a recompute must equal."""


def stored_predictions(backend: Backend) -> list[tuple[Any, ...]]:
    """Every stored prediction of a shipment in the view, by shipment."""
    return backend.fetchall(
        f"SELECT {', '.join('p.' + c for c in PREDICTION_COLUMNS)} FROM shipment_predictions AS p"
        " JOIN shipment_state AS s ON s.shipment_id = p.shipment_id AND s.in_view"
        " ORDER BY p.shipment_id"
    )


def recomputed_predictions(backend: Backend) -> list[tuple[Any, ...]]:
    """What a full recompute would store, by shipment, without storing it."""
    version = current_version(backend)
    if version is None:
        return []
    rows = "(SELECT * FROM shipment_state WHERE in_view)"
    with backend.transaction():
        backend.execute(
            "CREATE OR REPLACE TEMP TABLE prediction_current AS SELECT * FROM prediction_model"
            " WHERE model_version = ?",
            [version],
        )
        found = backend.fetchall(
            f"SELECT shipment_id, event_id, event_timestamp, point, p10, p90, ?, segment, samples"
            f" FROM ({predictions_sql(features_of(_open(rows)), 'prediction_current')}) AS r"
            f" ORDER BY shipment_id",
            [version],
        )
        backend.execute("DROP TABLE prediction_current")
    return found


def prediction_of(backend: Backend, shipment_id: str) -> dict[str, Any] | None:
    """A shipment's stored prediction, or None (delivered, ended, or no model yet)."""
    rows = backend.fetch_dicts(
        "SELECT point, p10, p90, from_event_id, from_event_timestamp, segment, samples,"
        " model_version FROM shipment_predictions WHERE shipment_id = ?",
        [shipment_id],
    )
    return rows[0] if rows else None
