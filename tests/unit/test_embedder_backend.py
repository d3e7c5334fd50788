"""Which engine runs the embedder (rag.pipeline.Pipeline.embedder_backend), decided without loading a model."""

import json

import pytest

from rag.errors import ConfigError
from rag.pipeline import build_pipeline
from rag.settings import load_settings


def pipeline_for(tmp_path, **env):
    environ = {f"RAGQA_EMBEDDER__{k.upper()}": v for k, v in env.items()}
    return build_pipeline(load_settings(environ=environ, index_dir=tmp_path / "index", models_dir=tmp_path / "m"))


def st_folder(path, model_type="bert", mean=True):
    """The configuration files of a sentence-transformers folder (no weights: nothing is loaded)."""
    (path / "1_Pooling").mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"model_type": model_type, "hidden_size": 8}))
    (path / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 128}))
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    (path / "modules.json").write_text(json.dumps(modules))
    pooling = {"pooling_mode_mean_tokens": mean, "pooling_mode_cls_token": not mean}
    (path / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    return str(path)


def test_the_default_embedder_runs_as_int8_onnx_and_says_so_in_its_name(tmp_path):
    default = pipeline_for(tmp_path)
    assert default.embedder_backend == "onnx-int8"
    assert default.embedder_name == "all-minilm-l6-v2+onnx-int8"
    torch = pipeline_for(tmp_path, backend="torch")
    assert (torch.embedder_backend, torch.embedder_name) == ("torch", "all-minilm-l6-v2")
    assert pipeline_for(tmp_path, device="cuda").embedder_backend == "torch"


def test_e5_runs_on_its_own_engine_whatever_auto_says(tmp_path):
    e5 = pipeline_for(tmp_path, model="multilingual-e5-small")
    assert (e5.embedder_backend, e5.embedder_name) == ("e5", "multilingual-e5-small")
    with pytest.raises(ConfigError, match="sentence-transformers folders"):
        pipeline_for(tmp_path, model="multilingual-e5-small", backend="onnx-int8").embedder_backend  # noqa: B018


def test_auto_looks_at_a_folder_model(tmp_path):
    bert = st_folder(tmp_path / "bert-mean")
    assert pipeline_for(tmp_path, model=bert).embedder_name == f"{bert}+onnx-int8"
    cls = st_folder(tmp_path / "bert-cls", mean=False)
    assert pipeline_for(tmp_path, model=cls).embedder_backend == "torch"
    roberta = st_folder(tmp_path / "roberta", model_type="roberta")
    assert pipeline_for(tmp_path, model=roberta).embedder_backend == "torch"
    assert pipeline_for(tmp_path, model=roberta, backend="onnx-int8").embedder_backend == "onnx-int8"  # asked for


def test_an_index_built_with_torch_says_how_to_keep_reading_it(tmp_path):
    from rag.errors import IndexMismatchError
    from rag.store import ChromaStore

    ChromaStore(tmp_path / "index", "company", "all-minilm-l6-v2", 384, create=True)
    with pytest.raises(IndexMismatchError, match="Set RAGQA_EMBEDDER__BACKEND=torch to keep reading it") as exc:
        ChromaStore(tmp_path / "index", "company", "all-minilm-l6-v2+onnx-int8", 384, create=False)
    assert exc.value.built_with == "all-minilm-l6-v2"
    with pytest.raises(IndexMismatchError, match="Set the embedder back"):
        ChromaStore(tmp_path / "index", "company", "other-model", 384, create=False)
