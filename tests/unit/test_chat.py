"""Conversations with fakes: standalone questions, history budgets, the FIFO queue and `ragqa chat`."""

import io
import json
import threading
import time
from pathlib import Path

from app.cli import main
from ingest.index import Indexer
from rag import pipeline as pipeline_module
from rag.answer import Answerer, Turn
from rag.fakes import ReplayGenerator
from rag.llm_process import ChildProcessGenerator
from rag.pipeline import build_pipeline
from rag.queue import QueuedGenerator
from rag.settings import RetrieveSettings
from tests.conftest import SAMPLE
from tests.unit.test_llm_process import FAKE_CHILD


def answerer_with(fake_settings, replies, budget=4096):
    pipeline = build_pipeline(fake_settings)
    Indexer(pipeline).ingest([SAMPLE])
    gen = ReplayGenerator(replies, prompt_budget=budget)
    return Answerer(pipeline.embedder, pipeline.store, gen, RetrieveSettings(k=2, min_score=0.0)), gen


def test_first_turn_is_not_rewritten(fake_settings):
    answerer, gen = answerer_with(fake_settings, ["Up to EUR 220 [1]."])
    result = answerer.ask("Hotel limit per night in London?").consume()
    assert result.standalone_question is None and len(gen.seen) == 1


def test_follow_up_is_rewritten_and_retrieval_uses_it(fake_settings):
    answerer, gen = answerer_with(fake_settings, ["What is the meal per diem on full travel days?", "EUR 45 [1]."])
    history = [Turn("What is the hotel limit per night in London?", "EUR 220 [1].", "ctx + question")]
    stream = answerer.ask("And for meals?", history=history)
    result = stream.consume()
    assert result.standalone_question == "What is the meal per diem on full travel days?"
    rewrite_prompt = gen.seen[0][1]["content"]
    assert "What is the hotel limit per night in London?" in rewrite_prompt and "And for meals?" in rewrite_prompt
    answer_prompt = gen.seen[1]
    assert [m["role"] for m in answer_prompt] == ["system", "user", "assistant", "user"]
    assert answer_prompt[1]["content"] == "ctx + question"  # earlier turn sent exactly as before (prefix cache)
    assert stream.sources[0].source.endswith("expense-policy.pdf")
    turn = stream.turn()
    assert (turn.question, turn.answer, turn.user_content) == (
        "And for meals?",
        "EUR 45 [1].",
        answer_prompt[3]["content"],
    )


def test_blocks_keep_their_numbers_across_turns_and_are_shown_once(fake_settings):
    answerer, gen = answerer_with(fake_settings, ["r1", "a2", "r2", "a3"])
    answerer.k = 3
    t1 = answerer.ask("Hotel limit per night in London?")
    t1.consume()
    history = [t1.turn()]
    for question in ["And the meal per diem on travel days?", "And which alcohol is reimbursed at client dinners?"]:
        stream = answerer.ask(question, history=history)
        stream.consume()
        earlier = {s.chunk_id: s.n for t in history for s in t.shown}
        message = gen.seen[-1][-1]["content"]
        for source in stream.sources:
            if source.chunk_id in earlier:
                assert source.n == earlier[source.chunk_id] and source.text not in message
            else:
                assert source.n > max(earlier.values()) and f"[{source.n}] " in message and source.text in message
        assert gen.seen[-1][1]["content"] == t1.user_content  # the first turn is sent exactly as before
        history.append(stream.turn())


def test_oldest_turns_go_first_when_over_budget(fake_settings):
    answerer, gen = answerer_with(fake_settings, ["ok", "per diem?", "ok"])  # rewritten as asked: the same blocks
    answerer.ask("per diem?").consume()
    gen.prompt_budget = gen.count_tokens(gen.seen[0]) + 120  # this turn alone, and room for a few short turns
    history = [Turn(f"q{i}", f"a{i} " + "word " * 20, "word " * 150) for i in range(6)]
    answerer.ask("per diem?", history=history).consume()
    kept = [m["content"].split()[0] for m in gen.seen[-1] if m["role"] == "assistant"]
    assert kept and len(kept) < 6 and kept == [f"a{i}" for i in range(6 - len(kept), 6)]  # the newest stay
    assert gen.count_tokens(gen.seen[-1]) <= gen.prompt_budget


class SlowGenerator(ReplayGenerator):
    def stream(self, messages, max_tokens=None):
        for piece in super().stream(messages, max_tokens):
            time.sleep(0.05)
            yield piece


def test_four_concurrent_asks_are_served_in_fifo_order():
    queue = QueuedGenerator(SlowGenerator(default="one two three four"))
    order, positions, errors = [], {}, []

    def ask(i):
        try:
            text = "".join(
                queue.stream([{"role": "user", "content": str(i)}], on_wait=lambda p: positions.setdefault(i, p))
            )
            order.append((i, text))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = []
    for i in range(4):
        threads.append(threading.Thread(target=ask, args=(i,)))
        threads[-1].start()
        time.sleep(0.03)  # arrival order 0, 1, 2, 3
    for t in threads:
        t.join(10)
    assert errors == [] and [i for i, _ in order] == [0, 1, 2, 3]
    assert all(text == "one two three four" for _, text in order)
    assert positions == {1: 1, 2: 2, 3: 3}  # each saw its place in the queue
    assert list(queue.served) == [0, 1, 2, 3] and not queue.busy


def test_a_caller_that_goes_away_frees_the_model():
    queue = QueuedGenerator(SlowGenerator(default="a b c d e f"))
    first = queue.stream([{"role": "user", "content": "x"}])
    next(first)
    first.close()  # the browser tab closed mid-answer
    assert not queue.busy
    assert "".join(queue.stream([{"role": "user", "content": "y"}])) == "a b c d e f"


class WarmingGenerator(SlowGenerator):
    """Its first warm-up holds the model until the test releases it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.calls = []
        self.warming, self.release = threading.Event(), threading.Event()

    def warm(self, messages):
        self.warming.set()
        self.release.wait(5)
        self.calls.append(("warm", messages[-1]["content"]))

    def stream(self, messages, max_tokens=None):
        self.calls.append(("stream", messages[-1]["content"]))
        yield from super().stream(messages, max_tokens)


def test_warm_up_takes_its_turn_in_the_queue_before_the_first_question(fake_settings):
    inner = WarmingGenerator(default="ok")
    pipeline = build_pipeline(fake_settings, generator=inner)
    queue = pipeline.generator
    warming = pipeline.warm_up_in_background()
    assert inner.warming.wait(5)  # the warm-up holds the model ...
    answers = []
    asking = threading.Thread(target=lambda: answers.append("".join(queue.stream([{"role": "user", "content": "q"}]))))
    asking.start()
    for _ in range(500):
        if queue.waiting() == 1:
            break
        time.sleep(0.01)
    assert queue.waiting() == 1 and inner.calls == []  # ... the question waits behind it
    inner.release.set()
    asking.join(5)
    warming.join(5)
    assert answers == ["ok"]
    # the question went before the rewrite's warm-up, which queued after it (FIFO)
    assert inner.calls == [("warm", "Context blocks:\n\n"), ("stream", "q"), ("warm", "User:")]


def test_a_failing_warm_up_is_only_logged(fake_settings, caplog):
    class Broken(ReplayGenerator):
        def warm(self, messages):
            raise RuntimeError("model file is gone")

    build_pipeline(fake_settings, generator=Broken()).warm_up_in_background().join(5)
    assert "warm-up failed: model file is gone" in caplog.text


def test_chat_json_reads_one_question_per_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("RAGQA_MODE", "fake")
    monkeypatch.setenv("RAGQA_RETRIEVE__MIN_SCORE", "0.0")
    main(["ingest", str(SAMPLE)])
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO("Hotel limit in London?\n\nAnd for meals?\n"))
    assert main(["chat", "--json"]) == 0
    turns = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [t["question"] for t in turns] == ["Hotel limit in London?", "And for meals?"]
    assert set(turns[0]) == {"question", "standalone_question", "answer", "sources", "unsupported", "timings"}
    assert turns[0]["standalone_question"] == "Hotel limit in London?"
    assert turns[1]["standalone_question"] == "Fake answer [1]."  # the fake replays its default for the rewrite


def test_chat_goes_on_after_the_model_crashed_on_a_question(monkeypatch, capsys, tmp_path):
    """The model's process (a stand-in speaking its protocol) dies by SIGSEGV on the first question: that
    question fails with the message, the next is answered by the restarted process, the exit code says one
    failed."""
    monkeypatch.setenv("RAGQA_MODE", "fake")
    monkeypatch.setenv("RAGQA_RETRIEVE__MIN_SCORE", "0.0")
    main(["ingest", str(SAMPLE)])
    capsys.readouterr()
    model = ChildProcessGenerator(Path("unused.gguf"), command=FAKE_CHILD)
    real_build = pipeline_module.build_pipeline
    monkeypatch.setattr(pipeline_module, "build_pipeline", lambda s: real_build(s, generator=model))
    monkeypatch.setattr(model, "count_tokens", lambda messages: sum(len(m["content"]) // 4 for m in messages))
    monkeypatch.setattr("sys.stdin", io.StringIO("<crash> Hotel limit in London?\nHotel limit in London?\n"))
    try:
        assert main(["chat", "--json"]) == 1
    finally:
        model.close()
    out, err = capsys.readouterr()
    [turn] = [json.loads(line) for line in out.splitlines()]
    assert turn["question"] == "Hotel limit in London?" and turn["answer"] == "fake answer"
    assert "ragqa: error: the language model crashed (signal 11, SIGSEGV); it was restarted" in err
    assert model.crashes == 1
