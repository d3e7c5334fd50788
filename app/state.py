"""Process-wide resources for the Streamlit app: one pipeline (models, store) shared by all sessions."""

from __future__ import annotations

import streamlit as st

from rag.models import offline_hub
from rag.pipeline import Pipeline, build_pipeline
from rag.settings import load_settings


@st.cache_resource(show_spinner="Loading models…")
def get_pipeline() -> Pipeline:
    offline_hub()
    return build_pipeline(load_settings())
