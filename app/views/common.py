"""Widgets shared by the chat pages: a conversation with streamed answers and their sources.

Document text and file names are always shown with st.text (never as HTML or Markdown); answers are Markdown
without HTML (Streamlit escapes it).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePath

import streamlit as st

from rag.answer import AnswerStream
from rag.errors import RagError


def show_sources(sources: list[dict[str, object]]) -> None:
    if not sources:
        return
    with st.expander(f"Sources ({len(sources)})"):
        for s in sources:
            name = PurePath(str(s["source"])).name
            page = f", page {s['page']}" if s["page"] is not None else ""
            st.text(f"[{s['n']}] {name}{page}  (score {float(s['score']):.2f})")  # type: ignore[arg-type]
            st.text(str(s["text"])[:600])


def conversation(key: str, placeholder: str, ask: Callable[[str], AnswerStream], busy: Callable[[], bool]) -> None:
    """A chat kept in st.session_state[key]; `ask` answers one question."""
    history: list[dict[str, object]] = st.session_state.setdefault(key, [])
    if st.button("New chat", icon=":material/refresh:", key=f"{key}-new"):
        history.clear()
    for turn in history:
        with st.chat_message(str(turn["role"])):
            if turn["role"] == "user":
                st.text(str(turn["content"]))
            else:
                st.markdown(str(turn["content"]))
            show_sources(turn.get("sources", []))  # type: ignore[arg-type]
    question = st.chat_input(placeholder, key=f"{key}-input")
    if not question:
        return
    history.append({"role": "user", "content": question})
    with st.chat_message("user"):
        st.text(question)
    with st.chat_message("assistant"):
        if busy():
            st.info("The model is answering another user; you are queued and will be served next.")
        try:
            stream = ask(question)
            with st.spinner("Thinking…"):
                st.write_stream(iter(stream))
        except (RagError, ValueError) as exc:
            st.error(str(exc))
            return
        sources = [s.to_dict() for s in stream.sources] if stream.result.found else []
        show_sources(sources)
    history.append({"role": "assistant", "content": stream.result.answer, "sources": sources})
