"""Streamlit entry point: builds the pipeline once per process and routes to the pages.

streamlit run app/main.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run app/main.py` puts app/ on the path, not the project
    sys.path.insert(0, str(ROOT))

# Pages live in app/views/, not app/pages/: a pages/ folder beside main.py switches Streamlit to its
# legacy multipage mode, which breaks st.navigation on reruns.
from app.views import chat  # noqa: E402

st.set_page_config(page_title="ragqa", page_icon=":material/quiz:", layout="centered")
page = st.navigation([st.Page(chat.render, title="Chat", icon=":material/chat:", url_path="chat", default=True)])
page.run()
