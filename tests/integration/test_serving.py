"""Serving with real engines, each started on a free localhost port: a `chroma run` server for ingest,
re-index and ask (same sources as embedded Chroma), llama-cpp-python's OpenAI-compatible server as the LLM
back end of `ragqa ask`, and `ragqa serve` answering the official `openai` client. Real embedder; the LLM is
SmolLM2-135M (the answers' wording is not what is tested, the path is)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from tests.conftest import REAL_MODELS, ROOT, SAMPLE, free_port, shared_path
from tests.integration.conftest import LLM_KEY, output, start, stop, wait_for

pytestmark = pytest.mark.slow

FILINGS = ["2022 Q3 AAPL.pdf", "2023 Q2 AAPL.pdf", "2023 Q3 AAPL.pdf"]
QUESTION = "What were Apple's total net sales for the three months ended April 1, 2023?"


def ragqa(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    done = subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, env=full)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def top_sources(index: Path, env: dict[str, str]) -> list[tuple[str, int]]:
    from rag.pipeline import build_pipeline
    from rag.settings import load_settings

    settings = load_settings(environ={**env, "RAGQA_MODELS_DIR": str(REAL_MODELS)}, index_dir=index)
    hits = build_pipeline(settings).answerer.retriever.retrieve(QUESTION, 5)  # the ranking, without companions
    return [(h.chunk.file_name, h.chunk.page) for h in hits]


def test_three_filings_through_a_chroma_server_rank_like_embedded_chroma(tmp_path, chroma_server):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in FILINGS:
        shutil.copy(shared_path("sec-10q", "docs", name), docs / name)
    server = {"RAGQA_CHROMA_URL": chroma_server}
    ragqa("ingest", str(docs), "--index", str(tmp_path / "embedded"), env={})
    ragqa("ingest", str(docs), "--index", str(tmp_path / "served"), env=server)
    assert not (tmp_path / "served" / "chroma.sqlite3").exists(), "the vectors must live in the server"
    embedded = top_sources(tmp_path / "embedded", {})
    served = top_sources(tmp_path / "served", server)
    assert len(embedded) == 5 and served == embedded
    assert embedded[0][0] == "2023 Q2 AAPL.pdf"

    (docs / FILINGS[0]).unlink()  # the nightly job through the server: the deleted filing is gone
    report = json.loads(ragqa("reindex", str(docs), "--index", str(tmp_path / "served"), "--json", env=server).stdout)
    assert report["deleted"] == 1
    asked = json.loads(
        ragqa(
            "ask",
            "Apple net sales three months ended June 25, 2022",
            "--index",
            str(tmp_path / "served"),
            "--json",
            env={**server, "RAGQA_LLM__BASE_URL": "http://127.0.0.1:9/v1"} | {"RAGQA_RETRIEVE__MIN_SCORE": "1.0"},
        ).stdout
    )
    assert asked["sources"] == []  # nothing relevant enough: the (unreachable) LLM is never asked


def test_ragqa_ask_streams_from_an_openai_compatible_llm_server(tmp_path, llm_server):
    index = tmp_path / "index"
    ragqa("ingest", str(SAMPLE), "--index", str(index), env={})
    env = {"RAGQA_LLM__BASE_URL": llm_server, "RAGQA_LLM__API_KEY": LLM_KEY, "RAGQA_LLM__MAX_TOKENS": "48"}
    done = ragqa("ask", "How many days a week may employees work remotely?", "--index", str(index), "--json", env=env)
    result = json.loads(done.stdout)
    assert result["answer"].strip() and result["sources"]
    assert LLM_KEY not in done.stdout + done.stderr

    from rag.pipeline import build_pipeline
    from rag.settings import load_settings

    settings = load_settings(environ={**env, "RAGQA_MODELS_DIR": str(REAL_MODELS)}, index_dir=index)
    stream = build_pipeline(settings).answerer.ask("How many days a week may employees work remotely?")
    pieces = list(stream)
    assert len(pieces) > 3 and stream.sources, "the answer must arrive piece by piece, with its sources"

    wrong = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "ask",
            "How many days a week may employees work remotely?",
            "--index",
            str(index),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **env, "RAGQA_LLM__API_KEY": "wrong-key"},
    )
    assert wrong.returncode == 1 and "refused the API key" in wrong.stderr and "Traceback" not in wrong.stderr
    assert "wrong-key" not in wrong.stderr


def test_ragqa_serve_answers_the_openai_client(tmp_path, llm_server):
    index = tmp_path / "index"
    ragqa("ingest", str(SAMPLE), "--index", str(index), env={})
    port, token = free_port(), "serve-test-token"
    env = {
        "RAGQA_LLM__BASE_URL": llm_server,
        "RAGQA_LLM__API_KEY": LLM_KEY,
        "RAGQA_LLM__MAX_TOKENS": "48",
        "RAGQA_SERVE__TOKEN": token,
        "PYTHONPATH": str(ROOT),
    }
    proc = start([sys.executable, "-m", "app.cli", "serve", "--index", str(index), "--port", str(port)], env)
    try:
        wait_for(f"http://127.0.0.1:{port}/readyz", proc, seconds=180)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=token, max_retries=0)
        chunks = list(
            client.chat.completions.create(
                model="ragqa",
                stream=True,
                messages=[{"role": "user", "content": "How many days a week may employees work remotely?"}],
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks)
        assert "Sources:\n[1] " in text and chunks[-1].model_extra["sources"]
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="nope", max_retries=0).models.list()
    finally:
        stop(proc)
    assert token not in output(proc)
