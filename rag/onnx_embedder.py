"""The int8 ONNX embedder: the same sentence-transformers weights, exported with torch and quantised with
onnxruntime once, cached beside the model, then run by onnxruntime.

Only the matrix multiplications are quantised (per channel); embeddings and layer norms stay fp32, which keeps
the vectors within about 0.99 cosine of the fp32 model's. The export is checked against the fp32 model on a
fixed set of sentences before it is kept. Pooling and normalisation are the folder's own (mean pooling and
Normalize are supported; anything else is refused, not guessed). Vectors differ slightly from fp32 ones, so
the backend is part of the embedder's name: switching rebuilds the collection (ingest.reindex).
Not here: the fp32 embedder and the Embedder protocol (rag.embedder), choosing the backend (rag.pipeline).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rag.errors import ConfigError
from rag.models import offline_hub

SUFFIX = "+onnx-int8"  # appended to the model's name
EXPORT_DIR = "onnx-int8"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_CHECK = [
    "Hotels are reimbursed up to EUR 240 per night in London.",
    "Total net sales for the three months ended July 1, 2023 were $81,797 million.",
    "员工每周最多可以远程办公三天。",
    "Aspirin reduces the risk of myocardial infarction in adults over fifty.",
    "What is the hotel limit per night?",
]
MIN_COSINE = 0.97  # the worst agreement with fp32 on the check sentences that an export may have


def _pooling(path: Path) -> tuple[int, bool]:
    """The folder's max sequence length and whether it normalises; ConfigError unless it mean-pools."""
    modules = json.loads((path / "modules.json").read_text())
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    pooling = next((m for m in modules if m["type"].endswith("Pooling")), None)
    config = json.loads((path / pooling["path"] / "config.json").read_text()) if pooling else {}
    if (
        kinds[:2] != ["Transformer", "Pooling"]
        or not config.get("pooling_mode_mean_tokens")
        or set(kinds)
        - {
            "Transformer",
            "Pooling",
            "Normalize",
        }
    ):
        raise ConfigError(f"{path}: the ONNX backend supports Transformer + mean Pooling (+ Normalize) models only")
    bert = json.loads((path / "sentence_bert_config.json").read_text())
    return int(bert.get("max_seq_length", 256)), "Normalize" in kinds


def supports(path: Path) -> bool:
    """Whether `path` is a sentence-transformers folder this backend runs: a BERT model, mean pooling."""
    try:
        config = json.loads((path / "config.json").read_text())
        _pooling(path)
    except (OSError, ValueError, KeyError, ConfigError):
        return False
    return config.get("model_type") == "bert"


def export_int8(path: Path) -> Path:
    """`path`/onnx-int8/model.onnx, exported and quantised on first use (about 10 s), checked, then kept."""
    out = path / EXPORT_DIR / "model.onnx"
    if out.is_file():
        return out
    offline_hub()
    import numpy as np
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    class _Hidden(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    transformers_logging.disable_progress_bar()
    try:
        out.parent.mkdir(exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot write the ONNX export beside the model in {path}: {exc}") from exc
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = _Hidden(AutoModel.from_pretrained(path, local_files_only=True).eval())
    sample = tokenizer(_CHECK[:2], padding=True, return_tensors="pt")
    if "token_type_ids" not in sample:
        raise ConfigError(f"{path}: the ONNX backend needs a BERT-style model (token type ids)")
    fp32 = out.with_name(f"fp32.{os.getpid()}.onnx")
    tmp = out.with_name(f"model.{os.getpid()}.onnx")
    try:
        with warnings.catch_warnings(), _quiet("root"):  # the exporter's tracer and the quantiser talk a lot
            warnings.simplefilter("ignore")
            _export(torch, model, sample, fp32)
            quantize_dynamic(
                str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"]
            )
        reference = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        expected = reference.encode(_CHECK, normalize_embeddings=True)
        got = np.array(OnnxEmbedder(path, "check", model_file=tmp).embed(_CHECK))
        worst = float((expected * got).sum(axis=1).min())
        if worst < MIN_COSINE:
            raise ConfigError(
                f"the int8 export of {path} agrees with the fp32 model only to cosine {worst:.3f} (needs "
                f"{MIN_COSINE}); use embedder.backend = torch"
            )
        os.replace(tmp, out)
    finally:
        fp32.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    return out


def _export(torch: Any, model: Any, sample: Any, target: Path) -> None:
    torch.onnx.export(
        model,
        tuple(sample[n] for n in _INPUTS),
        str(target),
        input_names=list(_INPUTS),
        output_names=["last_hidden_state"],
        dynamic_axes={n: {0: "batch", 1: "seq"} for n in [*_INPUTS, "last_hidden_state"]},
        opset_version=17,
        dynamo=False,
    )


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    logger = logging.getLogger(None if name == "root" else name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


class OnnxEmbedder:
    """The int8 export of a sentence-transformers folder, run by onnxruntime (created on first use)."""

    def __init__(
        self, path: Path, name: str, batch_size: int = 32, threads: int | None = None, model_file: Path | None = None
    ) -> None:
        self.path = path
        self.name = name
        self.batch_size = batch_size
        self.threads = threads or len(os.sched_getaffinity(0))
        self._model_file = model_file
        self._max_len, self._normalize = _pooling(path)
        self._session: Any = None
        self._tokenizer: Any = None
        self._counter: Any = None
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()

    def _ready(self) -> tuple[Any, Any]:
        with self._lock:
            if self._session is None:
                offline_hub()
                import onnxruntime as ort

                model_file = self._model_file or export_int8(self.path)
                options = ort.SessionOptions()
                options.intra_op_num_threads = self.threads
                self._tokenizer = self._load_tokenizer(truncate=True)
                self._session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
            return self._session, self._tokenizer

    def _load_tokenizer(self, truncate: bool) -> Any:
        """The folder's fast tokenizer (tokenizer.json) through `tokenizers` itself: transformers would import
        torch (about 300 MB and seconds) for nothing. The file's own truncation and fixed padding (128 for
        MiniLM) are replaced: truncated at the model's max length and padded to the batch's longest, as
        sentence-transformers does, or neither when counting."""
        from tokenizers import Tokenizer

        file = self.path / "tokenizer.json"
        if not file.is_file():
            raise ConfigError(f"{self.path}: the ONNX backend needs the fast tokenizer's tokenizer.json")
        tokenizer = Tokenizer.from_file(str(file))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        if truncate:
            pad = json.loads((self.path / "tokenizer_config.json").read_text()).get("pad_token", "[PAD]")
            pad_id = tokenizer.token_to_id(pad)
            if pad_id is None:
                raise ConfigError(f"{self.path}: the pad token {pad!r} is not in the tokenizer's vocabulary")
            tokenizer.enable_truncation(self._max_len)
            tokenizer.enable_padding(pad_id=pad_id, pad_token=pad)
        return tokenizer

    @property
    def dim(self) -> int:
        return int(json.loads((self.path / "config.json").read_text())["hidden_size"])

    @property
    def max_tokens(self) -> int:
        return self._max_len

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Counted with a second tokenizer that neither truncates nor pads (see rag.embedder)."""
        if not texts:
            return []
        with self._count_lock:
            if self._counter is None:
                self._counter = self._load_tokenizer(truncate=False)
            encoded = self._counter.encode_batch(list(texts))
        return [len(e.ids) for e in encoded]

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        import numpy as np

        session, tokenizer = self._ready()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad least
        out: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            with self._lock:  # the tokenizer is shared with nobody else but not thread-safe
                encoded = tokenizer.encode_batch([texts[i] for i in batch])
            feeds = {
                "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
            }
            hidden = session.run(None, feeds)[0]
            mask = feeds["attention_mask"][..., None].astype(np.float32)
            vectors = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            if self._normalize:
                vectors /= np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
            for i, row in zip(batch, vectors, strict=True):
                out[i] = [float(x) for x in row]
        return out

    def embed_query(self, text: str) -> list[float]:
        return self.embed([text])[0]
