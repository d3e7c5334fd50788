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


def test_constructor_defaults_are_the_settings_defaults():
    """A Retriever or Answerer built in code behaves as one built from default settings."""
    import inspect

    from rag.answer import Answerer
    from rag.retrieve import Retriever
    from rag.settings import RetrieveSettings

    fields = RetrieveSettings.model_fields
    compared = 0
    for cls in (Retriever, Answerer):
        for name, param in inspect.signature(cls.__init__).parameters.items():
            if name in fields and param.default is not inspect.Parameter.empty:
                assert param.default == fields[name].default, f"{cls.__name__}({name}=...)"
                compared += 1
    assert compared >= 15
