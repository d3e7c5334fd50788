"""The benchmarks that need real models, run on tiny data (one sample PDF, one filing, the smallest LLM), so a
command the README gives cannot silently break. Their numbers come from `make bench`, not from here."""

from __future__ import annotations

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
