"""Ingest: validate, dedupe and store each accepted event exactly once."""
