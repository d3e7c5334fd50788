from pathlib import Path

import pytest

from rag.errors import ConfigError
from rag.settings import load_settings


def test_defaults():
    s = load_settings(environ={})
    assert s.index_dir == Path("data/index")
    assert s.collection == "company"
    assert s.llm.model == "qwen2.5-coder-1.5b"
    assert s.embedder.model == "all-minilm-l6-v2"
    assert (s.retrieve.k, s.retrieve.page_depth) == (3, 12)


def test_environment_overrides_nested_fields():
    s = load_settings(environ={"RAGQA_LLM__N_CTX": "8192", "RAGQA_COLLECTION": "legal", "OTHER": "x"})
    assert s.llm.n_ctx == 8192
    assert s.collection == "legal"


def test_unknown_key_is_an_error():
    with pytest.raises(ConfigError, match=r"unknown setting 'llm.n_cxt' \(from \$RAGQA_LLM__N_CXT"):
        load_settings(environ={"RAGQA_LLM__N_CXT": "8192"})


def test_bad_value_is_an_error():
    with pytest.raises(ConfigError, match="retrieve.k"):
        load_settings(environ={"RAGQA_RETRIEVE__K": "zero"})


def test_file_then_environment_then_overrides(tmp_path):
    f = tmp_path / "ragqa.toml"
    f.write_text('collection = "fromfile"\n[retrieve]\nk = 7\n[llm]\nmax_tokens = 64\n')
    s = load_settings(environ={"RAGQA_RETRIEVE__K": "9"}, settings_file=f, collection="flag")
    assert (s.collection, s.retrieve.k, s.llm.max_tokens) == ("flag", 9, 64)


def test_missing_or_broken_settings_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(environ={}, settings_file=tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("collection = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(environ={}, settings_file=bad)


def test_retrieval_and_answering_take_the_retrieve_section_whole(fake_settings):
    """Built in code without settings they behave as the defaults; built by the pipeline, as configured."""
    from rag.answer import Answerer
    from rag.pipeline import build_pipeline
    from rag.retrieve import Retriever
    from rag.settings import RetrieveSettings

    pipeline = build_pipeline(fake_settings)
    bare = Answerer(pipeline.embedder, pipeline.store, pipeline.generator)
    defaults = RetrieveSettings()
    assert (bare.k, bare.min_score, bare.compress) == (defaults.k, defaults.min_score, defaults.compress)
    assert (bare.retriever.page_depth, bare.retriever.row_weight) == (defaults.page_depth, defaults.row_weight)
    changed = defaults.model_copy(update={"k": 5, "page_depth": 4, "row_weight": 0.5, "candidates": 17})
    configured = build_pipeline(fake_settings.model_copy(update={"retrieve": changed})).answerer
    assert configured.k == 5 and isinstance(configured.retriever, Retriever)
    assert (configured.retriever.page_depth, configured.retriever.row_weight, configured.retriever.candidates) == (
        4,
        0.5,
        17,
    )
