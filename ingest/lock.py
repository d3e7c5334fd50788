"""One writer per index: an exclusive, non-blocking `flock` on `<index>/.write.lock`.

The kernel drops the lock when the process ends, however it ends (kill -9 included), so a crash never leaves a
stale lock behind. Readers (ask, the app) never take it. Not here: locking across machines (use a Chroma server
and one scheduler).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rag.errors import IndexLockedError

LOCK_NAME = ".write.lock"


@contextmanager
def index_lock(index_dir: Path, what: str) -> Iterator[None]:
    """Hold the index's write lock for the duration, or raise IndexLockedError at once."""
    index_dir.mkdir(parents=True, exist_ok=True)
    path = index_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise IndexLockedError(
                f"{index_dir} is being written by {holder}; try again when it has finished"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} ({what})".encode(), 0)
        yield
    finally:
        os.close(fd)
