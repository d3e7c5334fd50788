"""The llama.cpp build runs on older x86-64 CPUs than the one it was built on: the library and SmolLM2 run under
QEMU's user-mode emulation of an Intel Haswell (AVX2, no AVX-512) and a Nehalem (SSE4.2, no AVX), each picking
the CPU back end it supports. The -march=native wheel this replaced died there with SIGILL. Needs qemu-user
(`make test` installs it when run as root)."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys

import pytest

from rag.models import resolve
from tests.conftest import REAL_MODELS, ROOT

pytestmark = pytest.mark.slow

CHECK = """
import json, pathlib, sys
import llama_cpp
from llama_cpp import Llama
maps = pathlib.Path("/proc/self/maps").read_text().splitlines()
backend = sorted({line.rsplit("/", 1)[-1] for line in maps if "libggml-cpu" in line})
model = Llama(model_path=sys.argv[1], n_ctx=256, n_threads=2, verbose=False)
text = model.create_completion("The capital of France is", max_tokens=4, temperature=0)["choices"][0]["text"]
print(json.dumps({"info": llama_cpp.llama_print_system_info().decode(), "backend": backend, "text": text}))
"""


@pytest.mark.parametrize(
    ("cpu", "variant", "absent"),
    [("Haswell", "libggml-cpu-haswell.so", "AVX512"), ("Nehalem", "libggml-cpu-sse42.so", "AVX =")],
)
def test_the_build_runs_on_an_emulated_older_cpu(cpu, variant, absent):
    if platform.machine() != "x86_64":
        pytest.skip("the emulated CPUs are x86-64 ones")
    qemu = shutil.which("qemu-x86_64")
    if qemu is None:
        pytest.skip("qemu-x86_64 is not installed: `make test` installs qemu-user when run as root")
    model = resolve("smollm2-135m", REAL_MODELS)
    done = subprocess.run(
        [qemu, "-cpu", cpu, sys.executable, "-c", CHECK, str(model)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["backend"] == [variant]
    assert absent not in result["info"] and "AMX" not in result["info"]
    assert "Paris" in result["text"]
