"""Process-wide resources for the Streamlit app, shared by all sessions: one pipeline (models, store) and the
per-session upload collections. Built once per process with st.cache_resource."""

from __future__ import annotations

import uuid

import streamlit as st

from rag.models import offline_hub
from rag.pipeline import Pipeline, build_pipeline
from rag.sessions import UploadSessions
from rag.settings import load_settings

UPLOAD_TTL_SECONDS = 3600


@st.cache_resource(show_spinner="Loading models…")
def get_pipeline() -> Pipeline:
    offline_hub()
    pipeline = build_pipeline(load_settings())
    pipeline.warm_up_in_background()  # load the models while the first user types
    return pipeline


@st.cache_resource
def get_uploads() -> UploadSessions:
    pipeline = get_pipeline()
    return pipeline.upload_sessions(ttl_seconds=UPLOAD_TTL_SECONDS)


def session_id() -> str:
    """A random id per browser session (never derived from anything the user sends)."""
    if "session_id" not in st.session_state:
        st.session_state["session_id"] = uuid.uuid4().hex[:16]
    return str(st.session_state["session_id"])
