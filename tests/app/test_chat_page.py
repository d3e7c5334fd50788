"""The Streamlit app with AppTest, in fake mode (hashing embedder, replaying generator)."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ingest.index import Indexer
from rag.pipeline import build_pipeline
from rag.settings import load_settings
from tests.conftest import SAMPLE

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")


@pytest.fixture
def app(monkeypatch, tmp_path):
    monkeypatch.setenv("RAGQA_MODE", "fake")
    monkeypatch.setenv("RAGQA_RETRIEVE__MIN_SCORE", "0.0")
    settings = load_settings()
    pipeline = build_pipeline(settings)
    Indexer(pipeline).ingest([SAMPLE])
    from app.state import get_pipeline

    get_pipeline.clear()
    at = AppTest.from_file(MAIN, default_timeout=30)
    at.run()
    return at


def test_chat_answers_with_sources(app):
    assert not app.exception
    app.chat_input[0].set_value("What is the hotel limit per night in London?").run()
    assert not app.exception
    assert app.chat_message[1].markdown[0].value == "Fake answer [1]."
    texts = [t.value for t in app.chat_message[1].text]
    assert any(t.startswith("[1] expense-policy.pdf, page 2") for t in texts)


def test_new_chat_clears_history(app):
    app.chat_input[0].set_value("per diem?").run()
    assert len(app.chat_message) == 2
    app.button[0].click().run()
    assert len(app.chat_message) == 0
