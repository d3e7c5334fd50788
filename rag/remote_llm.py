"""A Generator that sends chat completions to an OpenAI-compatible server (llama.cpp's `llama-server` or
`python -m llama_cpp.server`, vLLM, ...), streamed over server-sent events with httpx.

Prompts, budgets, citation checks and the queue stay in this process (rag.answer, rag.queue); the server only
generates. Prompt tokens are counted with the model's own tokenizer when its GGUF file is on this machine
(loaded vocabulary-only: no weights), else estimated generously (`estimate_tokens`). The API key is sent as a
bearer token and never appears in an error or a log line.
Not here: the local llama.cpp model (rag.llm), serving our own API (app.serve).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag.errors import RagError
from rag.llm import GGUFTokenizer, Message, Pieces

logger = logging.getLogger(__name__)

_PER_MESSAGE = 8  # chat-template tokens around each message, generous
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_DIGIT = re.compile(r"\d")


def estimate_tokens(text: str) -> int:
    """An upper estimate of a BPE tokenizer's count without the tokenizer: one token per CJK character and per
    digit (Qwen and Llama 3 split numbers into digits), one per three other characters."""
    cjk = len(_CJK.findall(text))
    digits = len(_DIGIT.findall(text))
    return cjk + digits + (len(text) - cjk - digits + 2) // 3


class OpenAIGenerator:
    """Chat completions from `base_url` (…/v1). One request per `stream` call; the server decides how many run
    at once (llama.cpp's parallel slots, vLLM's batching)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        n_ctx: int = 4096,
        max_tokens: int = 512,
        temperature: float = 0.1,
        seed: int = 0,
        timeout_s: float = 120.0,
        tokenizer: Path | None = None,
    ) -> None:
        import httpx

        self.base_url = base_url.rstrip("/")
        self.model = model
        self.n_ctx = n_ctx
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.seed = seed
        self._tokenizer_path = tokenizer
        self._tokenizer: GGUFTokenizer | None = None
        self._tokenizer_failed = False
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            headers=headers, timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)), trust_env=False
        )

    @property
    def prompt_budget(self) -> int:
        return self.n_ctx - self.max_tokens

    def _count(self, text: str) -> int:
        if self._tokenizer is None and self._tokenizer_path is not None and not self._tokenizer_failed:
            try:
                self._tokenizer = GGUFTokenizer(self._tokenizer_path)
            except Exception as exc:  # noqa: BLE001 - a missing or unreadable file means: estimate
                logger.warning(
                    "cannot load the tokenizer from %s (%s); estimating prompt tokens", self._tokenizer_path, exc
                )
                self._tokenizer_failed = True
        return self._tokenizer.count(text) if self._tokenizer else estimate_tokens(text)

    def count_tokens(self, messages: list[Message]) -> int:
        return sum(self._count(m["content"]) + _PER_MESSAGE for m in messages)

    def warm(self, messages: list[Message]) -> None:
        """Ask for one token, so a server with prompt caching (llama.cpp) has the shared prefix evaluated."""
        for _ in self._completion(messages, 1):
            pass

    def stream(self, messages: list[Message], max_tokens: int | None = None) -> Pieces:
        yield from self._completion(messages, max_tokens or self.max_tokens)

    def _completion(self, messages: list[Message], max_tokens: int) -> Iterator[str]:
        import httpx

        url = f"{self.base_url}/chat/completions"
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "max_tokens": max_tokens,
            "temperature": self.temperature,
            "seed": self.seed,
            "stream": True,
        }
        try:
            with self._http.stream("POST", url, json=body) as response:
                if response.status_code != 200:
                    response.read()
                    raise RagError(_http_error(url, response.status_code, response.text))
                yield from _pieces(response.iter_lines(), url)
        except httpx.TimeoutException as exc:
            raise RagError(f"the LLM server at {url} did not answer in time ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise RagError(f"cannot reach the LLM server at {url}: {exc}") from exc

    def close(self) -> None:
        self._http.close()


def _pieces(lines: Iterator[str], url: str) -> Iterator[str]:
    """The content deltas of a chat-completions event stream."""
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            event = json.loads(data)
        except json.JSONDecodeError as exc:
            raise RagError(f"the LLM server at {url} sent a malformed event: {data[:200]!r}") from exc
        if "error" in event:
            raise RagError(f"the LLM server at {url} failed: {str(event['error'])[:300]}")
        for choice in event.get("choices") or []:
            piece = (choice.get("delta") or {}).get("content")
            if piece:
                yield piece


def _http_error(url: str, status: int, text: str) -> str:
    if status in (401, 403):
        return f"the LLM server at {url} refused the API key (HTTP {status}): set RAGQA_LLM__API_KEY"
    if status == 404:
        return f"the LLM server has no {url} (HTTP 404): RAGQA_LLM__BASE_URL should end in /v1"
    return f"the LLM server at {url} answered HTTP {status}: {text[:300]}"
