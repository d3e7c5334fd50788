"""The benchmarks that need real models, run on tiny data (one sample PDF, one filing, the smallest LLM), so a
command the README gives cannot silently break. Their numbers come from `make bench`, not from here."""

from __future__ import annotations

import os
import re
import shutil

import pytest

from tests.conftest import REAL_MODELS, SAMPLE, run_benchmark, shared_path

pytestmark = pytest.mark.slow
SMALL_LLM = {"RAGQA_LLM__MODEL": "smollm2-135m", "RAGQA_MODELS_DIR": str(REAL_MODELS)}


def test_ingest_vs_naive_prints_the_ratio_memory_and_small_files_rate(tmp_path):
    shared_path("scifact", "corpus.jsonl")
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SAMPLE / "expense-policy.pdf", docs)
    out = run_benchmark("ingest_vs_naive.py", str(docs), "6", env={"RAGQA_MODELS_DIR": str(REAL_MODELS)})
    lines = out.strip().splitlines()
    assert lines[0].startswith("1 filings from ") and lines[0].endswith("the naive pipeline gets 1")
    assert re.fullmatch(r"naive 1 files \d+ chunks peak_mb \d+ in [\d.]+ s", lines[1])
    assert re.fullmatch(r"ragqa 1 files \d+ chunks peak_mb \d+ in [\d.]+ s", lines[2])
    assert re.fullmatch(
        r"naive \(1 files\) [\d.]+ s \| ragqa \(1 of 1 files\) [\d.]+ s \| naive/ragqa = [\d.]+ \(goal >= 3\.0\)"
        r" \| ragqa peak RSS \d+ MB \(goal <= 1536\)",
        lines[3],
    )
    assert re.fullmatch(r"ragqa 6 files \d+ chunks peak_mb \d+ in [\d.]+ s", lines[4])
    assert re.match(r"filings [\d.]+ chunks/s \| 6 small files [\d.]+ chunks/s", lines[5]) and len(lines) == 6


def test_ask_overhead_prints_the_ratio_to_a_bare_llama_call():
    out = run_benchmark("ask_overhead.py", "1", env=SMALL_LLM)
    lines = out.strip().splitlines()
    assert re.match(r"round 1: ragqa ask +[\d.]+ s '.+' +bare llama-cpp-python +[\d.]+ s '.+'", lines[0])
    assert re.match(r"model smollm2-135m\.gguf, prompt about \d+ tokens, 1 rounds", lines[2])
    assert re.fullmatch(r"ratio \d+\.\d{3} \(goal <= 1\.05\)", lines[-1])


def test_ttft_prints_a_row_per_k(tmp_path):
    from ingest.index import Indexer
    from rag.pipeline import build_pipeline
    from rag.settings import load_settings

    filing = shared_path("sec-10q", "docs", "2022 Q3 AAPL.pdf")
    index = tmp_path / "sec"
    Indexer(build_pipeline(load_settings(index_dir=index, models_dir=REAL_MODELS))).ingest([filing])
    out = run_benchmark("ttft.py", str(index), "1", "2:0", "3", env=SMALL_LLM)
    lines = out.strip().splitlines()
    assert [line.split()[1] for line in lines[:2]] == ["k=2:0", "k=3:12"]
    assert lines[-4].startswith("1 questions, warm engine")
    assert lines[-3].split()[:3] == ["k:depth", "median", "TTFT"]
    assert [row.split()[0] for row in lines[-2:]] == ["2:0", "3:12"]
    assert all(row.split()[-1] in ("0/1", "1/1") for row in lines[-2:])


def test_embedder_backends_prints_both_backends_side_by_side():
    out = run_benchmark(
        "embedder_backends.py", "tests/fixtures/zh-retrieval", "5", env={"RAGQA_MODELS_DIR": str(REAL_MODELS)}
    )
    lines = out.strip().splitlines()
    assert lines[-5] == "zh-retrieval: 5 queries; whole command (indexing + queries) timed"
    assert lines[-4].split() == ["backend", "nDCG@10", "recall@10", "recall@100", "MRR@10", "seconds"]
    assert [row.split()[0] for row in lines[-3:-1]] == ["onnx-int8", "torch"]
    assert all(0 <= float(v) <= 1 for row in lines[-3:-1] for v in row.split()[1:5])
    assert re.fullmatch(r"nDCG@10 fp32 - int8 = [+-]\d\.\d{4} \(goal <= 0\.005\); time int8/fp32 = [\d.]+", lines[-1])


def test_prefix_cache_prints_both_times_and_the_whole_turn(tmp_path):
    from ingest.index import Indexer
    from rag.pipeline import build_pipeline
    from rag.settings import load_settings

    filing = shared_path("sec-10q", "docs", "2022 Q3 AAPL.pdf")
    index = tmp_path / "sec"
    Indexer(build_pipeline(load_settings(index_dir=index, models_dir=REAL_MODELS))).ingest([filing])
    out = run_benchmark("prefix_cache.py", str(index), "smollm2-135m", env={"RAGQA_MODELS_DIR": str(REAL_MODELS)})
    lines = out.strip().splitlines()
    assert re.match(r"turn 1: first token [\d.]+ s, answer: '.*'", lines[0])
    assert re.fullmatch(r"follow-up answer prompt: \d+ tokens", lines[-3])
    assert re.fullmatch(
        r"time to first token, follow-up answer: with cache [\d.]+ s \| without [\d.]+ s \| ratio [\d.]+", lines[-2]
    )
    assert re.fullmatch(
        r"whole follow-up turn \(rewrite \+ retrieval \+ answer\), first token: "
        r"(?:[\d.]+ s|none \(no answer was streamed\)) \(goal 6 s\)",
        lines[-1],
    )


def test_calibrate_threshold_prints_the_sweep_and_its_choice():
    shared_path("scifact", "corpus.jsonl")
    shared_path("sec-10q", "qna_data.csv")
    out = run_benchmark("calibrate_threshold.py", env={"RAGQA_MODELS_DIR": str(REAL_MODELS)})
    lines = out.strip().splitlines()
    assert re.fullmatch(r"150 answerable and 150 unanswerable claims; \d+ abstracts, \d+ chunks indexed", lines[0])
    sweep = [line for line in lines if line.startswith("threshold ")]
    assert len(sweep) >= 5 and all(
        re.fullmatch(
            r"threshold [\d.]+: answerable kept [\d.]+%, near misses refused [\d.]+%, off-topic refused "
            r"[\d.]+%",
            line,
        )
        for line in sweep
    )
    chosen = re.fullmatch(r"chosen threshold \(keeps >= 98 % of answerable\): ([\d.]+)", lines[-1])
    assert chosen and 0 < float(chosen.group(1)) < 1


def test_soak_serves_sessions_through_a_reindex_without_errors():
    """Fake mode (no models): sessions keep answering while another process re-indexes the same index."""
    shared_path("sec-10q", "docs")
    out = run_benchmark("soak.py", "0.1", "2", env={"RAGQA_MODE": "fake"})
    lines = out.strip().splitlines()
    head = re.fullmatch(r"2 sessions, 0\.1 min, re-index exit 0, (\d+) index writes during the run", lines[0])
    assert head and int(head.group(1)) > 0
    counts = re.fullmatch(r"requests (\d+), errors 0", lines[1])
    assert counts and int(counts.group(1)) > 0
    assert re.fullmatch(r"latency p50 [\d.]+ s, p95 [\d.]+ s, max [\d.]+ s", lines[2])
    assert re.fullmatch(r"peak RSS of the serving process \d+ MB", lines[3]) and len(lines) == 4


def test_injection_prints_each_defence_layer_side_by_side():
    out = run_benchmark("injection.py", "1", env=SMALL_LLM)
    lines = out.strip().splitlines()
    layers = [f"guard {g}, reminder {r}" for g in ("off", "on ") for r in ("off", "on ")]
    assert [lines[i] for i in range(0, 8, 2)] == [f"{name}:" for name in layers]
    assert all(re.match(r"  \S+ +(?:ok|OBEYED) +(?:right|WRONG)", lines[i]) for i in range(1, 8, 2))
    assert lines[-5].startswith("1 planted documents")
    summary = re.compile(
        r"  (.+):  obeyed +[01]/1  right +[01]/1  \|  obeyed +[01]/1  right +[01]/1  \(withheld [01]\)  \d+ s"
    )
    assert [summary.fullmatch(line).group(1) for line in lines[-4:]] == layers  # type: ignore[union-attr]


def test_llama_builds_prints_each_build_side_by_side():
    """The wheel `make install` built (the Makefile passes its path), timed against itself."""
    wheel = os.environ.get("TEST_LLAMA_WHEEL")
    if not wheel:
        pytest.skip("TEST_LLAMA_WHEEL is unset: `make test` sets it to the wheel it built")
    out = run_benchmark("llama_builds.py", "smollm2-135m", "1", wheel, wheel, env=SMALL_LLM)
    lines = out.strip().splitlines()
    assert "AMX" not in lines[1].upper() and "AVX" in lines[1]
    assert re.fullmatch(r"round 1 \[1\] prompt +[\d.]+ tok/s +generation +[\d.]+ tok/s", lines[5])
    assert lines[-3] == "build   prompt tok/s  ratio  gen tok/s  ratio"
    assert re.fullmatch(r"\[0\] +[\d.]+ +1\.00 +[\d.]+ +1\.00", lines[-2])
    assert re.fullmatch(r"\[1\] +[\d.]+ +[\d.]+ +[\d.]+ +[\d.]+", lines[-1])


def test_serve_load_prints_requests_errors_and_outcomes():
    out = run_benchmark("serve_load.py", "0.1", "2", env={**SMALL_LLM, "RAGQA_LLM__MAX_TOKENS": "16"})
    lines = out.strip().splitlines()
    assert re.fullmatch(r"2 clients, 0\.1 min, re-index runs \d+ \(exit codes \{0\}\)", lines[0])
    assert re.fullmatch(r"requests \d+, errors 0, wrong outcomes 0", lines[1])
    assert [line.split()[0] for line in lines[2:5]] == ["answerable", "refused", "chinese"]
    assert lines[-1].startswith("peak RSS: server ")
