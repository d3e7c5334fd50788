"""Indexing with the hashing embedder into a real persistent Chroma in tmp_path."""

import pytest

from ingest.index import Indexer, discover
from rag.errors import IndexMismatchError
from rag.fakes import HashingEmbedder
from rag.store import ChromaStore
from tests.conftest import SAMPLE
from tests.fixtures.make_pdf import pdf_bytes


def make_indexer(settings, embedder=None):
    embedder = embedder or HashingEmbedder()
    store = ChromaStore(settings.index_dir, settings.collection, embedder.name, embedder.dim)
    return Indexer(embedder, store, settings), store


def test_sample_folder_is_indexed_once(fake_settings):
    indexer, store = make_indexer(fake_settings)
    first = indexer.ingest([SAMPLE])
    assert first.files_seen == 4 and first.files_indexed == 4 and first.files_failed == []
    assert first.chunks_added == first.chunks_total == store.count() > 4
    embedder = indexer.embedder
    calls = embedder.calls
    second = indexer.ingest([SAMPLE])
    assert (second.files_unchanged, second.files_indexed, second.chunks_added) == (4, 0, 0)
    assert second.chunks_total == first.chunks_total
    assert embedder.calls == calls  # unchanged files are neither parsed nor embedded


def test_a_copy_of_a_file_adds_nothing(fake_settings, tmp_path):
    indexer, store = make_indexer(fake_settings)
    indexer.ingest([SAMPLE / "employee-handbook.md"])
    copy = tmp_path / "copy.md"
    copy.write_bytes((SAMPLE / "employee-handbook.md").read_bytes())
    report = indexer.ingest([copy])
    assert report.files_unchanged == 1 and report.chunks_added == 0


def test_bad_files_are_reported_and_the_rest_indexed(fake_settings, tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "good.txt").write_text("The office opens at nine.")
    (tmp_path / "docs" / "broken.pdf").write_bytes(b"not a pdf at all")
    (tmp_path / "docs" / "empty.md").write_text("")
    (tmp_path / "docs" / "ignored.bin").write_bytes(b"\x00")
    indexer, store = make_indexer(fake_settings)
    report = indexer.ingest([tmp_path / "docs", tmp_path / "missing.txt"])
    failed = {f["path"].rsplit("/", 1)[-1]: f["error"] for f in report.files_failed}
    assert report.files_seen == 4 and report.files_indexed == 1
    assert failed["broken.pdf"].startswith("not a PDF")
    assert failed["empty.md"].startswith("no extractable text")
    assert failed["missing.txt"] == "no such file"


class FailingStoreEmbedder(HashingEmbedder):
    """Returns one vector too few, so the store rejects the whole file."""

    def embed(self, texts):
        return super().embed(texts)[:-1]


def test_a_file_that_fails_midway_leaves_nothing_behind(fake_settings, tmp_path):
    big = tmp_path / "big.pdf"
    big.write_bytes(pdf_bytes([f"Page {i} talks about topic {i}. " * 30 for i in range(1, 6)]))
    indexer, store = make_indexer(fake_settings, FailingStoreEmbedder())
    report = indexer.ingest([big])
    assert len(report.files_failed) == 1 and store.count() == 0


def test_store_add_is_all_or_nothing(fake_settings, monkeypatch):
    embedder = HashingEmbedder()
    store = ChromaStore(fake_settings.index_dir, "company", embedder.name, embedder.dim)
    indexer = Indexer(embedder, store, fake_settings)
    chunks = indexer.prepare(SAMPLE / "expense-policy.pdf")
    assert len(chunks) >= 3
    monkeypatch.setattr(store.client, "get_max_batch_size", lambda: 1)  # one chunk per batch
    real_add = store.collection.add
    calls = {"n": 0}

    def flaky_add(**kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        return real_add(**kwargs)

    monkeypatch.setattr(store.collection, "add", flaky_add)
    with pytest.raises(RuntimeError, match="disk full"):
        store.add(chunks, embedder.embed([c.text for c in chunks]))
    assert store.count() == 0


def test_another_embedding_model_is_a_clear_error(fake_settings):
    make_indexer(fake_settings)[0].ingest([SAMPLE / "employee-handbook.md"])
    with pytest.raises(IndexMismatchError, match="fake-hashing-256.*fake-hashing-32"):
        make_indexer(fake_settings, HashingEmbedder(dim=32))


def test_discover_walks_folders_and_skips_hidden(tmp_path):
    (tmp_path / "a" / ".git").mkdir(parents=True)
    (tmp_path / "a" / ".git" / "x.md").write_text("x")
    (tmp_path / "a" / "z.md").write_text("z")
    (tmp_path / "a" / "b.PDF").write_text("b")
    (tmp_path / "a" / "c.png").write_text("c")
    assert [p.name for p in discover([tmp_path / "a"])] == ["b.PDF", "z.md"]
