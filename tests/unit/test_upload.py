"""Uploads: checks by content, size, pages and time; per-session in-memory collections with a TTL."""

import multiprocessing
import time

import pytest

from ingest.chunk import Chunker
from ingest.upload import UploadLimits, check_upload, index_upload, parse_upload, safe_name
from rag.errors import DocumentLoadError
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


def test_parse_time_limit(monkeypatch):
    import ingest.upload as upload

    def slow(*args, **kwargs):
        time.sleep(30)

    monkeypatch.setattr(upload, "load_document", slow)
    # forked from this process, so the child sees the slow reader (the app forks from a clean server process)
    monkeypatch.setattr(upload, "_parser_context", lambda: multiprocessing.get_context("fork"))
    started = time.perf_counter()
    with pytest.raises(DocumentLoadError, match="took longer than 1 s"):
        parse_upload("slow.txt", b"hello", UploadLimits(parse_seconds=1))
    assert time.perf_counter() - started < 10


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


def test_the_parsing_child_has_a_memory_limit():
    big = ("word " * 2_000_000).encode()  # 10 MB of text: reading it needs more than the limit below
    with pytest.raises(DocumentLoadError, match="needs more than 40 MB to read"):
        parse_upload("big.txt", big, UploadLimits(max_bytes=50_000_000, parse_seconds=60, parse_memory_mb=40))
    assert parse_upload("small.txt", b"hello there", UploadLimits())[0].text == "hello there"
