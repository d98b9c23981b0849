"""How good the predicted delivery is: a hold-out by time, against three baselines.

The model is trained on shipments delivered before the split. It is tested on the
shipments created at or after it and delivered, predicting at each of their events
(before delivery) as of that moment, which is how a user sees it. Test shipments
are those created early enough to have had time to arrive (before the data's end
less the 95th percentile of the training transit times), so that the slow ones are
not missing from the test for being still on their way.

Baselines on the same (shipment, event) pairs: the promised delivery in
``packages``; the carrier's own estimate (the latest in ``shipment_estimates``
received by the event's time, where there is one); and the lane's median transit
time (origin to destination region, over the training shipments) from the
shipment's first event.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shipline.store import Backend
from shipline.timeline.predict import MIN_SAMPLES, features_of, fit_quantiles, predictions_sql

METHODS = ("model", "promised", "carrier_estimate", "lane_median")
"""The predictions compared, the model's first."""

ESTIMATE_KINDS = ("delivery", "eta")
"""Kinds of ``shipment_estimates`` row that estimate the delivery."""

_LANE = "coalesce(lo.region, '?') || '>' || coalesce(ld.region, '?')"

_DELIVERIES = f"""
CREATE OR REPLACE TEMP TABLE eval_deliveries AS
SELECT d.shipment_id, d.first_at, d.delivered_at, {_LANE} AS lane, p.promised_delivery_at
FROM (
    SELECT shipment_id, min(event_timestamp) AS first_at,
        min(CASE WHEN event_type = 'delivered' THEN event_timestamp END) AS delivered_at
    FROM shipment_timeline_realtime GROUP BY shipment_id
) AS d
LEFT JOIN packages AS p ON p.shipment_id = d.shipment_id
LEFT JOIN locations AS lo ON lo.location_id = p.origin_location_id
LEFT JOIN locations AS ld ON ld.location_id = p.destination_location_id
"""

_LANE_MEDIANS = """
CREATE OR REPLACE TEMP TABLE eval_lanes AS
SELECT lane, CAST(quantile_disc(epoch_us(delivered_at) - epoch_us(first_at), 0.5) AS BIGINT)
    AS median_us
FROM eval_deliveries WHERE delivered_at < CAST(? AS TIMESTAMPTZ) GROUP BY lane
"""

_TEST_EVENTS = """
CREATE OR REPLACE TEMP TABLE eval_events AS
SELECT t.shipment_id, t.event_id, t.event_timestamp, t.event_type, t.carrier
FROM shipment_timeline_realtime AS t
JOIN eval_deliveries AS d ON d.shipment_id = t.shipment_id
WHERE d.first_at >= CAST(? AS TIMESTAMPTZ) AND d.first_at < CAST(? AS TIMESTAMPTZ)
  AND d.delivered_at IS NOT NULL AND t.event_timestamp < d.delivered_at
"""


def _pairs_sql() -> str:
    kinds = ", ".join(f"'{kind}'" for kind in ESTIMATE_KINDS)
    predicted = predictions_sql(features_of("eval_events"), "eval_model")
    return f"""
CREATE OR REPLACE TEMP TABLE eval_pairs AS
SELECT e.shipment_id, e.event_id, e.event_type AS stage, d.delivered_at,
    m.point AS model, m.p10, m.p90,
    d.promised_delivery_at AS promised,
    (SELECT x.estimated_at FROM shipment_estimates AS x
     WHERE x.shipment_id = e.shipment_id AND x.kind IN ({kinds})
       AND x.received_at <= e.event_timestamp
     ORDER BY x.received_at DESC, x.estimated_at DESC LIMIT 1) AS carrier_estimate,
    d.first_at + CAST(l.median_us // 1000000 AS INTEGER) * INTERVAL '1 second' AS lane_median
FROM eval_events AS e
JOIN eval_deliveries AS d ON d.shipment_id = e.shipment_id
LEFT JOIN ({predicted}) AS m ON m.shipment_id = e.shipment_id AND m.event_id = e.event_id
LEFT JOIN eval_lanes AS l ON l.lane = d.lane
"""


def _errors_sql() -> str:
    """(method, stage, absolute error in hours, inside the interval) per pair."""
    return " UNION ALL ".join(
        f"SELECT '{method}' AS method, stage,"
        f" abs(epoch_us({method}) - epoch_us(delivered_at)) / 3600000000.0 AS error_hours,"
        + (
            " delivered_at >= p10 AND delivered_at <= p90 AS covered"
            if method == "model"
            else " CAST(NULL AS BOOLEAN) AS covered"
        )
        + f" FROM eval_pairs WHERE {method} IS NOT NULL"
        for method in METHODS
    )


_SUMMARY = """
SELECT method, {by} count(*) AS pairs, avg(error_hours) AS mae_hours,
    quantile_cont(error_hours, 0.5) AS p50_hours, quantile_cont(error_hours, 0.9) AS p90_hours,
    avg(CASE WHEN covered THEN 1.0 WHEN NOT covered THEN 0.0 END) AS coverage
FROM ({errors}) AS errors GROUP BY method {group} ORDER BY {order}
"""


@dataclass(frozen=True)
class Evaluation:
    """The hold-out's figures: one row per method overall, and per method and stage."""

    split: datetime
    test_until: datetime | None
    train_shipments: int
    test_shipments: int
    pairs: int
    segments: int
    overall: list[dict[str, Any]] = field(default_factory=list)
    by_stage: list[dict[str, Any]] = field(default_factory=list)
    duration_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "split": self.split.isoformat(),
            "test_until": None if self.test_until is None else self.test_until.isoformat(),
            "train_shipments": self.train_shipments,
            "test_shipments": self.test_shipments,
            "pairs": self.pairs,
            "segments": self.segments,
            "overall": self.overall,
            "by_stage": self.by_stage,
            "duration_ms": self.duration_ms,
        }


def default_split(backend: Backend) -> datetime | None:
    """The creation time before which 60% of the delivered shipments were created."""
    found = backend.scalar(
        "SELECT quantile_disc(first_at, 0.6) FROM (SELECT shipment_id,"
        " min(event_timestamp) AS first_at FROM shipment_timeline_realtime GROUP BY shipment_id"
        " HAVING count(*) FILTER (WHERE event_type = 'delivered') > 0) AS delivered"
    )
    return found if isinstance(found, datetime) else None


def evaluate(backend: Backend, split: datetime, *, min_samples: int = MIN_SAMPLES) -> Evaluation:
    """Train before ``split``, test after it, and compare with the baselines; nothing
    is stored (every table it makes is temporary)."""
    started = time.perf_counter()
    with backend.transaction():
        segments = fit_quantiles(
            backend, "eval_model", delivered_before=split, min_samples=min_samples
        )
        backend.execute(_DELIVERIES)
        backend.execute(_LANE_MEDIANS, [split])
        test_until = _test_until(backend, split)
        backend.execute(_TEST_EVENTS, [split, test_until])
        backend.execute(_pairs_sql())
        train = int(
            backend.scalar(
                "SELECT count(*) FROM eval_deliveries WHERE delivered_at < CAST(? AS TIMESTAMPTZ)",
                [split],
            )
        )
        tested = int(backend.scalar("SELECT count(DISTINCT shipment_id) FROM eval_pairs"))
        pairs = int(backend.scalar("SELECT count(*) FROM eval_pairs"))
        errors = _errors_sql()
        overall = backend.fetch_dicts(
            _SUMMARY.format(by="", errors=errors, group="", order="method")
        )
        by_stage = backend.fetch_dicts(
            _SUMMARY.format(by="stage,", errors=errors, group=", stage", order="stage, method")
        )
        for table in ("eval_model", "eval_deliveries", "eval_lanes", "eval_events", "eval_pairs"):
            backend.execute(f"DROP TABLE {table}")
    order = {method: i for i, method in enumerate(METHODS)}
    return Evaluation(
        split=split,
        test_until=test_until,
        train_shipments=train,
        test_shipments=tested,
        pairs=pairs,
        segments=segments,
        overall=sorted(overall, key=lambda row: order[row["method"]]),
        by_stage=sorted(by_stage, key=lambda row: (row["stage"], order[row["method"]])),
        duration_ms=(time.perf_counter() - started) * 1000,
    )


def _test_until(backend: Backend, split: datetime) -> datetime | None:
    """The data's end less the 95th percentile of the training shipments' transit time:
    a shipment created later may still be on its way, and leaving it out of the
    test (while its fast twins are in) would flatter any prediction."""
    found = backend.scalar(
        "SELECT max(d.last_at) - CAST(coalesce(max(t.p95), 0) // 1000000 AS INTEGER)"
        " * INTERVAL '1 second' FROM"
        " (SELECT max(event_timestamp) AS last_at FROM shipment_timeline_realtime) AS d,"
        " (SELECT quantile_disc(epoch_us(delivered_at) - epoch_us(first_at), 0.95) AS p95"
        "  FROM eval_deliveries WHERE delivered_at < CAST(? AS TIMESTAMPTZ)) AS t",
        [split],
    )
    return found if isinstance(found, datetime) else None
