"""One contract for every implementation: each Store (embedded Chroma, a `chroma run` server, an upload
session's in-memory collection, several stores merged) and each Generator (SmolLM2 through llama.cpp, the same
model behind llama-cpp-python's OpenAI-compatible server, the replaying fake, the queue in front of one) goes
through the same checks of what rag.retrieve, rag.answer and the app rely on. The real engines are slow tests;
the fakes run with the fast ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.fakes import HashingEmbedder, ReplayGenerator
from rag.llm import Generator, LlamaCppGenerator, Message
from rag.llm_process import ChildProcessGenerator
from rag.models import resolve
from rag.queue import QueuedGenerator
from rag.remote_llm import OpenAIGenerator
from rag.sessions import UploadSessions
from rag.store import ChromaStore, MergedStore, Store, http_client
from rag.types import Chunk
from tests.conftest import REAL_MODELS
from tests.integration.conftest import LLM_KEY

slow = pytest.mark.slow
EMBEDDER = HashingEmbedder()  # the store is under test, not the embedder
DOCS = {
    "/docs/zebra.md": ["The zebra project budget is forty thousand dollars.", "Zebra crossings are painted white."],
    "/docs/walrus.md": ["The walrus migration starts in March.", "Walrus tusks grow all their lives."],
}


def chunks_of(source: str) -> list[Chunk]:
    return [
        Chunk(f"{Path(source).stem}-{i}", text, source, 1, i, f"h{i}", f"d-{source}", context=f"{source} card")
        for i, text in enumerate(DOCS[source])
    ]


def write(store: ChromaStore, source: str) -> None:
    store.replace_source(source, chunks_of(source), EMBEDDER, {"title": Path(source).stem})


def chroma(kind: str, request: pytest.FixtureRequest, tmp_path: Path, name: str) -> ChromaStore:
    if kind == "embedded":
        return ChromaStore(tmp_path / "index", name, EMBEDDER.name, EMBEDDER.dim)
    if kind == "server":
        client = http_client(request.getfixturevalue("chroma_server"))
        return ChromaStore(tmp_path / "index", name, EMBEDDER.name, EMBEDDER.dim, client=client)
    return UploadSessions(EMBEDDER.name, lambda: EMBEDDER.dim).store(name)


@pytest.fixture(params=["embedded", pytest.param("server", marks=slow), "upload", "merged"])
def store_and_writers(request, tmp_path):
    """(the store under test, the ChromaStore each document is written to)."""
    if request.param == "merged":
        first, second = chroma("embedded", request, tmp_path, "first"), chroma("upload", request, tmp_path, "second")
        return MergedStore([first, second]), {"/docs/zebra.md": first, "/docs/walrus.md": second}
    store = chroma(request.param, request, tmp_path, f"contract-{tmp_path.name[-20:].strip('_-')}x")
    return store, dict.fromkeys(DOCS, store)


def query(text: str) -> list[float]:
    return EMBEDDER.embed([text])[0]


def test_store_contract(store_and_writers):
    store, writers = store_and_writers
    s: Store = store  # the protocol is all a caller may use
    before = s.cards_version()
    assert s.count() == 0 and s.search(query("zebra"), 3) == []
    for source, writer in writers.items():
        write(writer, source)
    assert s.count() == 4 and s.cards_version() != before

    hits = s.search(query("zebra project budget"), 4)
    assert hits[0].chunk.source == "/docs/zebra.md" and hits[0].chunk.text == DOCS["/docs/zebra.md"][0]
    assert all(h.chunk.text and h.chunk.source and h.chunk.context for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert {h.chunk.source for h in s.search(query("zebra"), 4, sources=["/docs/walrus.md"])} == {"/docs/walrus.md"}
    assert s.search(query("zebra"), 4, sources=[]) == []

    found = s.keyword_search("walrus migration", 4)
    assert found[0][0] == "walrus-0" and all(score > 0 for _, score in found)
    assert not any(i.startswith("walrus") for i, _ in s.keyword_search("walrus", 4, sources=["/docs/zebra.md"]))

    got = s.get(["walrus-1", "missing", "zebra-0"], query("walrus"))
    assert [h.chunk.id for h in got] == ["walrus-1", "zebra-0"]
    assert got[0].chunk.text == DOCS["/docs/walrus.md"][1] and got[0].chunk.page == 1
    assert s.cards()["/docs/zebra.md"]["title"] == "zebra"

    version = s.cards_version()
    writers["/docs/zebra.md"].delete_source("/docs/zebra.md")
    assert s.count() == 2 and s.cards_version() != version and "/docs/zebra.md" not in s.cards()
    assert {h.chunk.source for h in s.search(query("zebra project budget"), 4)} == {"/docs/walrus.md"}
    assert not any(i.startswith("zebra") for i, _ in s.keyword_search("zebra", 4))


@pytest.fixture(
    params=[
        "replay",
        "queued",
        pytest.param("llama.cpp", marks=slow),
        pytest.param("llama.cpp in a child process", marks=slow),
        pytest.param("openai-compatible", marks=slow),
        pytest.param("queued openai-compatible", marks=slow),
    ]
)
def generator(request):
    kind = request.param
    if kind == "replay":
        return ReplayGenerator(["A reply in several words."] * 3)
    if kind == "queued":
        return QueuedGenerator(ReplayGenerator(["A reply in several words."] * 3))
    if kind == "llama.cpp":
        return LlamaCppGenerator(resolve("smollm2-135m", REAL_MODELS), n_ctx=1024, max_tokens=64, prompt_cache_mb=0)
    if kind == "llama.cpp in a child process":
        child = ChildProcessGenerator(resolve("smollm2-135m", REAL_MODELS), n_ctx=1024, max_tokens=64)
        request.addfinalizer(child.close)
        return child
    remote = OpenAIGenerator(
        request.getfixturevalue("llm_server"),
        "smollm2",
        api_key=LLM_KEY,
        max_tokens=64,
        tokenizer=resolve("smollm2-135m", REAL_MODELS),
    )
    return QueuedGenerator(remote, slots=2) if kind.startswith("queued") else remote


def test_generator_contract(generator):
    g: Generator = generator
    short: list[Message] = [{"role": "user", "content": "Say hello."}]
    longer: list[Message] = [
        {"role": "system", "content": "You answer in one short sentence."},
        {"role": "user", "content": "Say hello to the team in Chinese: 你好, 12345."},
    ]
    assert g.prompt_budget > 0
    assert 0 < g.count_tokens(short) < g.count_tokens(longer)
    assert g.warm(short) is None
    pieces = list(g.stream(short, max_tokens=8))
    assert pieces and all(isinstance(p, str) for p in pieces) and "".join(pieces).strip()
    stopped = g.stream(longer, max_tokens=32)
    next(stopped)
    stopped.close()  # a caller that goes away frees the model for the next one
    assert "".join(g.stream(short, max_tokens=8)).strip()
