"""ragqa's core library: settings, models, embedder, store, generator, prompt and answering."""

from rag.answer import Answerer, AnswerStream
from rag.embedder import Embedder, SentenceTransformerEmbedder
from rag.errors import (
    ConfigError,
    DocumentLoadError,
    IndexLockedError,
    IndexMismatchError,
    ModelIntegrityError,
    ModelNotFoundError,
    RagError,
    UnsupportedFileError,
)
from rag.llm import Generator, LlamaCppGenerator, Message
from rag.pipeline import Pipeline, build_pipeline
from rag.settings import Settings, load_settings
from rag.store import ChromaStore, Store
from rag.types import AnswerResult, Chunk, Hit, Page, Source, Timings

__all__ = [
    "AnswerResult",
    "AnswerStream",
    "Answerer",
    "ChromaStore",
    "Chunk",
    "ConfigError",
    "DocumentLoadError",
    "Embedder",
    "Generator",
    "Hit",
    "IndexLockedError",
    "IndexMismatchError",
    "LlamaCppGenerator",
    "Message",
    "ModelIntegrityError",
    "ModelNotFoundError",
    "Page",
    "Pipeline",
    "RagError",
    "SentenceTransformerEmbedder",
    "Settings",
    "Source",
    "Store",
    "Timings",
    "UnsupportedFileError",
    "build_pipeline",
    "load_settings",
]
