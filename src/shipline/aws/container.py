"""What a Lambda container keeps between invocations: its Pipeline over the warehouse.

Building a ``Pipeline`` connects, applies the migrations and re-creates the views;
on Redshift that is seconds, paid again by every invocation that builds its own.
Lambda keeps a container's module state between invocations and runs one
invocation at a time in it, so the warehouse handlers take their pipeline from
``pipelines``: built at the container's first invocation, reused by the next ones.
This module state is the exception to shipline's "no module-level globals": it is
what a Lambda container is for.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from shipline.aws.config import AwsSettings
from shipline.aws.warehouse import forget_warehouse_url, warehouse_url
from shipline.errors import BackendError
from shipline.pipeline import Pipeline
from shipline.settings import Settings, load_settings

log = logging.getLogger("shipline.aws")


def warehouse_settings(aws: AwsSettings) -> Settings:
    """The core's settings, with the warehouse secret's URL unless a database is set.

    ``SHIPLINE_DATABASE`` (or ``database`` in ``shipline.toml``) always wins; without
    it and without a warehouse secret, the settings' default applies as anywhere.
    """
    settings = load_settings()
    if "database" in settings.model_fields_set or not aws.warehouse_secret_arn:
        return settings
    return settings.model_copy(update={"database": warehouse_url(aws)})


class PipelineCache:
    """Pipelines kept for the container's life, one per database URL."""

    def __init__(self) -> None:
        self._pipelines: dict[str, Pipeline] = {}

    @contextmanager
    def open(self, settings: Settings) -> Iterator[Pipeline]:
        """The pipeline over ``settings.database``, built on first use.

        A lost connection is replaced by the backend itself. If the warehouse fails
        the invocation (a ``BackendError``: refused credentials after the secret
        rotated, say), the pipeline is closed and forgotten and the secret is read
        again, so the next invocation starts afresh rather than fail the same way for
        the container's life. Any other failure (a bad input, an SNS outage) leaves
        the pipeline, and its warm connection, in place.
        """
        pipeline = self._get(settings)
        try:
            yield pipeline
        except BackendError:
            self.discard(settings.database)
            forget_warehouse_url()
            raise

    def _get(self, settings: Settings) -> Pipeline:
        cached = self._pipelines.get(settings.database)
        # Settings are fixed for a function's life; they differ only when a test changes
        # the environment between invocations, and then the pipeline is rebuilt.
        if cached is not None and cached.settings == settings:
            return cached
        self.discard(settings.database)
        pipeline = Pipeline(settings)
        self._pipelines[settings.database] = pipeline
        return pipeline

    def discard(self, database: str) -> None:
        """Close and forget the pipeline over ``database``, if there is one."""
        pipeline = self._pipelines.pop(database, None)
        if pipeline is None:
            return
        try:
            pipeline.close()
        except Exception as error:  # closing a broken connection must not hide the failure
            log.warning("closing the cached pipeline failed: %s", error)

    def clear(self) -> None:
        """Close and forget every pipeline, as a new container would start (tests call this)."""
        for database in list(self._pipelines):
            self.discard(database)

    def __len__(self) -> int:
        return len(self._pipelines)


pipelines = PipelineCache()
"""This container's pipelines; ``pipelines.clear()`` resets them."""
