"""Embedders: the `Embedder` interface and its real default, a local sentence-transformers model.

`count_tokens` uses the model's own tokenizer, so chunking can promise that no chunk is truncated. Questions go
through `embed_query`: models trained with instructions (E5: "query: " / "passage: ") embed them differently
from documents. Not here: model download (see rag.models), the int8 ONNX embedder (rag.onnx_embedder), rerankers.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from rag.models import offline_hub


class Embedder(Protocol):
    name: str  # stored with the collection; another name on the same collection is an error

    @property
    def dim(self) -> int: ...

    @property
    def max_tokens(self) -> int:
        """The model's window, special tokens included."""
        ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Unit-length vectors, one per text (documents)."""
        ...

    def embed_query(self, text: str) -> list[float]:
        """The unit-length vector of a question, to compare with documents' vectors."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens each text takes in the model's window, special tokens included."""
        ...


class SentenceTransformerEmbedder:
    """A sentence-transformers folder on disk, loaded on first use, never from a hub."""

    def __init__(self, path: Path, name: str, batch_size: int = 32, device: str = "cpu") -> None:
        self.path = path
        self.name = name
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None
        self._counter: Any = None
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                offline_hub()
                try:
                    from sentence_transformers import SentenceTransformer
                    from transformers.utils import logging as transformers_logging
                except ImportError as exc:  # pragma: no cover - depends on the install
                    raise ImportError("the embedder needs sentence-transformers: pip install -e .") from exc
                transformers_logging.disable_progress_bar()
                self._model = SentenceTransformer(str(self.path), device=self.device, local_files_only=True)
            return self._model

    @property
    def dim(self) -> int:
        dim = self.model.get_embedding_dimension()
        assert dim is not None
        return int(dim)

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Counted with a private copy of the tokenizer: a fast tokenizer is not safe to share between
        threads, and ingest chunks the next file while `embed` runs on the current one."""
        if not texts:
            return []
        with self._count_lock:
            if self._counter is None:
                self._counter = copy.deepcopy(self.model.tokenizer)
            encoded = self._counter(list(texts), add_special_tokens=True, truncation=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return [[float(x) for x in row] for row in vectors]

    def embed_query(self, text: str) -> list[float]:
        return self.embed([text])[0]
