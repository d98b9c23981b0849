"""shipline: exact, fresh per-shipment timelines from shipment events."""

__version__ = "0.1.0"
