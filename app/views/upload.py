"""Ask a document: upload a PDF (scans read by OCR), TXT, MD or DOCX and ask about it, alone or with the company
documents.

Uploads are checked by content, size, page count and parse time (ingest.upload), kept in this session's own
in-memory collection, and removed with "Remove uploads" or after an idle hour.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import streamlit as st

from app.state import get_pipeline, get_uploads, session_id
from app.views.common import company_file, conversation, model_problem, plain
from ingest.index import Indexer
from ingest.upload import UploadLimits, index_upload
from rag.answer import AnswerStream, Turn
from rag.errors import DocumentLoadError, RagError
from rag.store import MergedStore, Store


def _limits() -> UploadLimits:
    mb = int(st.get_option("server.maxUploadSize"))
    return UploadLimits(max_bytes=mb * 1024 * 1024)


def _show_progress(bar: Any, fraction: float, text: str) -> None:
    bar.progress(fraction, text=plain(text))  # the text names the file: Markdown there is only text


def render() -> None:
    st.title("Ask a document")
    pipeline, uploads, sid = get_pipeline(), get_uploads(), session_id()
    limits = _limits()
    st.caption(
        f"PDF, TXT, MD or DOCX up to {limits.max_bytes // (1024 * 1024)} MB and {limits.max_pages} pages "
        f"(scanned pages are read by OCR, up to {limits.ocr_pages}). "
        "Uploads stay in this browser session only and are never added to the company index."
    )
    done: set[str] = st.session_state.setdefault("uploaded", set())
    # "Remove uploads" gives the uploader a new key: the old widget, still holding the files, is gone with it
    uploader = f"uploader-{st.session_state.setdefault('uploader-generation', 0)}"
    files = st.file_uploader("Upload", type=["pdf", "txt", "md", "docx"], accept_multiple_files=True, key=uploader)
    for f in files or []:
        key = f"{f.name}:{f.size}:{f.file_id}"
        if key in done:
            continue
        bar = st.progress(0.0, text=f"Reading {plain(f.name)}")
        try:
            uploaded = index_upload(
                f.name,
                f.getvalue(),
                uploads.store(sid),
                pipeline.embedder,
                Indexer(pipeline).chunker,
                limits,
                on_progress=functools.partial(_show_progress, bar),
            )
        except RagError as exc:
            bar.empty()
            reason = exc.reason if isinstance(exc, DocumentLoadError) else str(exc)
            uploads.add_file(sid, f.name, f"not indexed: {reason}")
            done.add(key)
            continue
        uploads.add_file(sid, f.name, uploaded.state(), uploaded.source, f.getvalue())
        bar.progress(1.0, text=f"{plain(f.name)}: {uploaded.state()}")
        done.add(key)
    listed = uploads.files(sid) if uploads.has(sid) else []
    if not listed:
        st.info("Upload a document to ask about it.")
        return
    st.text("In this session:")  # every upload stays listed with its state, failures too
    for upload in listed:
        if upload.ready:
            st.text(f"{upload.name}: {upload.state}")  # shown as typed
        else:
            st.error(plain(f"{upload.name}: {upload.state}"))  # Markdown: the name and reason are escaped
    if st.button("Remove uploads", icon=":material/delete:"):
        uploads.close(sid)
        done.clear()
        st.session_state["uploader-generation"] += 1
        st.session_state.pop("upload-chat", None)
        st.rerun()
    if not any(upload.ready for upload in listed):
        st.info("None of the uploads could be read: nothing to ask about yet.")
        return
    with_company = st.toggle("Also search the company documents", value=False)
    model_problem(pipeline.generator.problem)

    def ask(question: str, turns: list[Turn], on_wait: Callable[[int], None]) -> AnswerStream:
        store: Store = uploads.store(sid)
        if with_company:
            store = MergedStore([store, pipeline.open_store(create=False)])
        return pipeline.answerer_for(store).ask(question, history=turns, on_wait=on_wait)

    def load(source: str) -> bytes | None:
        return uploads.document(sid, source) if source.startswith("upload/") else company_file(source)

    conversation("upload-chat", "Ask about the uploaded document", ask, load)


render()
