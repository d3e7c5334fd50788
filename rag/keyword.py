"""Keyword search over a whole collection: BM25 in SQLite FTS5, beside the record manager.

Text is tokenised by rag.text, not by SQLite, so English and Chinese get the treatment each needs. The tokens
are written space-separated into an FTS5 table with the `unicode61` tokenizer, which then only splits on those
spaces. A collection's table holds one row per chunk (its id, source file and tokens), and a second table
keeps each document's card (rag.cards) for filters and question matching, and a third the multilingual vectors
of the chunks written mostly in CJK (rag.store embeds them; `multilingual_search` is an exact cosine search
over them, held in memory: they are the minority of most collections).
Writers keep it in step with Chroma (rag.store): a source's rows are replaced whole, in one transaction.
Not here: dense search over every chunk (rag.store), fusion (rag.retrieve).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import InputError
from rag.text import tokenize

_COMMON = 0.5  # a token in this share of the chunks or more is left out of the match (BM25 IDF <= 0 there)
_SCAN_ALL = 10_000  # chunks SQLite scores in about 35 ms on 2 cores (BM25 costs ~3.5 us a matching chunk)


def _table(namespace: str) -> str:
    return "ragqa_kw_" + hashlib.sha1(namespace.encode()).hexdigest()[:16]


class KeywordIndex:
    """The BM25 index of one collection (`namespace`) in a SQLite file, or in memory with `path=None`."""

    def __init__(self, path: Path | None, namespace: str) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.namespace = namespace
        self.table = _table(namespace)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            ":memory:" if path is None else str(path), timeout=30, check_same_thread=False, isolation_level=None
        )
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {self.table} USING fts5("
            "tokens, chunk_id UNINDEXED, source UNINDEXED, tokenize='unicode61 remove_diacritics 0')"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS ragqa_cards (namespace TEXT NOT NULL, source TEXT NOT NULL, "
            "card TEXT NOT NULL, PRIMARY KEY (namespace, source))"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS ragqa_mlvec (namespace TEXT NOT NULL, chunk_id TEXT NOT NULL, "
            "source TEXT NOT NULL, model TEXT NOT NULL, vec BLOB NOT NULL, PRIMARY KEY (namespace, chunk_id))"
        )
        self._db.execute(  # sources whose write to the store has begun and not finished (rag.store)
            "CREATE TABLE IF NOT EXISTS ragqa_pending (namespace TEXT NOT NULL, source TEXT NOT NULL, "
            "PRIMARY KEY (namespace, source))"
        )
        self._vectors: tuple[object, list[str], list[str], Any] | None = None  # (version, ids, sources, matrix)
        self._writes = 0  # this connection's commits (PRAGMA data_version counts the other connections')
        self._counts: tuple[tuple[int, int], int, dict[str, int]] | None = None  # (version, rows, term -> rows)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")
            self._writes += 1

    def replace_source(
        self,
        source: str,
        rows: Sequence[tuple[str, str]],
        card: dict[str, Any] | None,
        vectors: Mapping[str, Sequence[float]] | None = None,
        model: str = "",
    ) -> None:
        """Make `rows` ((chunk id, text), ...) the only rows of `source`, `card` its card and `vectors` (chunk id
        -> multilingual vector of `model`, for some of those chunks) its only vectors, atomically."""
        data = [(" ".join(tokenize(text)), chunk_id, source) for chunk_id, text in rows]
        ids = {chunk_id for chunk_id, _ in rows}
        if vectors and not set(vectors) <= ids:
            raise InputError("a vector for a chunk that is not among the rows")
        blobs = [
            (self.namespace, i, source, model, np.asarray(v, dtype=np.float32).tobytes())
            for i, v in (vectors or {}).items()
        ]
        with self._transaction() as cur:
            cur.execute(f"DELETE FROM {self.table} WHERE source = ?", (source,))
            cur.executemany(f"INSERT INTO {self.table} (tokens, chunk_id, source) VALUES (?, ?, ?)", data)
            cur.execute("DELETE FROM ragqa_mlvec WHERE namespace = ? AND source = ?", (self.namespace, source))
            cur.executemany(
                "INSERT INTO ragqa_mlvec (namespace, chunk_id, source, model, vec) VALUES (?, ?, ?, ?, ?)", blobs
            )
            cur.execute("DELETE FROM ragqa_cards WHERE namespace = ? AND source = ?", (self.namespace, source))
            cur.execute("DELETE FROM ragqa_pending WHERE namespace = ? AND source = ?", (self.namespace, source))
            if card is not None:
                cur.execute(
                    "INSERT INTO ragqa_cards (namespace, source, card) VALUES (?, ?, ?)",
                    (self.namespace, source, json.dumps(card, ensure_ascii=False)),
                )

    def begin_write(self, source: str) -> None:
        """Note that `source` is about to be written to the store: until `replace_source` or `end_write` clears
        it, the source counts as indexed (a run killed mid-write may have left vectors that no record names)."""
        with self._transaction() as cur:
            cur.execute(
                "INSERT OR IGNORE INTO ragqa_pending (namespace, source) VALUES (?, ?)", (self.namespace, source)
            )

    def end_write(self, source: str) -> None:
        with self._transaction() as cur:
            cur.execute("DELETE FROM ragqa_pending WHERE namespace = ? AND source = ?", (self.namespace, source))

    def pending(self) -> set[str]:
        """Sources whose write began and did not finish."""
        with self._lock:
            rows = self._db.execute("SELECT source FROM ragqa_pending WHERE namespace = ?", (self.namespace,))
            return {r[0] for r in rows}

    def delete_source(self, source: str) -> None:
        with self._transaction() as cur:
            cur.execute(f"DELETE FROM {self.table} WHERE source = ?", (source,))
            cur.execute("DELETE FROM ragqa_mlvec WHERE namespace = ? AND source = ?", (self.namespace, source))
            cur.execute("DELETE FROM ragqa_cards WHERE namespace = ? AND source = ?", (self.namespace, source))

    def drop(self) -> None:
        with self._transaction() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {self.table}")
            cur.execute("DELETE FROM ragqa_mlvec WHERE namespace = ?", (self.namespace,))
            cur.execute("DELETE FROM ragqa_cards WHERE namespace = ?", (self.namespace,))
            cur.execute("DELETE FROM ragqa_pending WHERE namespace = ?", (self.namespace,))

    def ids(self) -> set[str]:
        with self._lock:
            return {r[0] for r in self._db.execute(f"SELECT chunk_id FROM {self.table}")}

    def cards_version(self) -> tuple[int, int, float]:
        """Changes whenever a card is written or removed (cheap: callers cache `cards()` on it)."""
        with self._lock:
            row = self._db.execute(
                "SELECT count(*), coalesce(max(rowid), 0), total(length(card)) FROM ragqa_cards WHERE namespace = ?",
                (self.namespace,),
            ).fetchone()
        return int(row[0]), int(row[1]), float(row[2])

    def cards(self) -> dict[str, dict[str, Any]]:
        """Every document's card, by source."""
        with self._lock:
            rows = self._db.execute("SELECT source, card FROM ragqa_cards WHERE namespace = ?", (self.namespace,))
            return {source: json.loads(card) for source, card in rows}

    def search(self, query: str, k: int, sources: Iterable[str] | None = None) -> list[tuple[str, float]]:
        """The k best (chunk id, BM25 score) for `query`'s tokens (any of them), best first; within `sources`
        when given. Tokens in at least half of the chunks are left out of the match: SQLite's BM25 gives them an
        IDF of 1e-6, so they change no score, while matching them would make SQLite score most of the collection
        (a question with "total" or "2023" over a folder of filings). When every token is that common, the order
        is term frequency alone: worth a scan of a small collection (up to `_SCAN_ALL` chunks), not of a large
        one, which then gets no keyword hits (the dense side still ranks it)."""
        tokens = sorted(set(tokenize(query, question=True)))
        if not tokens:
            return []
        if sources is not None:
            allowed = list(sources)
            if not allowed:
                return []
        with self._lock:
            rows, counts = self._term_counts(tokens)
            telling = [t for t in tokens if 0 < counts[t] < _COMMON * rows]
            if not telling and rows > _SCAN_ALL:
                return []
            tokens = telling or tokens
            match = " OR ".join(f'"{t}"' for t in tokens)
            sql = f"SELECT chunk_id, -bm25({self.table}) AS s FROM {self.table} WHERE {self.table} MATCH ?"
            params: list[Any] = [match]
            if sources is not None:
                sql += f" AND source IN ({','.join('?' * len(allowed))})"
                params += allowed
            sql += " ORDER BY s DESC LIMIT ?"
            params.append(k)
            return [(r[0], float(r[1])) for r in self._db.execute(sql, params)]

    def _term_counts(self, tokens: Sequence[str]) -> tuple[int, dict[str, int]]:
        """The number of chunks, and of chunks holding each token; cached until any connection writes."""
        version = (int(self._db.execute("PRAGMA data_version").fetchone()[0]), self._writes)
        if self._counts is None or self._counts[0] != version or len(self._counts[2]) > 100_000:
            rows = int(self._db.execute(f"SELECT count(*) FROM {self.table}_docsize").fetchone()[0])
            self._counts = (version, rows, {})
        _, rows, counts = self._counts
        for t in tokens:
            if t not in counts:
                sql = f"SELECT count(*) FROM {self.table} WHERE {self.table} MATCH ?"
                counts[t] = int(self._db.execute(sql, (f'"{t}"',)).fetchone()[0])
        return rows, counts

    def vectors(self, source: str, model: str = "") -> dict[str, list[float]]:
        """The multilingual vectors of `model` for `source`'s chunks, by chunk id."""
        with self._lock:
            rows = self._db.execute(
                "SELECT chunk_id, vec FROM ragqa_mlvec WHERE namespace = ? AND source = ? AND model = ?",
                (self.namespace, source, model),
            ).fetchall()
        return {i: np.frombuffer(blob, dtype=np.float32).tolist() for i, blob in rows}

    def _vector_matrix(self, model: str) -> tuple[list[str], list[str], Any]:
        """Every multilingual vector of `model` in the collection (ids, sources, matrix), reloaded when a
        writer changed them. Vectors of another model (the setting changed) are never compared with this one's."""
        with self._lock:
            version = self._db.execute(
                "SELECT ?, count(*), coalesce(max(rowid), 0), total(rowid) FROM ragqa_mlvec "
                "WHERE namespace = ? AND model = ?",
                (model, self.namespace, model),
            ).fetchone()
            if self._vectors is None or self._vectors[0] != version:
                rows = self._db.execute(
                    "SELECT chunk_id, source, vec FROM ragqa_mlvec WHERE namespace = ? AND model = ? ORDER BY rowid",
                    (self.namespace, model),
                ).fetchall()
                matrix = np.stack([np.frombuffer(r[2], dtype=np.float32) for r in rows]) if rows else None
                self._vectors = (version, [r[0] for r in rows], [r[1] for r in rows], matrix)
            return self._vectors[1], self._vectors[2], self._vectors[3]

    def has_vectors(self, model: str = "") -> bool:
        return self._vector_matrix(model)[2] is not None

    def multilingual_search(
        self, vector: Sequence[float], k: int, sources: Iterable[str] | None = None, model: str = ""
    ) -> list[tuple[str, float]]:
        """The k chunks with multilingual vectors of `model` most similar to `vector` (chunk id, cosine), best
        first; within `sources` when given."""
        ids, owners, matrix = self._vector_matrix(model)
        if matrix is None:
            return []
        scores = matrix @ np.asarray(vector, dtype=np.float32)
        if sources is not None:
            allowed = set(sources)
            scores = np.where([s in allowed for s in owners], scores, -np.inf)
        order = np.argsort(-scores)[:k]
        return [(ids[i], float(scores[i])) for i in order if np.isfinite(scores[i])]

    def close(self) -> None:
        self._db.close()
