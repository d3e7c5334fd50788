"""The re-index job: make a collection mirror its source folders.

New files are added, changed files replaced (their old chunks removed), files that are gone have their chunks
removed, and unchanged files are skipped from `stat` alone: when nothing changed, no file is read, no model is
loaded and the vector store is not even opened. Chunk bookkeeping is LangChain's indexing API with its SQL
record manager (see rag.store, rag.records). Every step is idempotent and the file record is written last, so
after a crash (kill -9 included) the next run finishes the work and leaves exactly the index a clean run
builds. A change of embedding model rebuilds the collection beside the old one and switches over atomically.
The report is kept as `last_reindex.json` in the index folder.
Not here: locking (the caller holds ingest.lock), scheduling (docs/nightly.md).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePath

from ingest.index import Indexer, Progress, ProgressRelay, discover, source_of
from rag.collections import CollectionNames
from rag.errors import DocumentLoadError, IndexMismatchError, RagError, ReindexRefusedError
from rag.keyword import KeywordIndex
from rag.pipeline import Pipeline
from rag.records import DB_NAME, FileRecords, chunk_record_manager, recorded_sources

logger = logging.getLogger(__name__)

REPORT_NAME = "last_reindex.json"


@dataclass
class ReindexReport:
    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    started_at: str = ""
    finished_at: str = ""
    collection: str = ""
    sources: list[str] = field(default_factory=list)
    rebuilt_for_model: str | None = None  # set when the collection was rebuilt for another embedding model

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_report(index_dir: Path, report: ReindexReport) -> Path:
    """Write the report atomically (a reader never sees half a file)."""
    path = index_dir / REPORT_NAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_report(index_dir: Path) -> dict[str, object] | None:
    try:
        return json.loads((index_dir / REPORT_NAME).read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def reindex(
    pipeline: Pipeline,
    roots: Sequence[Path],
    password: str | None = None,
    on_progress: Progress | None = None,
    allow_mass_delete: bool = False,
) -> ReindexReport:
    """Mirror `roots` into the pipeline's collection and return (and keep) the report.

    Before anything changes, the run refuses (ReindexRefusedError) when a source folder holds no document or
    a folder under it cannot be read, or when it would remove more of the collection than
    `reindex.max_delete_share`: an unmounted share, an emptied or half-copied folder and a permission change all
    look like deleted documents. `allow_mass_delete` lets such a run go ahead.

    When the collection was built with another embedding model than the configured one, it is rebuilt in a
    new physical collection while queries keep using the old one, and the name is switched atomically when
    the build is complete (rag.collections); the old collection is then dropped."""
    started = time.perf_counter()
    missing = [r for r in roots if not r.is_dir()]
    if missing:
        raise DocumentLoadError(missing[0], "not a folder: re-index takes source folders")
    files = _discover_safely(pipeline, roots, allow_mass_delete)
    settings = pipeline.settings
    names = CollectionNames(settings.index_dir)
    logical = settings.collection
    entry = names.get(logical)
    configured = pipeline.embedder_name
    current = entry.get("model") if entry else pipeline.stored_model()
    report = ReindexReport(started_at=_now(), collection=logical, sources=[str(r) for r in roots])
    if current is None or current == configured:
        if entry and entry.get("building"):  # a rebuild for a model no longer configured, killed mid-way
            names.abandon_build(logical)
        drop_retired(pipeline, names)
        _mirror(pipeline, files, report, password, on_progress)
        if entry is None or entry.get("model") != configured:
            names.record(logical, pipeline.physical_collection, configured)
    else:
        physical = names.begin_build(logical, configured)
        drop_retired(pipeline, names)
        logger.info("rebuilding %s for %s into %s", logical, configured, physical)
        _mirror(pipeline.for_collection(physical), files, report, password, on_progress)
        names.switch(logical, current)
        drop_retired(pipeline, names)
        report.rebuilt_for_model = configured
    report.seconds = round(time.perf_counter() - started, 3)
    report.finished_at = _now()
    write_report(settings.index_dir, report)
    return report


def drop_retired(pipeline: Pipeline, names: CollectionNames) -> None:
    """Drop the collections the name no longer uses (replaced by a rebuild, or builds abandoned), then unlist
    each: a run killed half-way through this leaves them listed, and the next run finishes the job."""
    logical = pipeline.settings.collection
    for physical, model in names.retired(logical).items():
        try:
            store = pipeline.open_physical(physical, model)
        except IndexMismatchError as exc:  # listed with another model name (a build abandoned early)
            store = pipeline.open_physical(physical, exc.built_with or "")
        except RagError:  # dropped from Chroma before a kill: what else it had goes below
            store = None
        if store is not None:
            store.drop()
        else:
            records = chunk_record_manager(pipeline.settings.index_dir, physical)
            records.delete_keys(records.list_keys())
        KeywordIndex(pipeline.settings.index_dir / DB_NAME, physical).drop()
        FileRecords(pipeline.settings.index_dir, physical).clear()
        names.forget(logical, physical)
        logger.info("dropped %s (no longer used by %s)", physical, logical)


def _indexed(pipeline: Pipeline) -> set[str]:
    """The sources in the pipeline's collection: files recorded as indexed, and files whose chunks a killed run
    wrote before their file record."""
    return {r.source for r in pipeline.files.all()} | recorded_sources(
        pipeline.settings.index_dir, pipeline.physical_collection
    )


def _discover_safely(pipeline: Pipeline, roots: Sequence[Path], allow_mass_delete: bool) -> list[Path]:
    """The files under `roots`, or ReindexRefusedError when mirroring them could remove documents that are
    only out of sight (see `reindex`)."""
    images, symlinks = pipeline.settings.ingest.ocr_pages > 0, pipeline.settings.ingest.follow_symlinks
    errors: list[str] = []
    per_root = {root: discover([root], images=images, errors=errors, symlinks=symlinks) for root in roots}
    files = list(dict.fromkeys(f for found in per_root.values() for f in found))
    if allow_mass_delete:
        return files
    again = "nothing was changed. If the documents are really gone, run again with --allow-mass-delete"
    if errors:
        more = f" and {len(errors) - 1} more" if len(errors) > 1 else ""
        raise ReindexRefusedError(
            f"cannot read {errors[0]}{more}: the documents in a folder that cannot be read would look deleted, so "
            f"{again} (or fix the folder's permissions)"
        )
    empty = [root for root, found in per_root.items() if not found]
    if empty:
        raise ReindexRefusedError(
            f"{empty[0]} holds no document ragqa reads (an empty or unmounted folder?): mirroring it would remove "
            f"every document indexed from it, so {again}"
        )
    known = _indexed(pipeline)
    gone = len(known - {source_of(p) for p in files})
    share = pipeline.settings.reindex.max_delete_share
    if gone > max(share * len(known), pipeline.settings.reindex.mass_delete_min_files):
        raise ReindexRefusedError(
            f"this run would remove {gone} of the {len(known)} indexed documents (more than "
            f"{share:.0%}, reindex.max_delete_share): a source folder may be partly mounted or moved, so {again}"
        )
    return files


def _mirror(
    pipeline: Pipeline,
    files: list[Path],
    report: ReindexReport,
    password: str | None,
    on_progress: Progress | None,
) -> None:
    indexer = Indexer(pipeline)
    present = {source_of(p) for p in files}
    gone = sorted(_indexed(pipeline) - present)
    to_check = [p for p in files if not indexer.unchanged_by_stat(p)]
    report.unchanged = len(files) - len(to_check)
    total = len(to_check) + len(gone)
    done = chunks = 0
    relay = ProgressRelay(on_progress, total)
    for result in indexer.run(to_check, password, relay):
        done += 1
        chunks += result.chunks_added
        relay.file_done(done, f"{result.path.name}, {chunks:,} chunks added")
        if result.outcome == "failed":
            report.failed.append({"path": str(result.path), "error": result.error})
        elif result.outcome == "unchanged":
            report.unchanged += 1
        elif result.outcome == "added":
            report.added += 1
        else:
            report.updated += 1
    for source in gone:
        removed = pipeline.store.delete_source(source)
        pipeline.files.delete(source)
        logger.info("removed %s (%d chunks)", source, removed)
        report.deleted += 1
        done += 1
        relay.file_done(done, f"removed {PurePath(source).name}")
