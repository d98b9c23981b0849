"""The file loader: landing-zone files (Parquet, CSV, JSON, NDJSON) upserted into tables."""

from shipline.loader.files import detect_kind, read_table, table_for_key
from shipline.loader.ledger import list_loads
from shipline.loader.service import DEFAULT_KEYS, FileOutcome, Loader
from shipline.loader.sources import LandingFile, LocalSource, S3Source, landing_root
from shipline.loader.warehouse import UpsertResult, upsert

__all__ = [
    "DEFAULT_KEYS",
    "FileOutcome",
    "LandingFile",
    "Loader",
    "LocalSource",
    "S3Source",
    "UpsertResult",
    "detect_kind",
    "landing_root",
    "list_loads",
    "read_table",
    "table_for_key",
    "upsert",
]
