"""Benchmark scripts run on tiny data, so a command the README gives cannot silently break."""

import re

from app.cli import main
from tests.conftest import run_benchmark, shared_path


def test_search_latency_prints_its_table():
    header, row = run_benchmark("search_latency.py", "300").strip().splitlines()
    assert header.split()[:4] == ["chunks", "build", "s", "p50"]
    size, build_s, p50, p95 = row.split()
    assert size == "300" and float(build_s) > 0 and 0 < float(p50) <= float(p95)


def test_the_chinese_and_cross_language_benchmark_prints_a_column_per_direction():
    """Fake mode (hashing embedders): the script's shape, not its numbers."""
    out = run_benchmark("zh_bm25.py", "tests/fixtures/mixed-retrieval", env={"RAGQA_MODE": "fake"})
    lines = out.strip().splitlines()
    assert lines[0].startswith("100 questions, 64 passages")
    assert lines[1].split() == ["ez", "(40)", "ze", "(20)", "zz", "(40)"]
    assert lines[2].split()[:2] == ["bm25", "bigrams"] and lines[3].startswith("  ragqa ")
    assert lines[4].startswith("  ratio ragqa ") and len(lines) == 5


def test_tune_fusion_prints_the_sweep_and_the_scifact_split(tmp_path, monkeypatch):
    """Fake mode, tiny indexes (the Chinese set stands in for SciFact's): the script's shape, not its numbers."""
    filing = shared_path("sec-10q", "docs", "2022 Q3 AAPL.pdf")
    shared_path("scifact", "corpus.jsonl")
    monkeypatch.setenv("RAGQA_MODE", "fake")
    zh, sec = tmp_path / "zh", tmp_path / "sec"
    assert main(["eval", "retrieval", "--beir", "tests/fixtures/zh-retrieval", "--index", str(zh), "--json"]) == 0
    assert main(["ingest", str(filing), "--index", str(sec), "--json"]) == 0
    out = run_benchmark("tune_fusion.py", str(zh), str(sec), str(zh), "3", env={"RAGQA_MODE": "fake"})
    lines = out.strip().splitlines()
    assert lines[0] == "dense keyword coverage | scifact-train nDCG@10 | sec hit@1 hit@4 | zh first top4"
    row = re.compile(r" *[\d.]+ +[\d.]+ +[\d.]+ \| +[\d.]+ \| +[\d.]+ [\d.]+ \| +[\d.]+ [\d.]+")
    assert len(lines) == 25 and all(row.fullmatch(line) for line in lines[1:9])
    assert lines[9] == "cjk_dense cjk_keyword multilingual | zh first top4"
    cjk_row = re.compile(r" *[\d.]+ +[\d.]+ +[\d.]+ \| +[\d.]+ [\d.]+")
    assert all(cjk_row.fullmatch(line) for line in lines[10:22])  # 12 weight triples, the configured among them
    names = ["dense only", "keyword only (BM25)", "hybrid (configured)"]
    assert [line.split(", ", 1)[1].rsplit(":", 1)[0] for line in lines[22:]] == names
