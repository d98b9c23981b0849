"""The app as uvicorn's worker processes build it, from settings alone."""

from __future__ import annotations

from fastapi import FastAPI

from shipline.pipeline import Pipeline
from shipline.server.app import create_app


def create_app_from_settings() -> FastAPI:
    """A pipeline from ``shipline.toml`` and ``SHIPLINE_*``, and the API over it."""
    pipeline = Pipeline.open()
    return create_app(pipeline, pipeline.settings)
