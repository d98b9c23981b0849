"""The closed vocabulary of event types and statuses (DESIGN section 2).

Carriers and standards use their own codes; ``shipline.toml`` maps them onto this
set with aliases, so an unknown code can be redriven once its alias exists.
"""

from __future__ import annotations

from collections.abc import Mapping

DEFAULT_STATUS: Mapping[str, str] = {
    "created": "pre_transit",
    "picked_up": "in_transit",
    "departed_facility": "in_transit",
    "arrived_at_facility": "in_transit",
    "in_transit": "in_transit",
    "customs_hold": "exception",
    "delivery_attempted": "exception",
    "exception": "exception",
    "out_for_delivery": "out_for_delivery",
    "ready_for_pickup": "ready_for_pickup",
    "delivered": "delivered",
    "returned_to_sender": "returned",
    "cancelled": "cancelled",
}
"""Every accepted ``event_type`` and the ``status`` it implies when none is given."""

EVENT_TYPES: frozenset[str] = frozenset(DEFAULT_STATUS)
STATUSES: frozenset[str] = frozenset(DEFAULT_STATUS.values())

BUILTIN_EVENT_TYPE_ALIASES: Mapping[str, str] = {
    # Carrier words, upper-case and with spaces, as they commonly arrive.
    "DELIVERED": "delivered",
    "PICKED UP": "picked_up",
    "PICKUP": "picked_up",
    "IN TRANSIT": "in_transit",
    "OUT FOR DELIVERY": "out_for_delivery",
    "EXCEPTION": "exception",
    # X12 214 shipment status codes.
    "X1": "arrived_at_facility",
    "X3": "picked_up",
    "AF": "departed_facility",
    "OD": "out_for_delivery",
    "D1": "delivered",
    "A9": "exception",
    # DCSA transport and equipment event codes.
    "ARRI": "arrived_at_facility",
    "DEPA": "departed_facility",
    "GTIN": "arrived_at_facility",
    "GTOT": "departed_facility",
}
"""Aliases every installation has; ``[aliases.event_type]`` in shipline.toml adds more
(and the importers' code tables, ``events.formats``, theirs)."""
