"""The pipeline's arguments and results as JSON, and back, exactly.

The CLI beside a running server (``shipline.cli.remote``) calls the server's
pipeline through ``/v1/local``, and renders what comes back as if it had called
its own. So a result must come back as the same Python object: a ``RunResult``, a
row whose ``time_since_prev_event`` is a ``timedelta`` and whose transit hours are
a ``Decimal``. Plain JSON values stay as they are; every other value is an object
``{"$": kind, ...}``. Only the result classes named in ``result_types()`` are made
again, so a body cannot make the reader build anything else.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from uuid import UUID

import pyarrow as pa
import pyarrow.ipc

from shipline.errors import ValidationError

OPERATIONS = frozenset(
    {
        "alert_states",
        "apply_retention",
        "base",
        "check_alerts",
        "count_open_dead_letters",
        "create_key",
        "dead_letter",
        "dead_letters",
        "estimates",
        "evaluate_predictions",
        "holds",
        "incremental",
        "ingest_feed",
        "ingest_files",
        "ingest_table",
        "kpis",
        "list_keys",
        "list_shipments",
        "load_files",
        "load_reference",
        "loads",
        "metrics",
        "plan_base",
        "plan_incremental",
        "purge_dead_letters",
        "purge_open_dead_letters",
        "quality",
        "record_metrics",
        "redrive",
        "references",
        "release_holds",
        "revoke_key",
        "rotate_key",
        "status",
        "stuck",
        "summary",
        "tables",
        "timeline",
        "train_predictions",
        "verify",
    }
)
"""The pipeline methods the CLI calls through a server (``api.local``), and no other."""


@cache
def result_types() -> dict[str, type[Any]]:
    """The result classes a body may name, by name (imported when first needed)."""
    from shipline.ingest.service import IngestResult, RecordError
    from shipline.monitor.alerts import AlertOutcome
    from shipline.monitor.quality import QualityCheck
    from shipline.store.keys import ApiKey, NewKey
    from shipline.timeline.holds import Hold
    from shipline.timeline.kpis import Kpi, KpiReport
    from shipline.timeline.predict import TrainResult
    from shipline.timeline.predict_evaluate import Evaluation
    from shipline.timeline.query import Status
    from shipline.timeline.retention import RetentionResult
    from shipline.timeline.runs import Checkpoint, ReplaySelection, RunPlan, RunResult
    from shipline.timeline.shipments import ShipmentFilter, ShipmentPage
    from shipline.timeline.stuck import StuckShipment
    from shipline.timeline.verify import VerifyResult

    kinds: tuple[type[Any], ...] = (
        AlertOutcome,
        ApiKey,
        Checkpoint,
        Evaluation,
        Hold,
        IngestResult,
        Kpi,
        KpiReport,
        NewKey,
        QualityCheck,
        RecordError,
        ReplaySelection,
        RetentionResult,
        RunPlan,
        RunResult,
        ShipmentFilter,
        ShipmentPage,
        Status,
        StuckShipment,
        TrainResult,
        VerifyResult,
    )
    return {kind.__name__: kind for kind in kinds}


def encode(value: Any) -> Any:
    """``value`` as JSON-ready data that ``decode`` turns back into an equal value."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return (
            value
            if value == value and abs(value) != float("inf")
            else {"$": "float", "v": repr(value)}
        )
    if isinstance(value, list):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {"$": "dict", "items": [[encode(k), encode(v)] for k, v in value.items()]}
    tagged = _tagged(value)
    if tagged is None:
        raise TypeError(f"{type(value).__name__} cannot be sent to or from the server")
    return tagged


def _tagged(value: Any) -> dict[str, Any] | None:
    """``{"$": kind, ...}`` for a value JSON has no type for; None if none is known."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if type(value).__name__ not in result_types():
            return None
        fields = dataclasses.fields(value)
        return {
            "$": "result",
            "type": type(value).__name__,
            "fields": {f.name: encode(getattr(value, f.name)) for f in fields if f.init},
        }
    for kind, name, convert in ENCODERS:
        if isinstance(value, kind):
            return {"$": name, "v": convert(value)}
    return None


def _arrow_bytes(table: pa.Table) -> str:
    sink = io.BytesIO()
    with pyarrow.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return base64.b64encode(sink.getvalue()).decode("ascii")


ENCODERS: list[tuple[type[Any], str, Callable[[Any], Any]]] = [
    (tuple, "tuple", lambda v: [encode(item) for item in v]),
    (datetime, "datetime", lambda v: v.isoformat()),
    (date, "date", lambda v: v.isoformat()),
    (time, "time", lambda v: v.isoformat()),
    (timedelta, "timedelta", lambda v: [v.days, v.seconds, v.microseconds]),
    (Decimal, "decimal", str),
    (UUID, "uuid", str),
    (bytes, "bytes", lambda v: base64.b64encode(v).decode("ascii")),
    (Path, "path", str),
    (pa.Table, "arrow", _arrow_bytes),
]
"""Each type JSON lacks, most specific first (a datetime is a date too)."""

DECODERS: dict[str, Callable[[Any], Any]] = {
    "float": float,
    "tuple": lambda v: tuple(decode(item) for item in v),
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "time": time.fromisoformat,
    "timedelta": lambda v: timedelta(days=v[0], seconds=v[1], microseconds=v[2]),
    "decimal": Decimal,
    "uuid": UUID,
    "bytes": base64.b64decode,
    "path": Path,
    "arrow": lambda v: pyarrow.ipc.open_stream(base64.b64decode(v)).read_all(),
}


def decode(data: Any) -> Any:
    """The value ``encode`` made ``data`` of (``ValidationError`` for anything else)."""
    if isinstance(data, list):
        return [decode(item) for item in data]
    if not isinstance(data, dict):
        return data
    kind = data.get("$")
    if kind == "dict":
        return {decode(k): decode(v) for k, v in data["items"]}
    if kind == "result" and data.get("type") in result_types():
        fields = {name: decode(value) for name, value in data["fields"].items()}
        return result_types()[data["type"]](**fields)
    if isinstance(kind, str) and kind in DECODERS:
        return DECODERS[kind](data["v"])
    raise ValidationError(f"not a value shipline sends: {json.dumps(data)[:200]}")


def dumps(value: Any) -> bytes:
    """``value`` as a JSON body."""
    return json.dumps(encode(value), separators=(",", ":")).encode("utf-8")


def loads(body: bytes) -> Any:
    """The value of a body ``dumps`` made."""
    try:
        return decode(json.loads(body))
    except (ValueError, KeyError, TypeError) as error:
        raise ValidationError(f"a malformed body: {error}") from None
