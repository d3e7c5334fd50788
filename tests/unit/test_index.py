"""Indexing with the hashing embedder into a real persistent Chroma (and record database) in tmp_path."""

import os
import sqlite3

import pytest

from ingest.index import Indexer, discover
from rag.errors import IndexMismatchError
from rag.fakes import HashingEmbedder
from rag.pipeline import build_pipeline
from tests.conftest import SAMPLE
from tests.fixtures.make_pdf import pdf_bytes


def make_indexer(settings, embedder=None):
    pipeline = build_pipeline(settings, embedder=embedder or HashingEmbedder())
    return Indexer(pipeline), pipeline


def test_sample_folder_is_indexed_once(fake_settings):
    indexer, pipeline = make_indexer(fake_settings)
    first = indexer.ingest([SAMPLE])
    assert first.files_seen == 4 and first.files_indexed == 4 and first.files_failed == []
    assert first.chunks_added == first.chunks_total == pipeline.store.count() > 4
    calls = pipeline.embedder.calls
    second = indexer.ingest([SAMPLE])
    assert (second.files_unchanged, second.files_indexed, second.chunks_added) == (4, 0, 0)
    assert second.chunks_total == first.chunks_total
    assert pipeline.embedder.calls == calls  # unchanged files are neither parsed nor embedded


def test_touched_but_identical_file_is_not_reembedded(fake_settings, tmp_path):
    doc = tmp_path / "a.md"
    doc.write_text("The office opens at nine. " * 20)
    indexer, pipeline = make_indexer(fake_settings)
    indexer.ingest([doc])
    calls = pipeline.embedder.calls
    os.utime(doc, ns=(1, 1))
    assert indexer.ingest([doc]).files_unchanged == 1
    assert pipeline.embedder.calls == calls
    assert indexer.unchanged_by_stat(doc)  # the new mtime is recorded


def test_a_changed_file_replaces_its_old_chunks(fake_settings, tmp_path):
    doc = tmp_path / "policy.md"
    doc.write_text("Old rule: hotels up to EUR 120 per night.")
    indexer, pipeline = make_indexer(fake_settings)
    indexer.ingest([doc])
    doc.write_text("New rule: hotels up to EUR 150 per night.")
    report = indexer.ingest([doc])
    assert report.files_indexed == 1
    texts = [c.text for c in pipeline.store.all_chunks()]
    assert texts == ["New rule: hotels up to EUR 150 per night."]


def test_a_copy_under_another_path_is_its_own_document(fake_settings, tmp_path):
    indexer, pipeline = make_indexer(fake_settings)
    indexer.ingest([SAMPLE / "employee-handbook.md"])
    n = pipeline.store.count()
    copy = tmp_path / "copy.md"
    copy.write_bytes((SAMPLE / "employee-handbook.md").read_bytes())
    report = indexer.ingest([copy])
    assert report.files_indexed == 1 and pipeline.store.count() == 2 * n


def test_bad_files_are_reported_and_the_rest_indexed(fake_settings, tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "good.txt").write_text("The office opens at nine.")
    (tmp_path / "docs" / "broken.pdf").write_bytes(b"not a pdf at all")
    (tmp_path / "docs" / "empty.md").write_text("")
    (tmp_path / "docs" / "ignored.bin").write_bytes(b"\x00")
    indexer, _ = make_indexer(fake_settings)
    report = indexer.ingest([tmp_path / "docs", tmp_path / "missing.txt"])
    failed = {f["path"].rsplit("/", 1)[-1]: f["error"] for f in report.files_failed}
    assert report.files_seen == 4 and report.files_indexed == 1
    assert failed["broken.pdf"].startswith("not a PDF")
    assert failed["empty.md"].startswith("no extractable text")
    assert failed["missing.txt"] == "no such file"


class ShortEmbedder(HashingEmbedder):
    """Returns one vector too few, so the write of the whole file fails."""

    def embed(self, texts):
        return super().embed(texts)[:-1]


def test_a_file_that_fails_midway_leaves_nothing_behind(fake_settings, tmp_path):
    big = tmp_path / "big.pdf"
    big.write_bytes(pdf_bytes([f"Page {i} talks about topic {i}. " * 30 for i in range(1, 6)]))
    indexer, pipeline = make_indexer(fake_settings, ShortEmbedder())
    report = indexer.ingest([big])
    assert len(report.files_failed) == 1 and pipeline.store.count() == 0
    assert pipeline.files.all() == [] and pipeline.store.records.list_keys() == []


def test_a_failed_write_is_taken_back(fake_settings, monkeypatch):
    indexer, pipeline = make_indexer(fake_settings)
    prepared = indexer.prepare(SAMPLE / "expense-policy.pdf")
    store = pipeline.store
    monkeypatch.setattr(store.records, "update", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("disk full")))
    with pytest.raises(RuntimeError, match="disk full"):
        indexer.commit(prepared)
    assert store.count() == 0 and pipeline.files.all() == []


def test_another_embedding_model_is_a_clear_error(fake_settings):
    make_indexer(fake_settings)[0].ingest([SAMPLE / "employee-handbook.md"])
    _, other = make_indexer(fake_settings, HashingEmbedder(dim=32))
    with pytest.raises(IndexMismatchError, match="fake-hashing-256.*fake-hashing-32"):
        other.store  # noqa: B018


def test_discover_walks_folders_and_skips_hidden(tmp_path):
    (tmp_path / "a" / ".git").mkdir(parents=True)
    (tmp_path / "a" / ".git" / "x.md").write_text("x")
    (tmp_path / "a" / "z.md").write_text("z")
    (tmp_path / "a" / "b.PDF").write_text("b")
    (tmp_path / "a" / "c.png").write_text("c")
    assert [p.name for p in discover([tmp_path / "a"])] == ["b.PDF", "c.png", "z.md"]  # images read by OCR
    assert [p.name for p in discover([tmp_path / "a"], images=False)] == ["b.PDF", "z.md"]


def test_files_indexed_by_an_older_format_are_rebuilt(fake_settings):
    pipeline = build_pipeline(fake_settings)
    Indexer(pipeline).ingest([SAMPLE])
    db = sqlite3.connect(pipeline.files.path)
    db.execute("UPDATE ragqa_files SET format = 1")  # as an index written before cards and keywords
    db.commit()
    pipeline.store.keywords.drop()
    again = build_pipeline(fake_settings)
    report = Indexer(again).ingest([SAMPLE])
    assert (report.files_indexed, report.files_unchanged) == (4, 0)
    assert again.store.keywords.ids() == {c.id for c in again.store.all_chunks()}
    assert all(r.current for r in again.files.all())
    assert Indexer(again).ingest([SAMPLE]).files_unchanged == 4


def test_a_file_with_more_chunks_than_one_chroma_write_takes_is_stored_whole(tmp_path):
    """A 10 MB text export makes thousands of chunks: past Chroma's batch limit (5,461 here) they go in pieces."""
    from rag.fakes import HashingEmbedder
    from rag.store import ChromaStore
    from rag.types import Chunk

    embedder = HashingEmbedder()
    store = ChromaStore(tmp_path / "index", "big", embedder.name, embedder.dim)
    n = store.client.get_max_batch_size() + 100
    chunks = [Chunk(f"c{i}", f"line {i} of the export", "/docs/big.txt", None, i, f"h{i}", "d") for i in range(n)]
    store.replace_source("/docs/big.txt", chunks, embedder)
    assert store.count() == n and len(store.keywords.ids()) == n


def test_a_file_past_its_parse_time_is_stopped_and_the_rest_are_indexed(tmp_path):
    """Files are parsed in worker processes with a time limit each (ingest.workers): a file that takes too
    long is reported with that reason, its worker replaced, and the run goes on."""
    from rag.settings import load_settings

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a-huge-export.txt").write_bytes(("word " * 6_000_000).encode())  # 30 MB: about 2 s to read
    for i in range(3):
        (docs / f"note{i}.md").write_text(f"# Note {i}\n\nThe walrus count in bay {i} is {i + 7}.\n")
    settings = load_settings(environ={"RAGQA_INGEST__PARSE_SECONDS": "0.5"}, mode="fake", index_dir=tmp_path / "index")
    report = Indexer(build_pipeline(settings)).ingest([docs])
    [failed] = report.files_failed
    assert failed["error"] == "took longer than 0.5 s to read; not indexed"
    assert failed["path"].endswith("a-huge-export.txt")
    assert report.files_indexed == 3 and report.chunks_added == 3


def test_hnsw_settings_reach_chroma(tmp_path):
    from rag.settings import load_settings

    def pipeline(ef_search):
        env = {"RAGQA_RETRIEVE__HNSW_EF_SEARCH": str(ef_search), "RAGQA_RETRIEVE__HNSW_MAX_NEIGHBORS": "24"}
        return build_pipeline(load_settings(environ=env, mode="fake", index_dir=tmp_path / "index"))

    Indexer(pipeline(60)).ingest([SAMPLE])
    hnsw = pipeline(60).store.collection.configuration["hnsw"]
    assert (hnsw["ef_search"], hnsw["max_neighbors"], hnsw["space"]) == (60, 24, "cosine")
    later = pipeline(150).store  # ef_search also changes on a built collection
    assert later.collection.configuration["hnsw"]["ef_search"] == 150
    assert later.search(later.collection.get(limit=1, include=["embeddings"])["embeddings"][0], 1)


def notes(tmp_path, count, text):
    """A folder of `count` one-line text files, note000.txt ...; `text(i)` is file i's line."""
    docs = tmp_path / "notes"
    docs.mkdir()
    for i in range(count):
        (docs / f"note{i:03}.txt").write_text(text(i))
    return docs


def test_small_files_are_embedded_together_and_each_is_stored(fake_settings, tmp_path):
    docs = notes(tmp_path, 60, lambda i: f"Note {i}: the meeting room {i} opens at {i % 12 + 1} o'clock.")
    indexer, pipeline = make_indexer(fake_settings)
    seen = []
    report = indexer.ingest([docs], on_progress=lambda done, total, label: seen.append((done, total, label)))
    assert report.files_indexed == 60 and report.chunks_added == pipeline.store.count() == 60
    assert len(pipeline.files.all()) == 60
    assert pipeline.embedder.calls < 30  # several files per embedding call, not one each
    assert [s[0] for s in seen] == list(range(1, 61)) and {s[1] for s in seen} == {60}
    assert seen[-1][2].endswith("60 chunks added")  # progress shows chunks, not only files
    hit = pipeline.store.search(pipeline.embedder.embed_query("meeting room 37 opens"), k=1)[0]
    assert hit.chunk.source.endswith("note037.txt")


def test_one_file_of_a_group_failing_to_store_leaves_the_others_stored(fake_settings, tmp_path, monkeypatch):
    docs = notes(tmp_path, 10, lambda i: f"Note {i} says the canteen serves soup number {i}.")
    indexer, pipeline = make_indexer(fake_settings)
    real = pipeline.store.replace_source

    def replace_source(source, chunks, embedder, card=None):
        if source.endswith("note004.txt"):
            raise OSError("disk full")
        return real(source, chunks, embedder, card)

    monkeypatch.setattr(pipeline.store, "replace_source", replace_source)
    report = indexer.ingest([docs])
    assert report.files_indexed == 9 and pipeline.store.count() == 9
    assert [f["path"].rsplit("/", 1)[-1] for f in report.files_failed] == ["note004.txt"]
    assert "disk full" in report.files_failed[0]["error"]


def test_a_run_stopped_early_parses_no_more_of_the_files_read_ahead(fake_settings, tmp_path):
    docs = notes(tmp_path, 200, lambda i: f"Note {i}." if i else "")  # note000.txt is empty: failed at once
    indexer, _ = make_indexer(fake_settings)
    prepared = []
    real = indexer.prepare
    indexer.prepare = lambda path, password=None: prepared.append(path) or real(path, password)
    results = indexer.run(discover([docs]))
    assert next(results).outcome == "failed"
    results.close()  # what Ctrl-C does to the loop
    assert len(prepared) < 200


def test_symbolic_links_in_a_folder_are_skipped_unless_asked(tmp_path):
    secret = tmp_path / "outside" / "secret.md"
    secret.parent.mkdir()
    secret.write_text("# Salaries\n\nEveryone's salary.")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "policy.md").write_text("# Policy\n\nHotels up to EUR 220.")
    (docs / "salaries.md").symlink_to(secret)  # planted in a shared folder
    (docs / "more").symlink_to(secret.parent, target_is_directory=True)
    assert [p.name for p in discover([docs])] == ["policy.md"]
    assert [p.name for p in discover([docs], symlinks=True)] == ["policy.md", "salaries.md"]  # folders never


def test_a_folder_that_cannot_be_read_is_reported_and_the_rest_is_indexed(fake_settings, tmp_path, monkeypatch):
    (tmp_path / "ok.txt").write_text("A readable note about travel.", encoding="utf-8")
    locked = tmp_path / "locked"
    locked.mkdir()
    walk = os.walk

    def walk_with_a_locked_folder(top, onerror=None, **kw):  # root reads any folder: the refusal is simulated
        for root, dirs, files in walk(top, onerror=onerror, **kw):
            if "locked" in dirs:
                dirs.remove("locked")
                onerror(PermissionError(13, "Permission denied", str(locked)))
            yield root, dirs, files

    monkeypatch.setattr("ingest.index.os.walk", walk_with_a_locked_folder)
    report = make_indexer(fake_settings)[0].ingest([tmp_path])
    assert report.files_indexed == 1
    assert report.files_failed == [{"path": str(locked), "error": "cannot read the folder: Permission denied"}]
