"""Per-session upload collections: one in-memory Chroma collection per browser session, never on disk and never
mixed with the company index, dropped when the session clears it or after it has been idle for a TTL (checked
on a timer). At most `max_sessions` at once; the uploaded files' bytes are kept with it (in memory, up to a
limit per session and one for all), so a citation can show its page.

Not here: checking and parsing uploads (ingest.upload), the Streamlit session itself (app/).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rag.embedder import Embedder
from rag.errors import RagError
from rag.keyword import KeywordIndex
from rag.store import ChromaStore

IN_MEMORY = Path("<in-memory>")  # shown in messages only: nothing of an upload is written to disk


@dataclass(frozen=True)
class ListedUpload:
    """An upload as the session lists it: "ready, 12 chunks" (ready) or the reason it was not indexed."""

    name: str
    state: str
    ready: bool


class UploadSessions:
    def __init__(
        self,
        embedding_model: str,
        dim: Callable[[], int],
        ttl_seconds: float = 3600.0,
        multilingual: Embedder | None = None,
        keep_bytes: int = 100 * 1024 * 1024,
        max_sessions: int = 64,
        keep_total_bytes: int = 1024 * 1024 * 1024,
    ) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        self.embedding_model = embedding_model
        self.dim = dim
        self.ttl_seconds = ttl_seconds
        self.multilingual = multilingual
        self.keep_bytes = keep_bytes  # of uploaded files kept per session for the page view
        self.keep_total_bytes = keep_total_bytes  # the same, all sessions together
        self.max_sessions = max_sessions
        self.client = chromadb.EphemeralClient(settings=ChromaSettings(anonymized_telemetry=False))
        self._stores: dict[str, ChromaStore] = {}
        self._files: dict[str, list[ListedUpload]] = {}  # in upload order
        self._documents: dict[str, dict[str, bytes]] = {}  # source -> the upload's bytes, for the page view
        self._last_used: dict[str, float] = {}
        self._lock = threading.Lock()
        # idle sessions are closed on a timer too, not only when someone uploads: memory goes back by itself
        self._sweeper = threading.Thread(target=self._sweep, name="ragqa-upload-expiry", daemon=True)
        self._sweeper.start()

    def _sweep(self) -> None:
        while True:
            time.sleep(max(1.0, min(60.0, self.ttl_seconds / 4)))
            self.expire()

    def store(self, session_id: str) -> ChromaStore:
        """The session's collection, created on first use."""
        from langchain_core.indexing import InMemoryRecordManager

        self.expire()
        with self._lock:
            if session_id not in self._stores and len(self._stores) >= self.max_sessions:
                raise RagError(
                    f"uploads are held for {self.max_sessions} browser sessions already: try again when one has "
                    "been idle for an hour, or ask about the company documents"
                )
            self._last_used[session_id] = time.monotonic()
            if session_id not in self._stores:
                records = InMemoryRecordManager(f"upload/{session_id}")
                records.create_schema()
                self._stores[session_id] = ChromaStore(
                    path=IN_MEMORY,
                    collection=f"upload-{session_id}",
                    embedding_model=self.embedding_model,
                    dim=self.dim,
                    client=self.client,
                    records=records,
                    keywords=KeywordIndex(None, f"upload-{session_id}"),  # in memory, like the collection
                    multilingual=self.multilingual,
                )
                self._files[session_id] = []
            return self._stores[session_id]

    def files(self, session_id: str) -> list[ListedUpload]:
        """Every upload of the session with its state ("ready, 12 chunks", or why it failed)."""
        with self._lock:
            return list(self._files.get(session_id, []))

    def add_file(
        self, session_id: str, name: str, state: str, source: str | None = None, data: bytes | None = None
    ) -> None:
        """List an upload with its state; an indexed one (it has a `source`, what its chunks name) is ready, and
        its bytes are kept under that source, so a citation can show its page, while the session's kept bytes
        stay within `keep_bytes`."""
        with self._lock:
            self._files.setdefault(session_id, []).append(ListedUpload(name, state, ready=source is not None))
            if source is not None and data is not None:
                kept = self._documents.setdefault(session_id, {})
                everyone = sum(len(d) for docs in self._documents.values() for d in docs.values())
                if sum(map(len, kept.values())) + len(data) <= self.keep_bytes and (
                    everyone + len(data) <= self.keep_total_bytes
                ):
                    kept[source] = data

    def document(self, session_id: str, source: str) -> bytes | None:
        """The bytes of the session's upload whose chunks carry `source`, if kept."""
        with self._lock:
            return self._documents.get(session_id, {}).get(source)

    def has(self, session_id: str) -> bool:
        with self._lock:
            return session_id in self._stores

    def close(self, session_id: str) -> None:
        """Drop the session's collection and everything in it."""
        with self._lock:
            store = self._stores.pop(session_id, None)
            self._files.pop(session_id, None)
            self._documents.pop(session_id, None)
            self._last_used.pop(session_id, None)
        if store is not None:
            self.client.delete_collection(store.name)
            store.keywords.close()

    def expire(self, now: float | None = None) -> list[str]:
        """Close sessions idle for longer than the TTL. Returns their ids."""
        now = time.monotonic() if now is None else now
        with self._lock:
            stale = [s for s, t in self._last_used.items() if now - t > self.ttl_seconds]
        for session_id in stale:
            self.close(session_id)
        return stale

    def count(self) -> int:
        with self._lock:
            return len(self._stores)
