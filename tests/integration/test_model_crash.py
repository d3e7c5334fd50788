"""The real model's process killed by SIGSEGV in the middle of an answer (what llama.cpp's AMX back end did on
virtualized Sapphire Rapids): `ragqa serve` and the app report it and answer the next question; the app starts
and its documents stay browsable when the model file cannot be loaded at all; `ragqa doctor` checks the real
models and the build. Real embedder, real Chroma, SmolLM2-135M (the answers' wording is not what is tested)."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from app.cli import main
from ingest.index import Indexer
from rag.llm_process import ChildProcessGenerator
from rag.models import resolve
from rag.pipeline import build_pipeline
from rag.settings import load_settings
from tests.conftest import REAL_MODELS, ROOT, SAMPLE, free_port
from tests.integration.conftest import output, start, stop, wait_for
from tests.unit.test_llm_process import FAKE_CHILD

pytestmark = pytest.mark.slow

QUESTION = "What is the hotel limit per night in London?"
MAIN = str(ROOT / "app" / "main.py")


def require(name: str) -> None:
    if not resolve(name, REAL_MODELS).exists():
        pytest.fail(f"{name} is not pulled: `make test` pulls it (ragqa models pull {name})")


def model_child(parent: int) -> int:
    """The pid of `parent`'s child that runs the language model (rag.llm_process)."""
    for task in Path(f"/proc/{parent}/task").iterdir():
        for pid in (task / "children").read_text().split():
            if "rag.llm_process" in Path(f"/proc/{pid}/cmdline").read_text():
                return int(pid)
    raise AssertionError(f"process {parent} has no model child")


def test_serve_answers_the_next_question_after_the_model_is_killed_mid_answer(tmp_path):
    require("smollm2-135m")
    index = tmp_path / "index"
    assert main(["ingest", str(SAMPLE), "--index", str(index)]) == 0
    port, token = free_port(), "crash-test-token"
    env = {
        "RAGQA_LLM__MODEL": "smollm2-135m",
        "RAGQA_LLM__MAX_TOKENS": "256",
        "RAGQA_SERVE__TOKEN": token,
        "PYTHONPATH": str(ROOT),
    }
    proc = start([sys.executable, "-m", "app.cli", "serve", "--index", str(index), "--port", str(port)], env)
    base, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}
    body = {"model": "ragqa", "messages": [{"role": "user", "content": QUESTION}]}
    try:
        wait_for(f"{base}/readyz", proc, seconds=180)
        child = model_child(proc.pid)
        events: list[dict] = []
        with httpx.stream(
            "POST", f"{base}/v1/chat/completions", json={**body, "stream": True}, headers=auth, timeout=180
        ) as r:
            assert r.status_code == 200
            for line in r.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                events.append(json.loads(line[6:]))
                if len(events) == 2:  # the answer has begun: kill the model under it
                    os.kill(child, signal.SIGSEGV)
        assert any(e["choices"][0]["delta"].get("content") for e in events[:2]), "killed after the answer began"
        assert "error" in events[-1], events[-3:]
        message = events[-1]["error"]["message"]
        assert "the language model crashed (signal 11, SIGSEGV); it was restarted" in message
        assert proc.poll() is None, "the server lives on"

        again = httpx.post(f"{base}/v1/chat/completions", json=body, headers=auth, timeout=180)
        assert again.status_code == 200, again.text
        assert again.json()["choices"][0]["message"]["content"].strip()
        assert model_child(proc.pid) != child
    finally:
        stop(proc)
    assert "starting a new one" in output(proc)


@pytest.fixture
def real_app(monkeypatch, tmp_path):
    """The app over the sample documents with the real embedder and `llm_model`."""

    def make(llm_model: str) -> AppTest:
        monkeypatch.setenv("RAGQA_LLM__MODEL", llm_model)
        monkeypatch.setenv("RAGQA_LLM__MAX_TOKENS", "256")
        Indexer(build_pipeline(load_settings())).ingest([SAMPLE])
        from app.state import get_pipeline, get_uploads

        get_pipeline.clear()
        get_uploads.clear()
        at = AppTest.from_file(MAIN, default_timeout=240)
        at.run()
        assert not at.exception
        return at

    yield make
    from app.state import get_pipeline

    get_pipeline().generator.inner.close()  # type: ignore[attr-defined]
    get_pipeline.clear()


def unescaped(shown: str) -> str:
    """An error as the user reads it: the app escapes every Markdown character of error text."""
    return shown.replace("\\", "")


def test_the_app_answers_the_next_question_after_the_model_is_killed_mid_answer(real_app):
    require("smollm2-135m")
    at = real_app("smollm2-135m")
    from app.state import get_pipeline

    pipeline = get_pipeline()
    pipeline.warm_up()  # waits for the app's own warm-up: the model is idle from here
    model = pipeline.generator.inner
    child = model.pid
    assert child is not None

    def kill_mid_answer() -> None:
        while not model.busy:
            time.sleep(0.01)
        time.sleep(0.3)  # the question is in the model's process now
        os.kill(child, signal.SIGSEGV)

    killer = threading.Thread(target=kill_mid_answer)
    killer.start()
    at.chat_input[0].set_value(QUESTION).run()
    killer.join()
    assert not at.exception
    [error] = at.chat_message[1].error
    assert "the language model crashed (signal 11, SIGSEGV); it was restarted: ask again" in unescaped(error.value)

    at.run()  # the page says so above the chat until a question succeeds
    assert any("Questions cannot be answered now" in e.value for e in at.error)
    at.chat_input[0].set_value(QUESTION).run()
    assert not at.exception and not at.chat_message[3].error
    assert at.chat_message[3].markdown[0].value.strip(), "the next question is answered"
    assert model.pid != child and model.crashes == 1
    at.run()
    assert not any("Questions cannot be answered now" in e.value for e in at.error)


def test_the_app_starts_and_shows_the_documents_when_the_model_cannot_load(real_app, tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + os.urandom(1 << 16))
    at = real_app(str(broken))
    from app.state import get_pipeline

    pipeline = get_pipeline()
    pipeline.warm_up_in_background().join(120)
    at.run()
    [banner] = [unescaped(e.value) for e in at.error if "Questions cannot be answered now" in e.value]
    assert "broken.gguf could not be loaded" in banner and "Documents page" in banner
    at.chat_input[0].set_value(QUESTION).run()
    assert not at.exception
    assert "broken.gguf" in unescaped(at.chat_message[1].error[0].value)
    at.switch_page("views/documents.py")
    at.run()
    assert not at.exception
    shown = [t.value for t in at.text] + [m.value for m in at.markdown] + [str(d.value) for d in at.dataframe]
    assert any("expense-policy.pdf" in s for s in shown), "the documents are listed"


def test_doctor_checks_every_installed_model_and_the_build(capsys):
    for name in ("smollm2-135m", "all-minilm-l6-v2"):
        require(name)
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    checks = {c["name"]: c for c in report["checks"]}
    assert report["ok"] and "AMX" not in report["system_info"].upper()
    llm = checks["smollm2-135m"]["figures"]
    assert llm["prompt_tokens"] == 512 and llm["prompt_tps"] > 0 and llm["gen_tps"] > 0
    assert checks["all-minilm-l6-v2"]["figures"]["dim"] == 384


def test_counting_tokens_does_not_wait_for_an_answer_in_progress():
    """Counting is done in this process from the model's vocabulary: a question being counted (to fit its prompt)
    while another user's answer streams gets its count at once (it waited for the whole answer before)."""
    require("smollm2-135m")
    model = ChildProcessGenerator(resolve("smollm2-135m", REAL_MODELS), command=FAKE_CHILD)  # a slow answer
    try:
        stream = model.stream([{"role": "user", "content": "<slow>"}])
        assert next(stream) == "0 " and model.busy
        started = time.perf_counter()
        count = model.count_tokens([{"role": "user", "content": "How many days a week may employees work remotely?"}])
        assert time.perf_counter() - started < 2.0 and model.busy, "counted while the answer streams"
        assert 10 < count < 40
        stream.close()
    finally:
        model.close()
