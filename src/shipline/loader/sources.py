"""Landing zones: a local folder or an S3 prefix. List files, read them, quarantine them."""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING, Any, Protocol

from shipline.errors import LoadError
from shipline.loader import nofollow
from shipline.loader.files import sha256

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

QUARANTINE = "_quarantine"
_PARTITION_TAIL = re.compile(r"^year=\d{4}$")
IN_PROGRESS_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload")
"""Names of uploads still being written; the loader leaves them for later."""


@dataclass(frozen=True)
class LandingFile:
    """A file in a landing zone.

    ``key`` names it in the ledger (a path, or ``s3://bucket/key``); ``relative`` is
    its key below the landing root, which names its table. ``stamp`` changes when the
    file does (size and mtime, or the ETag). ``link`` says it is a symbolic link (to a
    file or a folder), which the loader refuses and never follows.
    """

    key: str
    relative: str
    size: int
    stamp: str
    link: bool = False


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
    """A local folder. Quarantine goes to ``_quarantine/`` inside it.

    Nothing below the root is reached through a symbolic link: a link, to a file or to
    a folder, is a landing file of its own (``link``), which the loader refuses, and
    quarantine moves the link itself, never what it points to. Nothing is written
    outside the root, but to a ``quarantine_dir`` given outside it.
    """

    def __init__(self, root: Path, quarantine_dir: Path | None = None) -> None:
        self.given_root = Path(os.path.abspath(root))
        self.root = root.resolve()
        self.quarantine_dir = quarantine_dir.resolve() if quarantine_dir else self.root / QUARANTINE

    def describe(self, path: Path) -> LandingFile:
        """The landing file for one path below the root, or for the first link on its way."""
        relative = self._relative(path)
        for depth in range(1, len(relative.parts)):
            folder = PurePosixPath(*relative.parts[:depth])
            info = os.lstat(self.root / folder)
            if stat.S_ISLNK(info.st_mode):
                return self._landing_file(folder, info, link=True)
        info = os.lstat(self.root / relative)
        return self._landing_file(relative, info, link=stat.S_ISLNK(info.st_mode))

    def _relative(self, path: Path) -> PurePosixPath:
        absolute = Path(os.path.abspath(path))
        for root in (self.root, self.given_root):
            if absolute != root and absolute.is_relative_to(root):
                return PurePosixPath(absolute.relative_to(root).as_posix())
        raise LoadError(f"{path}: not inside the landing folder {self.root}; give a path in it")

    def _landing_file(
        self, relative: PurePosixPath, info: os.stat_result, *, link: bool
    ) -> LandingFile:
        return LandingFile(
            key=str(self.root / relative),
            relative=relative.as_posix(),
            size=int(info.st_size),
            stamp=f"{info.st_size}:{info.st_mtime_ns}",
            link=link,
        )

    def list_files(self) -> list[LandingFile]:
        """Every file and link below the root, except hidden, underscored and in-progress
        ones; folders are entered, never through a link."""
        found = []
        waiting = [PurePosixPath()]
        while waiting:  # a loop, not recursion: a landing tree may be deeper than the stack
            folder = waiting.pop()
            try:
                with os.scandir(self.root / folder) as scan:
                    entries = list(scan)
            except OSError as error:
                log.warning("cannot list %s: %s; its files wait", self.root / folder, error)
                continue
            for entry in entries:
                if entry.name.startswith((".", "_")):
                    continue
                relative = folder / entry.name
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:  # gone since the folder was listed
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if self.root / relative != self.quarantine_dir:
                        waiting.append(relative)
                elif entry.name.endswith(IN_PROGRESS_SUFFIXES):
                    continue
                elif entry.is_symlink() or entry.is_file(follow_symlinks=False):
                    found.append(self._landing_file(relative, info, link=entry.is_symlink()))
        return sorted(found, key=lambda file: PurePosixPath(file.relative).parts)

    def read(self, file: LandingFile) -> bytes:
        """The file's bytes; ``LoadError`` if it vanished or became a link since listed."""
        try:
            return nofollow.read_bytes(self.root, PurePosixPath(file.relative).parts)
        except OSError as error:
            raise LoadError(f"{file.key}: cannot be read ({error}); check the file") from error

    def checksum(self, file: LandingFile, data: bytes) -> str:
        """The sha256 of the bytes."""
        return sha256(data)

    def known_checksum(self, file: LandingFile) -> str | None:
        """Unknown until the file is read."""
        return None

    def quarantine(self, file: LandingFile, reason: str) -> str:
        """Move the file (a link itself) under the quarantine folder, keeping its relative
        key, with its reason beside it."""
        relative = PurePosixPath(file.relative)
        folders = relative.parent.parts
        if self.quarantine_dir.is_relative_to(self.root):
            base, inside = self.root, self.quarantine_dir.relative_to(self.root).parts
        else:
            self.quarantine_dir.mkdir(parents=True, exist_ok=True)
            base, inside = self.quarantine_dir, ()
        with (
            nofollow.folder(self.root, folders) as origin,
            nofollow.folder(base, (*inside, *folders), create=True) as target,
        ):
            name = relative.name
            if nofollow.exists(target, name):
                name = f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}_{name}"
            # The reason first: if it cannot be written, the file has not moved.
            nofollow.write_text(target, f"{name}.reason.txt", reason + "\n")
            try:
                os.rename(relative.name, name, src_dir_fd=origin, dst_dir_fd=target)
            except OSError:
                os.unlink(f"{name}.reason.txt", dir_fd=target)
                raise
        return str(self.quarantine_dir.joinpath(*folders, name))

    def local_copy(self, file: LandingFile, data: bytes) -> Any:
        """The bytes read, in a temporary file with the same name (not the path: it may
        have become a link since it was read)."""
        return temporary_copy(file, data)


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

    def local_copy(self, file: LandingFile, data: bytes) -> Any:
        """The object's bytes in a temporary file with the same name."""
        return temporary_copy(file, data)


@contextmanager
def temporary_copy(file: LandingFile, data: bytes) -> Iterator[Path]:
    """A file's bytes in a temporary file of the same name, removed afterwards."""
    with TemporaryDirectory(prefix="shipline-") as folder:
        path = Path(folder) / PurePosixPath(file.relative).name
        path.write_bytes(data)
        yield path
