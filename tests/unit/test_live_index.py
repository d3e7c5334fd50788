"""Embedded Chroma across processes: a serving process follows what other processes commit to the index
(new files found, deleted files gone, a rebuild for another embedding model noticed) without a restart.
Fake embedder, real persistent Chroma, the writers are real `ragqa` processes."""

import os
import subprocess
import sys

import pytest

from ingest.reindex import reindex
from rag.errors import IndexMismatchError
from rag.fakes import HashingEmbedder
from rag.pipeline import build_pipeline
from rag.settings import load_settings
from tests.conftest import ROOT


def ragqa(*args, index):
    env = {**os.environ, "RAGQA_MODE": "fake", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *args, "--index", str(index)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def files_found(answerer, question):
    hits = answerer.retrieve(question, k=4)
    assert all(h.chunk.text and h.chunk.source for h in hits), "a hit without its chunk"
    return {h.chunk.file_name for h in hits}


def test_a_serving_process_sees_other_processes_ingest_and_delete(tmp_path):
    docs, index = tmp_path / "docs", tmp_path / "index"
    docs.mkdir()
    (docs / "zebra.md").write_text("The zebra project budget is forty-two thousand dollars.\n")
    (docs / "otter.md").write_text("Otter sightings are logged by the river team every Monday.\n")
    ragqa("ingest", str(docs), index=index)
    serving = build_pipeline(load_settings(environ={}, mode="fake", index_dir=index)).answerer
    assert "zebra.md" in files_found(serving, "zebra project budget")
    assert "walrus.md" not in files_found(serving, "walrus migration starts")

    (docs / "walrus.md").write_text("The walrus migration starts in March along the northern coast.\n")
    ragqa("ingest", str(docs), index=index)
    assert files_found(serving, "walrus migration starts") >= {"walrus.md"}
    dense = serving.store.search(serving.embedder.embed(["walrus migration starts"])[0], 4)
    assert "walrus.md" in {h.chunk.file_name for h in dense}, "the vector index was not reopened"

    (docs / "zebra.md").unlink()
    ragqa("reindex", str(docs), index=index)
    assert "zebra.md" not in files_found(serving, "zebra project budget")
    assert "zebra.md" not in {h.chunk.file_name for h in serving.store.search(serving.embedder.embed(["zebra"])[0], 4)}


def test_a_rebuild_for_another_embedding_model_under_a_serving_process_is_reported_clearly(tmp_path):
    docs, index = tmp_path / "docs", tmp_path / "index"
    docs.mkdir()
    (docs / "zebra.md").write_text("The zebra project budget is forty-two thousand dollars.\n")
    settings = load_settings(environ={}, mode="fake", index_dir=index)
    reindex(build_pipeline(settings, embedder=HashingEmbedder(dim=256)), [docs])
    serving = build_pipeline(settings, embedder=HashingEmbedder(dim=256)).answerer
    assert files_found(serving, "zebra budget") == {"zebra.md"}

    reindex(build_pipeline(settings, embedder=HashingEmbedder(dim=32)), [docs])  # switches, drops the old one
    with pytest.raises(IndexMismatchError, match="ragqa reindex"):
        serving.retrieve("zebra budget", k=4)
    rebuilt = build_pipeline(settings, embedder=HashingEmbedder(dim=32)).answerer
    assert files_found(rebuilt, "zebra budget") == {"zebra.md"}
