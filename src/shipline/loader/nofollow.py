"""File operations below a landing root that never follow a symbolic link.

A path is opened one folder at a time from the root with ``O_NOFOLLOW``, so a link
anywhere below the root, there before the load or planted during it, makes the
operation fail with an ``OSError`` instead of reaching outside the root. The root
itself is the user's to choose and is opened as given.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO put in a file's place returns at once instead of waiting.
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC


@contextmanager
def folder(root: Path, parts: Sequence[str], *, create: bool = False) -> Iterator[int]:
    """A descriptor of the folder ``root/parts…``, every part a real folder, not a link.

    With ``create``, missing parts are made (as ``mkdir -p`` would, but never through
    a link).
    """
    fd = os.open(root, _FOLDER)
    try:
        for part in parts:
            if create:
                with suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=fd)
            child = os.open(part, _FOLDER | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def read_bytes(root: Path, parts: Sequence[str]) -> bytes:
    """The bytes of the regular file ``root/parts…``; ``OSError`` for a link or a special file."""
    with folder(root, parts[:-1]) as parent:
        fd = os.open(parts[-1], _FILE, dir_fd=parent)
        with os.fdopen(fd, "rb") as stream:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(errno.EINVAL, "not a regular file", parts[-1])
            return stream.read()


def exists(parent: int, name: str) -> bool:
    """Whether the folder ``parent`` holds anything (a link too) called ``name``."""
    try:
        os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def write_text(parent: int, name: str, text: str) -> None:
    """Write ``name`` in the folder ``parent``; ``OSError`` if ``name`` is a link."""
    fd = os.open(name, _NEW_FILE, 0o644, dir_fd=parent)
    with os.fdopen(fd, "w", encoding="utf-8") as stream:
        stream.write(text)
