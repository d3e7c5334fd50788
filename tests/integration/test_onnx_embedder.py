"""The int8 ONNX embedder with the real MiniLM weights: exported once beside (a copy of) the model, close to
the fp32 vectors, and a collection built with it is told apart from an fp32 one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from ingest.index import Indexer
from rag.errors import IndexMismatchError
from rag.models import resolve
from rag.onnx_embedder import EXPORT_DIR, OnnxEmbedder
from rag.pipeline import build_pipeline
from rag.settings import load_settings
from tests.conftest import REAL_MODELS, ROOT, SAMPLE

pytestmark = pytest.mark.slow

TEXTS = [
    "Each employee has a training budget of EUR 1,500 per year.",
    "Apple's iPhone net sales for the three months ended July 1, 2023 were $39,669 million.",
    "员工每周最多可以远程办公三天，需提前在系统中登记。",
    "Vitamin D supplementation did not reduce the incidence of cancer.",
]


@pytest.fixture(scope="module")
def model_copy(tmp_path_factory):
    """A copy of the shipped MiniLM folder without any export, so the export is made, into a test folder."""
    target = tmp_path_factory.mktemp("models") / "all-minilm-l6-v2"
    shutil.copytree(resolve("all-minilm-l6-v2", REAL_MODELS), target, ignore=shutil.ignore_patterns(EXPORT_DIR))
    return target


def test_the_export_is_made_once_and_agrees_with_fp32(model_copy):
    from sentence_transformers import SentenceTransformer

    onnx = OnnxEmbedder(model_copy, "all-minilm-l6-v2+onnx-int8")
    got = np.array(onnx.embed(TEXTS))
    exported = model_copy / EXPORT_DIR / "model.onnx"
    assert exported.is_file() and [p.name for p in exported.parent.iterdir()] == ["model.onnx"]  # no leftovers
    stamp = exported.stat().st_mtime_ns
    expected = SentenceTransformer(str(model_copy), device="cpu").encode(TEXTS, normalize_embeddings=True)
    cosines = (got * expected).sum(axis=1)
    assert cosines.min() > 0.97, cosines
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-4)
    assert onnx.count_tokens(TEXTS[:1]) == [len(SentenceTransformer(str(model_copy)).tokenizer(TEXTS[0])["input_ids"])]
    OnnxEmbedder(model_copy, "again").embed(TEXTS[:1])
    assert exported.stat().st_mtime_ns == stamp  # reused, not exported again


def test_the_tokenizer_gives_sentence_transformers_ids_without_importing_torch(model_copy):
    """The embedder tokenizes with `tokenizers` alone: the same ids, masks and truncation as the model's own
    tokenizer, long and Chinese texts included, and torch is never imported to embed (a fresh process)."""
    from sentence_transformers import SentenceTransformer

    texts = [*TEXTS, "word " * 400, "表" * 300, ""]
    reference = SentenceTransformer(str(model_copy), device="cpu").tokenizer
    expected = reference(texts, padding=True, truncation=True, max_length=256)
    _, tokenizer = OnnxEmbedder(model_copy, "x")._ready()
    got = tokenizer.encode_batch(texts)
    assert [e.ids for e in got] == expected["input_ids"]
    assert [e.attention_mask for e in got] == expected["attention_mask"]
    assert [e.type_ids for e in got] == expected["token_type_ids"]
    assert OnnxEmbedder(model_copy, "x").count_tokens(texts) == [len(i) for i in reference(texts)["input_ids"]]
    script = (
        "import sys; from pathlib import Path; from rag.onnx_embedder import OnnxEmbedder; "
        f"OnnxEmbedder(Path({str(model_copy)!r}), 'x').embed(['hello']); print('torch' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"


def test_a_collection_built_with_one_backend_is_not_read_with_the_other(tmp_path, model_copy):
    def settings(backend):
        return load_settings(
            environ={"RAGQA_EMBEDDER__BACKEND": backend, "RAGQA_EMBEDDER__MODEL": str(model_copy)},
            index_dir=tmp_path / "index",
            models_dir=REAL_MODELS,
        )

    onnx = build_pipeline(settings("onnx-int8"))
    assert onnx.embedder_name.endswith("+onnx-int8")
    Indexer(onnx).ingest([SAMPLE])
    assert onnx.answerer.retrieve("hotel limit per night in London", k=1)[0].chunk.file_name == "expense-policy.pdf"
    with pytest.raises(IndexMismatchError, match="ragqa reindex"):
        build_pipeline(settings("torch")).answerer  # noqa: B018
