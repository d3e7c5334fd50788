"""The llama.cpp build `make install` puts in the venv: CPU back ends picked at run time, none of them AMX, the one
loaded using this CPU's widest vectors; and tools/llama_wheel.py, which makes the built wheel so, on a tiny
hand-made wheel."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import llama_wheel  # noqa: E402


def library_facts() -> tuple[str, str, list[Path]]:
    """(system info, loaded CPU back end, the variant files) as a fresh process sees them."""
    code = (
        "import llama_cpp, pathlib; from rag.doctor import _loaded_cpu_backend as b; "
        "print(llama_cpp.llama_print_system_info().decode()); print(b()); "
        "print(pathlib.Path(llama_cpp.__file__).parent)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    info, backend, package = done.stdout.strip().splitlines()
    return info, backend, sorted((Path(package) / "lib").glob("libggml-cpu-*.so"))


def cpu_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def test_the_installed_llama_cpp_picks_a_cpu_variant_and_none_has_amx():
    info, backend, variants = library_facts()
    assert "AMX" not in info.upper(), info
    assert len(variants) >= 10, "one back end per CPU generation (GGML_CPU_ALL_VARIANTS)"
    assert not [v.name for v in variants if llama_wheel.AMX_MARK in v.read_bytes()]
    assert backend in {v.name for v in variants}, f"loaded {backend!r}"


def test_the_loaded_variant_uses_this_cpus_vector_units():
    info, _, _ = library_facts()
    flags = cpu_flags()
    if "avx2" in flags:
        assert "AVX2 = 1" in info
    if {"avx512f", "avx512_vnni"} <= flags:
        assert "AVX512 = 1" in info and "AVX512_VNNI = 1" in info, "the portable build must not drop AVX-512"


def _record(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def test_the_repack_moves_the_variants_drops_the_amx_one_and_adds_the_loader(tmp_path):
    built = tmp_path / "built" / "llama_cpp_python-0.3.36-py3-none-linux_x86_64.whl"
    built.parent.mkdir()
    with zipfile.ZipFile(built, "w") as wheel:
        wheel.writestr("bin/libggml-cpu-haswell.so", b"\x7fELF haswell")
        wheel.writestr("bin/libggml-cpu-sapphirerapids.so", b"\x7fELF " + llama_wheel.AMX_MARK)
        wheel.writestr("llama_cpp/__init__.py", "from .llama import *\n")
        wheel.writestr("llama_cpp/lib/libggml.so.0", b"\x7fELF ggml")
        wheel.writestr("llama_cpp_python-0.3.36.dist-info/RECORD", "stale\n")
    kept, dropped = llama_wheel.repack(built, tmp_path / "out")
    assert (kept, dropped) == (["libggml-cpu-haswell.so"], ["libggml-cpu-sapphirerapids.so"])
    with zipfile.ZipFile(tmp_path / "out" / built.name) as wheel:
        names = wheel.namelist()
        init = wheel.read("llama_cpp/__init__.py").decode()
        record = wheel.read("llama_cpp_python-0.3.36.dist-info/RECORD").decode().splitlines()
        haswell = wheel.read("llama_cpp/lib/libggml-cpu-haswell.so")
    assert sorted(names) == [
        "llama_cpp/__init__.py",
        "llama_cpp/lib/libggml-cpu-haswell.so",
        "llama_cpp/lib/libggml.so.0",
        "llama_cpp_python-0.3.36.dist-info/RECORD",
    ]
    assert init.startswith("from .llama import *\n") and 'ctypes.CDLL(str(lib / "libggml.so.0"))' in init
    compile(init, "__init__.py", "exec")
    assert f"llama_cpp/lib/libggml-cpu-haswell.so,{_record(haswell)},{len(haswell)}" in record
    assert f"llama_cpp/__init__.py,{_record(init.encode())},{len(init.encode())}" in record
    assert record[-1] == "llama_cpp_python-0.3.36.dist-info/RECORD,,"
