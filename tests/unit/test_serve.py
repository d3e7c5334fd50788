"""`ragqa serve` over HTTP, driven by the official `openai` client: streaming and whole answers with their
sources, the bearer token, a follow-up carried through the rewrite, health and readiness. A real uvicorn
server and a real Chroma index; the generator replays queued replies (the real-model path is in
tests/integration/test_serving.py)."""

import contextlib
import json
import threading
import time

import httpx
import openai
import pytest

from app.serve import create_app
from ingest.index import Indexer
from rag.chat_api import BadRequest, parse_request, strip_sources
from rag.errors import ConfigError, RagError
from rag.fakes import ReplayGenerator
from rag.pipeline import build_pipeline
from tests.conftest import SAMPLE, free_port

TOKEN = "test-token-1234"


@contextlib.contextmanager
def serving(fake_settings, generator, ready=True, **serve):
    """`ragqa serve` on a free port over the sample documents, `serve` settings changed; waits for /readyz."""
    import uvicorn

    retrieve = fake_settings.retrieve.model_copy(update={"min_score": 0.0})
    limits = fake_settings.serve.model_copy(update=serve)
    settings = fake_settings.model_copy(update={"retrieve": retrieve, "serve": limits})
    pipeline = build_pipeline(settings, generator=generator)  # the hashing embedder's cosines are low
    Indexer(pipeline).ingest([SAMPLE])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(pipeline, TOKEN), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz").status_code == (200 if ready else 503):
                break
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    else:
        pytest.fail("ragqa serve did not start")
    try:
        yield base, pipeline
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def served(fake_settings):
    generator = ReplayGenerator()
    with serving(fake_settings, generator) as (base, _):
        yield base, generator


def client(base, key=TOKEN):
    return openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)


def test_streaming_answer_carries_its_sources_in_the_text_and_in_an_extra_field(served):
    base, generator = served
    generator.replies = ["Employees may work remotely up to three days a week [1]."]
    stream = client(base).chat.completions.create(
        model="ragqa", messages=[{"role": "user", "content": "How many days may employees work remotely?"}], stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text.startswith("Employees may work remotely up to three days a week [1].")
    assert "\n\nSources:\n[1] " in text
    assert chunks[-1].choices[0].finish_reason == "stop"
    sources = chunks[-1].model_extra["sources"]
    assert sources and sources[0]["n"] == 1 and sources[0]["file"] in text and sources[0]["text"]


def test_whole_answer_and_models_list(served):
    base, generator = served
    generator.replies = ["The expense limit is stated in the policy [1]."]
    reply = client(base).chat.completions.create(
        model="ragqa", messages=[{"role": "user", "content": "What is the expense policy?"}]
    )
    assert reply.choices[0].message.content.startswith("The expense limit is stated in the policy [1].")
    assert reply.model_extra["sources"]
    assert [m.id for m in client(base).models.list()] == ["ragqa"]


def test_a_missing_or_wrong_token_gets_401(served):
    base, _ = served
    with pytest.raises(openai.AuthenticationError):
        client(base, key="wrong").chat.completions.create(model="ragqa", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.AuthenticationError):
        client(base, key="wrong").models.list()
    bare = httpx.post(f"{base}/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]})
    assert bare.status_code == 401 and bare.headers["www-authenticate"] == "Bearer"
    assert httpx.get(f"{base}/healthz").status_code == 200  # health and readiness need no token


def test_a_follow_up_goes_through_the_rewrite_with_the_earlier_exchange(served):
    base, generator = served
    generator.replies = ["What is the remote work policy for contractors?", "Contractors follow the same rule [1]."]
    messages = [
        {"role": "user", "content": "What is the remote work policy?"},
        {"role": "assistant", "content": "Up to three days a week [1].\n\nSources:\n[1] remote-work-guide-zh.md"},
        {"role": "user", "content": "And for contractors?"},
    ]
    reply = client(base).chat.completions.create(model="ragqa", messages=messages)
    assert reply.choices[0].message.content.startswith("Contractors follow the same rule [1].")
    rewrite, answer = generator.seen
    conversation = rewrite[-1]["content"]
    assert "What is the remote work policy?" in conversation and "Up to three days a week" in conversation
    assert "Sources:" not in conversation  # the footnote list is not part of the conversation
    assert "And for contractors?" in answer[-1]["content"]
    assert "What is the remote work policy for contractors?" in answer[-1]["content"]


def test_bad_requests_get_400(served):
    base, _ = served
    with pytest.raises(openai.BadRequestError, match="last message"):
        client(base).chat.completions.create(model="ragqa", messages=[{"role": "system", "content": "hi"}])
    raw = httpx.post(f"{base}/v1/chat/completions", content=b"{not json", headers={"Authorization": f"Bearer {TOKEN}"})
    assert raw.status_code == 400 and "not JSON" in raw.json()["error"]["message"]


def test_the_api_refuses_to_start_without_a_token(fake_settings):
    with pytest.raises(ConfigError, match="RAGQA_SERVE__TOKEN"):
        create_app(build_pipeline(fake_settings), "")


def test_request_parsing():
    asked = parse_request(
        {
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "first?"}]},
                {"role": "assistant", "content": "one [1].\n\nSources:\n[1] a.md"},
                {"role": "user", "content": "second?"},
            ],
            "stream": True,
        }
    )
    assert asked.question == "second?" and asked.stream
    assert [(t.question, t.answer) for t in asked.history] == [("first?", "one [1].")]
    assert strip_sources("no footnotes here") == "no footnotes here"
    for bad in ({}, {"messages": []}, {"messages": [{"role": "user", "content": "  "}]}, {"messages": [{"x": 1}]}):
        with pytest.raises(BadRequest):
            parse_request(bad)


AUTH = {"Authorization": f"Bearer {TOKEN}"}
ASK = {"model": "ragqa", "messages": [{"role": "user", "content": "Hotel limit per night in London?"}]}


def test_a_body_past_the_limit_gets_413_whether_its_length_is_sent_or_not(served):
    base, _ = served
    big = json.dumps({**ASK, "padding": "x" * (300 << 10)}).encode()
    sized = httpx.post(f"{base}/v1/chat/completions", content=big, headers=AUTH)
    chunked = httpx.post(f"{base}/v1/chat/completions", content=iter([big[:1000], big[1000:]]), headers=AUTH)
    for reply in (sized, chunked):
        assert reply.status_code == 413 and "larger than 256 KB" in reply.json()["error"]["message"]


def test_too_many_or_too_long_messages_get_400(served):
    base, _ = served
    many = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"} for i in range(65)]
    reply = httpx.post(f"{base}/v1/chat/completions", json={"messages": many}, headers=AUTH)
    assert reply.status_code == 400 and "at most 64 messages" in reply.json()["error"]["message"]
    long = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a" * 20000}, ASK["messages"][0]]
    reply = httpx.post(f"{base}/v1/chat/completions", json={"messages": long}, headers=AUTH)
    assert reply.status_code == 400 and "longer than 16000 characters" in reply.json()["error"]["message"]


class Held(ReplayGenerator):
    """Streams once `release` is set."""

    def __init__(self):
        super().__init__(["Held answer [1]."] * 100)
        self.release = threading.Event()

    def stream(self, messages, max_tokens=None):
        assert self.release.wait(30)
        yield from super().stream(messages, max_tokens)


def test_questions_past_the_waiting_limit_get_429_even_in_a_burst(fake_settings):
    """max_waiting 1: one question answering and one waiting are admitted; of ten sent at the same instant the
    other eight get 429 at once (counted from admission, so none slips in between check and queue)."""
    held = Held()
    with serving(fake_settings, held, max_waiting=1) as (base, _):
        replies: list[httpx.Response] = []
        start = threading.Barrier(10)

        def ask() -> None:
            start.wait()
            replies.append(httpx.post(f"{base}/v1/chat/completions", json=ASK, headers=AUTH, timeout=60))

        askers = [threading.Thread(target=ask) for _ in range(10)]
        for t in askers:
            t.start()
        deadline = time.monotonic() + 30
        while len(replies) < 8:
            assert time.monotonic() < deadline, [r.status_code for r in replies]
            time.sleep(0.05)
        refused = list(replies)
        assert [r.status_code for r in refused] == [429] * 8 and refused[0].headers["Retry-After"] == "5"
        assert "2 questions are being answered or waiting" in refused[0].json()["error"]["message"]
        held.release.set()
        for t in askers:
            t.join(30)
        assert sorted(r.status_code for r in replies) == [200, 200] + [429] * 8


class ServerNotUpYet(ReplayGenerator):
    """Its warm-up fails twice (an LLM server still starting), then works."""

    def __init__(self):
        super().__init__()
        self.warm_calls = 0

    def warm(self, messages):
        self.warm_calls += 1
        if self.warm_calls <= 2:
            raise RagError("cannot reach the LLM server at http://llm:8080/v1")


def test_readyz_says_why_only_to_a_client_with_the_token_and_warm_up_is_tried_again(fake_settings):
    with serving(fake_settings, ServerNotUpYet(), ready=False, warm_retry_s=0.5) as (base, _):
        anonymous = httpx.get(f"{base}/readyz")
        assert anonymous.status_code == 503 and anonymous.json() == {"status": "not ready"}
        told = httpx.get(f"{base}/readyz", headers=AUTH)
        assert told.status_code == 503 and "cannot reach the LLM server" in told.json()["reason"]
        deadline = time.monotonic() + 20
        while httpx.get(f"{base}/readyz").status_code != 200:  # the third warm-up works: ready, no restart
            assert time.monotonic() < deadline, "warm-up was not tried again"
            time.sleep(0.1)


class BreaksMidAnswer(ReplayGenerator):
    def stream(self, messages, max_tokens=None):
        yield "The hotel limit is"
        raise ValueError("llama_decode returned -1")


def test_an_unexpected_error_mid_stream_ends_with_an_error_event_and_done(fake_settings):
    with (
        serving(fake_settings, BreaksMidAnswer()) as (base, _),
        httpx.stream("POST", f"{base}/v1/chat/completions", json={**ASK, "stream": True}, headers=AUTH) as r,
    ):
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert json.loads(events[0])["choices"][0]["delta"]["role"] == "assistant"  # the stream had begun
    assert events[-1] == "[DONE]"
    error = json.loads(events[-2])["error"]
    assert error["message"] == "the answer failed (see the server log)" and "llama_decode" not in events[-2]


def test_more_waiting_answers_than_worker_threads_neither_hang_the_server_nor_readyz(fake_settings):
    """Each streaming answer holds one of the server's worker threads while it waits for the model (anyio gives
    40); with 45 waiting, the answering one found no thread for its next piece and the server hung. The pool is
    sized to what may wait, and /readyz runs on a thread of its own."""
    held = Held()
    with serving(fake_settings, held, max_waiting=60) as (base, pipeline):
        done: list[int] = []

        def ask() -> None:
            reply = httpx.post(f"{base}/v1/chat/completions", json={**ASK, "stream": True}, headers=AUTH, timeout=60)
            done.append(reply.status_code)

        askers = [threading.Thread(target=ask) for _ in range(45)]
        for t in askers:
            t.start()
        deadline = time.monotonic() + 30
        while pipeline.generator.waiting() < 44:  # one holds the model, the others wait on worker threads
            assert time.monotonic() < deadline, f"only {pipeline.generator.waiting()} waiting"
            time.sleep(0.05)
        try:
            assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
        finally:
            held.release.set()
            for t in askers:
                t.join(60)
        assert done == [200] * 45
