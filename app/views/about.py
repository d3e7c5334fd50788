"""About / settings: the models in use, retrieval settings and where the index lives."""

from __future__ import annotations

import streamlit as st

from app.state import get_pipeline


def render() -> None:
    st.title("About")
    s = get_pipeline().settings
    st.text(
        "\n".join(
            [
                f"Mode:              {s.mode}",
                f"LLM:               {s.llm.model} (context {s.llm.n_ctx} tokens, up to {s.llm.max_tokens} per answer)"
                + (f" on {s.llm.base_url}" if s.llm.base_url else ""),
                f"Embedder:          {s.embedder.model}",
                f"Chunks retrieved:  {s.retrieve.k} (relevance threshold {s.retrieve.min_score})",
                f"Index:             {s.index_dir} / {s.collection}"
                + (f" (vectors on the Chroma server {s.chroma_url})" if s.chroma_url else ""),
                f"Models folder:     {s.models_dir}",
            ]
        )
    )
    st.caption("Settings come from RAGQA_* environment variables or a settings file; see docs/usage.md.")


render()
