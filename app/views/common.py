"""Widgets shared by the chat pages: a conversation with streamed answers and their sources, each source
openable where it stands (its PDF page with the passage marked, or its text around it).

Document text and file names are always shown with st.text (never as HTML or Markdown); answers are Markdown
without HTML (Streamlit escapes it) and without live links or images (`inert_markdown`): an answer written from
a planted document must not make the browser fetch anything.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path, PurePath
from typing import Any

import streamlit as st

from ingest.pageview import Context, PageView
from ingest.upload import UploadLimits, view_passage
from rag.answer import AnswerStream, Turn
from rag.errors import DocumentLoadError, RagError
from rag.types import cite

_IMAGE = re.compile(r"!\[([^\]]*)\]\s*(\([^)]*\)|\[[^\]]*\])")
_LINK = re.compile(r"\[([^\]]*)\]\s*\(([^)]*)\)")
_REFERENCE = re.compile(r"^(?:[ \t]{0,3}>)*[ \t]{0,3}\[[^\]]+\]:\s*\S.*$", re.MULTILINE)  # in quotes too
_URL = re.compile(r"(?<!`)<?\b((?:(?:https?|ftp|file|data|javascript):|www\.)[^\s<>`)]*)>?", re.IGNORECASE)
_CODE_SPAN = re.compile(r"(`+)[^`]*?\1")
_CITATION = re.compile(r"\[\d{1,3}\]")
_OPENS_LINK = re.compile(r"[\[\]<]")


def inert_markdown(text: str) -> str:
    """Model output made safe to render as Markdown: images become their alt text, links their text with the
    address as code, bare addresses code (never auto-linked), reference definitions dropped; then every bracket
    and angle bracket left outside code is escaped, so no link, image or autolink can form however the brackets
    nest. Citations like [1] stay (what could follow one to make it a link is escaped), as do dollar amounts."""
    text = _REFERENCE.sub("", text)
    text = _IMAGE.sub(lambda m: f"(image: {m.group(1)})" if m.group(1) else "(image)", text)
    text = _URL.sub(lambda m: f"`{m.group(1)}`", text)
    text = _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2).strip()})" if m.group(2).strip() else m.group(0), text)
    out, last = [], 0
    for code in _CODE_SPAN.finditer(text):  # inside code a backslash would show; nothing there is live
        out.append(_escape_brackets(text[last : code.start()]))
        out.append(code.group())
        last = code.end()
    out.append(_escape_brackets(text[last:]))
    return "".join(out)


def _escape_brackets(text: str) -> str:
    """Brackets escaped but for citations; a "(", "[" or ":" right after a citation escaped too."""
    out, last = [], 0
    for citation in _CITATION.finditer(text):
        out.append(_OPENS_LINK.sub(r"\\\g<0>", text[last : citation.start()]))
        out.append(citation.group())
        last = citation.end()
        if text[last : last + 1] in ("(", ":") or (text[last : last + 1] == "[" and not _CITATION.match(text, last)):
            out.append("\\" + text[last])
            last += 1
    out.append(_OPENS_LINK.sub(r"\\\g<0>", text[last:]))
    return "".join(out)


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def plain(text: str) -> str:
    """`text` (a file name, an error naming one) for widgets that render Markdown: every Markdown character
    escaped, so it shows as typed."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def stream_answer(pieces: Iterator[str]) -> str:
    """Show an answer as it streams, re-rendered whole (and inert) at each piece. Returns the raw text."""
    placeholder = st.empty()
    text = ""
    for piece in pieces:
        text += piece
        placeholder.markdown(inert_markdown(text))
    return text


Load = Callable[[str], bytes | None]  # a source's file as bytes, or None when it cannot be shown
_VIEWS = 16  # passage views kept per session
_COMPANY_FILE_BYTES = 256 * 1024 * 1024  # a larger company file is not read for its page view


def company_file(source: str) -> bytes | None:
    """The bytes of a company document named by its chunks' source, if the index records that file as indexed
    (a source any other way, a relative path (an upload's) or a file gone since, gives None): the viewer never
    reads a file the index did not take in."""
    from app.state import get_pipeline

    path = Path(source)
    try:
        if not path.is_absolute() or get_pipeline().files.get(source) is None:
            return None
        if not path.is_file() or path.stat().st_size > _COMPANY_FILE_BYTES:
            return None
        return path.read_bytes()
    except OSError:
        return None


def show_passage(source: dict[str, object], load: Load) -> None:
    """The cited passage where it stands: its PDF page with the passage marked, or its text around it. Drawn
    by a parser worker on first view, then kept in the session."""
    name, page, passage = PurePath(str(source["source"])).name, source["page"], str(source["text"])
    views: dict[tuple[str, object, str], object] = st.session_state.setdefault("passage-views", {})
    key = (str(source["source"]), page, hashlib.sha1(passage.encode()).hexdigest())
    if key not in views:  # a failure is kept too: it is not retried at every rerun
        data = load(str(source["source"]))
        if data is None:
            views[key] = "it was moved or removed, or it is too large"
        else:
            try:
                with st.spinner("Finding the passage…"):
                    number = page if isinstance(page, int) else None
                    ocr = bool(source.get("ocr"))
                    views[key] = view_passage(name, data, number, passage, UploadLimits(), ocr)
            except RagError as exc:
                views[key] = exc.reason if isinstance(exc, DocumentLoadError) else str(exc)
        while len(views) > _VIEWS:
            views.pop(next(iter(views)))
    view = views[key]
    if isinstance(view, str):
        st.error(plain(f"{name} cannot be shown: {view}"))  # Markdown: the name and reason are escaped
    elif isinstance(view, PageView):
        st.text(f"{name}, page {page}" + (" (read by OCR)" if view.ocr else ""))
        st.image(view.png)
        if not view.marks:
            st.warning("The passage was not found on this page: the file may have changed since it was indexed.")
    elif isinstance(view, Context):
        st.text(view.before)
        with st.container(border=True):
            st.text(view.passage)
        st.text(view.after)
    else:
        st.warning("The passage was not found in the file: it may have changed since it was indexed.")


def show_sources(sources: list[dict[str, object]], key: str = "sources", load: Load | None = None) -> None:
    if not sources:
        return
    # keyed, so it stays open when a page view is added inside it (an unkeyed one closes when its content
    # changes); opening it does not rerun the page, which would stop an answer being written
    with st.expander(f"Sources ({len(sources)})", key=f"{key}-sources"):
        for s in sources:
            name = PurePath(str(s["source"])).name
            ocr = ", read by OCR" if s.get("ocr") else ""
            st.text(f"{cite(s['n'], name, s['page'])}{ocr}  (score {float(s['score']):.2f})")  # type: ignore[arg-type]
            st.text(str(s["text"])[:600])
            if load is None:
                continue
            label = f"Show page {s['page']} of {name}" if s["page"] is not None else f"Show {name}"
            if st.toggle(plain(f"{label} with the passage marked"), key=f"{key}-{s['n']}"):  # label: Markdown
                show_passage(s, load)


def show_unsupported(flagged: list[dict[str, object]]) -> None:
    for item in flagged:
        flagged_text = plain(f"Not supported by its source: {item['sentence']} ({item['reason']})")
        st.warning(flagged_text, icon=":material/report:")  # model text: shown as typed


Ask = Callable[[str, list[Turn], Callable[[int], None]], AnswerStream]


def model_problem(problem: str | None) -> None:
    """Say so above a chat when the language model's last call failed (it could not load, it crashed): the
    documents can still be browsed, and the next question tries the model again."""
    if problem:
        st.error(
            plain(
                f"Questions cannot be answered now: {problem}. Documents can still be browsed on the Documents page; "
                "the next question tries the model again."
            )
        )


def conversation(key: str, placeholder: str, ask: Ask, load: Load | None = None) -> None:
    """A chat kept in st.session_state; `ask(question, turns, on_wait)` answers one question; `load` gives a
    source's file for its page view."""
    history: list[dict[str, object]] = st.session_state.setdefault(key, [])
    turns: list[Turn] = st.session_state.setdefault(f"{key}-turns", [])
    if st.button("New chat", icon=":material/refresh:", key=f"{key}-new"):
        history.clear()
        turns.clear()
    for i, turn in enumerate(history):
        with st.chat_message(str(turn["role"])):
            if turn["role"] == "user":
                st.text(str(turn["content"]))
            elif turn.get("error"):
                st.error(plain(str(turn["error"])))
            else:
                st.markdown(inert_markdown(str(turn["content"])))
            show_unsupported(turn.get("unsupported", []))  # type: ignore[arg-type]
            show_sources(turn.get("sources", []), f"{key}-{i}", load)  # type: ignore[arg-type]
    question = st.chat_input(placeholder, key=f"{key}-input")
    if not question:
        return
    history.append({"role": "user", "content": question})
    with st.chat_message("user"):
        st.text(question)
    with st.chat_message("assistant"):
        notice = st.empty()

        def queued(position: int) -> None:
            notice.info(f"The model is answering other users; you are number {position} in the queue.")

        try:
            stream = ask(question, turns, queued)
            with st.spinner("Thinking…"):
                stream_answer(_clearing(iter(stream), notice))
        except (RagError, ValueError) as exc:  # the message may quote a server or the model: shown as typed
            st.error(plain(str(exc)))
            history.append({"role": "assistant", "content": "", "error": str(exc)})  # stays shown on reruns
            return
        if stream.result.standalone_question:
            st.caption(plain(f"Searched for: {stream.result.standalone_question}"))  # the model's rewrite
        show_unsupported(stream.result.unsupported)
        sources = [s.to_dict() for s in stream.sources] if stream.result.found else []
        show_sources(sources, f"{key}-{len(history)}", load)  # the index this turn gets below
    history.append(
        {
            "role": "assistant",
            "content": stream.result.answer,
            "sources": sources,
            "unsupported": stream.result.unsupported,
        }
    )
    if stream.result.found:
        turns.append(stream.turn())


def _clearing(pieces: Iterator[str], notice: Any) -> Iterator[str]:
    """Pass the answer through, removing the queue notice when the first piece arrives."""
    first = True
    for piece in pieces:
        if first:
            notice.empty()
            first = False
        yield piece
