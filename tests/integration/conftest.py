"""Real servers for the integration tests, each on a free localhost port for the module that uses it: a
`chroma run` server and llama-cpp-python's OpenAI-compatible server with SmolLM2-135M. Server output goes to a
log file, shown when a server fails to start."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from rag.models import resolve
from tests.conftest import REAL_MODELS, free_port

LLM_KEY = "llm-test-key"


def output(proc: subprocess.Popen) -> str:
    return Path(proc.log).read_text(errors="replace")  # type: ignore[attr-defined]


def wait_for(url: str, proc: subprocess.Popen, seconds: float = 120, headers: dict | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{proc.args[:4]} exited with {proc.returncode}: {output(proc)[-2000:]}")
        try:
            if httpx.get(url, headers=headers, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{url} did not answer within {seconds} s")


def start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    """A server process whose output goes to a file (a pipe nobody reads fills up and blocks it)."""
    fd, log = tempfile.mkstemp(prefix="ragqa-test-server-", suffix=".log")
    proc = subprocess.Popen(args, stdout=fd, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    os.close(fd)
    proc.log = log  # type: ignore[attr-defined]
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    chroma = Path(sys.executable).with_name("chroma")
    port = free_port()
    proc = start([str(chroma), "run", "--path", str(tmp_path_factory.mktemp("chroma-server")), "--port", str(port)])
    wait_for(f"http://127.0.0.1:{port}/api/v2/heartbeat", proc)
    yield f"http://127.0.0.1:{port}"
    stop(proc)


@pytest.fixture(scope="module")
def llm_server():
    model = resolve("smollm2-135m", REAL_MODELS)
    port = free_port()
    args = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--port", str(port)]
    proc = start([*args, "--n_ctx", "4096", "--api_key", LLM_KEY])
    base = f"http://127.0.0.1:{port}/v1"
    wait_for(f"{base}/models", proc, headers={"Authorization": f"Bearer {LLM_KEY}"})
    yield base
    stop(proc)
