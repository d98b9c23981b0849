"""Dry runs: a plan says what the run would do (shipments, rows, what a replay selects),
the run then does exactly that, and the plan itself writes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from shipline.pipeline import Pipeline
from shipline.timeline.runs import RunPlan, RunResult

DAY = date(2026, 1, 3)
START = datetime(2026, 1, 1, tzinfo=UTC)


def event(shipment: str, hours: int, kind: str = "in_transit") -> dict:
    return {
        "shipment_id": shipment,
        "event_timestamp": (START + timedelta(hours=hours)).isoformat(),
        "event_type": kind,
    }


def agrees(plan: RunPlan, run: RunResult) -> None:
    assert (plan.shipments, plan.rows) == (run.shipments_affected, run.rows_written)
    assert plan.to_ingest_seq == run.to_ingest_seq


def unchanged(pipeline: Pipeline, plan: RunPlan) -> None:
    """The store after a plan is as before it: same checkpoint, same view."""
    checkpoint = pipeline.status().checkpoint
    assert checkpoint.last_ingest_seq == plan.from_ingest_seq
    assert checkpoint.view_rows == plan.view_rows


def test_an_incremental_plan_matches_the_run_for_new_late_and_appended_events(
    pipeline: Pipeline,
) -> None:
    pipeline.ingest_records([event("A", 0, "created"), event("A", 5), event("B", 1)], "t")
    pipeline.base(as_of=DAY)
    pipeline.ingest_records([event("A", 9), event("B", 0, "created"), event("C", 2)], "t")
    plan = pipeline.plan_incremental()
    unchanged(pipeline, plan)
    assert (plan.events, plan.recomputed_shipments) == (3, 1)  # only B, whose event is late
    agrees(plan, pipeline.incremental())


def test_a_replay_says_which_rule_selected_what(pipeline: Pipeline) -> None:
    pipeline.ingest_records([event("A", 0, "created"), event("A", 30), event("B", 1)], "t")
    pipeline.base(as_of=DAY)
    since = START + timedelta(hours=24)
    plan = pipeline.plan_incremental(replay_from=since)
    assert plan.replay is not None
    # Every record was ingested after 2026-01-02 (today): the ingest rule selects both;
    # only A has an event timestamped at or after it.
    assert (plan.replay.shipments, plan.replay.events) == (2, 3)
    assert (plan.replay.ingested_shipments, plan.replay.ingested_events) == (2, 3)
    assert (plan.replay.timestamped_shipments, plan.replay.timestamped_events) == (1, 1)
    run = pipeline.incremental(replay_from=since)
    agrees(plan, run)
    assert run.replay == plan.replay


def test_a_replay_from_the_future_selects_nothing(pipeline: Pipeline) -> None:
    pipeline.ingest_records([event("A", 0, "created")], "t")
    pipeline.base(as_of=DAY)
    run = pipeline.incremental(replay_from=datetime(2100, 1, 1, tzinfo=UTC))
    assert run.replay is not None and run.replay.shipments == 0
    assert run.rows_written == 0


def test_a_base_plan_matches_the_run_and_a_rebuild_covers_every_shipment(
    pipeline: Pipeline,
) -> None:
    pipeline.ingest_records([event("A", 0, "created"), event("A", 5), event("B", 1)], "t")
    plan = pipeline.plan_base(as_of=DAY)
    unchanged(pipeline, plan)
    assert plan.rows == 3
    agrees(plan, pipeline.base(as_of=DAY))
    far_later = DAY + timedelta(days=365)
    assert pipeline.plan_base(as_of=far_later).shipments == 0
    rebuild = pipeline.plan_base(as_of=far_later, rebuild=True)
    assert (rebuild.shipments, rebuild.rows) == (2, 3)
    agrees(rebuild, pipeline.base(as_of=far_later, rebuild=True))
