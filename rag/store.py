"""Vector stores: the `Store` interface and its real default, a persistent Chroma collection on disk.

The collection records the embedding model's name and dimension in its metadata; opening it with another
model raises IndexMismatchError instead of failing later on a dimension error. Similarity is cosine.
Writes go through LangChain's indexing API (`langchain_core.indexing.index`) with a SQL record manager
(rag.records): it knows which chunk ids belong to which source file, skips chunks already stored, and
removes a file's stale chunks when the file changes or disappears.

Every write also goes to the collection's keyword index (rag.keyword, BM25 in the same SQLite file) with the
same chunk ids, and the document's card with it. Order makes them crash-consistent: a file's chunks go to
Chroma, then its keyword rows (replaced whole, in one transaction), then (in ingest) its file record; a kill
at any point leaves the file looking changed, and the next run rewrites its keyword rows from the chunk list.
A write is marked pending before it starts and unmarked with the keyword rows, so a file deleted after a kill
mid-write is still known and its vectors (even those no record names yet) are removed.
Deletion goes keyword rows, Chroma, records, pending mark. Chunks written mostly in Chinese, Japanese or
Korean also get a vector from the multilingual embedder (when one is set), stored with their keyword rows in
the same transaction, so an English question can find a Chinese passage and back. A chunk's text is stored in Chroma
with its card line before it (that is what is embedded); reading strips it off again.

Across processes (embedded mode): Chroma keeps a process's vector index in memory and never rereads what another
process wrote, so every write bumps the index folder's generation (rag.records.IndexGeneration), and a store
compares it before each read and reopens Chroma (and the collection the logical name serves now) when it moved.
A hit whose chunk is gone is never returned. A client passed in (a Chroma server's, an upload session's
in-memory Chroma) is the one copy of its data: nothing to reopen.
Not here: fusion and reranking (rag.retrieve), choosing embedded or server mode (rag.pipeline).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path, PurePath
from typing import Any, Protocol

import numpy as np

from rag.collections import CollectionNames
from rag.embedder import Embedder
from rag.errors import ConfigError, IndexMismatchError, InputError, RagError
from rag.guard import remove_instructions
from rag.keyword import KeywordIndex
from rag.onnx_embedder import SUFFIX as ONNX_SUFFIX
from rag.records import DB_NAME, IndexGeneration, chunk_record_manager
from rag.text import mostly_cjk
from rag.types import Chunk, Hit

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$")


def check_collection_name(name: str) -> str:
    if not _NAME.match(name) or ".." in name:
        raise ConfigError(
            f"invalid collection name {name!r}: use 3-512 letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class WriteStats:
    added: int
    deleted: int
    skipped: int


class Store(Protocol):
    def count(self) -> int:
        """How many chunks the store holds."""
        ...

    def search(self, embedding: Sequence[float], k: int, sources: Sequence[str] | None = None) -> list[Hit]:
        """The k most similar chunks, best first; only chunks of `sources` when given."""
        ...

    def keyword_search(self, query: str, k: int, sources: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """The k best (chunk id, BM25 score) for the words of `query`, best first."""
        ...

    def get(self, ids: Sequence[str], embedding: Sequence[float]) -> list[Hit]:
        """The chunks with these ids that exist, scored by cosine similarity to `embedding`."""
        ...

    def cards(self) -> dict[str, dict[str, Any]]:
        """Every document's card (rag.cards), by source."""
        ...

    def cards_version(self) -> object:
        """A value that changes whenever `cards()` would (callers cache on it)."""
        ...

    def has_multilingual(self, model: str) -> bool:
        """Whether any chunk has a vector of multilingual embedder `model` (chunks written mostly in CJK, see
        `ChromaStore`)."""
        ...

    def multilingual_search(
        self, embedding: Sequence[float], k: int, sources: Sequence[str] | None, model: str
    ) -> list[tuple[str, float]]:
        """The k chunks whose vectors of `model` are most similar to `embedding` (chunk id, cosine)."""
        ...


def _chunk_from(id_: str, text: str, meta: dict[str, Any]) -> Chunk:
    page = meta.get("page")
    context = str(meta.get("context", ""))
    if context and text.startswith(context + "\n"):
        text = text[len(context) + 1 :]
    return Chunk(
        id=id_,
        text=text,
        source=str(meta.get("source", "")),
        page=int(page) if page is not None else None,
        chunk_index=int(meta.get("chunk_index", 0)),
        content_hash=str(meta.get("content_hash", "")),
        doc_hash=str(meta.get("doc_hash", "")),
        context=context,
        ocr=bool(meta.get("ocr")),
    )


def _where(sources: Sequence[str] | None) -> dict[str, Any] | None:
    if sources is None:
        return None
    listed = list(sources)
    return {"source": listed[0]} if len(listed) == 1 else {"source": {"$in": listed}}


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Of unit vectors: their dot product (numpy: 40 keyword hits x 384 dimensions in Python took 30 ms)."""
    return float(np.dot(np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)))


_REOPEN_LOCK = threading.Lock()
_OPENED_AT: dict[str, int] = {}  # index folder -> generation at which this process's shared Chroma was opened


def persistent_client(path: Path, generation: int | None = None) -> Any:
    """Embedded Chroma on `path`. Chroma shares one in-memory system per folder within a process; when
    `generation` is newer than the one that system was opened at, a fresh system is opened (clients holding
    the old one keep working until they reopen too)."""
    import chromadb
    from chromadb.api.shared_system_client import SharedSystemClient
    from chromadb.config import Settings as ChromaSettings

    path.mkdir(parents=True, exist_ok=True)
    key = str(path)
    with _REOPEN_LOCK:
        if generation is not None and _OPENED_AT.get(key, generation) < generation:
            # Chroma has no public way to drop a folder's cached system without stopping it under other
            # clients; forgetting it makes the next client open a new one, and the old one is freed with them.
            SharedSystemClient._identifier_to_system.pop(key, None)
            SharedSystemClient._identifier_to_refcount.pop(key, None)
        if generation is not None:
            _OPENED_AT[key] = max(generation, _OPENED_AT.get(key, generation))
        return chromadb.PersistentClient(
            path=key, settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        )


def http_client(url: str, token: str | None = None) -> Any:
    """A client of the Chroma server at `url` (http[s]://host:port), with a bearer token when given."""
    from urllib.parse import urlsplit

    import chromadb
    from chromadb.config import Settings as ChromaSettings

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"RAGQA_CHROMA_URL must look like http://host:8000, not {url!r}")
    headers = {"Authorization": f"Bearer {token}"} if token else None
    try:
        return chromadb.HttpClient(
            host=parts.hostname,
            port=parts.port or (443 if parts.scheme == "https" else 8000),
            ssl=parts.scheme == "https",
            headers=headers,
            settings=ChromaSettings(anonymized_telemetry=False),
        )
    except Exception as exc:  # noqa: BLE001 - chromadb raises bare ValueError/ConnectError on a dead server
        raise RagError(f"cannot reach the Chroma server at {url}: {exc}") from exc


def embedded_text(text: str) -> str:
    """What the store embeds of a chunk's text: the text without its sentences addressed to an AI."""
    return remove_instructions(text, marker="")[0]


class _LangChainEmbeddings:
    """Our Embedder seen as LangChain `Embeddings` (what langchain_chroma.Chroma calls). A chunk is embedded
    without its sentences addressed to an AI (rag.guard): a planted "system" turn would otherwise pull the
    chunk's vector away from the questions it answers (the text stored and shown keeps them)."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.embed([embedded_text(t) for t in texts])

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed_query(text)


@dataclass(frozen=True)
class Hnsw:
    """Chroma's HNSW index settings (rag.settings.RetrieveSettings): the last two are fixed when a collection is
    created; `ef_search` applies to existing ones too."""

    ef_search: int = 100
    ef_construction: int = 100
    max_neighbors: int = 16


class ChromaStore:
    """One Chroma collection. `create=False` opens an existing collection only (for asking).

    `dim` may be a callable, called only when the collection is created: opening an existing collection
    never loads the embedding model. Without `client`, Chroma is embedded in `path` and the store follows other
    processes' writes; `logical` (the user's collection name) lets it follow a rebuild to the physical
    collection that serves the name afterwards. Records and the keyword index live in `path` either way."""

    def __init__(
        self,
        path: Path,
        collection: str,
        embedding_model: str,
        dim: int | Callable[[], int],
        create: bool = True,
        client: Any = None,
        records: Any = None,
        keywords: KeywordIndex | None = None,
        logical: str | None = None,
        hnsw: Hnsw | None = None,
        multilingual: Embedder | None = None,
    ) -> None:
        self.path = path
        self.multilingual = multilingual
        self.hnsw = hnsw or Hnsw()
        self.name = check_collection_name(collection)
        self.embedding_model = embedding_model
        self._dim = dim
        self._records: Any = records
        self._keywords = keywords
        self._logical = logical
        self._generation = IndexGeneration(path) if client is None else None
        self._seen = self._generation.current() if self._generation else 0
        self._size: tuple[int, int] | None = None  # (generation, chunks): Chroma counts them by a full scan
        self._views: dict[int, tuple[Embedder, Any, Any]] = {}  # id(embedder): (embedder, collection, view)
        self._views_lock = threading.Lock()
        self.client = client if client is not None else persistent_client(path, self._seen)
        self.collection = self._open(create)

    def _changed(self) -> None:
        """Count a committed write, so other processes' stores reopen (this one already sees it)."""
        self._size = None
        if self._generation is not None:
            self._seen = self._generation.bump()

    def _follow(self) -> None:
        """Reopen Chroma when another process (or another store) committed since this store last looked."""
        if self._generation is None:
            return
        now = self._generation.current()
        if now != self._seen:
            self._reopen(now)

    def _reopen(self, generation: int) -> None:
        self.client = persistent_client(self.path, generation)
        if self._logical is not None:
            name = CollectionNames(self.path).active(self._logical)
            if name != self.name:
                logger.info("collection %r is now served by %s (was %s)", self._logical, name, self.name)
                self.name, self._records, self._keywords = name, None, None
        self.collection = self._open(create=False)
        self._seen = generation

    def _open(self, create: bool) -> Any:
        existing = {c.name if hasattr(c, "name") else str(c) for c in self.client.list_collections()}
        if self.name not in existing:
            if not create:
                raise RagError(
                    f"collection {self.name!r} does not exist in {self.path}: "
                    "run `ragqa ingest PATH` first (or pass --index/--collection)"
                )
            dim = self._dim() if callable(self._dim) else self._dim
            return self.client.create_collection(
                self.name,
                metadata={"embedding_model": self.embedding_model, "embedding_dim": dim},
                configuration={"hnsw": {"space": "cosine", **asdict(self.hnsw)}},
                embedding_function=None,
            )
        col = self.client.get_collection(self.name, embedding_function=None)
        built = ((col.configuration or {}).get("hnsw") or {}).get("ef_search")
        if built is not None and built != self.hnsw.ef_search:  # the one HNSW setting a built index can change
            col.modify(configuration={"hnsw": {"ef_search": self.hnsw.ef_search}})
        meta = col.metadata or {}
        model, built_dim = meta.get("embedding_model"), meta.get("embedding_dim")
        if model != self.embedding_model:
            back = "Set the embedder back"
            if self.embedding_model == f"{model}{ONNX_SUFFIX}":  # built before int8 ONNX became the default
                back = "Set RAGQA_EMBEDDER__BACKEND=torch to keep reading it"
            raise IndexMismatchError(
                f"collection {self.name!r} in {self.path} was built with embedding model {model!r} "
                f"({built_dim}-d), but {self.embedding_model!r} is configured. {back}, rebuild "
                "the collection with `ragqa reindex SOURCE_DIR...`, or use another --collection or --index.",
                built_with=str(model),
            )
        return col

    @property
    def dim(self) -> int:
        return int((self.collection.metadata or {})["embedding_dim"])

    @property
    def records(self) -> Any:
        if self._records is None:
            self._records = chunk_record_manager(self.path, self.name)
        return self._records

    @property
    def keywords(self) -> KeywordIndex:
        """The collection's keyword index (BM25), in the records database beside the index."""
        if self._keywords is None:
            self._keywords = KeywordIndex(self.path / DB_NAME, self.name)
        return self._keywords

    def count(self) -> int:
        self._follow()
        return int(self.collection.count())

    def _langchain_view(self, embedder: Embedder) -> Any:
        """LangChain's Chroma over this collection, embedding with `embedder`. Making one costs about 45 ms
        (it builds Chroma's settings), as much as storing a small file, so the last few are kept."""
        from langchain_chroma import Chroma

        key = id(embedder)
        with self._views_lock:
            kept = self._views.get(key)
            if kept is not None and kept[0] is embedder and kept[1] is self.collection:
                return kept[2]
        view = Chroma(
            client=self.client,
            collection_name=self.name,
            embedding_function=_LangChainEmbeddings(embedder),  # type: ignore[arg-type]
        )
        with self._views_lock:
            self._views[key] = (embedder, self.collection, view)
            while len(self._views) > 4:
                self._views.pop(next(iter(self._views)))
        return view

    def replace_source(
        self,
        source: str,
        chunks: Sequence[Chunk],
        embedder: Embedder,
        card: dict[str, Any] | None = None,
        multilingual: Embedder | None = None,
    ) -> WriteStats:
        """Index one file's chunks through LangChain's indexing API: chunks already recorded are skipped,
        new ones embedded and written in one call, and the source's chunks not in `chunks` deleted
        ("scoped_full" cleanup); then the keyword index gets exactly these chunks, `card`, and the multilingual
        vectors of the chunks written mostly in CJK (embedded first, by `multilingual` or else the store's own,
        unless the source already had them). If the write fails, the new chunks it may have stored are taken
        back."""
        from langchain_core.documents import Document
        from langchain_core.indexing import index

        if any(c.source != source for c in chunks):
            raise InputError("every chunk must come from `source`")
        docs = [Document(page_content=c.embed_text, metadata=c.metadata(), id=c.id) for c in chunks]
        multilingual = multilingual or self.multilingual
        vectors = self._multilingual_vectors(source, chunks, multilingual)  # may fail: first
        known = set(self.records.list_keys(group_ids=[source]))
        self._delete_unrecorded(source, known)
        self.keywords.begin_write(source)  # cleared with the keyword rows below
        try:
            result = index(
                docs,
                self.records,
                self._langchain_view(embedder),
                # one write per file, in pieces Chroma accepts (about 5,000 records per call embedded)
                batch_size=max(1, min(len(docs), self.client.get_max_batch_size())),
                cleanup="scoped_full",
                source_id_key="source",
                key_encoder=lambda doc: str(doc.id),
            )
        except BaseException:
            self._size = None
            fresh = [c.id for c in chunks if c.id not in known]
            if fresh:
                self.collection.delete(ids=fresh)
                self.records.delete_keys(fresh)
            raise
        name = PurePath(source).stem
        rows = [(c.id, f"{c.embed_text}\n{name}") for c in chunks]
        self.keywords.replace_source(source, rows, card, vectors, multilingual.name if multilingual else "")
        self._changed()
        return WriteStats(result["num_added"], result["num_deleted"], result["num_skipped"])

    def _multilingual_vectors(
        self, source: str, chunks: Sequence[Chunk], multilingual: Embedder | None
    ) -> dict[str, list[float]]:
        """Multilingual vectors for the chunks written mostly in CJK: the default embedder reads English only, so
        these chunks are also embedded by a model that puts a question in any language near them."""
        if multilingual is None:
            return {}
        wanted = [c for c in chunks if mostly_cjk(c.text)]
        if not wanted:
            return {}
        have = self.keywords.vectors(source, multilingual.name)
        todo = [c for c in wanted if c.id not in have]
        fresh = dict(zip((c.id for c in todo), multilingual.embed([c.embed_text for c in todo]), strict=True))
        return {c.id: have[c.id] if c.id in have else fresh[c.id] for c in wanted}

    def _delete_unrecorded(self, source: str, known: set[str]) -> None:
        """A run killed inside index() may have stored vectors before their records: no record names them, so
        LangChain's cleanup would never remove them."""
        unrecorded = set(self.collection.get(where={"source": source}, include=[])["ids"]) - known
        if unrecorded:
            self.collection.delete(ids=sorted(unrecorded))

    def delete_source(self, source: str) -> int:
        """Remove every chunk of `source`: keyword rows, then the store, then its records, then its pending mark
        (a crash leaves the records or the mark, so the next run finds the source again and finishes)."""
        self.keywords.delete_source(source)
        keys = self.records.list_keys(group_ids=[source])
        self._delete_unrecorded(source, set(keys))
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            self.collection.delete(ids=batch)
            self.records.delete_keys(batch)
        self.keywords.end_write(source)
        self._changed()
        return len(keys)

    def drop(self) -> None:
        """Delete the whole collection, its keyword index and its chunk records."""
        self.keywords.drop()
        self.records.delete_keys(self.records.list_keys())
        self.client.delete_collection(self.name)
        self._views.clear()
        self._changed()

    def _is_empty(self) -> bool:
        """No chunk in the collection; counted again only after a write (its generation changed)."""
        self._follow()
        if self._generation is None:
            return int(self.collection.count()) == 0
        if self._size is None or self._size[0] != self._seen:
            self._size = (self._seen, int(self.collection.count()))
        return self._size[1] == 0

    def search(self, embedding: Sequence[float], k: int, sources: Sequence[str] | None = None) -> list[Hit]:
        if (sources is not None and not list(sources)) or self._is_empty():
            return []
        res = self.collection.query(
            query_embeddings=[list(embedding)],
            n_results=k,
            where=_where(sources),
            include=["documents", "metadatas", "distances"],
        )
        hits = []
        for id_, text, meta, dist in zip(
            res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0], strict=True
        ):
            if not text or not meta or not meta.get("source"):
                # An id the in-memory vector index still holds after another process deleted its chunk (before
                # that write counted; or a writer killed before it did): never a hit without its text.
                logger.debug("skipping chunk %s: deleted from the collection", id_)
                continue
            hits.append(Hit(chunk=_chunk_from(id_, text, dict(meta)), score=1.0 - float(dist)))
        return hits

    def keyword_search(self, query: str, k: int, sources: Sequence[str] | None = None) -> list[tuple[str, float]]:
        self._follow()
        return self.keywords.search(query, k, sources)

    def get(self, ids: Sequence[str], embedding: Sequence[float]) -> list[Hit]:
        if not ids:
            return []
        self._follow()
        try:
            got = self.collection.get(ids=list(ids), include=["documents", "metadatas", "embeddings"])
            vectors = list(got["embeddings"])
        except Exception as exc:  # noqa: BLE001 - another process wrote chunks this one's vector segment lacks
            logger.debug("vectors of keyword hits unavailable (%s); scoring them 0", exc)
            got = self.collection.get(ids=list(ids), include=["documents", "metadatas"])
            vectors = [None] * len(got["ids"])
        by_id = {
            i: Hit(_chunk_from(i, t, dict(m)), 0.0 if e is None else _cosine(embedding, e))
            for i, t, m, e in zip(got["ids"], got["documents"], got["metadatas"], vectors, strict=True)
            if t and m and m.get("source")
        }
        return [by_id[i] for i in ids if i in by_id]

    def cards(self) -> dict[str, dict[str, Any]]:
        self._follow()
        return self.keywords.cards()

    def cards_version(self) -> object:
        self._follow()
        return (self.name, self.keywords.cards_version())

    def has_multilingual(self, model: str) -> bool:
        self._follow()
        return self.keywords.has_vectors(model)

    def multilingual_search(
        self, embedding: Sequence[float], k: int, sources: Sequence[str] | None, model: str
    ) -> list[tuple[str, float]]:
        self._follow()
        return self.keywords.multilingual_search(embedding, k, sources, model)

    def all_chunks(self) -> list[Chunk]:
        got = self.collection.get(include=["documents", "metadatas"])
        return [
            _chunk_from(i, t or "", dict(m or {}))
            for i, t, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        ]


class MergedStore:
    """Searches several stores and keeps the k best hits overall (e.g. an upload plus the company docs)."""

    def __init__(self, stores: Sequence[Store]) -> None:
        self.stores = list(stores)

    def count(self) -> int:
        return sum(store.count() for store in self.stores)

    def search(self, embedding: Sequence[float], k: int, sources: Sequence[str] | None = None) -> list[Hit]:
        hits = [h for store in self.stores for h in store.search(embedding, k, sources)]
        return sorted(hits, key=lambda h: h.score, reverse=True)[:k]

    def keyword_search(self, query: str, k: int, sources: Sequence[str] | None = None) -> list[tuple[str, float]]:
        found = [h for store in self.stores for h in store.keyword_search(query, k, sources)]
        return sorted(found, key=lambda h: h[1], reverse=True)[:k]

    def get(self, ids: Sequence[str], embedding: Sequence[float]) -> list[Hit]:
        by_id = {h.chunk.id: h for store in self.stores for h in store.get(ids, embedding)}
        return [by_id[i] for i in ids if i in by_id]

    def cards(self) -> dict[str, dict[str, Any]]:
        return {source: card for store in self.stores for source, card in store.cards().items()}

    def cards_version(self) -> object:
        return tuple(store.cards_version() for store in self.stores)

    def has_multilingual(self, model: str) -> bool:
        return any(store.has_multilingual(model) for store in self.stores)

    def multilingual_search(
        self, embedding: Sequence[float], k: int, sources: Sequence[str] | None, model: str
    ) -> list[tuple[str, float]]:
        found = [h for store in self.stores for h in store.multilingual_search(embedding, k, sources, model)]
        return sorted(found, key=lambda h: h[1], reverse=True)[:k]
