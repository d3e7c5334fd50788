"""Loaders: one test per format, and every file in ../shared/datasets/pdf-edge-cases with its specific result."""

from pathlib import Path

import pytest

from ingest.load import load_document, sniff
from rag.errors import DocumentLoadError, UnsupportedFileError
from tests.conftest import SAMPLE, shared_path
from tests.fixtures.make_pdf import pdf_bytes


def test_pdf_pages_are_numbered_from_one(tmp_path):
    f = tmp_path / "three.pdf"
    f.write_bytes(pdf_bytes(["First page text.", "", "Third page (with parens) text."]))
    pages = load_document(f)
    assert [(p.page, p.text) for p in pages] == [(1, "First page text."), (3, "Third page (with parens) text.")]


def test_sample_pdf_has_three_pages():
    pages = load_document(SAMPLE / "expense-policy.pdf")
    assert [p.page for p in pages] == [1, 2, 3]
    assert "EUR 150 per night" in pages[1].text


def test_text_encodings_are_detected(tmp_path):
    utf8 = tmp_path / "a.txt"
    utf8.write_text("Grüße aus Köln — 你好。", encoding="utf-8")
    assert load_document(utf8)[0].text == "Grüße aus Köln — 你好。"
    gbk = tmp_path / "b.md"
    gbk.write_bytes("远程办公指南：员工每周最多可以远程办公三天，周二和周四是团队办公日。".encode("gb18030"))
    assert "远程办公三天" in load_document(gbk)[0].text
    latin = tmp_path / "c.txt"
    latin.write_bytes("Die Straße führt über die Brücke nach Süden, sagte er.".encode("cp1252"))
    assert "Straße führt über" in load_document(latin)[0].text


def test_html_keeps_visible_text_only():
    [page] = load_document(SAMPLE / "it-security-policy.html")
    assert "at least 14 characters" in page.text
    assert "console.log" not in page.text and "font-family" not in page.text


def test_docx(tmp_path):
    docx = pytest.importorskip("docx")
    d = docx.Document()
    d.add_paragraph("Quarterly revenue rose 12 percent.")
    table = d.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "Region", "EMEA"
    f = tmp_path / "report.docx"
    d.save(f)
    assert load_document(f)[0].text == "Quarterly revenue rose 12 percent.\nRegion | EMEA"


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("notes.pdf", b"hello, I am text", "not a PDF"),
        ("empty.txt", b"   \n ", "no extractable text"),
        ("binary.txt", b"\x00\x01\x02\x03" * 20, "not a text file"),
        ("doc.md", b"%PDF-1.4 rest", "a PDF named .md"),
        ("fake.docx", b"plain text", "not a DOCX"),
    ],
)
def test_bad_files_get_specific_reasons(tmp_path, name, content, reason):
    f = tmp_path / name
    f.write_bytes(content)
    with pytest.raises(DocumentLoadError) as err:
        load_document(f)
    assert err.value.reason.startswith(reason)


def test_unsupported_and_missing(tmp_path):
    with pytest.raises(UnsupportedFileError, match="unsupported file type .exe"):
        load_document(tmp_path / "x.exe")
    with pytest.raises(DocumentLoadError, match="no such file"):
        load_document(tmp_path / "gone.pdf")


def test_sniff():
    assert sniff(b"%PDF-1.7") == "pdf"
    assert sniff(b"PK\x03\x04....") == "zip"
    assert sniff(b"<!DOCTYPE html><html>") == "html"
    assert sniff(b"plain") == "text"


# Every edge-case PDF: (expected reason prefix, or None when text must come out).
EDGE_CASES = {
    "minimal-document.pdf": None,
    "pdflatex-4-pages.pdf": None,
    "multicolumn.pdf": None,
    "arabic-cmap.pdf": None,
    "non-unicode-cmap.pdf": None,
    "unreadable-metadata.pdf": None,
    "with-attachment.pdf": None,
    "zen-of-python-corrupted.pdf": None,
    "francais.pdf": "no text layer (scanned?)",  # image of text, no text layer
    "scanned-no-text-layer.pdf": "no text layer (scanned?)",
    "image-only-ccitt.pdf": "no text layer (scanned?)",
    "enormous-page.pdf": "no text layer (scanned?)",
    "blank.pdf": "no extractable text",
    "no-contents.pdf": "no extractable text",
    "invalid-header-only.pdf": "not a readable PDF",
    "evil-xobjects.pdf": "not a readable PDF",
    "password-protected.pdf": "encrypted: needs a password",
    "aes-256-r6-encrypted.pdf": "encrypted: needs a password",
    "rc4-40-encrypted.pdf": "encrypted: needs a password",
}


def test_edge_case_list_covers_the_folder():
    folder = shared_path("pdf-edge-cases")
    assert {p.name for p in folder.glob("*.pdf")} == set(EDGE_CASES)


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_edge_case_pdfs(name):
    import time

    path = shared_path("pdf-edge-cases", name)
    expected = EDGE_CASES[name]
    started = time.perf_counter()
    if expected is None:
        pages = load_document(path)
        assert pages and all(p.text.strip() and p.page >= 1 for p in pages)
    else:
        with pytest.raises(DocumentLoadError) as err:
            load_document(path)
        assert err.value.reason.startswith(expected), err.value.reason
    assert time.perf_counter() - started < 30, "each edge case must give its result in bounded time"


@pytest.mark.parametrize(
    ("name", "password", "expected"),
    [
        ("password-protected.pdf", "openpassword", "Lorem ipsum"),
        ("aes-256-r6-encrypted.pdf", "usersecret", "Hello World"),
        ("rc4-40-encrypted.pdf", "foo", "Secret!"),
    ],
)
def test_encrypted_pdfs_open_with_their_password(name, password, expected):
    pages = load_document(shared_path("pdf-edge-cases", name), password=password)
    assert pages[0].text.startswith(expected)


def test_wrong_password():
    with pytest.raises(DocumentLoadError, match="wrong password"):
        load_document(shared_path("pdf-edge-cases", "rc4-40-encrypted.pdf"), password="bar")


def test_corrupted_page_tree_still_yields_text():
    pages = load_document(shared_path("pdf-edge-cases", "unreadable-metadata.pdf"))
    assert "Wirewound" in " ".join(p.text for p in pages)


def test_owner_only_encrypted_filing_opens_without_password():
    pages = load_document(shared_path("sec-10q", "docs", "2022 Q3 AAPL.pdf"))
    assert any("82,959" in p.text for p in pages)


def test_pypdf_limits_are_raised_only_for_trusted_files():
    path: Path = shared_path("sec-10q", "docs", "2023 Q1 MSFT.pdf")
    with pytest.raises(DocumentLoadError, match="too complex: pypdf safety limit"):
        load_document(path, pdf_limit_factor=1)
    pages = load_document(path, pdf_limit_factor=4)
    assert len(pages) > 60


def test_a_docx_zip_bomb_is_refused_before_it_is_inflated(monkeypatch):
    import io
    import zipfile

    import ingest.load as load

    monkeypatch.setattr(load, "MAX_DOCX_INFLATED_BYTES", 1024 * 1024)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", b"\0" * (8 * 1024 * 1024))  # 8 MB of zeros: a few KB packed
    assert len(buf.getvalue()) < 100_000
    with pytest.raises(DocumentLoadError, match="unpacks to more than 1 MB"):
        load.load_document(Path("bomb.docx"), buf.getvalue())


def test_an_unexpected_reader_failure_is_a_specific_reason(monkeypatch):
    import ingest.load as load

    def broken(path, data):
        raise AssertionError

    monkeypatch.setattr(load, "load_text", broken)
    with pytest.raises(DocumentLoadError, match=r"damaged TXT content the reader failed on \(AssertionError\)"):
        load.load_document(Path("notes.txt"), b"hello")
