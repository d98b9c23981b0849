"""AfterShip trackings: an API answer (``{"meta", "data": {"tracking"}}`` or
``{"data": {"trackings": [...]}}``), a ``tracking_update`` webhook (``{"event",
"msg": tracking}``) or a bare tracking.

The tracking number is the shipment key, the courier ``slug`` the carrier, and
AfterShip's tracking id and the order's id and number become references. Each of
``checkpoints`` is a checkpoint coded by its ``subtag`` (``aftership:InTransit_002``),
else its ``tag``; ``checkpoint_time`` is passed on as written (usually with the
place's offset). The delivery estimate is the first of ``latest_estimated_delivery``,
``aftership_estimated_delivery_date``, ``expected_delivery`` and
``custom_estimated_delivery_date`` that is a time with an offset. Webhooks carry
``aftership-hmac-sha256``: base64 of HMAC-SHA256 of the raw body with the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

from shipline.events.formats.base import Format, Imported
from shipline.events.formats.tracking import (
    Checkpoint,
    Codes,
    Estimate,
    Place,
    Tracker,
    at,
    hmac_matches,
    listed,
    objects,
    tracker_records,
)

CODES = Codes.load("aftership", "aftership_codes.json")
SIGNATURE_HEADER = "aftership-hmac-sha256"


def aftership_records(document: Any) -> Imported:
    """The records of an API answer, a webhook, a bare tracking or an array of them."""
    imported = Imported()
    for found in objects(document, _trackings):
        if isinstance(found, dict):
            tracker_records(_tracker(found), CODES, imported)
        else:
            imported.records.append(found)
    return imported


def _trackings(value: Any) -> list[Any]:
    data = at(value, "data")
    if isinstance(at(data, "tracking"), dict):
        return [data["tracking"]]
    if isinstance(at(data, "trackings"), list):
        return list(data["trackings"])
    if isinstance(at(value, "msg"), dict):
        return [value["msg"]]
    return [value]


def _tracker(tracking: dict[str, Any]) -> Tracker:
    latest = tracking.get("latest_estimated_delivery")
    predicted = tracking.get("aftership_estimated_delivery_date")
    return Tracker(
        tracking_number=tracking.get("tracking_number"),
        carrier=tracking.get("slug"),
        checkpoints=[_checkpoint(point) for point in listed(tracking.get("checkpoints"))],
        references=[
            ("aftership_tracking", tracking.get("id")),
            ("order", tracking.get("order_id")),
            ("order_number", tracking.get("order_number")),
        ],
        estimates=[
            Estimate(
                at(latest, "datetime"),
                _classifier(at(latest, "source")),
                where="latest_estimated_delivery",
            ),
            Estimate(
                at(predicted, "estimated_delivery_date")
                if isinstance(predicted, dict)
                else predicted,
                "aftership",
                where="aftership_estimated_delivery_date",
            ),
            Estimate(tracking.get("expected_delivery"), "carrier", where="expected_delivery"),
            Estimate(
                at(tracking, "custom_estimated_delivery_date", "datetime"),
                "custom",
                where="custom_estimated_delivery_date",
            ),
        ],
    )


def _classifier(source: Any) -> str:
    """``Carrier EDD`` is ``carrier``, ``AfterShip EDD`` is ``aftership``, ..."""
    words = re.findall(r"[a-z]+", str(source or "").lower())
    return words[0][:16] if words else "aftership"


def _checkpoint(point: Any) -> Checkpoint:
    point = point if isinstance(point, dict) else {}
    country = point.get("country_region") or point.get("country_iso3")
    return Checkpoint(
        at=point.get("checkpoint_time"),
        code=point.get("subtag") or point.get("tag"),
        message=point.get("message"),
        place=Place(
            country,
            point.get("state"),
            point.get("city") or point.get("location"),
            point.get("zip"),
        ),
        details={
            "tag": point.get("tag"),
            "subtag": point.get("subtag"),
            "subtag_message": point.get("subtag_message"),
            "raw_tag": point.get("raw_tag"),
            "location": point.get("location"),
        },
    )


def aftership_signed(headers: Mapping[str, str], body: bytes, secret: str) -> bool:
    """Whether ``aftership-hmac-sha256`` is AfterShip's signature of ``body``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return hmac_matches(base64.b64encode(digest).decode("ascii"), headers.get(SIGNATURE_HEADER))


def _sniff(_data: bytes, document: Any) -> bool:
    """A tracking (``checkpoints`` beside ``slug`` or ``tag``), bare or wrapped."""
    found = objects(document, _trackings)[:1] if document is not None else []
    first = found[0] if found else None
    return (
        isinstance(first, dict)
        and isinstance(first.get("checkpoints"), list)
        and ("slug" in first or "tag" in first)
    )


FORMAT = Format(
    name="aftership",
    title="AfterShip trackings and tracking webhooks",
    records=aftership_records,
    sniff=_sniff,
    event_type_aliases=CODES.aliases(),
    source_fields={
        "shipment_id": "tracking_number",
        "event_id": "a hash of tracking_number and the checkpoint's time, subtag, place and"
        " message",
        "event_timestamp": "checkpoints[].checkpoint_time",
        "event_type": "checkpoints[].subtag, else tag",
        "location_id": "checkpoints[] country_region or country_iso3/state/city or location/zip",
        "carrier": "slug",
        "estimates": "latest_estimated_delivery, aftership_estimated_delivery_date,"
        " expected_delivery, custom_estimated_delivery_date",
        "references": "id, order_id, order_number",
    },
    signature=aftership_signed,
    signature_header=SIGNATURE_HEADER,
)
