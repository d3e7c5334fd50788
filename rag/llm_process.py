"""The local model in a child process, so a crash inside llama.cpp (a segmentation fault, an illegal
instruction, the kernel's OOM killer) ends that process and not the app, `ragqa serve` or a chat.

Parent side: `ChildProcessGenerator`, the Generator the pipeline builds for a local GGUF model. It starts
a Python child running `main()` on first use, which loads the model at once; each request is one JSON line on the
child's stdin, answered by JSON lines (`{"piece": ...}` while streaming, then `{"end": true}` or
`{"error": ...}`). A request in flight when the child dies fails with `ModelCrashedError` naming the signal, and a
fresh child is started at once for the next one. Prompt tokens are counted in the parent from the model's
vocabulary alone (`GGUFTokenizer`), so counting runs no matrix code and never waits for a generation.
Child side: `main()`, a `LlamaCppGenerator` (rag.llm) serving one request at a time; a `{"op": "cancel"}` line
stops the answer in flight (the caller closed its stream).
Not here: the model code (rag.llm), the queue between users (rag.queue), a watchdog for a child that hangs
without dying (a generation is bounded by `max_tokens`).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from rag.errors import ModelCrashedError, ModelError
from rag.llm import GGUFTokenizer, LlamaCppGenerator, Message, Pieces

logger = logging.getLogger(__name__)


_CHILD = "from rag.llm_process import main; main()"


def describe_exit(returncode: int) -> str:
    """How a process ended, for people: "signal 11, SIGSEGV" or "exit code 1"."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
        return f"signal {-returncode}, {name}"
    return f"exit code {returncode}"


class ChildProcessGenerator:
    """A `LlamaCppGenerator` with these arguments, run in a child process; `command` replaces the child's
    command line (tests use it to start a child that dies)."""

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
        command: Sequence[str] | None = None,
    ) -> None:
        self.path = path
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.seed = seed
        self.prompt_cache_mb = prompt_cache_mb
        self.n_gpu_layers = n_gpu_layers
        self._command = list(command) if command else [sys.executable, "-c", _CHILD]
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()  # one request at a time: the child serves one
        self._ids = itertools.count(1)
        self._tokenizer: GGUFTokenizer | None = None
        self._tokenizer_lock = threading.Lock()
        self.crashes = 0  # children that died mid-request (for monitoring and tests)

    @property
    def prompt_budget(self) -> int:
        return self.n_ctx - self.max_tokens

    @property
    def pid(self) -> int | None:
        """The child's process id, None before the first request."""
        return self._proc.pid if self._proc else None

    @property
    def busy(self) -> bool:
        """True while a request is in the child."""
        return self._lock.locked()

    def count_tokens(self, messages: list[Message]) -> int:
        with self._tokenizer_lock:
            if self._tokenizer is None:
                try:
                    self._tokenizer = GGUFTokenizer(self.path)
                except ValueError as exc:  # llama-cpp-python's "Failed to load model from file"
                    raise ModelError(load_failed(self.path, exc)) from exc
        return self._tokenizer.count_messages(messages)

    def stream(self, messages: list[Message], max_tokens: int | None = None) -> Pieces:
        yield from self._request({"op": "stream", "messages": list(messages), "max_tokens": max_tokens})

    def warm(self, messages: list[Message]) -> None:
        for _ in self._request({"op": "warm", "messages": list(messages)}):
            pass

    def load(self) -> None:
        """Start the child and wait until its model is loaded."""
        for _ in self._request({"op": "load"}):
            pass

    def reset_cache(self) -> None:
        """Forget the child's saved prompt states (benchmarks time cold prompts with it)."""
        for _ in self._request({"op": "reset"}):
            pass

    def close(self) -> None:
        """End the child (it also ends by itself when this process exits: its stdin closes)."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None:
            _stop(proc)

    def _start(self) -> subprocess.Popen[str]:
        # stderr is inherited: llama.cpp's own messages and a crash's report reach the parent's log
        config = {
            "path": str(self.path),
            "n_ctx": self.n_ctx,
            "n_threads": self.n_threads,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "seed": self.seed,
            "prompt_cache_mb": self.prompt_cache_mb,
            "n_gpu_layers": self.n_gpu_layers,
        }  # LlamaCppGenerator's arguments
        return subprocess.Popen(
            [*self._command, json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )

    def _child(self) -> subprocess.Popen[str]:
        if self._proc is not None and self._proc.poll() is not None:  # died while idle: nobody lost anything
            logger.warning("the language model's process had ended (%s); starting a new one", _how(self._proc))
            self._proc = None
        if self._proc is None:
            self._proc = self._start()
        return self._proc

    def _request(self, request: dict[str, Any]) -> Iterator[str]:
        with self._lock:
            proc = self._child()
            request["id"] = next(self._ids)
            done = False
            try:
                _send(proc, request)
                while True:
                    reply = _receive(proc)
                    if reply is None:
                        done = True
                        raise self._crashed(proc)
                    if "piece" in reply:
                        yield str(reply["piece"])
                    elif "error" in reply:
                        done = True
                        raise ModelError(f"the language model failed: {reply['error']}")
                    else:
                        done = True
                        return
            except OSError as exc:  # a broken pipe: the child is gone
                done = True
                raise self._crashed(proc) from exc
            finally:
                if not done:  # the caller stopped reading: stop the answer, keep the child in step
                    self._cancel(proc, request["id"])

    def _crashed(self, proc: subprocess.Popen[str]) -> ModelCrashedError:
        how = _how(proc)
        logger.error("the language model's process died (%s); starting a new one", how)
        self.crashes += 1
        try:
            self._proc = self._start()
        except OSError as exc:  # the next request tries again
            logger.error("cannot start the language model's process: %s", exc)
            self._proc = None
        return ModelCrashedError(how)

    def _cancel(self, proc: subprocess.Popen[str], request_id: int) -> None:
        try:
            _send(proc, {"op": "cancel", "id": request_id})
            while (reply := _receive(proc)) is not None and "piece" in reply:
                pass
        except (OSError, ValueError):  # gone meanwhile, or its pipe already closed
            pass
        if proc.poll() is not None:
            self._proc = None  # started again by the next request


def _how(proc: subprocess.Popen[str]) -> str:
    try:
        return describe_exit(proc.wait(timeout=10))
    except subprocess.TimeoutExpired:  # its output closed, yet it lives on: end it
        proc.kill()
        proc.wait()
        return "it stopped answering and was killed"


def _send(proc: subprocess.Popen[str], message: dict[str, Any]) -> None:
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(message, ensure_ascii=False) + "\n")
    proc.stdin.flush()


def _receive(proc: subprocess.Popen[str]) -> dict[str, Any] | None:
    """The child's next reply, None when it has died (its output ended)."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        return None
    try:
        reply: dict[str, Any] = json.loads(line)
    except json.JSONDecodeError:
        logger.warning("the language model's process wrote a stray line: %r", line[:200])
        return _receive(proc)
    return reply


def _stop(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(OSError):
        if proc.stdin:
            proc.stdin.close()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def reply_channel() -> IO[str]:
    """In a child: its stdout as a private channel for replies; whatever else writes to fd 1 afterwards
    (llama.cpp's C code, a stray print) goes to stderr instead of into the replies."""
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return replies


def load_failed(path: Path, exc: Exception) -> str:
    """What the user reads when the model file cannot be loaded, by the tokenizer here or the model's process."""
    return f"{path.name} could not be loaded ({exc}); `ragqa doctor` checks every installed model"


def main() -> None:  # the child
    config = json.loads(sys.argv[1])
    replies = reply_channel()
    path = Path(config.pop("path"))
    generator = LlamaCppGenerator(path, **config)
    requests: queue.Queue[dict[str, Any] | None] = queue.Queue()
    cancelled: set[int] = set()

    def read(stdin: IO[str]) -> None:
        for line in stdin:
            message = json.loads(line)
            if message.get("op") == "cancel":
                cancelled.add(int(message["id"]))
            else:
                requests.put(message)
        requests.put(None)  # the parent has gone

    threading.Thread(target=read, args=(sys.stdin,), daemon=True).start()

    def reply(message: dict[str, Any]) -> None:
        replies.write(json.dumps(message, ensure_ascii=False) + "\n")

    load_error: str | None = None
    try:
        generator.load()
    except Exception as exc:  # noqa: BLE001 - reported to every request: the parent shows it
        load_error = load_failed(path, exc)
    while (request := requests.get()) is not None:
        rid = int(request.get("id", 0))
        try:
            if load_error:
                raise ModelError(load_error)
            op = request.get("op")
            if op == "stream":
                with contextlib.closing(generator.stream(request["messages"], request.get("max_tokens"))) as pieces:
                    for piece in pieces:
                        if rid in cancelled:
                            break
                        reply({"piece": piece})
            elif op == "warm":
                generator.warm(request["messages"])
            elif op == "reset":
                generator.reset_cache()
            elif op != "load":
                raise ModelError(f"unknown request {op!r}")
            reply({"end": True})
        except Exception as exc:  # noqa: BLE001 - every failure goes back as the request's answer
            reply({"error": str(exc) or type(exc).__name__})
        cancelled.discard(rid)
