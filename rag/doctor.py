"""The self-check behind `ragqa doctor`: llama.cpp and each installed model are loaded and run once, each in a
child process, so a build that does not fit this CPU (an illegal instruction, a crash in a CPU back end) is one
readable line and an exit code, never a segmentation fault in the caller.

Checks, in order: the llama.cpp library (its system info: the CPU features the build uses), each GGUF model (load,
prompt and generation tokens/s on a fixed prompt), each embedder (one embedding: its dimension and time). The
CPU's own flags (/proc/cpuinfo) are reported beside them, and a CPU without AVX2 is named as the cause (the
llama.cpp build and the multilingual embedder's engine need it).
Not here: pulling models (rag.models), building llama-cpp-python (the Makefile), printing (app.cli).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rag.llm_process import describe_exit, reply_channel
from rag.models import CATALOG, offline_hub
from rag.settings import Settings

PROMPT_TOKENS = 512  # one llama.cpp batch: prompt speed as the answers' long prompts see it
GEN_TOKENS = 32
TIMEOUT_S = 600.0
_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8")
_TEXT = (
    "The quarterly report lists net sales, operating income and cash flows for each segment; the notes explain "
    "how revenue is recognised, how leases are measured and which risks management considers material. "
)
_CHILD = "from rag.doctor import child; child()"

Progress = Callable[[str], None]


@dataclass
class Check:
    name: str  # "llama.cpp" or a model's name
    role: str  # "library" | "llm" | "embedder"
    ok: bool
    summary: str  # one line: the figures, or what went wrong and what to do
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    cpu: str
    cpu_flags: list[str]
    system_info: str  # llama.cpp's llama_print_system_info(), "" when the library could not load
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def cpu() -> tuple[str, list[str]]:
    """This CPU's model name and which of the flags that matter to llama.cpp it has."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                name = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    except OSError:
        pass
    return name, [f for f in _FLAGS if f in flags]


def run(settings: Settings, on_progress: Progress | None = None) -> Report:
    """Every check, one child process each."""
    name, flags = cpu()
    checks: list[tuple[str, str, dict[str, Any]]] = [("llama.cpp", "library", {})]
    models = settings.models_dir
    for spec in CATALOG.values():
        if spec.installed(models):
            checks.append((spec.name, spec.role, {"path": str(spec.path(models))}))
    system_info = ""
    results: list[Check] = []
    for check_name, role, extra in checks:
        if on_progress:
            on_progress(f"checking {check_name}")
        config = {"role": role, "name": check_name, "models_dir": str(models), "threads": settings.llm.n_threads}
        result = _in_child({**config, **extra})
        if role == "library" and result.ok:
            system_info = str(result.figures.get("system_info", ""))
        if not result.ok and role == "library" and "avx2" not in flags and platform.machine() in ("x86_64", "AMD64"):
            result.summary += "; this CPU has no AVX2, which ragqa's llama.cpp build and multilingual embedder need"
        results.append(result)
    if len(results) == 1:
        results.append(Check("models", "llm", False, "no model is installed: run `ragqa models pull`"))
    return Report(name, flags, system_info, results)


def _in_child(config: dict[str, Any]) -> Check:
    name, role = config["name"], config["role"]
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, json.dumps(config)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return Check(name, role, False, f"no answer in {TIMEOUT_S:.0f} s (stopped)")
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])[-400:]
        hint = (
            "the llama.cpp build does not run on this CPU: rebuild it with `make clean-llama install`, or run "
            "the model behind an OpenAI-compatible server (llm.base_url)"
            if role != "embedder"
            else "the embedder's engine does not run on this CPU"
        )
        return Check(name, role, False, f"crashed ({describe_exit(done.returncode)}): {hint}. Last output: {tail}")
    try:
        reply: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return Check(name, role, False, f"the check wrote no result: {done.stderr[-300:]}")
    if "error" in reply:
        return Check(name, role, False, str(reply["error"]))
    return Check(name, role, True, _summary(role, reply), reply)


def _summary(role: str, figures: dict[str, Any]) -> str:
    if role == "library":
        backend = figures["backend"] or "built in"
        if figures["variants"]:
            backend += f", picked from {len(figures['variants'])} CPU variants"
        amx = "AMX IS IN THIS BUILD: its kernels crash on some CPUs" if figures["amx"] else "no AMX back end"
        return f"llama-cpp-python {figures['version']}, CPU back end {backend}; {amx}"
    if role == "llm":
        return (
            f"load {figures['load_s']:.1f} s, prompt {figures['prompt_tps']:.1f} tok/s ({figures['prompt_tokens']} "
            f"tokens), generation {figures['gen_tps']:.1f} tok/s"
        )
    return f"{figures['dim']}-d, one text in {figures['embed_s']:.2f} s ({figures['backend']})"


def child() -> None:
    """The child's side: one check from the JSON in argv[1], its figures as one JSON line."""
    config = json.loads(sys.argv[1])
    out = reply_channel()
    offline_hub()
    try:
        if config["role"] == "library":
            figures = _library()
        elif config["role"] == "llm":
            figures = _llm(Path(config["path"]), config.get("threads"))
        else:
            figures = _embedder(config["name"], Path(config["models_dir"]))
    except Exception as exc:  # noqa: BLE001 - a failure is the check's result
        figures = {"error": f"{type(exc).__name__}: {exc}"}
    out.write(json.dumps(figures) + "\n")
    out.flush()


def _library() -> dict[str, Any]:
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode()
    lib = Path(llama_cpp.__file__).parent / "lib"
    return {
        "version": llama_cpp.__version__,
        "system_info": info,
        "amx": "AMX" in info.upper(),
        "backend": _loaded_cpu_backend(),
        "variants": sorted(p.name for p in lib.glob("libggml-cpu-*.so")),
    }


def _loaded_cpu_backend() -> str:
    """The file name of the CPU back end llama.cpp loaded into this process ("" when it is built in)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return ""
    names = {Path(line.split()[-1]).name for line in maps.splitlines() if "libggml-cpu" in line}
    return ", ".join(sorted(names))


def _llm(path: Path, threads: int | None) -> dict[str, Any]:
    from llama_cpp import Llama

    started = time.perf_counter()
    llm = Llama(
        model_path=str(path), n_ctx=1024, n_batch=PROMPT_TOKENS, n_threads=threads or os.cpu_count(), verbose=False
    )
    load_s = time.perf_counter() - started
    tokens = llm.tokenize((_TEXT * (PROMPT_TOKENS // 20)).encode())[:PROMPT_TOKENS]
    llm.eval(tokens[:16])  # first use: buffers, threads
    llm.reset()
    started = time.perf_counter()
    llm.eval(tokens)
    prompt_s = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(GEN_TOKENS):
        llm.eval([llm.sample(temp=0.0)])
    gen_s = time.perf_counter() - started
    return {
        "load_s": load_s,
        "prompt_tokens": len(tokens),
        "prompt_tps": len(tokens) / prompt_s,
        "gen_tps": GEN_TOKENS / gen_s,
    }


def _embedder(name: str, models_dir: Path) -> dict[str, Any]:
    from rag.pipeline import build_pipeline
    from rag.settings import load_settings

    pipeline = build_pipeline(load_settings(models_dir=models_dir, embedder={"model": name, "multilingual": None}))
    embedder = pipeline.embedder
    started = time.perf_counter()
    [vector] = embedder.embed([_TEXT])
    return {"dim": len(vector), "embed_s": time.perf_counter() - started, "backend": pipeline.embedder_backend}
