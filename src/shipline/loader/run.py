"""Wiring for the facade: landing zones from locations, and the loader from settings."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from shipline.errors import LoadError
from shipline.loader.service import FileOutcome
from shipline.loader.sources import LandingFile, LocalSource, S3Source, Source, landing_root
from shipline.settings import Settings

_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


def s3_source(settings: Settings, url: str) -> S3Source:
    """An S3 landing zone for ``s3://bucket/prefix`` (endpoint from ``loader_s3_endpoint_url``)."""
    import boto3

    bucket, prefix = S3Source.parse_url(url)
    client = boto3.client("s3", endpoint_url=settings.loader_s3_endpoint_url)
    return S3Source(client, bucket, prefix, settings.loader_s3_quarantine_prefix)


def s3_object(settings: Settings, url: str) -> tuple[S3Source, LandingFile | FileOutcome]:
    """Exactly the object ``s3://bucket/key`` names, not every key it prefixes.

    Returns the landing file (size and ETag from S3 now), or the outcome that says
    why there is nothing to load: the key is not a landing file (under the quarantine
    prefix, a folder marker, an in-progress upload: the rules of ``list_files``), or
    the object is gone (quarantined or deleted since it was announced). If S3 cannot
    be asked, the outcome is a failure to retry, as when a file cannot be read.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    source = s3_source(settings, url)
    key = source.prefix
    if not source.is_landing_key(key):
        reason = "not a landing file (quarantine, folder marker or in-progress upload)"
        return source, FileOutcome(url, "skipped", error=reason)
    try:
        head = source.client.head_object(Bucket=source.bucket, Key=key)
    except ClientError as error:
        if str(error.response.get("Error", {}).get("Code", "")) in _MISSING_CODES:
            reason = "no such object now (moved or deleted since it was announced)"
            return source, FileOutcome(url, "skipped", error=reason)
        return source, _unreadable(url, error)
    except BotoCoreError as error:
        return source, _unreadable(url, error)
    etag = str(head.get("ETag", "")).strip('"')
    size = int(head.get("ContentLength", 0))
    return source, LandingFile(
        key=f"s3://{source.bucket}/{key}", relative=key, size=size, stamp=etag
    )


def _unreadable(url: str, error: Exception) -> FileOutcome:
    return FileOutcome(url, "failed", error=f"cannot be read: {error}; retry later", retryable=True)


def local_source(settings: Settings, root: Path) -> LocalSource:
    """A local landing zone rooted at ``root`` (quarantine inside it by default)."""
    quarantine = settings.loader_quarantine_dir
    return LocalSource(root, Path(quarantine) if quarantine else None)


def source_for(settings: Settings, location: str) -> Source:
    """The landing zone a folder path or an ``s3://`` address names."""
    if location.startswith("s3://"):
        return s3_source(settings, location)
    path = Path(location)
    if not path.is_dir():
        raise LoadError(f"{location}: not a folder; give a landing folder or s3://bucket/prefix")
    return local_source(settings, path)


def resolve(settings: Settings, locations: Sequence[str]) -> list[tuple[Source, list[LandingFile]]]:
    """Files to load for each location: every file of a folder or prefix, or one file.

    A file's landing root is found from the path as given, links and all (see
    ``landing_root``): a link is refused and quarantined there, never followed.
    """
    plan: list[tuple[Source, list[LandingFile]]] = []
    for location in locations:
        if location.startswith("s3://"):
            source = s3_source(settings, location)
            plan.append((source, source.list_files()))
            continue
        path = Path(location)
        if path.is_dir():
            local = local_source(settings, path)
            plan.append((local, local.list_files()))
        elif path.is_file() or path.is_symlink():
            given = Path(os.path.abspath(path))
            local = local_source(settings, landing_root(given))
            plan.append((local, [local.describe(given)]))
        else:
            raise LoadError(f"{location}: no such file or folder; check the path")
    return plan
