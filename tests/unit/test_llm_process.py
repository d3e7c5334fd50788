"""The local model's child process, seen from the parent: a child that dies mid-answer is reported and replaced,
a closed stream is cancelled without leaving pieces behind, an error in the child is a ModelError. The child
here is a stand-in that speaks the protocol (tests/fixtures/fake_llm_child.py), except where the real child reads
a broken model file; the real model is killed mid-answer in tests/integration/test_model_crash.py."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from rag.errors import ModelCrashedError, ModelError
from rag.llm_process import ChildProcessGenerator, describe_exit
from rag.queue import QueuedGenerator

FAKE_CHILD = [sys.executable, str(Path(__file__).resolve().parents[1] / "fixtures" / "fake_llm_child.py")]


def ask(content: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": content}]


@pytest.fixture
def generator():
    gen = ChildProcessGenerator(Path("unused.gguf"), command=FAKE_CHILD)
    yield gen
    gen.close()


def test_exits_are_described_for_people():
    assert describe_exit(-11) == "signal 11, SIGSEGV"
    assert describe_exit(-4) == "signal 4, SIGILL"
    assert describe_exit(-9) == "signal 9, SIGKILL"
    assert describe_exit(1) == "exit code 1"


def test_a_child_that_dies_by_a_signal_mid_answer_is_reported_and_replaced(generator):
    pieces: list[str] = []
    with pytest.raises(ModelCrashedError) as crash:
        for piece in generator.stream(ask("<crash>")):
            pieces.append(piece)
    assert pieces == ["partial "]
    assert crash.value.how == "signal 11, SIGSEGV"
    assert str(crash.value).startswith("the language model crashed (signal 11, SIGSEGV); it was restarted")
    assert "ragqa doctor" in str(crash.value)
    first = generator.pid
    assert "".join(generator.stream(ask("hello"))) == "fake answer"
    assert generator.crashes == 1 and generator.pid == first  # the replacement was started at the crash


def test_a_closed_stream_is_cancelled_and_leaves_nothing_for_the_next_question(generator):
    stream = generator.stream(ask("<slow>"))
    assert next(stream) == "0 "
    started = time.perf_counter()
    stream.close()
    assert time.perf_counter() - started < 3, "cancelled, not streamed to the end (5 s)"
    pid = generator.pid
    assert "".join(generator.stream(ask("hello"))) == "fake answer"
    assert generator.pid == pid and generator.crashes == 0


def test_a_child_that_ended_while_idle_is_replaced_without_an_error(generator):
    generator.load()
    pid = generator.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    assert "".join(generator.stream(ask("hello"))) == "fake answer"
    assert generator.pid != pid and generator.crashes == 0


def test_an_error_in_the_child_is_a_model_error_and_the_child_goes_on(generator):
    with pytest.raises(ModelError, match="the language model failed: the prompt is too long"):
        list(generator.stream(ask("<fail>")))
    assert "".join(generator.stream(ask("hello"))) == "fake answer"


def test_the_queue_remembers_the_last_failure_until_a_call_succeeds(generator):
    queued = QueuedGenerator(generator)
    assert queued.problem is None
    with pytest.raises(ModelCrashedError):
        list(queued.stream(ask("<crash>")))
    assert queued.problem is not None and "crashed (signal 11, SIGSEGV)" in queued.problem
    assert "".join(queued.stream(ask("hello"))) == "fake answer"
    assert queued.problem is None


def test_the_real_child_reports_a_model_file_it_cannot_load(tmp_path):
    """The real child (rag.llm_process.main) with llama.cpp on a file that is not a model: every request gets
    the load error, and the child stays up to say so."""
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + os.urandom(4096))
    gen = ChildProcessGenerator(broken, n_ctx=512)
    try:
        for _ in range(2):
            with pytest.raises(ModelError, match="broken.gguf could not be loaded"):
                list(gen.stream(ask("hello")))
        assert gen.crashes == 0
    finally:
        gen.close()
