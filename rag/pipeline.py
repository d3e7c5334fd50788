"""`build_pipeline(settings)`: the one place that picks implementations and wires them together.

Components are created on first use, so `ragqa ingest` never loads the LLM, a re-index with nothing changed
loads no model, and `ragqa models list` loads nothing. Not here: any work; this module only builds.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from functools import cached_property, partial
from pathlib import Path
from typing import Any

from rag.answer import Answerer, translate_question
from rag.collections import CollectionNames
from rag.embedder import Embedder, SentenceTransformerEmbedder
from rag.errors import ConfigError, IndexMismatchError, RagError
from rag.fakes import HashingEmbedder, ReplayGenerator
from rag.llm_process import ChildProcessGenerator
from rag.models import CATALOG, resolve
from rag.onnx_embedder import SUFFIX as ONNX_SUFFIX
from rag.onnx_embedder import supports as onnx_supports
from rag.prompt import warm_up_prompts
from rag.queue import QueuedGenerator
from rag.records import FileRecords
from rag.remote_llm import OpenAIGenerator
from rag.retrieve import Retriever
from rag.sessions import UploadSessions
from rag.settings import Settings
from rag.store import ChromaStore, Hnsw, Store, check_collection_name, http_client

logger = logging.getLogger(__name__)


@dataclass
class Pipeline:
    settings: Settings
    _overrides: dict[str, object] = field(default_factory=dict)

    @cached_property
    def embedder(self) -> Embedder:
        if "embedder" in self._overrides:
            return self._overrides["embedder"]  # type: ignore[return-value]
        s = self.settings
        if s.mode == "fake":
            return HashingEmbedder()
        path = resolve(s.embedder.model, s.models_dir)
        backend = self.embedder_backend
        if backend == "e5":  # sentence-transformers models are folders; a single file is E5's 4-bit model
            from rag.e5_embedder import E5Embedder

            return E5Embedder(path, s.embedder.model, s.embedder.batch_size)
        if backend == "onnx-int8":
            from rag.onnx_embedder import OnnxEmbedder

            return OnnxEmbedder(path, self.embedder_name, s.embedder.batch_size)
        return SentenceTransformerEmbedder(path, s.embedder.model, s.embedder.batch_size, s.embedder.device)

    @cached_property
    def multilingual(self) -> Embedder | None:
        """The embedder for chunks written mostly in CJK (rag.store), None when off; loaded on first use, so a
        collection without such chunks never loads it."""
        if "multilingual" in self._overrides:
            return self._overrides["multilingual"]  # type: ignore[return-value]
        s = self.settings
        name = s.embedder.multilingual
        if not name or name == s.embedder.model:  # E5 as the embedder of every chunk needs no second vector
            return None
        if s.mode == "fake":
            return HashingEmbedder(name="fake-multilingual")
        from rag.e5_embedder import E5Embedder

        path = CATALOG[name].path(s.models_dir) if name in CATALOG else resolve(name, s.models_dir)
        return E5Embedder(path, name)

    @cached_property
    def generator(self) -> QueuedGenerator:
        """The one LLM of this process, behind a FIFO queue shared by every caller: the local GGUF model (in a
        child process, rag.llm_process), or an OpenAI-compatible server when `llm.base_url` is set."""
        if "generator" in self._overrides:
            return QueuedGenerator(self._overrides["generator"])  # type: ignore[arg-type]
        s = self.settings
        if s.mode == "fake":
            return QueuedGenerator(ReplayGenerator())
        llm = s.llm
        if llm.base_url:
            return QueuedGenerator(
                OpenAIGenerator(
                    llm.base_url,
                    llm.model,
                    api_key=llm.api_key.get_secret_value() if llm.api_key else None,
                    n_ctx=llm.n_ctx,
                    max_tokens=llm.max_tokens,
                    temperature=llm.temperature,
                    seed=llm.seed,
                    timeout_s=llm.timeout_s,
                    tokenizer=self._local_tokenizer(),
                ),
                slots=llm.parallel,
            )
        return QueuedGenerator(
            ChildProcessGenerator(  # a crash of llama.cpp ends that process, not this one
                resolve(llm.model, s.models_dir),
                n_ctx=llm.n_ctx,
                n_threads=llm.n_threads,
                max_tokens=llm.max_tokens,
                temperature=llm.temperature,
                seed=llm.seed,
                prompt_cache_mb=llm.prompt_cache_mb,
                n_gpu_layers=llm.n_gpu_layers,
            )
        )

    def _local_tokenizer(self) -> Path | None:
        """A GGUF file on this machine whose tokenizer counts prompt tokens for a remote model: `llm.tokenizer`,
        else the local model of the same name when it is pulled; None = estimate."""
        llm = self.settings.llm
        for name in (llm.tokenizer, llm.model):
            if not name:
                continue
            try:
                path = resolve(name, self.settings.models_dir)
            except RagError:
                continue
            if path.is_file():
                return path
        return None

    @property
    def embedder_name(self) -> str:
        """The name stored with the collection, known without loading the model."""
        if "embedder" in self._overrides:
            return self.embedder.name
        if self.settings.mode == "fake":
            return HashingEmbedder().name  # a throwaway: building it costs nothing
        return self.settings.embedder.model + (ONNX_SUFFIX if self.embedder_backend == "onnx-int8" else "")

    @cached_property
    def embedder_backend(self) -> str:
        """What runs the embedder: "torch", "onnx-int8" or "e5" (a single-file E5 model's own engine). Known
        without loading the model: `auto` asks the catalog, or looks at a folder's configuration."""
        s = self.settings.embedder
        spec = CATALOG.get(s.model)
        path = spec.path(self.settings.models_dir) if spec else Path(s.model).expanduser()
        if (spec and not spec.is_folder) or (not spec and path.is_file()):
            if s.backend == "onnx-int8":
                raise ConfigError(f"{path}: the onnx-int8 backend is for sentence-transformers folders")
            return "e5"
        if s.backend != "auto":
            return s.backend
        if s.device != "cpu":  # a GPU runs torch; the int8 export is for CPUs
            return "torch"
        if spec:
            return "onnx-int8" if spec.int8_onnx else "torch"
        return "onnx-int8" if onnx_supports(path) else "torch"

    @cached_property
    def physical_collection(self) -> str:
        """The Chroma collection serving `settings.collection` now (see rag.collections)."""
        if "physical_collection" in self._overrides:
            return str(self._overrides["physical_collection"])
        name = check_collection_name(self.settings.collection)
        return CollectionNames(self.settings.index_dir).active(name)

    @cached_property
    def chroma_client(self) -> Any:
        """The Chroma server's client when `chroma_url` is set; None for embedded Chroma (each store opens its
        own, so it can reopen after other processes' writes)."""
        s = self.settings
        if "chroma_client" in self._overrides:
            return self._overrides["chroma_client"]
        if not s.chroma_url:
            return None
        return http_client(s.chroma_url, s.chroma_token.get_secret_value() if s.chroma_token else None)

    def open_store(self, create: bool) -> ChromaStore:
        """The collection serving `settings.collection`; a store that follows it across rebuilds unless this
        pipeline writes to one physical collection (`for_collection`)."""
        s = self.settings
        follows = None if "physical_collection" in self._overrides else check_collection_name(s.collection)
        return ChromaStore(
            s.index_dir,
            self.physical_collection,
            self.embedder_name,
            lambda: self.embedder.dim,
            create=create,
            client=self.chroma_client,
            logical=follows,
            hnsw=Hnsw(s.retrieve.hnsw_ef_search, s.retrieve.hnsw_ef_construction, s.retrieve.hnsw_max_neighbors),
            multilingual=self.multilingual,
        )

    def open_physical(self, physical: str, embedding_model: str) -> ChromaStore:
        """An existing physical collection built with `embedding_model` (e.g. the one a rebuild replaced)."""
        return ChromaStore(
            self.settings.index_dir, physical, embedding_model, 0, create=False, client=self.chroma_client
        )

    def stored_model(self) -> str | None:
        """The embedding model the active collection was built with; None when it does not exist yet."""
        try:
            return self.open_store(create=False).embedding_model
        except IndexMismatchError as exc:
            return exc.built_with
        except RagError:
            return None

    def for_collection(self, physical: str) -> Pipeline:
        """The same pipeline (and loaded models) writing to another physical collection."""
        shared = {"embedder": self.embedder, "multilingual": self.multilingual, "physical_collection": physical}
        if self.chroma_client is not None:
            shared["chroma_client"] = self.chroma_client
        return Pipeline(self.settings, {**self._overrides, **shared})

    @cached_property
    def files(self) -> FileRecords:
        """Which files are indexed in the collection, with their hashes (see rag.records)."""
        return FileRecords(self.settings.index_dir, self.physical_collection)

    @cached_property
    def store(self) -> ChromaStore:
        """The collection, created if missing (for writing)."""
        return self.open_store(create=True)

    def retriever(self, store: Store) -> Retriever:
        """Hybrid retrieval over `store` as the settings say (rag.retrieve)."""
        r = self.settings.retrieve
        fake = self.settings.mode == "fake"  # the replayed replies are the tests' answers, not translations
        return Retriever(
            self.embedder,
            store,
            r,
            multilingual=self.multilingual,
            translate=partial(translate_question, self.generator) if r.translate_questions and not fake else None,
        )

    def upload_sessions(self, ttl_seconds: float) -> UploadSessions:
        """In-memory collections for uploads, one per browser session, embedded with this pipeline's model."""
        return UploadSessions(
            self.embedder_name, lambda: self.embedder.dim, ttl_seconds=ttl_seconds, multilingual=self.multilingual
        )

    def answerer_for(self, store: Store) -> Answerer:
        """An answerer over `store` (e.g. an upload session's, or merged with the company's) with this
        pipeline's models and settings."""
        return Answerer(self.embedder, store, self.generator, self.settings.retrieve, retriever=self.retriever(store))

    @cached_property
    def answerer(self) -> Answerer:
        return self.answerer_for(self.open_store(create=False))

    def warm_up(self) -> None:
        """Load both models and have the LLM evaluate the starts its prompts share (rag.prompt.warm_up_prompts),
        so the first question pays for none of it (the app and an interactive chat call this at start)."""
        self.embedder.embed(["warm-up"])
        for prompt in warm_up_prompts():
            self.generator.warm(prompt)

    def warm_up_in_background(self) -> threading.Thread:
        """`warm_up` in a daemon thread, started now. A failure is only logged: the first question meets the
        same error and reports it."""
        thread = threading.Thread(target=self._warm_up_quietly, name="ragqa-warm-up", daemon=True)
        thread.start()
        return thread

    def _warm_up_quietly(self) -> None:
        try:
            self.warm_up()
        except Exception as exc:  # noqa: BLE001 - a convenience; the question that follows reports errors
            logger.warning("warm-up failed: %s", exc)


def build_pipeline(settings: Settings, **overrides: object) -> Pipeline:
    """Build the pipeline for `settings`. `overrides` (embedder=, multilingual=, generator=,
    physical_collection=) replace components."""
    return Pipeline(settings, dict(overrides))
