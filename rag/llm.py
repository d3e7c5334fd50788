"""Generators: the `Generator` interface and its real default, a local GGUF model through llama-cpp-python.

The chat template comes from the GGUF file itself. The product runs `LlamaCppGenerator` in a child process
(rag.llm_process), so a crash inside llama.cpp never ends the app; `GGUFTokenizer` reads a model's vocabulary
alone (no weights), for counting prompt tokens outside that process. Not here: prompt building (rag.prompt),
queueing between users (rag.queue), OpenAI-compatible servers (rag.remote_llm).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Generator as PyGenerator
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, TypedDict

Pieces = PyGenerator[str, None, None]  # a reply, piece by piece; `.close()` stops it and frees the model


class Message(TypedDict):
    role: str  # "system" | "user" | "assistant"
    content: str


class Generator(Protocol):
    @property
    def prompt_budget(self) -> int:
        """Most prompt tokens that still leave room for the answer."""
        ...

    def stream(self, messages: list[Message], max_tokens: int | None = None) -> Pieces:
        """Yield the reply to `messages` piece by piece, at most `max_tokens` (default: the generator's own
        limit)."""
        ...

    def count_tokens(self, messages: list[Message]) -> int:
        """Tokens the prompt of `messages` takes (close upper estimate)."""
        ...

    def warm(self, messages: list[Message]) -> None:
        """Evaluate `messages` now (a prompt prefix later prompts share), so a prefix cache holds them; a
        generator without one does nothing."""
        ...


_PER_MESSAGE = 8  # chat-template tokens around each message (role markers, separators), generous


class LlamaCppGenerator:
    """A GGUF model loaded once, on first use. One generation at a time per instance (llama.cpp is not
    re-entrant); concurrent callers wait for the lock."""

    def __init__(
        self,
        path: Path,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        max_tokens: int = 512,
        temperature: float = 0.1,
        seed: int = 0,
        prompt_cache_mb: int = 2048,
        n_gpu_layers: int = 0,
    ) -> None:
        self.path = path
        self.n_gpu_layers = n_gpu_layers
        self.prompt_cache_mb = prompt_cache_mb
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.seed = seed
        self._llm: Any = None
        self._lock = threading.Lock()

    @property
    def prompt_budget(self) -> int:
        return self.n_ctx - self.max_tokens

    @property
    def busy(self) -> bool:
        """True while another caller is generating (a new caller will wait its turn)."""
        return self._lock.locked()

    def count_tokens(self, messages: list[Message]) -> int:
        with self._lock:
            llm = self._load()
            return sum(len(llm.tokenize(m["content"].encode(), add_bos=False)) + _PER_MESSAGE for m in messages)

    def load(self) -> None:
        """Load the model now (else the first call does)."""
        with self._lock:
            self._load()

    def reset_cache(self) -> None:
        """Forget the saved prompt states and the context's tokens, as in a new process (for benchmarks that
        time a cold prompt)."""
        with self._lock:
            llm = self._load()
            llm.reset()
            if self.prompt_cache_mb > 0:
                llm.set_cache(_compact_cache(self.prompt_cache_mb << 20))

    def _load(self) -> Any:
        if self._llm is None:
            Llama = _llama_class()
            self._llm = Llama(
                model_path=str(self.path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                seed=self.seed,
                n_gpu_layers=self.n_gpu_layers,
                verbose=False,
            )
            if self.prompt_cache_mb > 0:
                # Saved model states keyed by prompt prefix: the system prompt and earlier turns of a chat are
                # not evaluated again, even when another prompt (e.g. a question rewrite) ran in between.
                self._llm.set_cache(_compact_cache(self.prompt_cache_mb << 20))
        return self._llm

    def warm(self, messages: list[Message]) -> None:
        """Load the model and evaluate `messages`; with the prompt cache on, later prompts that begin with them
        (e.g. the system prompt) skip that part."""
        with self._lock:
            llm = self._load()
            llm.create_chat_completion(messages=list(messages), max_tokens=1, temperature=self.temperature)

    def stream(self, messages: list[Message], max_tokens: int | None = None) -> Pieces:
        with self._lock:
            llm = self._load()
            chunks = llm.create_chat_completion(
                messages=list(messages),
                stream=True,
                max_tokens=max_tokens or self.max_tokens,
                temperature=self.temperature,
                seed=self.seed,
            )
            for chunk in chunks:
                piece = chunk["choices"][0]["delta"].get("content")
                if piece:
                    yield piece


class GGUFTokenizer:
    """The tokenizer inside a GGUF file, loaded without the weights: counting tokens runs no model code, so it
    is safe in any process and never waits for a generation."""

    def __init__(self, path: Path) -> None:
        Llama = _llama_class()
        with _stderr_muted():  # llama.cpp warns that a context is larger than a vocabulary's (0) training one
            self._llm = Llama(model_path=str(path), vocab_only=True, verbose=False)
        self._lock = threading.Lock()

    def count(self, text: str) -> int:
        with self._lock:
            return len(self._llm.tokenize(text.encode(), add_bos=False))

    def count_messages(self, messages: list[Message]) -> int:
        """What `Generator.count_tokens` returns: each message's tokens plus its chat-template allowance."""
        return sum(self.count(m["content"]) + _PER_MESSAGE for m in messages)


@contextlib.contextmanager
def _stderr_muted() -> Iterator[None]:
    """File descriptor 2 to /dev/null inside the block (C code writes there directly); failures still raise."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _llama_class() -> Any:
    try:
        from llama_cpp import Llama
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("the local LLM needs llama-cpp-python: run `make install`") from exc
    return Llama


def _compact_cache(capacity_bytes: int) -> Any:
    """llama-cpp-python's RAM prompt cache, less a copy it makes and never uses. Each saved state carries the
    score matrix (up to n_batch x vocabulary floats: 311 MB with Qwen's 151,936 tokens) that the cache does not
    count against its capacity, so a 2 GB cache grew by that much per answer (8 GB after 20 answers, then the
    kernel's OOM killer). Without `logits_all` nothing reads those scores (sampling uses the context's own
    logits, which the saved llama.cpp state holds), so the cache keeps a 1 x 1 stand-in that `load_state`
    broadcasts."""
    import numpy as np
    from llama_cpp import LlamaRAMCache

    class CompactRAMCache(LlamaRAMCache):  # type: ignore[misc]
        def __setitem__(self, key: Any, value: Any) -> None:
            value.scores = np.zeros((1, 1), dtype=np.single)
            super().__setitem__(key, value)

    return CompactRAMCache(capacity_bytes=capacity_bytes)
