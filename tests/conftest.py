"""Shared fixtures: every test gets its own index folder; fast tests get an empty model folder too."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from rag.settings import Settings, default_cache_dir, load_settings

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
SAMPLE = ROOT / "data" / "sample"
REAL_MODELS = Path(os.environ.get("RAGQA_MODELS_DIR") or default_cache_dir() / "models")


def shared_path(*parts: str) -> Path:
    """A path under ../shared/datasets, or skip: a user's clone has no ../shared (CI has it)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: ../shared/datasets ships with the project's CI, not with a clone")
    return path


def run_benchmark(script: str, *args: str, env: dict[str, str] | None = None) -> str:
    """A benchmarks/ script's output, run the way the README says (from the repository root, a clean
    environment plus `env`); fails the test with its stderr when it exits non-zero."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", **(env or {})},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def free_port() -> int:
    """A localhost port nobody listens on now (for servers the tests start)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """Index in tmp_path always; models in tmp_path too, except for slow tests that use the real ones."""
    monkeypatch.setenv("RAGQA_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.delenv("RAGQA_SETTINGS", raising=False)
    monkeypatch.delenv("RAGQA_MODE", raising=False)
    if request.node.get_closest_marker("slow"):
        monkeypatch.setenv("RAGQA_MODELS_DIR", str(REAL_MODELS))
    else:
        monkeypatch.setenv("RAGQA_MODELS_DIR", str(tmp_path / "models"))
        monkeypatch.setenv("RAGQA_DOWNLOADS_DIR", str(tmp_path / "downloads"))


@pytest.fixture
def fake_settings(tmp_path: Path) -> Settings:
    return load_settings(environ={}, mode="fake", index_dir=tmp_path / "index", models_dir=tmp_path / "models")
