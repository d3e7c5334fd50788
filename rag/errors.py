"""Exceptions raised by ragqa's core.

The core raises; entry points (CLI, Streamlit) translate into messages and exit codes.
Every message says what to do next.

    RagError
    ├── ConfigError            bad setting, unknown key, bad collection name
    ├── ModelNotFoundError     a model file or folder is missing (hint: `ragqa models pull`)
    ├── ModelIntegrityError    a downloaded model does not match its pinned size or sha256
    ├── ModelError             the language model failed to load or to answer (its message says why)
    │   └── ModelCrashedError      its process died (a signal or exit code); a fresh one was started
    ├── IndexMismatchError     the collection was built with another embedding model
    ├── DocumentLoadError      one document could not be read (path, reason)
    │   └── UnsupportedFileError   a file type ragqa does not read
    ├── IndexLockedError       another process holds the index lock
    └── ReindexRefusedError    a re-index would remove what may only look deleted (an empty or unreadable
                               source folder, or too many files at once); nothing was changed
"""

from __future__ import annotations

from pathlib import Path


class RagError(Exception):
    """Base of every error ragqa raises on purpose."""


class ConfigError(RagError):
    """A setting is missing, unknown or invalid."""


class InputError(RagError, ValueError):
    """What a caller passed cannot be used: an empty question, a page a document does not have, chunks of
    another source. A ValueError too, for callers that catch those."""


class ModelNotFoundError(RagError):
    def __init__(self, path: str | Path, hint: str) -> None:
        self.path = str(path)
        self.hint = hint
        super().__init__(f"model not found at {self.path}: {hint}")


class ModelIntegrityError(RagError):
    """A model file does not match the size or sha256 it is pinned to."""


class ModelError(RagError):
    """The language model could not load or answer; the message names the cause and what to do."""


class ModelCrashedError(ModelError):
    """The process running the language model died mid-request (`how`: "signal 11, SIGSEGV" or "exit code 1").
    A fresh process was started, so asking again works unless the model crashes every time."""

    def __init__(self, how: str) -> None:
        self.how = how
        super().__init__(
            f"the language model crashed ({how}); it was restarted: ask again. If it keeps crashing, "
            "run `ragqa doctor` to check the model and the llama.cpp build on this CPU"
        )


class IndexMismatchError(RagError):
    """The collection was built with a different embedding model than the one configured."""

    def __init__(self, message: str, built_with: str | None = None) -> None:
        self.built_with = built_with
        super().__init__(message)


class DocumentLoadError(RagError):
    """One document could not be read. `reason` is short and specific ("encrypted: needs a password")."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class UnsupportedFileError(DocumentLoadError):
    """A file whose type ragqa does not read."""


class IndexLockedError(RagError):
    """Another process is writing to the same index."""


class ReindexRefusedError(RagError):
    """`ragqa reindex` stopped before changing anything: a source folder yielded no files or could not be read
    entirely, or the run would remove more of the index than `reindex.max_delete_share`."""
