"""Landing zones: a local folder or an S3 prefix. List files, read them, quarantine them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING, Any, Protocol

from shipline.errors import LoadError
from shipline.loader.files import sha256

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

QUARANTINE = "_quarantine"
_PARTITION_TAIL = re.compile(r"^year=\d{4}$")
IN_PROGRESS_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload")
"""Names of uploads still being written; the loader leaves them for later."""


@dataclass(frozen=True)
class LandingFile:
    """A file in a landing zone.

    ``key`` names it in the ledger (a path, or ``s3://bucket/key``); ``relative`` is
    its key below the landing root, which names its table. ``stamp`` changes when the
    file does (size and mtime, or the ETag).
    """

    key: str
    relative: str
    size: int
    stamp: str


class Source(Protocol):
    """A landing zone."""

    def list_files(self) -> list[LandingFile]:
        """The files waiting in the zone (never those in quarantine)."""

    def read(self, file: LandingFile) -> bytes:
        """A file's bytes."""

    def checksum(self, file: LandingFile, data: bytes) -> str:
        """The ledger checksum: sha256 locally, the ETag on S3."""

    def known_checksum(self, file: LandingFile) -> str | None:
        """The checksum if it is known without reading the file (the ETag), else None."""

    def quarantine(self, file: LandingFile, reason: str) -> str:
        """Move a file aside with its reason; return where it went."""

    def local_copy(self, file: LandingFile, data: bytes) -> Any:
        """A context manager yielding a local ``Path`` holding the file."""


def landing_root(path: Path) -> Path:
    """The landing root of a file: above ``<table>/year=…/month=…/day=…``, else its folder."""
    parents = path.parents
    if len(parents) > 4 and _PARTITION_TAIL.match(parents[2].name):
        return parents[4]
    return path.parent


class LocalSource:
    """A local folder. Quarantine goes to ``_quarantine/`` beside the folder."""

    def __init__(self, root: Path, quarantine_dir: Path | None = None) -> None:
        self.root = root.resolve()
        self.quarantine_dir = (quarantine_dir or self.root.parent / QUARANTINE).resolve()

    def describe(self, path: Path) -> LandingFile:
        """The landing file for one path below the root."""
        path = path.resolve()
        stat = path.stat()
        relative = path.relative_to(self.root).as_posix()
        return LandingFile(
            key=str(path),
            relative=relative,
            size=int(stat.st_size),
            stamp=f"{stat.st_size}:{stat.st_mtime_ns}",
        )

    def list_files(self) -> list[LandingFile]:
        """Every file below the root, except hidden, underscored and in-progress ones."""
        found = []
        for path in sorted(self.root.rglob("*")):
            relative = path.relative_to(self.root)
            if any(part.startswith((".", "_")) for part in relative.parts):
                continue
            if path.name.endswith(IN_PROGRESS_SUFFIXES) or not path.is_file():
                continue
            if self.quarantine_dir in path.parents:
                continue
            found.append(self.describe(path))
        return found

    def read(self, file: LandingFile) -> bytes:
        """The file's bytes; ``LoadError`` if it vanished."""
        try:
            return Path(file.key).read_bytes()
        except OSError as error:
            raise LoadError(f"{file.key}: cannot be read ({error}); check the file") from error

    def checksum(self, file: LandingFile, data: bytes) -> str:
        """The sha256 of the bytes."""
        return sha256(data)

    def known_checksum(self, file: LandingFile) -> str | None:
        """Unknown until the file is read."""
        return None

    def quarantine(self, file: LandingFile, reason: str) -> str:
        """Move the file under the quarantine folder, keeping its relative key."""
        target = self.quarantine_dir / file.relative
        if target.exists():
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
            target = target.with_name(f"{stamp}_{target.name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        Path(file.key).replace(target)
        target.with_name(target.name + ".reason.txt").write_text(reason + "\n")
        return str(target)

    @contextmanager
    def local_copy(self, file: LandingFile, data: bytes) -> Iterator[Path]:
        """The file itself."""
        yield Path(file.key)


class S3Source:
    """An S3 prefix. Quarantine goes to ``<quarantine_prefix><key>`` in the same bucket."""

    def __init__(
        self, client: S3Client, bucket: str, prefix: str, quarantine_prefix: str = "_quarantine/"
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.quarantine_prefix = quarantine_prefix

    @staticmethod
    def parse_url(url: str) -> tuple[str, str]:
        """``s3://bucket/prefix`` -> (bucket, prefix)."""
        if not url.startswith("s3://"):
            raise LoadError(f"{url!r} is not an s3:// address; use s3://bucket/prefix")
        bucket, _, prefix = url[len("s3://") :].partition("/")
        if not bucket:
            raise LoadError(f"{url!r} names no bucket; use s3://bucket/prefix")
        return bucket, prefix

    def is_landing_key(self, key: str) -> bool:
        """Whether an object is a file to load: not a folder marker, not in quarantine,
        not an upload still in progress."""
        return not (
            key.endswith("/")
            or key.startswith(self.quarantine_prefix)
            or key.endswith(IN_PROGRESS_SUFFIXES)
        )

    def list_files(self) -> list[LandingFile]:
        """Every object under the prefix except folders, quarantine and in-progress ones."""
        found = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                if not self.is_landing_key(key):
                    continue
                etag = item.get("ETag", "").strip('"')
                found.append(
                    LandingFile(
                        key=f"s3://{self.bucket}/{key}",
                        relative=key,
                        size=int(item.get("Size", 0)),
                        stamp=etag,
                    )
                )
        return found

    def read(self, file: LandingFile) -> bytes:
        """The object's bytes."""
        response = self.client.get_object(Bucket=self.bucket, Key=file.relative)
        return response["Body"].read()

    def checksum(self, file: LandingFile, data: bytes) -> str:
        """The object's ETag."""
        return file.stamp or sha256(data)

    def known_checksum(self, file: LandingFile) -> str | None:
        """The ETag from the listing."""
        return file.stamp or None

    def quarantine(self, file: LandingFile, reason: str) -> str:
        """Copy the object under the quarantine prefix with its reason, then delete it."""
        target = self.quarantine_prefix + file.relative
        self.client.copy_object(
            Bucket=self.bucket,
            Key=target,
            CopySource={"Bucket": self.bucket, "Key": file.relative},
        )
        self.client.put_object(
            Bucket=self.bucket, Key=target + ".reason.txt", Body=(reason + "\n").encode()
        )
        self.client.delete_object(Bucket=self.bucket, Key=file.relative)
        return f"s3://{self.bucket}/{target}"

    @contextmanager
    def local_copy(self, file: LandingFile, data: bytes) -> Iterator[Path]:
        """The object's bytes in a temporary file with the same name."""
        with TemporaryDirectory(prefix="shipline-") as folder:
            path = Path(folder) / file.relative.rsplit("/", 1)[-1]
            path.write_bytes(data)
            yield path
