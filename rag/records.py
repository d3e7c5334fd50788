"""What is indexed, kept in SQLite beside the Chroma index (`records.sqlite3`).

Two kinds of record, in one database file:
- chunk records: LangChain's `SQLRecordManager` (the indexing API's record manager) keeps every chunk id with
  the source file it came from, so a file's old chunks can be found and removed when it changes or goes away;
- file records (this module): one row per indexed file with its sha256, size and mtime, so an unchanged file
  is recognised from `stat` alone, before it is read, parsed or embedded.
A file record is written only after the file's chunks are in the store, so a crash leaves the file looking
changed, and the next run repairs it. Not here: the vector store itself (rag.store).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DB_NAME = "records.sqlite3"
# How chunks are made and indexed. A file recorded under an older format counts as changed, so the next ingest
# or re-index rebuilds it (format 2: document cards, table headings and the keyword index; 3: a table's column
# names stand above its first row, not after the chunk's text).
INDEX_FORMAT = 3


@dataclass(frozen=True)
class FileRecord:
    source: str
    doc_hash: str
    size: int
    mtime_ns: int
    chunks: int
    format: int = INDEX_FORMAT

    @property
    def current(self) -> bool:
        return self.format == INDEX_FORMAT


class FileRecords:
    """File records of one collection (`namespace`)."""

    def __init__(self, index_dir: Path, namespace: str) -> None:
        index_dir.mkdir(parents=True, exist_ok=True)
        self.path = index_dir / DB_NAME
        self.namespace = namespace
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS ragqa_files (namespace TEXT NOT NULL, source TEXT NOT NULL, "
            "doc_hash TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, chunks INTEGER NOT NULL, "
            "indexed_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, PRIMARY KEY (namespace, source))"
        )
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(ragqa_files)")}
        if "format" not in columns:  # written before formats were recorded: format 1
            self._db.execute("ALTER TABLE ragqa_files ADD COLUMN format INTEGER NOT NULL DEFAULT 1")

    @contextmanager
    def _cursor(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            yield self._db.cursor()

    def get(self, source: str) -> FileRecord | None:
        with self._cursor() as cur:
            row = cur.execute(
                "SELECT source, doc_hash, size, mtime_ns, chunks, format FROM ragqa_files "
                "WHERE namespace=? AND source=?",
                (self.namespace, source),
            ).fetchone()
        return FileRecord(*row) if row else None

    def all(self) -> list[FileRecord]:
        with self._cursor() as cur:
            rows = cur.execute(
                "SELECT source, doc_hash, size, mtime_ns, chunks, format FROM ragqa_files WHERE namespace=? "
                "ORDER BY source",
                (self.namespace,),
            ).fetchall()
        return [FileRecord(*r) for r in rows]

    def put(self, record: FileRecord) -> None:
        with self._cursor() as cur:
            cur.execute(
                "INSERT OR REPLACE INTO ragqa_files (namespace, source, doc_hash, size, mtime_ns, chunks, format) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    self.namespace,
                    record.source,
                    record.doc_hash,
                    record.size,
                    record.mtime_ns,
                    record.chunks,
                    record.format,
                ),
            )

    def delete(self, source: str) -> None:
        with self._cursor() as cur:
            cur.execute("DELETE FROM ragqa_files WHERE namespace=? AND source=?", (self.namespace, source))

    def clear(self) -> None:
        with self._cursor() as cur:
            cur.execute("DELETE FROM ragqa_files WHERE namespace=?", (self.namespace,))

    def close(self) -> None:
        self._db.close()


def recorded_sources(index_dir: Path, namespace: str) -> set[str]:
    """Every source with chunk records in the collection `namespace`, or whose write to the store began and
    did not finish (rag.keyword's pending marks). LangChain's record manager writes records together with the
    chunks, before the keyword rows and the file record, and the mark comes before both, so this includes a file
    whose run was killed before its file record was saved, even inside the store's write (its chunks would
    otherwise be orphaned when the file is deleted). Reads the database only: no store is opened, no model
    loaded."""
    path = index_dir / DB_NAME
    if not path.exists():
        return set()
    queries = [
        ("SELECT DISTINCT group_id FROM upsertion_record WHERE namespace = ? AND group_id IS NOT NULL", "chroma/"),
        ("SELECT source FROM ragqa_pending WHERE namespace = ?", ""),
    ]
    found: set[str] = set()
    db = sqlite3.connect(path, timeout=30)
    try:
        for sql, prefix in queries:
            with contextlib.suppress(sqlite3.OperationalError):  # nothing written yet: no such table
                found.update(str(r[0]) for r in db.execute(sql, (prefix + namespace,)))
    finally:
        db.close()
    return found


def chunk_record_manager(index_dir: Path, namespace: str) -> Any:
    """LangChain's SQL record manager for the chunks of one collection, in the same database file."""
    from langchain_classic.indexes import SQLRecordManager

    index_dir.mkdir(parents=True, exist_ok=True)
    manager = SQLRecordManager(
        f"chroma/{namespace}",
        db_url=f"sqlite:///{index_dir / DB_NAME}",
        engine_kwargs={"connect_args": {"timeout": 30, "check_same_thread": False}},
    )
    manager.create_schema()
    return manager


class IndexGeneration:
    """A counter for one index folder, in the same database file, that every writer bumps after a committed
    change (a file's chunks written or removed, a collection dropped or switched). Embedded Chroma keeps a
    process's vector index in memory and never sees another process's writes: a reader compares the counter
    before it searches and reopens Chroma when it moved (rag.store)."""

    def __init__(self, index_dir: Path) -> None:
        index_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(index_dir / DB_NAME, timeout=30, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS ragqa_generation (id INTEGER PRIMARY KEY CHECK (id = 0), n INTEGER NOT NULL)"
        )

    def current(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT n FROM ragqa_generation WHERE id = 0").fetchone()
        return int(row[0]) if row else 0

    def bump(self) -> int:
        """Count one committed change; returns the new generation."""
        with self._lock:
            row = self._db.execute(
                "INSERT INTO ragqa_generation (id, n) VALUES (0, 1) ON CONFLICT (id) DO UPDATE SET n = n + 1 "
                "RETURNING n"
            ).fetchone()
        return int(row[0])

    def close(self) -> None:
        self._db.close()
