"""Chat page (a Streamlit page script): ask the company collection; answers stream in, with their sources.
The sidebar narrows the documents searched (by document, kind and date), as `ragqa ask --doc/--where` does."""

from __future__ import annotations

import glob
from datetime import date
from pathlib import PurePath

import streamlit as st

from app.state import get_pipeline
from app.views.common import company_file, conversation, model_problem
from rag.cards import Card
from rag.errors import RagError
from rag.pipeline import Pipeline
from rag.retrieve import Filters


def sidebar_filters(pipeline: Pipeline) -> Filters:
    """Document, kind and date filters from the sidebar (document names shown as plain text options)."""
    try:
        cards = {s: Card.from_dict(c) for s, c in pipeline.answerer.store.cards().items()}
    except RagError:
        return Filters()
    with st.sidebar:
        st.subheader("Search in")
        names = sorted({PurePath(s).name for s in cards})
        docs = st.multiselect("Documents", names, key="filter-docs", placeholder="All documents")
        kinds = st.multiselect(
            "Kinds", sorted({c.kind for c in cards.values() if c.kind}), key="filter-kinds", placeholder="All kinds"
        )
        dates = sorted(d for d in (c.end_date for c in cards.values()) if d is not None)
        date_from = date_to = None
        if dates and st.checkbox("Only documents covering a date range", key="filter-dated"):
            picked = st.date_input("Period ends between", (dates[0], dates[-1]), key="filter-dates")
            if isinstance(picked, tuple) and len(picked) == 2 and all(isinstance(d, date) for d in picked):
                date_from, date_to = picked
    exact = tuple(glob.escape(name) for name in docs)  # names, not patterns
    return Filters(exact, (), tuple(kinds), date_from, date_to)


def render() -> None:
    st.title("Ask the company documents")
    pipeline = get_pipeline()
    filters = sidebar_filters(pipeline)
    model_problem(pipeline.generator.problem)
    conversation(
        "chat",
        "Ask a question about the company documents",
        lambda q, turns, on_wait: pipeline.answerer.ask(q, history=turns, on_wait=on_wait, filters=filters),
        company_file,
    )


render()
