"""Chat page (a Streamlit page script): ask the company collection; answers stream in, with their sources."""

from __future__ import annotations

import streamlit as st

from app.state import get_pipeline
from app.views.common import conversation


def render() -> None:
    st.title("Ask the company documents")
    pipeline = get_pipeline()
    conversation(
        "chat",
        "Ask a question about the company documents",
        lambda q, turns, on_wait: pipeline.answerer.ask(q, history=turns, on_wait=on_wait),
    )


render()
