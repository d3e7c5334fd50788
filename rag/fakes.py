"""Fakes for fast tests and `mode = "fake"`: a hashing embedder and a generator that replays replies.

They implement the same interfaces as the real components and never stand in for them in a test that
claims to test the real thing.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence

from rag.llm import Message, Pieces

_TOKEN = re.compile(r"[\u3400-\u9fff]|[^\W_]+|[^\w\s]", re.UNICODE)


def fake_tokens(text: str) -> list[str]:
    """Lower-cased words, single CJK characters and single punctuation marks."""
    return _TOKEN.findall(text.lower())


class HashingEmbedder:
    """Bag-of-words hashed into `dim` buckets, L2-normalised. Similar words give similar vectors."""

    def __init__(self, dim: int = 256, max_tokens: int = 256, name: str = "fake-hashing") -> None:
        self.dim = dim
        self.max_tokens = max_tokens
        self.name = f"{name}-{dim}"
        self.calls = 0

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(fake_tokens(t)) + 2 for t in texts]  # +2 like [CLS] and [SEP]

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        out = []
        for text in texts:
            vec = [0.0] * self.dim
            for tok in fake_tokens(text):
                h = int.from_bytes(hashlib.blake2b(tok.encode(), digest_size=8).digest(), "little")
                vec[h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
            norm = math.sqrt(sum(x * x for x in vec)) or 1.0
            out.append([x / norm for x in vec])
        return out

    def embed_query(self, text: str) -> list[float]:
        return self.embed([text])[0]


class ReplayGenerator:
    """Replays queued replies word by word; records the messages it was given."""

    def __init__(self, replies: Sequence[str] = (), default: str = "Fake answer [1].", prompt_budget: int = 4096):
        self.replies = list(replies)
        self.default = default
        self.prompt_budget = prompt_budget
        self.seen: list[list[Message]] = []

    def count_tokens(self, messages: list[Message]) -> int:
        return sum(len(fake_tokens(m["content"])) + 4 for m in messages)

    def warm(self, messages: list[Message]) -> None:
        """Nothing to warm."""

    def stream(self, messages: list[Message], max_tokens: int | None = None) -> Pieces:
        """The next queued reply (or the default), at most `max_tokens` words."""
        self.seen.append(list(messages))
        reply = self.replies.pop(0) if self.replies else self.default
        if max_tokens is not None:
            reply = " ".join(reply.split(" ")[:max_tokens])
        for i, word in enumerate(reply.split(" ")):
            yield word if i == 0 else " " + word
