"""Benchmark scripts run on tiny data, so a command the README gives cannot silently break."""

from tests.conftest import run_benchmark


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
