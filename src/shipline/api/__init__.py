"""``shipline serve``: the HTTP ingestion service, its API keys and its processor."""

from shipline.api.app import create_app

__all__ = ["create_app"]
