"""Synthetic, realistic shipment data: reference tables and an event feed with its noise."""

from shipline.generate.shipments import (
    EVENT_SCHEMA,
    GeneratedFiles,
    ShipmentDataset,
    generate_dataset,
    write_dataset,
)

__all__ = ["EVENT_SCHEMA", "GeneratedFiles", "ShipmentDataset", "generate_dataset", "write_dataset"]
