"""`ragqa serve` over HTTP, driven by the official `openai` client: streaming and whole answers with their
sources, the bearer token, a follow-up carried through the rewrite, health and readiness. A real uvicorn
server and a real Chroma index; the generator replays queued replies (the real-model path is in
tests/integration/test_serving.py)."""

import threading
import time

import httpx
import openai
import pytest

from app.serve import create_app
from ingest.index import Indexer
from rag.chat_api import BadRequest, parse_request, strip_sources
from rag.errors import ConfigError
from rag.fakes import ReplayGenerator
from rag.pipeline import build_pipeline
from tests.conftest import SAMPLE, free_port

TOKEN = "test-token-1234"


@pytest.fixture
def served(fake_settings):
    import uvicorn

    generator = ReplayGenerator()
    retrieve = fake_settings.retrieve.model_copy(update={"min_score": 0.0})
    settings = fake_settings.model_copy(update={"retrieve": retrieve})
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
            if httpx.get(f"{base}/readyz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    else:
        pytest.fail("ragqa serve did not become ready")
    yield base, generator
    server.should_exit = True
    thread.join(10)


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
