"""End to end with real components: the all-MiniLM-L6-v2 embedder, a persistent Chroma on disk and GGUF
models through llama.cpp. Models come from `make test` (`ragqa models pull ...`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import PurePath

import pytest

from app.cli import EXIT_PARTIAL
from ingest.index import Indexer
from rag.llm import LlamaCppGenerator
from rag.models import resolve
from rag.pipeline import build_pipeline
from rag.settings import load_settings
from tests.conftest import REAL_MODELS, SAMPLE, shared_path

pytestmark = pytest.mark.slow


def require(name: str) -> None:
    try:
        resolve(name, REAL_MODELS)
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"{exc} (make test pulls it)")


def ragqa(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, env=env, timeout=1200
    )


@pytest.fixture(scope="module")
def sec_index(tmp_path_factory):
    """2022 Q3 AAPL and 2023 Q1 MSFT (which trips pypdf's default limits), ingested by the real CLI."""
    docs = shared_path("sec-10q", "docs")
    index = tmp_path_factory.mktemp("sec") / "index"
    files = [str(docs / "2022 Q3 AAPL.pdf"), str(docs / "2023 Q1 MSFT.pdf")]
    first = ragqa("ingest", *files, "--index", str(index), "--json", env_extra={"RAGQA_MODELS_DIR": str(REAL_MODELS)})
    assert first.returncode == 0, first.stderr
    second = ragqa("ingest", *files, "--index", str(index), "--json", env_extra={"RAGQA_MODELS_DIR": str(REAL_MODELS)})
    return index, json.loads(first.stdout), json.loads(second.stdout)


def test_filings_ingest_once(sec_index):
    _, first, second = sec_index
    assert first["files_indexed"] == 2 and first["files_failed"] == [] and first["chunks_added"] > 300
    assert (second["files_unchanged"], second["chunks_added"], second["chunks_total"]) == (2, 0, first["chunks_total"])


def test_no_stored_chunk_exceeds_the_embedders_window(sec_index):
    index, _, _ = sec_index
    settings = load_settings(index_dir=index)
    pipeline = build_pipeline(settings)
    chunks = pipeline.open_store(create=False).all_chunks()
    counts = pipeline.embedder.count_tokens([c.text for c in chunks])
    assert pipeline.embedder.max_tokens == 256
    assert max(counts) <= 256
    assert {c.file_name for c in chunks} == {"2022 Q3 AAPL.pdf", "2023 Q1 MSFT.pdf"}
    assert all(c.page is not None and c.page >= 1 for c in chunks)


def test_apple_net_sales_with_the_default_llm(sec_index):
    require("qwen2.5-coder-1.5b")
    index, _, _ = sec_index
    q = "What were Apple's total net sales for the three months ended June 25, 2022?"
    proc = ragqa("ask", q, "--index", str(index), "--json", env_extra={"RAGQA_MODELS_DIR": str(REAL_MODELS)})
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert "82,959" in answer["answer"]
    cited = [s for s in answer["sources"] if s["source"].endswith("2022 Q3 AAPL.pdf")]
    assert cited and all(isinstance(s["page"], int) for s in cited)
    assert any("82,959" in s["text"] for s in cited)


def test_edge_case_folder_exits_3_with_specific_reasons(tmp_path):
    folder = shared_path("pdf-edge-cases")
    proc = ragqa(
        "ingest",
        str(folder),
        "--index",
        str(tmp_path / "i"),
        "--json",
        env_extra={"RAGQA_MODELS_DIR": str(REAL_MODELS)},
    )
    assert proc.returncode == EXIT_PARTIAL and "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    reasons = {f["path"].rsplit("/", 1)[-1]: f["error"] for f in report["files_failed"]}
    assert reasons["invalid-header-only.pdf"].startswith("not a readable PDF")
    assert reasons["password-protected.pdf"].startswith("encrypted: needs a password")
    # the image-only PDFs are read by OCR; the one whose image holds no text says so
    assert not {"scanned-no-text-layer.pdf", "francais.pdf", "enormous-page.pdf"} & set(reasons)
    assert reasons["image-only-ccitt.pdf"].startswith("no text layer (scanned?): pages hold only images; OCR read")
    assert report["files_indexed"] == 11 and report["files_seen"] == 19


def test_sample_docs_to_a_cited_answer_with_a_real_gguf(tmp_path):
    """The whole path with the small test model: real embedder, real Chroma, real llama.cpp streaming."""
    require("smollm2-135m")
    settings = load_settings(index_dir=tmp_path / "i", llm={"model": "smollm2-135m", "max_tokens": 48})
    pipeline = build_pipeline(settings)
    report = Indexer(pipeline).ingest([SAMPLE])
    assert report.files_indexed == 4 and report.files_failed == []
    stream = pipeline.answerer.ask("What is the hotel limit per night in London?")
    assert stream.sources[0].source.endswith("expense-policy.pdf") and stream.sources[0].page == 2
    pieces = list(stream)
    assert len(pieces) > 3 and stream.result.answer  # streamed token by token from the GGUF
    assert stream.result.timings.first_token_s is not None


def test_chinese_question_finds_the_chinese_document(tmp_path):
    settings = load_settings(index_dir=tmp_path / "i")
    pipeline = build_pipeline(settings)
    Indexer(pipeline).ingest([SAMPLE])
    hits = pipeline.answerer.retrieve("员工每周最多可以远程办公几天？", k=2)
    assert hits[0].chunk.file_name == "remote-work-guide-zh.md"


def test_the_multilingual_embedder_puts_a_question_near_its_answer_in_another_language():
    require("multilingual-e5-small")
    from rag.e5_embedder import E5Embedder

    e5 = E5Embedder(resolve("multilingual-e5-small", REAL_MODELS), "multilingual-e5-small")
    passages = e5.embed(["员工每周最多可以远程办公三天。", "Hotels: up to EUR 220 per night in London."])
    assert e5.dim == 384 and len(passages) == 2 and e5.max_tokens == 512
    assert e5.count_tokens(["员工每周最多可以远程办公三天。"])[0] < 20  # SentencePiece, not one token per byte

    def cos(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    remote, hotel = e5.embed_query("How many days a week can I work from home?"), e5.embed_query("伦敦的酒店多少钱？")
    assert cos(remote, passages[0]) > cos(remote, passages[1]) and cos(hotel, passages[1]) > cos(hotel, passages[0])


def test_an_english_question_is_answered_from_the_chinese_document_with_the_default_models(tmp_path):
    """The sample's remote-work rule is only in the Chinese guide; MiniLM does not read Chinese, the
    multilingual vectors of its chunks do."""
    require("qwen2.5-coder-1.5b")
    require("multilingual-e5-small")
    pipeline = build_pipeline(load_settings(index_dir=tmp_path / "i"))
    Indexer(pipeline).ingest([SAMPLE])
    result = pipeline.answerer.ask("How many days a week may employees work remotely?").consume()
    assert result.found and "remote-work-guide-zh.md" in [PurePath(s.source).name for s in result.sources]
    assert "three" in result.answer.lower() or "3" in result.answer, result.answer


def test_unrelated_question_is_not_answered(tmp_path):
    settings = load_settings(index_dir=tmp_path / "i")
    pipeline = build_pipeline(settings)
    Indexer(pipeline).ingest([SAMPLE])
    result = pipeline.answerer.ask("How many moons does Jupiter have?").consume()
    assert not result.found and result.answer.startswith("I could not find")


def test_the_prompt_cache_holds_only_what_it_counts(tmp_path):
    """llama-cpp-python's RAM prompt cache copied the score matrix (n_batch x vocabulary floats) into every
    saved state without counting it against its capacity: with the default model a process grew by about
    300 MB per answer (8.4 GB after 20) until the OOM killer stopped it. Every byte a cached state holds is now
    within what the cache counts and bounds."""
    require("smollm2-135m")
    settings = load_settings(index_dir=tmp_path / "i", llm={"model": "smollm2-135m", "max_tokens": 16})
    model = LlamaCppGenerator(resolve("smollm2-135m", REAL_MODELS), max_tokens=16)  # what the model's process runs
    pipeline = build_pipeline(settings, generator=model)
    Indexer(pipeline).ingest([SAMPLE])
    for question in (
        "What is the hotel limit per night in London?",
        "How many days a week may employees work remotely?",
    ):
        pipeline.answerer.ask(question).consume()
    cache = model._llm.cache
    assert len(cache.cache_state) >= 2
    for state in cache.cache_state.values():
        uncounted = state.scores.nbytes + state.input_ids.nbytes
        assert uncounted < 64 * 1024, uncounted  # before: 100 MB of scores per state with this model
    assert cache.cache_size <= cache.capacity_bytes
