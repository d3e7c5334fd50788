"""The re-index job in fake mode over a real persistent Chroma: adds, updates, deletions, no work when
nothing changed, the lock, and crash safety under kill -9."""

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from app.cli import EXIT_LOCKED, main
from ingest.lock import index_lock
from ingest.reindex import REPORT_NAME, reindex
from rag.pipeline import build_pipeline
from rag.settings import load_settings
from rag.text import mostly_cjk
from tests.conftest import ROOT


def write_docs(folder, n, words=400):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        body = " ".join(f"topic{i} fact{j} is number {i * 1000 + j}." for j in range(words // 5))
        if i % 4 == 3:  # a Chinese document now and then: its chunks also get multilingual vectors
            body = "".join(f"主题{i}的第{j}条事实是数字{i * 1000 + j}。" for j in range(words // 5))
        (folder / f"doc{i:02d}.md").write_text(f"# Document {i}\n\n{body}\n")


def settings_for(tmp_path):
    return load_settings(environ={}, mode="fake", index_dir=tmp_path / "index")


def chunk_ids(tmp_path):
    """The collection's chunk ids, after checking that the keyword index holds exactly the same ones, and
    multilingual vectors exactly for the Chinese ones."""
    store = build_pipeline(settings_for(tmp_path)).open_store(create=False)
    chunks = store.all_chunks()
    ids = sorted(c.id for c in chunks)
    assert sorted(store.keywords.ids()) == ids
    model = build_pipeline(settings_for(tmp_path)).multilingual.name
    vectors = {i for source in {c.source for c in chunks} for i in store.keywords.vectors(source, model)}
    assert vectors == {c.id for c in chunks if mostly_cjk(c.text)}
    return ids


def test_first_run_adds_then_nothing_to_do_without_loading_anything(tmp_path):
    src = tmp_path / "src"
    write_docs(src, 6)
    first = reindex(build_pipeline(settings_for(tmp_path)), [src])
    assert (first.added, first.updated, first.deleted, first.unchanged, first.failed) == (6, 0, 0, 0, [])
    pipeline = build_pipeline(settings_for(tmp_path))
    second = reindex(pipeline, [src])
    assert (second.added, second.updated, second.deleted, second.unchanged) == (0, 0, 0, 6)
    assert "embedder" not in pipeline.__dict__ and "store" not in pipeline.__dict__  # nothing was loaded
    kept = json.loads((tmp_path / "index" / REPORT_NAME).read_text())
    assert kept["unchanged"] == 6 and set(kept) >= {
        "added",
        "updated",
        "deleted",
        "unchanged",
        "failed",
        "seconds",
        "started_at",
        "finished_at",
    }


def test_delete_add_and_overwrite(tmp_path):
    src = tmp_path / "src"
    write_docs(src, 6)
    reindex(build_pipeline(settings_for(tmp_path)), [src])
    (src / "doc00.md").unlink()
    (src / "new.md").write_text("A brand new document about zebras.")
    (src / "doc01.md").write_text("Overwritten: this document is now about giraffes.")
    pipeline = build_pipeline(settings_for(tmp_path))
    report = reindex(pipeline, [src])
    assert (report.added, report.updated, report.deleted, report.unchanged) == (1, 1, 1, 4)
    names = {c.file_name for c in pipeline.store.all_chunks()}
    assert "doc00.md" not in names and {"new.md", "doc01.md"} <= names
    doc01 = [c.text for c in pipeline.store.all_chunks() if c.file_name == "doc01.md"]
    assert doc01 == ["Overwritten: this document is now about giraffes."]
    assert sorted(r.source.rsplit("/", 1)[-1] for r in pipeline.files.all()) == sorted(p.name for p in src.iterdir())
    assert chunk_ids(tmp_path) == sorted(pipeline.store.records.list_keys())  # no orphaned record
    assert set(pipeline.store.cards()) == {r.source for r in pipeline.files.all()}  # one card per file
    assert [i for i, _ in pipeline.store.keyword_search("giraffes", 5)] == [
        c.id for c in pipeline.store.all_chunks() if c.file_name == "doc01.md"
    ]


def test_result_equals_a_clean_run(tmp_path):
    src = tmp_path / "src"
    write_docs(src, 4)
    reindex(build_pipeline(settings_for(tmp_path)), [src])
    (src / "doc03.md").write_text("changed")
    (src / "doc02.md").unlink()
    reindex(build_pipeline(settings_for(tmp_path)), [src])
    clean = tmp_path / "clean"
    reindex(build_pipeline(settings_for(clean)), [src])
    assert chunk_ids(tmp_path) == chunk_ids(clean)


def test_a_second_run_is_refused_with_exit_4(tmp_path, capsys, monkeypatch):
    src = tmp_path / "src"
    write_docs(src, 1)
    monkeypatch.setenv("RAGQA_MODE", "fake")
    with index_lock(tmp_path / "index", "test"):
        code = main(["reindex", str(src), "--index", str(tmp_path / "index")])
    assert code == EXIT_LOCKED
    assert "is being written by pid" in capsys.readouterr().err
    assert main(["reindex", str(src), "--index", str(tmp_path / "index")]) == 0


def test_source_must_be_a_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RAGQA_MODE", "fake")
    assert main(["reindex", str(tmp_path / "nope"), "--index", str(tmp_path / "index")]) == 1
    assert "not a folder" in capsys.readouterr().err


def change_files(src):
    """What happens to a folder between a killed run and the next: a file edited, one deleted, one added."""
    (src / "doc01.md").write_text("# Document 1\n\nRewritten after the crash: walrus counts went up.\n")
    (src / "doc02.md").unlink()
    (src / "added-later.md").write_text("# Added\n\nA file that appeared after the crash.\n")


def index_state(tmp_path):
    """Everything a clean build would have: chunk ids (equal in Chroma and the keyword index, checked by
    chunk_ids), recorded files, and no collection, keyword table or record namespace beyond the active one."""
    pipeline = build_pipeline(settings_for(tmp_path))
    ids = chunk_ids(tmp_path)
    files = sorted((r.source.rsplit("/", 1)[-1], r.chunks) for r in pipeline.files.all())
    client = pipeline.open_store(create=False).client
    collections = [c.name for c in client.list_collections()]
    assert collections == [pipeline.physical_collection], collections
    db = sqlite3.connect(tmp_path / "index" / "records.sqlite3")
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE name GLOB 'ragqa_kw_*_content'")]
    namespaces = [r[0] for r in db.execute("SELECT DISTINCT namespace FROM upsertion_record")]
    file_namespaces = [r[0] for r in db.execute("SELECT DISTINCT namespace FROM ragqa_files")]
    db.close()
    assert len(tables) == 1 and namespaces == [f"chroma/{pipeline.physical_collection}"], (tables, namespaces)
    assert file_namespaces == [pipeline.physical_collection], file_namespaces
    names = tmp_path / "index" / "collections.json"  # written by re-index; `ragqa ingest` leaves none
    entry = json.loads(names.read_text()).get("company", {}) if names.exists() else {}
    assert not entry.get("retired") and not entry.get("building"), entry
    return ids, files


def edit_and_add(src):
    """What `ragqa ingest` (which never removes) meets after a crash: a file edited, one added."""
    (src / "doc01.md").write_text("# Document 1\n\nRewritten after the crash: walrus counts went up.\n")
    (src / "added-later.md").write_text("# Added\n\nA file that appeared after the crash.\n")


def kill_at_random_moments(tmp_path, prepare, trials=3, seed=7, command="reindex", change=change_files):
    """Runs of `ragqa COMMAND` killed at random moments (each index first set up by `prepare(index_root)`),
    the folder then changed, one re-run each; every result must equal a clean run over the changed folder."""
    src = tmp_path / "src"
    write_docs(src, 24, words=1500)
    env = {**os.environ, "RAGQA_MODE": "fake", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "app.cli", command, str(src), "--json"]
    timing = tmp_path / "timing"
    prepare(timing)
    started = time.perf_counter()
    subprocess.run([*cmd, "--index", str(timing / "index")], env=env, check=True, capture_output=True)
    full = time.perf_counter() - started
    rng = random.Random(seed)
    killed = 0
    results = []
    for trial in range(trials):
        write_docs(src, 24, words=1500)  # the folder as it was before the crash
        (src / "added-later.md").unlink(missing_ok=True)
        root = tmp_path / f"t{trial}"
        prepare(root)
        proc = subprocess.Popen(
            [*cmd, "--index", str(root / "index")], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        time.sleep(rng.uniform(0.3, max(0.4, full * 0.9)))
        proc.send_signal(signal.SIGKILL)
        killed += proc.wait() == -signal.SIGKILL
        change(src)
        rerun = subprocess.run([*cmd, "--index", str(root / "index")], env=env, capture_output=True, text=True)
        assert rerun.returncode == 0, rerun.stderr
        results.append(index_state(root))
    clean = tmp_path / "clean"
    subprocess.run([*cmd, "--index", str(clean / "index")], env=env, check=True, capture_output=True)
    expected = index_state(clean)
    assert all(r == expected for r in results)
    assert killed >= 2  # most trials really died mid-run


def test_kill_9_at_any_moment_then_files_change_then_rerun_equals_a_clean_run(tmp_path):
    kill_at_random_moments(tmp_path, prepare=lambda root: None)


def test_kill_9_of_ingest_then_files_change_then_rerun_equals_a_clean_ingest(tmp_path):
    kill_at_random_moments(tmp_path, prepare=lambda root: None, seed=3, command="ingest", change=edit_and_add)


def test_kill_9_during_a_rebuild_for_a_new_model_then_rerun_equals_a_clean_build(tmp_path):
    """The index was built with another embedding model: the run rebuilds it beside the old one, switches and
    drops the old one. Killed anywhere in that, the re-run leaves one collection equal to a clean build."""
    from rag.fakes import HashingEmbedder

    def built_with_an_older_model(root):
        src = tmp_path / "src"
        reindex(build_pipeline(settings_for(root), embedder=HashingEmbedder(dim=32, name="older")), [src])

    kill_at_random_moments(tmp_path, prepare=built_with_an_older_model, seed=11)


def test_a_kill_between_the_switch_and_the_drop_leaves_the_old_collection_to_the_next_run(tmp_path, monkeypatch):
    from rag.collections import CollectionNames
    from rag.fakes import HashingEmbedder

    src = tmp_path / "src"
    write_docs(src, 3)
    reindex(build_pipeline(settings_for(tmp_path), embedder=HashingEmbedder(dim=32, name="older")), [src])

    def killed(*args):
        raise SystemExit("killed")  # what a kill -9 right after the switch leaves

    import ingest.reindex

    real_drop = ingest.reindex.drop_retired
    calls = []

    def drop_until_switched(pipeline, names):
        calls.append(1)
        if len(calls) == 2:  # the call after the switch
            killed()
        real_drop(pipeline, names)

    monkeypatch.setattr(ingest.reindex, "drop_retired", drop_until_switched)
    with pytest.raises(SystemExit):
        reindex(build_pipeline(settings_for(tmp_path)), [src])
    assert list(CollectionNames(tmp_path / "index").retired("company")) == ["company"]  # switched, not dropped
    monkeypatch.setattr(ingest.reindex, "drop_retired", real_drop)
    report = reindex(build_pipeline(settings_for(tmp_path)), [src])
    assert report.unchanged == 3
    assert index_state(tmp_path) == index_state_of_clean_run(tmp_path, src)


def index_state_of_clean_run(tmp_path, src):
    clean = tmp_path / "clean"
    reindex(build_pipeline(settings_for(clean)), [src])
    return index_state(clean)


def test_a_new_embedding_model_rebuilds_beside_the_old_and_switches_atomically(tmp_path, monkeypatch):
    from ingest.index import Indexer
    from rag.errors import IndexMismatchError
    from rag.fakes import HashingEmbedder

    src = tmp_path / "src"
    write_docs(src, 3)
    old_model, new_model = HashingEmbedder(dim=256), HashingEmbedder(dim=32)
    reindex(build_pipeline(settings_for(tmp_path), embedder=old_model), [src])
    seen_during_build = []
    real_commit = Indexer.commit

    def commit_and_query(self, prepared, embedder=None):
        reader = build_pipeline(settings_for(tmp_path), embedder=HashingEmbedder(dim=256))
        seen_during_build.append(len(reader.answerer.retriever.retrieve("topic1 fact2", k=3)))  # old collection serves
        return real_commit(self, prepared, embedder)

    monkeypatch.setattr(Indexer, "commit", commit_and_query)
    report = reindex(build_pipeline(settings_for(tmp_path), embedder=new_model), [src])
    assert report.rebuilt_for_model == new_model.name and report.added == 3
    assert seen_during_build == [3, 3, 3]
    after = build_pipeline(settings_for(tmp_path), embedder=HashingEmbedder(dim=32))
    assert after.physical_collection.startswith("company--")
    assert after.answerer.retrieve("topic1 fact2", k=1)[0].chunk.file_name == "doc01.md"
    with pytest.raises(IndexMismatchError, match="ragqa reindex"):
        build_pipeline(settings_for(tmp_path), embedder=HashingEmbedder(dim=256)).answerer  # noqa: B018
    client = after.store.client
    assert [c.name for c in client.list_collections()] == [after.physical_collection]  # the old one is gone
    assert len(after.files.all()) == 3


def test_queries_keep_working_while_another_process_reindexes(tmp_path):
    """Embedded Chroma shared by two processes: a reader keeps answering through a writer's full run."""
    src = tmp_path / "src"
    write_docs(src, 4)
    reindex(build_pipeline(settings_for(tmp_path)), [src])
    write_docs(src, 30, words=1500)  # most files change: a long write follows
    env = {**os.environ, "RAGQA_MODE": "fake", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "app.cli", "reindex", str(src), "--index", str(tmp_path / "index")]
    writer = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reader = build_pipeline(settings_for(tmp_path)).answerer
    queries = errors = 0
    last_error = ""
    while writer.poll() is None:
        try:
            assert reader.retrieve("topic2 fact3 is number", k=3)
        except Exception as exc:  # noqa: BLE001
            errors += 1
            last_error = repr(exc)
        queries += 1
    assert writer.returncode == 0, writer.stderr.read()
    assert queries > 5 and errors == 0, last_error


def test_chunks_of_a_run_killed_before_the_file_record_go_when_the_file_is_deleted(tmp_path):
    """The state a kill leaves between a file's chunks reaching Chroma and its file record: the file is then
    deleted, and the next re-index removes its chunks (they belong to no recorded file)."""
    src = tmp_path / "src"
    write_docs(src, 3)
    pipeline = build_pipeline(settings_for(tmp_path))
    reindex(pipeline, [src])
    extra = src / "extra.md"
    extra.write_text("# Extra\n\nwalrus migration facts " * 50)
    from ingest.index import Indexer

    prepared = Indexer(pipeline).prepare(extra)
    source = prepared.record.source
    pipeline.store.replace_source(source, prepared.chunks, pipeline.embedder)  # the file record never written
    assert pipeline.files.get(source) is None
    extra.unlink()
    report = reindex(build_pipeline(settings_for(tmp_path)), [src])
    assert report.deleted == 1
    assert not any(c.source == source for c in build_pipeline(settings_for(tmp_path)).store.all_chunks())
    assert chunk_ids(tmp_path) == chunk_ids_of_clean_run(tmp_path, src)


KILLED_INSIDE_THE_STORE_WRITE = """
import os, sys
from pathlib import Path
from ingest.index import Indexer
from rag.pipeline import build_pipeline
from rag.settings import load_settings

pipeline = build_pipeline(load_settings(environ={}, mode="fake", index_dir=Path(sys.argv[1])))
prepared = Indexer(pipeline).prepare(Path(sys.argv[2]))
records = pipeline.store.records
records.update = lambda *a, **k: os._exit(9)  # the vectors are in Chroma; their records never come
pipeline.store.replace_source(prepared.record.source, prepared.chunks, pipeline.embedder)
"""


def test_a_kill_inside_the_store_write_then_the_file_deleted_leaves_no_orphan(tmp_path):
    """kill -9 after a new file's vectors reached Chroma and before LangChain recorded them: nothing names
    them but the pending mark; the file is then deleted, and the next re-index removes them."""
    src = tmp_path / "src"
    write_docs(src, 3)
    reindex(build_pipeline(settings_for(tmp_path)), [src])
    extra = src / "extra.md"
    extra.write_text("# Extra\n\nwalrus migration facts " * 50)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-c", KILLED_INSIDE_THE_STORE_WRITE, str(tmp_path / "index"), str(extra)]
    assert subprocess.run(args, env=env, capture_output=True).returncode == 9
    store = build_pipeline(settings_for(tmp_path)).open_store(create=False)
    from ingest.index import source_of

    orphans = store.collection.get(where={"source": source_of(extra)}, include=[])["ids"]
    assert orphans  # the state the kill left: vectors no record names
    extra.unlink()
    report = reindex(build_pipeline(settings_for(tmp_path)), [src])
    assert report.deleted == 1
    assert chunk_ids(tmp_path) == chunk_ids_of_clean_run(tmp_path, src)
    assert not store.keywords.pending()


def chunk_ids_of_clean_run(tmp_path, src):
    clean = tmp_path / "clean"
    reindex(build_pipeline(settings_for(clean)), [src])
    return chunk_ids(clean)


def test_a_rebuild_of_an_index_made_by_ingest_alone_drops_the_old_collection(tmp_path):
    """`ragqa ingest` writes no collections.json entry: the rebuild must still know the old collection's model
    to drop it (it was listed with no model, failed to open, and stayed in Chroma for good)."""
    from ingest.index import Indexer
    from rag.fakes import HashingEmbedder

    src = tmp_path / "src"
    write_docs(src, 3)
    Indexer(build_pipeline(settings_for(tmp_path), embedder=HashingEmbedder(dim=32, name="older"))).ingest([src])
    assert not (tmp_path / "index" / "collections.json").exists()
    report = reindex(build_pipeline(settings_for(tmp_path)), [src])
    assert report.rebuilt_for_model == "fake-hashing-256" and report.added == 3
    assert index_state(tmp_path) == index_state_of_clean_run(tmp_path, src)


def reindex_cli(tmp_path, *args):
    return main(["reindex", *map(str, args), "--index", str(tmp_path / "index")])


def indexed(tmp_path):
    return sorted(r.source for r in build_pipeline(settings_for(tmp_path)).files.all())


def test_an_empty_source_folder_an_unmounted_share_removes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAGQA_MODE", "fake")
    mount = tmp_path / "mnt" / "docs"
    write_docs(mount, 4)
    assert reindex_cli(tmp_path, mount) == 0
    before, chunks = indexed(tmp_path), chunk_ids(tmp_path)
    for f in mount.iterdir():  # the share is not mounted: the mount point is an empty folder
        f.unlink()
    capsys.readouterr()
    assert reindex_cli(tmp_path, mount) == 5
    err = capsys.readouterr().err
    assert "reindex refused" in err and "holds no document ragqa reads (an empty or unmounted folder?)" in err
    assert "--allow-mass-delete" in err
    assert indexed(tmp_path) == before and chunk_ids(tmp_path) == chunks and len(before) == 4
    assert reindex_cli(tmp_path, mount, "--allow-mass-delete") == 0
    assert indexed(tmp_path) == [] and chunk_ids(tmp_path) == []


def test_a_folder_discovery_cannot_read_removes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAGQA_MODE", "fake")
    src = tmp_path / "src"
    write_docs(src / "a", 2)
    write_docs(src / "b", 2)
    assert reindex_cli(tmp_path, src) == 0
    before = indexed(tmp_path)
    real_scandir = os.scandir

    def scandir(path="."):  # what a folder whose permissions changed gives os.walk
        if str(path).endswith("/b"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    capsys.readouterr()
    assert reindex_cli(tmp_path, src) == 5
    err = capsys.readouterr().err
    assert f"cannot read {src / 'b'}: Permission denied" in err
    assert indexed(tmp_path) == before and len(before) == 4


def test_removing_more_than_the_set_share_needs_to_be_allowed(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAGQA_MODE", "fake")
    src = tmp_path / "src"
    write_docs(src, 12)
    assert reindex_cli(tmp_path, src) == 0
    for i in range(2):  # 2 of 12: an ordinary night
        (src / f"doc{i:02d}.md").unlink()
    assert reindex_cli(tmp_path, src) == 0 and len(indexed(tmp_path)) == 10
    for i in range(2, 8):  # 6 of 10, more than 20 % and more than 5 files: a folder half copied, say
        (src / f"doc{i:02d}.md").unlink()
    capsys.readouterr()
    assert reindex_cli(tmp_path, src) == 5
    assert "would remove 6 of the 10 indexed documents (more than 20%" in capsys.readouterr().err
    assert len(indexed(tmp_path)) == 10
    monkeypatch.setenv("RAGQA_REINDEX__MAX_DELETE_SHARE", "0.7")  # the setting moves the line
    assert reindex_cli(tmp_path, src) == 0 and len(indexed(tmp_path)) == 4
