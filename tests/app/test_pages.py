"""Every page of the Streamlit app with AppTest, in fake mode (hashing embedder, replaying generator)."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.views.common import plain
from ingest.index import Indexer
from ingest.reindex import reindex
from rag.pipeline import build_pipeline
from rag.settings import load_settings
from tests.conftest import SAMPLE
from tests.fixtures.make_pdf import pdf_bytes

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")


@pytest.fixture
def app(monkeypatch):
    monkeypatch.setenv("RAGQA_MODE", "fake")
    monkeypatch.setenv("RAGQA_RETRIEVE__MIN_SCORE", "0.0")
    settings = load_settings()
    Indexer(build_pipeline(settings)).ingest([SAMPLE])
    from app.state import get_pipeline, get_uploads

    get_pipeline.clear()
    get_uploads.clear()
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.run()
    assert not at.exception
    return at


def page(at: AppTest, name: str) -> AppTest:
    at.switch_page(f"views/{name}.py")
    at.run()
    assert not at.exception, at.exception
    return at


def test_chat_answers_with_sources(app):
    app.chat_input[0].set_value("What is the hotel limit per night in London?").run()
    assert not app.exception
    assert app.chat_message[1].markdown[0].value == "Fake answer [1]."
    texts = [t.value for t in app.chat_message[1].text]
    assert any(t.startswith("[1] expense-policy.pdf, page 2") for t in texts)


def test_a_source_opens_its_page_with_the_passage_marked(app):
    app.chat_input[0].set_value("What is the hotel limit per night in London?").run()
    assert app.chat_message[1].text[0].value.startswith("[1] expense-policy.pdf, page 2")
    app.toggle(key="chat-1-1").set_value(True).run()
    assert not app.exception and not [w for w in app.warning if "not found" in w.value], "the passage is marked"
    assert "expense-policy.pdf, page 2" in [t.value for t in app.chat_message[1].text]
    [image] = app.get("image")
    assert "/media/" in image.value[0]
    app.chat_input[0].set_value("per diem?").run()  # a later turn keeps the earlier turn's view
    assert not app.exception and len(app.get("image")) == 1


def test_a_source_whose_file_is_gone_says_so(app, tmp_path):
    note = tmp_path / "moved.md"
    note.write_text("The quokka hotel limit per night in London is EUR 999.")
    Indexer(build_pipeline(load_settings())).ingest([note])
    note.unlink()
    app.chat_input[0].set_value("quokka hotel limit per night in London").run()
    texts = [t.value for t in app.chat_message[1].text]
    n = next(i for i, t in enumerate(texts) if "moved.md" in t) // 2 + 1
    app.toggle(key=f"chat-1-{n}").set_value(True).run()
    assert not app.exception
    reason = "moved.md cannot be shown: it was moved or removed, or it is too large"
    assert [e.value for e in app.error] == [plain(reason)]


def test_new_chat_clears_history(app):
    app.chat_input[0].set_value("per diem?").run()
    assert len(app.chat_message) == 2
    app.button(key="chat-new").click().run()
    assert len(app.chat_message) == 0


def test_document_text_is_never_html(app, tmp_path, monkeypatch):
    evil = tmp_path / "evil.md"
    evil.write_text("<script>alert(1)</script> <b>hotel</b> London per night limit")
    Indexer(build_pipeline(load_settings())).ingest([evil])
    app.chat_input[0].set_value("hotel London per night limit").run()
    texts = [t.value for t in app.chat_message[1].text]
    assert any("<script>alert(1)</script>" in t for t in texts)  # shown as text, verbatim
    assert not any("<script>" in m.value for m in app.markdown)
    n = next(i for i, t in enumerate(texts) if "evil.md" in t) // 2 + 1  # each source: its line, its text
    app.toggle(key=f"chat-1-{n}").set_value(True).run()  # the passage in its text: text again, never HTML
    assert not app.exception and not [w for w in app.warning if "not found" in w.value]
    shown = [t.value for t in app.chat_message[1].text]
    assert sum("<script>alert(1)</script>" in t for t in shown) == 2, shown
    assert not any("<script>" in m.value for m in app.markdown)


def test_upload_and_ask_the_document_alone(app):
    at = page(app, "upload")
    assert at.info[0].value.startswith("Upload a document")
    pdf = pdf_bytes(["The zebra budget for 2027 is EUR 4,321.", "Second page."])
    at.file_uploader[0].upload("zebras.pdf", pdf, "application/pdf").run()
    assert not at.exception and not at.error
    assert any("zebras.pdf" in t.value for t in at.text)
    at.chat_input(key="upload-chat-input").set_value("What is the zebra budget?").run()
    sources = [t.value for t in at.chat_message[1].text]
    assert any(t.startswith("[1] zebras.pdf, page 1") for t in sources)
    assert not any("expense-policy" in t for t in sources)  # the company docs stay out unless asked for


def test_removed_uploads_stay_removed(app):
    at = page(app, "upload")
    at.file_uploader[0].upload("zebras.pdf", pdf_bytes(["The zebra budget is EUR 4,321."]), "application/pdf").run()
    assert any("zebras.pdf" in t.value for t in at.text)
    next(b for b in at.button if b.label == "Remove uploads").click().run()
    at.run()  # another rerun: the uploader no longer holds the file, so nothing is indexed again
    assert at.info and at.info[0].value.startswith("Upload a document")
    assert not any("zebras.pdf" in t.value for t in at.text)


def test_upload_checks_content_not_the_name(app):
    at = page(app, "upload")
    at.file_uploader[0].upload("report.pdf", b"MZ\x90\x00 this is an executable", "application/pdf").run()
    shown = at.error[0].value.replace("\\", "")  # the message is Markdown-escaped: it names the file
    assert "content is binary, not what a .pdf file holds" in shown


def test_every_upload_stays_listed_with_its_state(app):
    """A file that cannot be read stays listed with its reason beside the one that was indexed, rerun after
    rerun (its error used to show once and vanish)."""
    at = page(app, "upload")
    good = ("zebras.pdf", pdf_bytes(["The zebra budget is EUR 4,321."]), "application/pdf")
    bad = ("broken.pdf", b"%PDF-1.4 nothing else", "application/pdf")
    at.file_uploader[0].upload(*good).upload(*bad).run()
    for _ in range(2):
        listed = [t.value for t in at.text] + [e.value.replace("\\", "") for e in at.error]
        assert any(t.startswith("zebras.pdf: ready, 1 chunk") for t in listed), listed
        assert any(t.startswith("broken.pdf: not indexed: not a readable PDF") for t in listed), listed
        at.run()


def test_a_file_name_is_shown_as_typed_not_as_markdown(app):
    at = page(app, "upload")
    at.file_uploader[0].upload("![x](http:evil)[y](z).pdf", b"MZ\x90\x00 binary", "application/pdf").run()
    assert at.error and "\\!\\[x\\]\\(http\\:evil\\)" in at.error[0].value


def test_documents_page_lists_files_and_the_last_reindex(app, monkeypatch):
    reindex(build_pipeline(load_settings()), [SAMPLE])
    at = page(app, "documents")
    names = at.dataframe[0].value["file"].tolist()
    assert sorted(names) == sorted(p.name for p in SAMPLE.iterdir())
    assert at.json[0].value  # the last re-index report


def test_about_page(app):
    at = page(app, "about")
    assert "Mode:              fake" in at.text[0].value


def test_chat_sidebar_filter_keeps_to_the_chosen_document(app):
    assert "expense-policy.pdf" in app.multiselect(key="filter-docs").options
    app.multiselect(key="filter-docs").select("employee-handbook.md").run()
    app.chat_input[0].set_value("What is the hotel limit per night in London?").run()
    assert not app.exception
    sources = [t.value for t in app.chat_message[1].text if t.value.startswith("[")]
    assert sources and all("employee-handbook.md" in s for s in sources)


def test_an_unexpected_error_shows_its_type_only():
    """Finding 7 of the hardening issue: Streamlit showed users an unexpected exception's message and traceback
    (file paths, document text in messages). The shipped config, as Streamlit reads it, shows the type only."""
    import tomllib

    from streamlit import config

    from tests.conftest import ROOT

    shipped = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert shipped["client"]["showErrorDetails"] == "type"
    config.get_config_options(force_reparse=True)
    assert config.get_option("client.showErrorDetails") == "type"


def test_the_models_rewrite_is_shown_as_typed_not_as_markdown(app):
    """The "Searched for" caption holds the model's text (here the fake's reply "Fake answer [1]."): escaped,
    so a link or image the model writes there stays text."""
    app.chat_input[0].set_value("Hotel limit in London?").run()
    app.chat_input[0].set_value("And for meals?").run()
    assert not app.exception
    assert plain("Searched for: Fake answer [1].") in [c.value for c in app.caption]


def test_the_page_viewer_reads_only_files_the_index_took_in(app, tmp_path):
    from app.views.common import company_file

    indexed = str((SAMPLE / "expense-policy.pdf").resolve())
    assert company_file(indexed) == (SAMPLE / "expense-policy.pdf").read_bytes()
    other = tmp_path / "not-indexed.md"
    other.write_text("private notes")
    assert company_file(str(other)) is None and company_file("/etc/hostname") is None


def test_deleting_from_the_documents_page_is_off_unless_the_setting_allows_it(app, monkeypatch):
    page(app, "documents")
    assert not app.selectbox and any("Deleting here is off" in c.value for c in app.caption)
    monkeypatch.setenv("RAGQA_APP__ALLOW_DELETE", "true")
    from app.state import get_pipeline

    get_pipeline.clear()
    app.run()
    assert [s.label for s in app.selectbox] == ["Delete a document"]
