"""Chat page: ask the company collection; answers stream in, with their sources (file, page, score, text).

Document text and file names are shown as plain text, never as HTML.
"""

from __future__ import annotations

import streamlit as st

from app.state import get_pipeline
from rag.errors import RagError


def _show_sources(sources: list[dict[str, object]]) -> None:
    if not sources:
        return
    with st.expander(f"Sources ({len(sources)})"):
        for s in sources:
            name = str(s["source"]).rsplit("/", 1)[-1]
            page = f", page {s['page']}" if s["page"] is not None else ""
            st.text(f"[{s['n']}] {name}{page}  (score {float(s['score']):.2f})")  # type: ignore[arg-type]
            st.text(str(s["text"])[:600])


def render() -> None:
    st.title("Ask the company documents")
    history: list[dict[str, object]] = st.session_state.setdefault("history", [])
    if st.button("New chat", icon=":material/refresh:"):
        history.clear()
    for turn in history:
        with st.chat_message(str(turn["role"])):
            if turn["role"] == "user":
                st.text(str(turn["content"]))
            else:
                st.markdown(str(turn["content"]))
            _show_sources(turn.get("sources", []))  # type: ignore[arg-type]
    question = st.chat_input("Ask a question about the documents")
    if not question:
        return
    history.append({"role": "user", "content": question})
    with st.chat_message("user"):
        st.text(question)
    with st.chat_message("assistant"):
        try:
            stream = get_pipeline().answerer.ask(question)
            with st.spinner("Thinking…"):
                st.write_stream(iter(stream))
        except RagError as exc:
            st.error(str(exc))
            return
        sources = [s.to_dict() for s in stream.sources] if stream.result.found else []
        _show_sources(sources)
    history.append({"role": "assistant", "content": stream.result.answer, "sources": sources})
