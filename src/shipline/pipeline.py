"""The facade: the one object the CLI, the API, the scheduler and the dashboard call.

It is the only place that opens a backend. Library code below it returns small
result objects and never prints.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from shipline.errors import LoadError, NotFoundError, ValidationError
from shipline.events.formats import (
    FEED_SUFFIXES,
    Format,
    Imported,
    format_named,
    format_of_file,
    read_feed,
)
from shipline.events.shapes import parse_json_body, read_events_file, records_to_raw
from shipline.events.validate import Rules, ValidatedBatch
from shipline.ingest import dead_letters
from shipline.ingest.service import IngestResult, ingest_raw
from shipline.notify.base import Notifier
from shipline.settings import Settings, load_settings
from shipline.store import Backend, open_backend
from shipline.timeline.base import plan_base, run_base
from shipline.timeline.cache import ViewCache
from shipline.timeline.holds import Hold, list_holds, release_holds
from shipline.timeline.incremental import plan_incremental, run_incremental
from shipline.timeline.predict import TrainResult, prediction_of, train
from shipline.timeline.predict_evaluate import Evaluation, default_split, evaluate
from shipline.timeline.query import (
    Status,
    late_shipment_example,
    latest_estimates,
    references_of,
    shipment_summary,
    shipment_timeline,
    shipments_named,
    status,
    why_not_in_view,
)
from shipline.timeline.retention import RetentionResult, apply_retention
from shipline.timeline.runs import RunPlan, RunResult, mark_reference_change
from shipline.timeline.sandbox import days_covering, restore_history, stored_history
from shipline.timeline.verify import VerifyResult, verify
from shipline.timeline.views import ensure_views

if TYPE_CHECKING:
    from shipline.loader.service import Loader
    from shipline.monitor.alerts import AlertOutcome
    from shipline.monitor.overview import (
        LocationDwell,
        MetricSeries,
        OpenDeadLetter,
        RunRow,
        ShipmentMatch,
        StageCounts,
    )
    from shipline.monitor.quality import QualityCheck
    from shipline.monitor.rules import Rule
    from shipline.store.audit import AuditEntry
    from shipline.store.keys import ApiKey, Keyring, KeySnapshot, NewKey
    from shipline.timeline.kpis import GroupBy, KpiReport
    from shipline.timeline.shipments import ShipmentFilter, ShipmentPage
    from shipline.timeline.stuck import StuckShipment

REFERENCE_KEYS = {"locations": "location_id", "packages": "shipment_id"}


class Pipeline:
    """Every operation shipline offers, over one backend."""

    def __init__(
        self, settings: Settings | None = None, backend: Backend | None = None, create: bool = True
    ) -> None:
        """Open the settings' database, or use ``backend`` when one is given.

        ``create`` lets a DuckDB path where nothing is yet become a new database.
        """
        self.settings = settings or load_settings()
        self.backend: Backend = backend or open_backend(
            self.settings.database,
            create=create,
            duckdb_memory_limit=self.settings.duckdb_memory_limit,
        )
        self.backend.migrate()
        ensure_views(self.backend)
        # One timeline run at a time: runs read the checkpoint, then move it.
        self._run_lock = threading.Lock()
        self._view_cache = ViewCache()

    @classmethod
    def open(cls, *, create: bool = False, **overrides: Any) -> Pipeline:
        """A pipeline over ``shipline.toml`` and ``SHIPLINE_*``, with overrides on top.

        The database they name must exist unless ``create``: a mistyped name is an
        error, not a new, empty database.
        """
        return cls(load_settings(**overrides), create=create)

    def close(self) -> None:
        """Release the database."""
        self.backend.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def dialect(self) -> str:
        """The database's SQL dialect: ``duckdb``, ``postgres`` or ``redshift``."""
        return self.backend.DIALECT

    @property
    def several_workers(self) -> bool:
        """Whether several server processes may share this database (one leads)."""
        return self.backend.SEVERAL_WORKERS

    # Ingest -----------------------------------------------------------------

    @property
    def rules(self) -> Rules:
        """The event contract as the settings extend it (aliases, time range)."""
        return validation_rules(self.settings)

    def ingest_table(self, raw: pa.Table, source: str) -> IngestResult:
        """Ingest a table of raw events (any subset of the event columns)."""
        return ingest_raw(self.backend, raw, source, rules=self.rules)

    def ingest_document(self, document: Any, file_format: str, source: str) -> IngestResult:
        """Ingest a parsed document of an industry format (``dcsa``) through the same
        path; records it is not made of (documents, sensors) are counted as skipped."""
        found = format_named(file_format)
        imported = found.import_document(document, self.settings.formats.get(found.name))
        return self._ingest_imported(found, imported, source)

    def ingest_feed(self, data: bytes, file_format: str | None, source: str) -> IngestResult:
        """Ingest one document of an industry format as the producer sent it; the
        format is detected from the content when ``file_format`` is None."""
        found, imported = read_feed(data, file_format, self.settings.formats)
        return self._ingest_imported(found, imported, source)

    def _ingest_imported(self, found: Format, imported: Imported, source: str) -> IngestResult:
        result = self.ingest_records(imported.records, f"{found.name}:{source}")
        return replace(result, skipped=dict(imported.skipped))

    def ingest_records(self, records: Sequence[Any], source: str) -> IngestResult:
        """Ingest parsed JSON records (objects; anything else is rejected with a reason)."""
        return self.ingest_table(records_to_raw(records), source)

    @staticmethod
    def validate_records(
        records: Sequence[Any], settings: Settings | None = None
    ) -> ValidatedBatch:
        """Check parsed records against the event contract and the settings' aliases.

        What ``ingest_records`` does before it stores, without a database: for a caller
        that stores events elsewhere (the AWS ingest Lambda writes them to DynamoDB and
        opens no warehouse). ``ConfigError`` if an alias maps to no known value.
        """
        return validation_rules(settings or load_settings()).validate(records_to_raw(records))

    def ingest_files(
        self,
        paths: Sequence[Path],
        on_file: Callable[[Path, IngestResult], None] | None = None,
        file_format: str | None = None,
    ) -> IngestResult:
        """Ingest files of events, one transaction each: shipline's own records
        (Parquet, CSV, JSON, NDJSON) or an industry format, named by ``file_format``
        or recognised from a ``.json``, ``.jsonld``, ``.edi``, ``.x12`` or ``.214``
        file's content.

        A file that cannot be read at all (truncated, empty, of an unknown type) is
        listed in ``refused_files`` with its reason, and the next file goes on.
        """
        total = IngestResult(source="files", received=0, accepted=0, duplicates=0, rejected=0)
        for path in paths:
            try:
                result = self._ingest_file(path, file_format)
            except ValidationError as error:
                result = IngestResult(f"file:{path.name}", 0, 0, 0, 0, refused_files=[str(error)])
            result = replace(result, errors=[replace(e, file=path.name) for e in result.errors])
            total = total.merge(result)
            if on_file is not None:
                on_file(path, result)
        return total

    def _ingest_file(self, path: Path, file_format: str | None) -> IngestResult:
        if file_format is not None or path.suffix.lower() in {*FEED_SUFFIXES, ".json"}:
            data = _read_bytes(path)
            feed = format_of_file(path.name, data, file_format)
            if feed is not None:
                try:
                    imported = feed.imported(self.settings.formats.get(feed.format.name))
                except ValidationError as error:
                    raise ValidationError(f"{path.name}: {error}") from None
                return self._ingest_imported(feed.format, imported, path.name)
        return self.ingest_table(read_events_file(path), f"file:{path.name}")

    # Reference data -----------------------------------------------------------

    def load_reference(self, table: str, path: Path) -> int:
        """Upsert a locations or packages file (Parquet or CSV) by its key; return rows."""
        from shipline.loader.warehouse import replace_by_key

        if table not in REFERENCE_KEYS:
            raise ValidationError(f"reference table {table!r}: use locations or packages")
        data = pq.read_table(path) if path.suffix == ".parquet" else pacsv.read_csv(path)
        key = REFERENCE_KEYS[table]
        if key not in data.column_names:
            raise ValidationError(f"{path.name}: column {key!r} is required for {table}")
        counts = data.group_by(key).aggregate([([], "count_all")])
        repeated = counts.filter(pc.greater(counts["count_all"], 1))
        if repeated.num_rows:
            example = repeated[key][0].as_py()
            raise ValidationError(
                f"{path.name}: {key} {example!r} appears {repeated['count_all'][0].as_py()}"
                f" times ({repeated.num_rows:,} value(s) repeat); keep one row per {key}"
            )
        known = set(self.backend.columns_of(table))
        wanted = [name for name in data.column_names if name in known]
        self.backend.register("incoming_reference", data.select(wanted))
        try:
            with self.backend.transaction():
                replace_by_key(
                    self.backend,
                    table,
                    "incoming_reference",
                    [(key, key)],
                    [(name, name) for name in wanted],
                )
                mark_reference_change(self.backend)
        finally:
            self.backend.unregister("incoming_reference")
        return int(data.num_rows)

    # Timeline -----------------------------------------------------------------

    def base(self, as_of: date | None = None, rebuild: bool = False) -> RunResult:
        """The daily base run for ``as_of`` (today, UTC, by default)."""
        with self._run_lock:
            return run_base(
                self.backend,
                as_of=as_of or datetime.now(UTC).date(),
                lookback_days=self.settings.lookback_days,
                rebuild=rebuild,
            )

    def plan_base(self, as_of: date | None = None, rebuild: bool = False) -> RunPlan:
        """What ``base`` would recompute now (shipments, rows); a dry run, writing nothing."""
        with self._run_lock:
            return plan_base(
                self.backend,
                as_of=as_of or datetime.now(UTC).date(),
                lookback_days=self.settings.lookback_days,
                rebuild=rebuild,
            )

    def apply_retention(
        self, *, now: datetime | None = None, dry_run: bool = False
    ) -> RetentionResult:
        """Remove every shipment past ``retention_days`` whole; ``dry_run`` only counts."""
        with self._run_lock:
            return apply_retention(
                self.backend,
                now=now or datetime.now(UTC),
                retention_days=self.settings.retention_days,
                dry_run=dry_run,
            )

    def incremental(self, replay_from: datetime | None = None) -> RunResult:
        """Process the events accepted since the checkpoint; optionally replay."""
        with self._run_lock:
            return run_incremental(self.backend, replay_from=replay_from)

    def plan_incremental(self, replay_from: datetime | None = None) -> RunPlan:
        """What ``incremental`` would recompute now (shipments, rows, and why a replay
        selects what it does); a dry run, writing nothing."""
        with self._run_lock:
            return plan_incremental(self.backend, replay_from=replay_from)

    def verify(self, *, every_shipment: bool = False) -> VerifyResult:
        """The drift audit: the view against a full recompute, and how far the view is
        behind the store (pending events, held shipments). It checks the active window
        (what the base run recomputes), or every shipment in the view."""
        with self._run_lock:
            return verify(
                self.backend,
                lookback_days=self.settings.lookback_days,
                max_pending_seconds=self.settings.verify_max_pending_seconds,
                every_shipment=every_shipment,
            )

    def holds(self) -> list[Hold]:
        """The shipments held out of the timeline runs, each with the error it caused."""
        return list_holds(self.backend)

    def release_holds(self, shipment_ids: Sequence[str]) -> int:
        """Retry held shipments in the next incremental run; how many were held."""
        return release_holds(self.backend, shipment_ids)

    def leads(self) -> bool:
        """Whether this process runs the duties that run once among several workers
        (the nightly base, the monitor); the first to ask leads until it stops."""
        return self.backend.hold_lease("shipline.leader")

    def tables(self) -> list[str]:
        """The tables and views in shipline's schema."""
        return self.backend.tables()

    def status(self) -> Status:
        """Checkpoint, counts and lag."""
        return status(self.backend)

    def late_shipment_example(self) -> str | None:
        """A shipment whose timeline an incremental run corrected for a late event."""
        return late_shipment_example(self.backend)

    def shipment_id(self, name: str) -> str:
        """The shipment a shipment id or any of its references names; NotFoundError if
        none, ValidationError if the reference names several."""
        found = shipments_named(self.backend, name)
        if not found:
            raise NotFoundError(
                f"shipment {name!r} is not in the timeline view:"
                f" {why_not_in_view(self.backend, name)}"
            )
        if len(found) > 1:
            listed = ", ".join(found[:10])
            raise ValidationError(
                f"reference {name!r} names {len(found)} shipments ({listed}); ask by shipment id"
            )
        return found[0]

    def timeline(self, shipment_id: str) -> list[dict[str, Any]]:
        """A shipment's timeline, by its id or any reference; NotFoundError if it is not
        in the view."""
        rows = shipment_timeline(self.backend, shipment_id)
        if rows:  # a shipment id (rows in the view): the usual case, in one read
            return rows
        found = self.shipment_id(shipment_id)
        rows = shipment_timeline(self.backend, found) if found != shipment_id else []
        if not rows:
            raise NotFoundError(
                f"shipment {shipment_id!r} is not in the timeline view:"
                f" {why_not_in_view(self.backend, found)}"
            )
        return rows

    def sandbox(self, shipment_id: str) -> Pipeline:
        """A pipeline over a DuckDB database in memory that holds a copy of one
        shipment's stored records, its base run done: runs there change nothing here.

        The settings are this pipeline's (aliases, time range), with a lookback that
        covers the shipment's history. Close it when done.
        """
        from shipline.store.duckdb import IN_MEMORY, DuckDBBackend

        found = self.shipment_id(shipment_id)
        history = stored_history(self.backend, found)
        if history["shipment_events"].num_rows == 0:
            raise NotFoundError(f"shipment {shipment_id!r} has no stored events")
        lookback = max(self.settings.lookback_days, days_covering(history))
        settings = self.settings.model_copy(
            update={"database": IN_MEMORY, "lookback_days": lookback}
        )
        scratch = Pipeline(settings, backend=DuckDBBackend(IN_MEMORY))
        try:
            restore_history(scratch.backend, history)
            scratch.base()
        except BaseException:
            scratch.close()
            raise
        return scratch

    def summary(self, shipment_id: str) -> dict[str, Any]:
        """A shipment's performance metrics, by its id or any reference; NotFoundError if
        it is not in the view."""
        found = self.shipment_id(shipment_id)
        row = shipment_summary(self.backend, found)
        if row is None:
            raise NotFoundError(
                f"shipment {shipment_id!r} is not in the timeline view:"
                f" {why_not_in_view(self.backend, found)}"
            )
        return {**row, "prediction": prediction_of(self.backend, found)}

    def prediction(self, shipment_id: str) -> dict[str, Any] | None:
        """A shipment's predicted delivery (point, p10, p90, segment), or None once it
        is delivered, returned or cancelled, or before any model is trained."""
        return prediction_of(self.backend, self.shipment_id(shipment_id))

    def train_predictions(self) -> TrainResult:
        """Learn a new delivery model from the delivered shipments, and predict every
        open shipment with it (the base run does this nightly)."""
        with self._run_lock:
            return train(self.backend)

    def evaluate_predictions(self, split: datetime | None = None) -> Evaluation:
        """Hold out the shipments created after ``split`` (by default, after 60% of the
        delivered ones), train on those delivered before it, and compare the model's
        predictions at each test event with the baselines'; nothing is stored."""
        chosen = split or default_split(self.backend)
        if chosen is None:
            raise ValidationError(
                "no delivered shipment in the view to evaluate on; ingest and run first"
            )
        return evaluate(self.backend, chosen)

    def estimates(self, shipment_id: str) -> list[dict[str, Any]]:
        """The latest estimate per (kind, source) of a shipment: served beside its
        timeline, never part of it."""
        return latest_estimates(self.backend, self.shipment_id(shipment_id))

    def references(self, shipment_id: str) -> list[dict[str, Any]]:
        """The other names (booking, container, ...) a shipment goes by."""
        return references_of(self.backend, self.shipment_id(shipment_id))

    # Dead letters ---------------------------------------------------------------

    def dead_letters(
        self,
        state: str | None = "open",
        limit: int = 100,
        payload_chars: int | None = None,
        before_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """The newest dead letters of a state (open, redriven, purged; None or "all" for
        every state); ``payload_chars`` cuts payloads, ``before_id`` pages on."""
        if state == "all":
            state = None
        if state is not None and state not in dead_letters.STATES:
            raise ValidationError(
                f"dead letter state {state!r}: use {', '.join(dead_letters.STATES)} or all"
            )
        return dead_letters.list_dead_letters(
            self.backend,
            state=state,
            limit=limit,
            payload_chars=payload_chars,
            before_id=before_id,
        )

    def dead_letter(self, dead_letter_id: int) -> dict[str, Any]:
        """One dead letter, whole."""
        found = dead_letters.get_dead_letters(self.backend, [dead_letter_id])
        if not found:
            raise NotFoundError(f"dead letter {dead_letter_id} does not exist")
        return found[0]

    def redrive(self, ids: Sequence[int], payload: str | None = None) -> IngestResult:
        """Validate dead letters again and ingest them; ``payload`` replaces one's text.

        A record accepted (or found a duplicate) is marked redriven; one that fails
        again stays open with its new reason.
        """
        # Checked on the ids given, not the letters found: an unknown second id must
        # not let one payload through to the first.
        if payload is not None and len(set(ids)) != 1:
            raise ValidationError("--payload fixes exactly one dead letter; give one id")
        letters = dead_letters.get_dead_letters(self.backend, ids)
        open_letters = [letter for letter in letters if letter["state"] == "open"]
        texts = [payload if payload is not None else str(d["payload"]) for d in open_letters]
        records = [_first_record(text) for text in texts]
        result = ingest_raw(
            self.backend, records_to_raw(records), "redrive", rules=self.rules, dead_letter=False
        )
        failed = {error.index: error for error in result.errors}
        with self.backend.transaction():
            for index, letter in enumerate(open_letters):
                if index in failed:
                    reason = "; ".join(failed[index].errors)
                    dead_letters.update_reason(
                        self.backend, letter["dead_letter_id"], reason, failed[index].errors
                    )
            dead_letters.mark_dead_letters(
                self.backend,
                [d["dead_letter_id"] for i, d in enumerate(open_letters) if i not in failed],
                "redriven",
            )
        return result

    def purge_dead_letters(self, ids: Sequence[int]) -> int:
        """Mark dead letters purged (kept for audit, no longer open)."""
        return dead_letters.mark_dead_letters(self.backend, ids, "purged")

    def count_open_dead_letters(
        self, source: str | None = None, before: datetime | None = None
    ) -> int:
        """How many open dead letters of ``source`` received before ``before`` there are."""
        return dead_letters.count_open(self.backend, source, before)

    def purge_open_dead_letters(
        self, source: str | None = None, before: datetime | None = None
    ) -> int:
        """Mark purged the open dead letters of ``source`` received before ``before``
        (every open one when neither is given); how many."""
        return dead_letters.purge_open(self.backend, source, before)

    # Loader ---

    def load_files(
        self,
        locations: Sequence[str],
        on_file: Callable[[dict[str, Any]], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Load landing-zone files, folders or ``s3://`` prefixes; one outcome per file."""
        from shipline.loader.run import resolve

        loader = self._loader()
        outcomes = []
        for source, files in resolve(self.settings, locations):
            for file in files:
                outcome = loader.load(source, file).as_dict()
                outcomes.append(outcome)
                if on_file is not None:
                    on_file(outcome)
        return outcomes

    def load_object(self, url: str, notifier: Notifier | None = None) -> dict[str, Any]:
        """Load exactly the object ``s3://bucket/key`` names, as an S3 notification does.

        ``load_files`` takes an ``s3://`` address as a prefix, so it would load every
        object whose key starts with this one too; a notification names one object,
        and every other object has its own. A key that is not a landing file, or an
        object that is gone, is skipped with the reason. ``notifier`` gets the load's
        messages besides the settings' notifiers and, like them, cannot fail the load.
        """
        from shipline.loader.run import s3_object
        from shipline.loader.service import FileOutcome
        from shipline.notify.base import FanOut

        source, found = s3_object(self.settings, url)
        if isinstance(found, FileOutcome):
            return found.as_dict()
        loader = self._loader()
        if notifier is not None:
            loader.notifier = FanOut([loader.notifier, notifier])
        outcome: dict[str, Any] = loader.load(source, found).as_dict()
        return outcome

    def watch_files(
        self,
        location: str,
        should_stop: Callable[[], bool],
        on_file: Callable[[dict[str, Any]], None] | None = None,
        interval_seconds: float | None = None,
    ) -> None:
        """Poll a landing folder or ``s3://`` prefix and load new files until told to stop."""
        from shipline.loader.run import source_for

        source = source_for(self.settings, location)
        for _ in self._loader().watch(
            source,
            interval_seconds=interval_seconds or self.settings.loader_poll_seconds,
            should_stop=should_stop,
            on_outcome=(lambda o: on_file(o.as_dict())) if on_file else None,
        ):
            pass

    def loads(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest load-ledger rows, optionally of one status (loaded, failed)."""
        from shipline.loader.ledger import list_loads

        return list_loads(self.backend, status=status, limit=limit)

    def _loader(self) -> Loader:
        from shipline.loader.service import Loader
        from shipline.notify.config import build_notifier

        return Loader(
            self.backend,
            build_notifier(self.settings),
            keys=self.settings.loader_keys,
            events_loader=self._load_event_file,
            redshift_iam_role=self.settings.loader_redshift_iam_role,
            max_uncompressed_bytes=self.settings.loader_max_uncompressed_bytes,
        )

    def _load_event_file(self, path: Path, file_format: str | None) -> tuple[int, int, int]:
        result = self.ingest_files([path], file_format=file_format)
        if result.refused_files:
            raise LoadError("; ".join(result.refused_files))
        if result.accepted:
            self.incremental()
        return result.received, result.accepted, result.duplicates + result.rejected

    # Audit log ---

    def record_audit(self, entries: Sequence[AuditEntry]) -> None:
        """Append rows to the audit log (who read or changed what, and the outcome)."""
        from shipline.store.audit import record_audit

        record_audit(self.backend, entries)

    def audit_log(
        self, actor: str | None = None, since: datetime | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The newest audit rows, optionally of one actor (a key id) and from ``since``."""
        from shipline.store.audit import list_audit

        return list_audit(self.backend, actor=actor, since=since, limit=limit)

    # Monitoring ---

    def metrics(self, now: datetime | None = None) -> dict[str, float]:
        """Every monitoring metric now (see ``shipline.monitor.metrics.METRICS``)."""
        from shipline.monitor import collect_metrics

        return collect_metrics(self.backend, self.settings, now)

    def record_metrics(self, now: datetime | None = None) -> dict[str, float]:
        """Collect the metrics, append them to ``monitor_metrics`` and prune past retention."""
        from shipline.monitor import record_metrics

        now = now or datetime.now(UTC)
        values = self.metrics(now)
        record_metrics(self.backend, values, now, self.settings.monitor_retention_days)
        return values

    def quality(self, now: datetime | None = None, examples: int = 5) -> list[QualityCheck]:
        """The named data-quality checks (``QualityCheck``), each a count and examples."""
        from shipline.monitor import run_quality_checks

        return run_quality_checks(self.backend, self.settings, now, examples)

    def check_alerts(
        self, rules_path: Path | None = None, now: datetime | None = None, notify: bool = True
    ) -> list[AlertOutcome]:
        """Evaluate the alert rules (``AlertOutcome`` each); notify rules that changed state.

        The rules come from ``rules_path``, else ``alerts_file`` when it exists, else
        the packaged defaults.
        """
        from shipline.monitor import evaluate_rules
        from shipline.notify.config import build_notifier

        rules = self.alert_rules(rules_path)
        notifier = build_notifier(self.settings) if notify else None
        return evaluate_rules(self.backend, rules, self.metrics(now), notifier, now)

    def alert_rules(self, rules_path: Path | None = None) -> list[Rule]:
        """The alert rules in force (``Rule`` each), parsed and checked."""
        from shipline.monitor import load_rules, resolve_rules_path

        return load_rules(resolve_rules_path(self.settings.alerts_file, rules_path))

    def alert_states(self) -> list[dict[str, Any]]:
        """The persisted firing/ok state of every rule evaluated so far."""
        from shipline.monitor import alert_states

        return alert_states(self.backend)

    def prometheus_metrics(self) -> bytes:
        """The monitor's metrics and alert states in Prometheus' text format."""
        from shipline.monitor import render_prometheus

        return render_prometheus(self.metrics(), self.alert_states())

    def monitor_tick(
        self,
        rules_path: Path | None = None,
        now: datetime | None = None,
        *,
        notifier: Notifier | None = None,
    ) -> list[AlertOutcome]:
        """What a scheduler runs every ``monitor_interval_seconds``: collect the metrics
        once, record them (pruning past retention), evaluate the rules and notify changes.

        ``notifier`` replaces the settings' notifiers. Unlike them it may raise: a rule
        whose notification failed then keeps its previous state, so the next tick
        notifies it again, and the error propagates (the AWS alerts Lambda fails and
        its schedule runs it again).
        """
        from shipline.monitor import evaluate_rules, record_metrics
        from shipline.notify.config import build_notifier

        rules = self.alert_rules(rules_path)
        now = now or datetime.now(UTC)
        values = self.metrics(now)
        record_metrics(self.backend, values, now, self.settings.monitor_retention_days)
        chosen = notifier if notifier is not None else build_notifier(self.settings)
        return evaluate_rules(self.backend, rules, values, chosen, now)

    def latest_metrics(self) -> dict[str, float]:
        """The newest recorded metrics snapshot (empty before the first tick); cheap."""
        from shipline.monitor import latest_metrics

        return latest_metrics(self.backend)

    # Overview (what the dashboard polls) ---

    @property
    def statuses(self) -> tuple[str, ...]:
        """The shipment statuses a search can filter by, in vocabulary order."""
        from shipline.monitor.overview import STATUSES

        return STATUSES

    def stage_counts(self, now: datetime | None = None) -> StageCounts:
        """Counts and per-second rates of the stages the status does not cover."""
        from shipline.monitor import overview

        return overview.stage_counts(self.backend, now)

    def recent_runs(self, limit: int = 10) -> list[RunRow]:
        """The newest base and incremental runs, newest first."""
        from shipline.monitor import overview

        return overview.recent_runs(self.backend, limit)

    def run_covering(self, ingest_seq: int) -> RunRow | None:
        """The newest run that processed the event with ``ingest_seq``, if one has."""
        from shipline.monitor import overview

        return overview.run_covering(self.backend, ingest_seq)

    def ingest_seq_of(self, event_id: str) -> int | None:
        """The ``ingest_seq`` of a stored event, or None."""
        from shipline.monitor import overview

        return overview.ingest_seq_of(self.backend, event_id)

    def regions(self) -> list[str]:
        """The regions of the locations reference table, sorted."""
        from shipline.monitor import overview

        return overview.regions(self.backend)

    def search_shipments(
        self,
        *,
        query: str = "",
        status: str | None = None,
        region: str | None = None,
        late: bool = False,
        exceptions: bool = False,
        limit: int = 50,
    ) -> list[ShipmentMatch]:
        """Shipments matching an id prefix and filters, newest activity first."""
        from shipline.monitor import overview

        return overview.search_shipments(
            self.backend,
            query=query,
            status=status,
            region=region,
            late=late,
            exceptions=exceptions,
            limit=limit,
        )

    def location_dwell(self, shipment_id: str) -> list[LocationDwell]:
        """Hours a shipment spent per location, longest first."""
        from shipline.monitor import overview

        return overview.location_dwell(self.backend, shipment_id)

    # Analytics ---

    def kpis(self, by: GroupBy | None = None, since: datetime | None = None) -> KpiReport:
        """Performance per carrier, lane or location, or overall (``timeline.kpis``)."""
        from shipline.timeline.kpis import kpis

        started = time.perf_counter()
        report, kept = self._view_cache.read(
            self.backend, ("kpis", by, since), lambda: kpis(self.backend, by, since)
        )
        if not kept:
            return report
        return replace(report, cached=True, duration_ms=(time.perf_counter() - started) * 1000)

    def stuck(self, now: datetime | None = None, limit: int | None = None) -> list[StuckShipment]:
        """Shipments silent beyond their lane and stage's usual gap, each with why."""
        from shipline.timeline.stuck import stuck_shipments

        return stuck_shipments(self.backend, now or datetime.now(UTC), limit=limit)

    def list_shipments(
        self, filters: ShipmentFilter, limit: int = 100, cursor: str | None = None
    ) -> ShipmentPage:
        """A keyset page of shipments matching ``filters``, newest activity first."""
        from shipline.timeline.shipments import list_shipments

        return list_shipments(self.backend, filters, datetime.now(UTC), limit, cursor)

    def open_dead_letters(self, limit: int = 20) -> list[OpenDeadLetter]:
        """The newest open dead letters, without their payloads."""
        from shipline.monitor import overview

        return overview.open_dead_letters(self.backend, limit)

    def series(self, minutes: int, now: datetime | None = None) -> MetricSeries:
        """Throughput, errors, run durations and lag, and the monitor's values, over
        the last ``minutes``."""
        from shipline.monitor import overview

        return overview.series(self.backend, minutes, now)

    # API keys ---

    def create_key(
        self, scope: str, description: str | None = None, expires_at: datetime | None = None
    ) -> NewKey:
        """Create an API key of ``scope``; its ``key`` is shown this once and never stored."""
        from shipline.store.keys import create_key

        return create_key(self.backend, self._keyring(), scope, description, expires_at)

    def rotate_key(self, key_id: str, grace: timedelta) -> NewKey:
        """A successor of ``key_id`` (same scope); the old key expires after ``grace``."""
        from shipline.store.keys import rotate_key

        return rotate_key(self.backend, self._keyring(), key_id, grace)

    def list_keys(self, include_revoked: bool = True) -> list[ApiKey]:
        """Every API key, oldest first (never the keys themselves)."""
        from shipline.store.keys import list_keys

        return list_keys(self.backend, include_revoked)

    def revoke_key(self, key_id: str) -> ApiKey:
        """Revoke an API key at once; NotFoundError if there is none of ``key_id``."""
        from shipline.store.keys import revoke_key

        return revoke_key(self.backend, key_id)

    def verify_key(self, key: str) -> ApiKey | None:
        """The active API key ``key`` is, or None."""
        from shipline.store.keys import verify_key

        return verify_key(self.backend, key)

    def sigv4_secret(self, key_id: str) -> tuple[ApiKey, str] | None:
        """An active key and the key itself by id, to recompute a SigV4 signature; None
        if unknown, revoked, expired, or made with another server secret."""
        from shipline.store.keys import sigv4_secret

        return sigv4_secret(self.backend, self._keyring(), key_id)

    def key_snapshot(self) -> KeySnapshot:
        """Every key at this moment, for a server to answer from memory."""
        from shipline.store.keys import snapshot_keys

        return snapshot_keys(self.backend, self._keyring())

    def _keyring(self) -> Keyring:
        """The settings' server secret, one per pipeline (it caches its secret once read).
        The first call moves keys made before derivation off the old keyring file."""
        from shipline.store.keys import Keyring, legacy_keyring_path, upgrade_legacy_keys

        settings = self.settings
        secret = settings.key_secret.get_secret_value() if settings.key_secret else None
        # setdefault keeps the first keyring even when two threads ask at once: an
        # in-memory database's secret exists only in that one object.
        candidate = Keyring.for_database(
            settings.database, settings.key_secret_file or settings.api_keyring, secret
        )
        found: Keyring = self.__dict__.setdefault("_keyring_instance", candidate)
        if found is candidate:
            upgrade_legacy_keys(self.backend, found, legacy_keyring_path(settings.database))
        return found


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise ValidationError(f"{path.name}: cannot be read ({error.strerror})") from None


def validation_rules(settings: Settings) -> Rules:
    """The contract's rules as ``settings`` extend them."""
    return Rules(
        event_type_aliases=settings.aliases.event_type,
        status_aliases=settings.aliases.status,
        timestamp_range=(settings.timestamp_min, settings.timestamp_max),
        source_zones={
            name: source.timezone
            for name, source in settings.sources.items()
            if source.timezone is not None
        },
    )


def _first_record(text: str) -> Any:
    """The record a dead letter holds. A payload that is not exactly one record goes
    back as its text, to be refused again with a reason that says so."""
    records = parse_json_body(text) if text.strip() else []
    return records[0] if len(records) == 1 else text
