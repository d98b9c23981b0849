"""Importers: the industry's formats turned into raw event records (DESIGN 2a).

Each importer only maps fields. The records it returns (events, estimates and
references) go through the one validation and ingest path like any other.
"""
