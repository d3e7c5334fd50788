"""One model, many users: a FIFO queue in front of a Generator.

Callers are served strictly in arrival order; each can see its position while it waits, and a caller that
goes away (stops iterating, or its stream is closed) leaves the queue or frees the model at once. Retrieval and
embedding do not go through here, so they run concurrently. A local model serves one caller at a time; an
OpenAI-compatible server gets up to its number of parallel slots at once (`slots`). Not here: batching several
users into one forward pass (that is the server's job: llama.cpp's parallel slots, vLLM).
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rag.errors import ConfigError, RagError
from rag.llm import Generator, Message, Pieces

Waiting = Callable[[int], None]  # called with the caller's 1-based position while it waits


class QueuedGenerator:
    def __init__(self, inner: Generator, slots: int = 1) -> None:
        if slots < 1:
            raise ConfigError("slots must be at least 1")
        self.inner = inner
        self.slots = slots
        self._cond = threading.Condition()
        self._queue: deque[int] = deque()
        self._tickets = itertools.count()
        self._serving: set[int] = set()
        self.served: deque[int] = deque(maxlen=1000)  # the last tickets in the order they got the model (tests)
        self.problem: str | None = None  # why the last call failed (the model could not load, crashed, ...)

    @property
    def prompt_budget(self) -> int:
        return self.inner.prompt_budget

    def count_tokens(self, messages: list[Message]) -> int:
        return self.inner.count_tokens(messages)

    @property
    def busy(self) -> bool:
        with self._cond:
            return bool(self._serving) or bool(self._queue)

    def waiting(self) -> int:
        with self._cond:
            return len(self._queue)

    def stream(self, messages: list[Message], max_tokens: int | None = None, on_wait: Waiting | None = None) -> Pieces:
        with self._turn(on_wait), self._watched():
            yield from self.inner.stream(messages, max_tokens)

    def warm(self, messages: list[Message]) -> None:
        """Have the model evaluate `messages` (a prompt prefix) in its turn, so later prompts that start the
        same way find it in the prefix cache; nothing when the generator cannot."""
        with self._turn(None), self._watched():
            self.inner.warm(messages)

    @contextmanager
    def _watched(self) -> Iterator[None]:
        """Keep `problem` up to date: the last failure's message, None once a call succeeds."""
        try:
            yield
        except RagError as exc:
            self.problem = str(exc)
            raise
        self.problem = None

    @contextmanager
    def _turn(self, on_wait: Waiting | None) -> Iterator[None]:
        """Wait in line; hold the model inside the block."""
        ticket = next(self._tickets)
        with self._cond:
            self._queue.append(ticket)
        try:
            with self._cond:
                last = -1
                while len(self._serving) >= self.slots or self._queue[0] != ticket:
                    position = list(self._queue).index(ticket) + 1
                    if on_wait and position != last:
                        on_wait(position)
                        last = position
                    self._cond.wait(0.5)
                self._queue.popleft()
                self._serving.add(ticket)
                self.served.append(ticket)
            yield
        finally:
            with self._cond:
                if ticket in self._serving:
                    self._serving.discard(ticket)
                elif ticket in self._queue:
                    self._queue.remove(ticket)
                self._cond.notify_all()
