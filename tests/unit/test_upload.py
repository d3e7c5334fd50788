"""Uploads: checks by content, size, pages and time; per-session in-memory collections with a TTL."""

import time
from pathlib import Path

import pytest

from ingest.chunk import Chunker
from ingest.upload import UploadLimits, check_upload, index_upload, parse_upload, safe_name
from rag.errors import DocumentLoadError, RagError
from rag.fakes import HashingEmbedder
from rag.sessions import UploadSessions
from tests.conftest import SAMPLE, shared_path
from tests.fixtures.make_pdf import pdf_bytes

LIMITS = UploadLimits(max_bytes=100_000, max_pages=3, parse_seconds=10)


def test_names_lose_their_folders():
    assert safe_name("../../etc/passwd.pdf") == "passwd.pdf"
    assert safe_name("C:\\Users\\x\\report.pdf") == "report.pdf"
    assert safe_name("a\x00b.txt") == "ab.txt"


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("x.exe", b"MZ", "not accepted: .exe"),
        ("x.pdf", b"MZ\x90\x00\x00", "content is binary"),
        ("x.docx", b"%PDF-1.4", "content is pdf"),
        ("x.txt", b"", "empty file"),
        ("x.txt", b"a" * 100_001, "too large"),
    ],
)
def test_checks(name, data, reason):
    with pytest.raises(DocumentLoadError) as err:
        check_upload(name, data, LIMITS)
    assert err.value.reason.startswith(reason)


def test_page_limit():
    with pytest.raises(DocumentLoadError, match="too many pages: 4, the limit is 3"):
        parse_upload("four.pdf", pdf_bytes(["a", "b", "c", "d"]), LIMITS)


def test_parse_time_limit():
    big = ("word " * 2_000_000).encode()  # 10 MB of text: far more than 50 ms of reading
    started = time.perf_counter()
    with pytest.raises(DocumentLoadError, match="took longer than 0.05 s to read"):
        parse_upload("slow.txt", big, UploadLimits(max_bytes=50_000_000, parse_seconds=0.05))
    assert time.perf_counter() - started < 10
    assert parse_upload("next.txt", b"the pool goes on", UploadLimits())[0].text == "the pool goes on"


def test_untrusted_pdfs_keep_pypdfs_limits():
    data = shared_path("sec-10q", "docs", "2023 Q1 MSFT.pdf").read_bytes()
    with pytest.raises(DocumentLoadError, match="too complex: pypdf safety limit"):
        parse_upload("msft.pdf", data, UploadLimits(max_bytes=10_000_000, max_pages=500, parse_seconds=120))


def test_sessions_are_isolated_and_expire():
    embedder = HashingEmbedder()
    sessions = UploadSessions(embedder.name, lambda: embedder.dim, ttl_seconds=60)
    chunker = Chunker(embedder.count_tokens, 256, 200, 30)
    index_upload(
        "policy.pdf", (SAMPLE / "expense-policy.pdf").read_bytes(), sessions.store("a"), embedder, chunker, LIMITS
    )
    [vector] = embedder.embed(["hotels per night in London"])
    assert sessions.store("a").search(vector, 3)[0].chunk.file_name == "policy.pdf"
    assert sessions.store("b").search(vector, 3) == []
    assert sessions.expire(now=time.monotonic() + 120) == ["a", "b"]
    assert sessions.count() == 0
    left = {c.name for c in sessions.client.list_collections()}  # the in-memory client is shared per process
    assert not left & {"upload-a", "upload-b"}


def test_idle_sessions_close_on_a_timer_and_their_number_is_capped():
    embedder = HashingEmbedder()
    sessions = UploadSessions(embedder.name, lambda: embedder.dim, ttl_seconds=1, max_sessions=2)
    sessions.store("a")
    sessions.store("b")
    with pytest.raises(RagError, match="uploads are held for 2 browser sessions already"):
        sessions.store("c")
    deadline = time.monotonic() + 10
    while sessions.count():  # nobody calls anything: the timer closes them
        assert time.monotonic() < deadline, "idle sessions were not closed"
        time.sleep(0.2)
    sessions.store("c")


def test_the_bytes_kept_for_page_views_are_capped_across_sessions():
    embedder = HashingEmbedder()
    sessions = UploadSessions(embedder.name, lambda: embedder.dim, keep_bytes=100, keep_total_bytes=150)
    sessions.add_file("a", "a.pdf", "ready", "upload/a/a.pdf", b"x" * 100)
    sessions.add_file("b", "b.pdf", "ready", "upload/b/b.pdf", b"y" * 100)  # 200 in all: not kept
    assert sessions.document("a", "upload/a/a.pdf") == b"x" * 100
    assert sessions.document("b", "upload/b/b.pdf") is None


def test_an_upload_is_keyword_indexed_with_the_same_ids_and_its_card():
    embedder = HashingEmbedder()
    sessions = UploadSessions(embedder.name, lambda: embedder.dim, ttl_seconds=60)
    chunker = Chunker(embedder.count_tokens, 256, 200, 30)
    store = sessions.store("kw")
    index_upload("policy.pdf", (SAMPLE / "expense-policy.pdf").read_bytes(), store, embedder, chunker, LIMITS)
    assert store.keywords.ids() == {c.id for c in store.all_chunks()}
    [card] = store.cards().values()
    assert card["kind"] == "policy" and card["file_name"] == "policy.pdf"
    assert store.get([store.keyword_search("hotel London night", 1)[0][0]], [0.0] * embedder.dim)
    sessions.close("kw")


def test_the_parsing_workers_have_a_memory_limit():
    big = ("word " * 2_000_000).encode()  # 10 MB of text: reading it needs more than the limit below
    with pytest.raises(DocumentLoadError, match="more than 60 MB") as err:
        parse_upload("big.txt", big, UploadLimits(max_bytes=50_000_000, parse_seconds=60, parse_memory_mb=60))
    assert err.value.reason.endswith("not indexed")
    assert parse_upload("small.txt", b"hello there", UploadLimits())[0].text == "hello there"


UPLOADER = """
import sys, time
from ingest.chunk import Chunker
from ingest.upload import UploadLimits, index_upload
from rag.fakes import HashingEmbedder
from rag.sessions import UploadSessions

if __name__ == "__main__":
    embedder = HashingEmbedder()
    sessions = UploadSessions(embedder.name, lambda: embedder.dim, ttl_seconds=60)
    chunker = Chunker(embedder.count_tokens, 256, 200, 30)
    data = open(sys.argv[1], "rb").read()
    limits = UploadLimits(max_bytes=len(data) + 1, parse_seconds=120)
    print("ready", flush=True)
    for i in range(100):
        index_upload(f"upload{i}.txt", data + str(i).encode(), sessions.store("s"), embedder, chunker, limits)
"""


def _descendants(pid):
    """Processes below `pid` (the parser pool's fork server and workers)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        for task in (Path(f"/proc/{p}/task")).glob("*/children"):
            kids = [int(k) for k in task.read_text().split()]
            found += kids
            todo += kids
    return found


def _running(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_kill_9_mid_upload_leaves_no_file_and_no_process_behind(tmp_path):
    """Uploads live in memory and are parsed by the worker pool: a killed app leaves nothing of them on disk
    (no temporary file, the company index untouched) and its parsing processes die with it."""
    import os
    import random
    import signal
    import subprocess
    import sys

    from tests.conftest import ROOT

    script = tmp_path / "uploader.py"
    script.write_text(UPLOADER)
    upload = tmp_path / "big.txt"
    upload.write_bytes(("a line of an uploaded export file with words\n" * 1_000_000).encode())  # 45 MB: ~3 s to read
    index = tmp_path / "index"
    index.mkdir()
    (index / "keep.txt").write_text("the company index")
    before = {p: p.read_bytes() for p in index.rglob("*") if p.is_file()}
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp), "RAGQA_INDEX_DIR": str(index)}
    rng = random.Random(5)
    for _ in range(3):
        proc = subprocess.Popen(
            [sys.executable, str(script), str(upload)], env=env, stdout=subprocess.PIPE, cwd=tmp_path
        )
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(2.5, 4.0))  # the pool starts (~2 s), then a worker reads: killed mid-read
        children = _descendants(proc.pid)
        assert children  # the pool was running
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
        deadline = time.monotonic() + 2  # less than a read takes: a worker must not finish its file first
        while any(_running(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [c for c in children if _running(c)]
    # Nothing of the uploads was written: no file at all. A kill -9 does leave the fork server's socket (a
    # "pymp-*" folder holding one "listener-*" socket, Python's multiprocessing) in the temporary folder.
    left = [p for p in tmp.rglob("*") if not p.is_dir()]
    assert all(p.is_socket() and p.parent.name.startswith("pymp-") for p in left), left
    assert {p: p.read_bytes() for p in index.rglob("*") if p.is_file()} == before


def test_an_upload_past_its_chunk_cap_or_embedding_time_fails_and_leaves_nothing():
    embedder = HashingEmbedder()
    sessions = UploadSessions(embedder.name, lambda: embedder.dim, ttl_seconds=60)
    chunker = Chunker(embedder.count_tokens, 256, 200, 30)
    store = sessions.store("caps")
    text = "\n\n".join(f"Paragraph {i} says the walrus count in bay {i} is {i * 7}." * 8 for i in range(400))
    data = text.encode()
    limits = UploadLimits(max_bytes=len(data) + 1, max_chunks=50)
    with pytest.raises(DocumentLoadError, match=r"too long: \d+ chunks, the limit for an upload is 50"):
        index_upload("long.txt", data, store, embedder, chunker, limits)
    slow = UploadLimits(max_bytes=len(data) + 1, embed_seconds=0.0)
    with pytest.raises(DocumentLoadError, match="took longer than 0 s to embed"):
        index_upload("long.txt", data, store, embedder, chunker, slow)
    assert store.count() == 0 and store.keywords.ids() == set()  # nothing of it was kept
    seen = []
    limits = UploadLimits(max_bytes=len(data) + 1)
    chunks = index_upload("long.txt", data, store, embedder, chunker, limits, on_progress=lambda f, m: seen.append(m))
    chunks = chunks.chunks
    assert chunks > 50 and store.count() == chunks
    assert f"Embedded {chunks} of {chunks} chunks" in seen  # progress counts chunks
    sessions.close("caps")


def test_a_chinese_upload_gets_multilingual_vectors_within_the_same_time_limit():
    embedder, multilingual = HashingEmbedder(), HashingEmbedder(name="fake-multilingual")
    sessions = UploadSessions(embedder.name, lambda: embedder.dim, ttl_seconds=60, multilingual=multilingual)
    chunker = Chunker(embedder.count_tokens, 256, 200, 30)
    store = sessions.store("zh")
    data = "\n\n".join(f"第{i}段：海湾{i}的海象数量是{i * 7}只。" * 8 for i in range(40)).encode()
    calls = multilingual.calls
    slow = UploadLimits(max_bytes=len(data) + 1, embed_seconds=0.0)
    with pytest.raises(DocumentLoadError, match="took longer than 0 s to embed"):
        index_upload("海象.txt", data, store, embedder, chunker, slow)
    assert store.count() == 0 and not store.has_multilingual(multilingual.name)
    seen = []
    limits = UploadLimits(max_bytes=len(data) + 1)
    uploaded = index_upload("海象.txt", data, store, embedder, chunker, limits, on_progress=lambda f, m: seen.append(m))
    chunks = uploaded.chunks
    assert uploaded.state() == f"ready, {chunks} chunks" and uploaded.ocr_pages == 0
    source = next(iter(store.cards()))
    assert len(store.keywords.vectors(source, multilingual.name)) == chunks and multilingual.calls > calls
    assert f"Embedded {chunks} of {chunks} CJK chunks" in seen
    sessions.close("zh")
