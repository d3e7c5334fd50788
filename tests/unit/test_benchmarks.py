"""Benchmark scripts run on tiny data, so a command the README gives cannot silently break."""

import subprocess
import sys

from tests.conftest import ROOT


def test_search_latency_prints_its_table():
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "search_latency.py"), "300"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    header, row = out.stdout.strip().splitlines()
    assert header.split()[:4] == ["chunks", "build", "s", "p50"]
    size, build_s, p50, p95 = row.split()
    assert size == "300" and float(build_s) > 0 and 0 < float(p50) <= float(p95)
