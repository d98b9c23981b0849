"""The read side's views are created once and kept: opening the store again never
drops them, nor anything a user built on top of them."""

from __future__ import annotations

from shipline.pipeline import Pipeline
from shipline.settings import Settings

EVENT = {"shipment_id": "S1", "event_timestamp": "2026-11-23T08:00:00Z", "event_type": "created"}


def reopen(pipeline: Pipeline) -> Pipeline:
    return Pipeline(Settings(database=pipeline.settings.database))


def test_a_users_view_over_the_realtime_view_survives_reopening(pipeline: Pipeline) -> None:
    pipeline.ingest_records([EVENT], "test")
    pipeline.incremental()
    pipeline.backend.execute(
        "CREATE VIEW my_report AS"
        " SELECT shipment_id, event_sequence FROM shipment_timeline_realtime"
    )
    pipeline.close()
    with reopen(pipeline) as again:
        assert again.backend.fetchall("SELECT * FROM my_report") == [("S1", 1)]


def test_a_view_dropped_by_hand_is_back_when_the_store_opens(pipeline: Pipeline) -> None:
    pipeline.ingest_records([EVENT], "test")
    pipeline.incremental()
    pipeline.backend.execute("DROP VIEW shipment_location_dwell")
    pipeline.close()
    with reopen(pipeline) as again:
        assert "shipment_location_dwell" in again.tables()
        assert again.summary("S1")["event_count"] == 1


def test_a_changed_definition_is_applied_with_the_views_that_read_it(pipeline: Pipeline) -> None:
    # As after an upgrade: the database holds another definition of the real-time view.
    pipeline.backend.execute(
        "UPDATE view_definitions SET digest = 'older'"
        " WHERE view_name = 'shipment_timeline_realtime'"
    )
    pipeline.close()
    with reopen(pipeline) as again:
        digests = dict(again.backend.fetchall("SELECT view_name, digest FROM view_definitions"))
        assert "older" not in digests.values()
        assert {"shipment_timeline_realtime", "shipment_summary"} <= set(again.tables())
