"""Documents page: what is indexed (file, chunks, when), delete a document (when `app.allow_delete` is on), and
the last re-index report."""

from __future__ import annotations

from pathlib import PurePath

import streamlit as st

from app.state import get_pipeline
from ingest.lock import index_lock
from ingest.reindex import read_report
from rag.errors import RagError


def render() -> None:
    st.title("Documents")
    pipeline = get_pipeline()
    records = pipeline.files.all()
    st.caption(f"Collection {pipeline.settings.collection!r} in {pipeline.settings.index_dir}")
    if not records:
        st.info("Nothing is indexed yet. Run `ragqa ingest PATH` or `ragqa reindex FOLDER`.")
    else:
        rows = [
            {
                "file": PurePath(r.source).name,
                "chunks": r.chunks,
                "size (KB)": round(r.size / 1024, 1),
                "path": r.source,
            }
            for r in records
        ]
        st.dataframe(rows, hide_index=True, use_container_width=True)
        choice = None
        if pipeline.settings.app.allow_delete:  # off by default: the app has no login
            choice = st.selectbox("Delete a document", [r.source for r in records], index=None, placeholder="Choose…")
        else:
            st.caption("Deleting here is off (RAGQA_APP__ALLOW_DELETE=true); `ragqa reindex` removes deleted files.")
        if choice and st.button("Delete", type="primary", icon=":material/delete:"):
            try:
                with index_lock(pipeline.settings.index_dir, "the app (delete)"):
                    removed = pipeline.store.delete_source(choice)
                    pipeline.files.delete(choice)
                st.success(f"Deleted {PurePath(choice).name} ({removed} chunks).")
                st.rerun()
            except RagError as exc:
                st.error(str(exc))
    st.subheader("Last re-index")
    report = read_report(pipeline.settings.index_dir)
    if report is None:
        st.text("No re-index has run on this index yet.")
    else:
        st.json(report)


render()
