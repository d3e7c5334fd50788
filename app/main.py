"""Streamlit entry point: page routing only. Pages live in app/views/.

streamlit run app/main.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run app/main.py` puts app/ on the path, not the project
    sys.path.insert(0, str(ROOT))

# Each page is a script in app/views/ (not app/pages/: a pages/ folder beside main.py switches Streamlit to
# its legacy multipage mode, which breaks st.navigation on reruns).
# The favicon is drawn here: a Material icon or an emoji as page_icon makes the browser fetch it from a CDN,
# and this app makes no request off the machine.
st.set_page_config(page_title="ragqa", page_icon=Image.new("RGB", (32, 32), (46, 94, 170)), layout="centered")
page = st.navigation(
    [
        st.Page("views/chat.py", title="Chat", icon=":material/chat:", default=True),
        st.Page("views/upload.py", title="Ask a document", icon=":material/upload_file:", url_path="upload"),
        st.Page("views/documents.py", title="Documents", icon=":material/folder:", url_path="documents"),
        st.Page("views/about.py", title="About", icon=":material/info:", url_path="about"),
    ]
)
page.run()
