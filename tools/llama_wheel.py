"""Make a llama-cpp-python wheel built with llama.cpp's runtime CPU dispatch (GGML_BACKEND_DL=ON,
GGML_CPU_ALL_VARIANTS=ON) ready to install: one wheel for every x86-64 CPU, each picking its fastest CPU back end
at run time, none of them the AMX one.

What the built wheel lacks, and this script does (stdlib only; the Makefile runs it after `pip wheel`):
- the CPU variants (libggml-cpu-<cpu>.so) are installed by llama.cpp's CMake into a top-level bin/, where
  nothing looks for them: they move to llama_cpp/lib/, beside libggml;
- a variant with the AMX back end (it holds `ggml_backend_amx_buffer_type`) is left out: its kernels crash on
  virtualized Sapphire and Granite Rapids (llama.cpp issue 20824), and on those CPUs the AVX-512 variants run;
- llama-cpp-python never loads dynamic back ends, and llama.cpp looks for them only beside the executable and in
  the working directory: `llama_cpp/__init__.py` gets a few lines that load the best variant from llama_cpp/lib/
  into the libggml that libllama uses (so every user of the package, `python -m llama_cpp.server` included,
  finds one);
- RECORD is written anew for the changed files.

    python tools/llama_wheel.py BUILT.whl OUT_DIR      # writes OUT_DIR/<the same file name>

Not here: building (the Makefile's `pip wheel` with CMAKE_ARGS), other operating systems than Linux.
"""

from __future__ import annotations

import base64
import hashlib
import re
import sys
import zipfile
from pathlib import Path, PurePosixPath

AMX_MARK = b"ggml_backend_amx_buffer_type"
VARIANT = re.compile(r"^bin/(libggml-[\w.-]+\.so)$")  # dynamic back ends: CPU variants, CUDA, ...
SONAME = re.compile(r"^llama_cpp/lib/(libggml\.so\.\d+)$")
HOOK = '''

def _load_cpu_backends() -> None:
    """Added by ragqa's tools/llama_wheel.py: load the fastest CPU variant in lib/ for this CPU into the libggml
    that libllama uses (llama.cpp itself looks only beside the executable and in the working directory)."""
    import ctypes
    import logging
    import pathlib

    lib = pathlib.Path(__file__).resolve().parent / "lib"
    ggml = ctypes.CDLL(str(lib / "{soname}"))
    ggml.ggml_backend_reg_count.restype = ctypes.c_size_t
    if ggml.ggml_backend_reg_count() == 0:
        ggml.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
        quiet = logging.getLogger("llama-cpp-python")  # "loaded CPU backend from ..." is news to nobody
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            ggml.ggml_backend_load_all_from_path(str(lib).encode())
        finally:
            quiet.setLevel(level)
    if ggml.ggml_backend_reg_count() == 0:
        raise ImportError(f"llama.cpp found no CPU back end in {{lib}} that runs on this CPU")


_load_cpu_backends()
'''


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def repack(built: Path, out_dir: Path) -> tuple[list[str], list[str]]:
    """Write the ready wheel; returns the variants kept and those left out."""
    files: dict[str, bytes] = {}
    kept: list[str] = []
    dropped: list[str] = []
    soname = ""
    with zipfile.ZipFile(built) as wheel:
        for name in wheel.namelist():
            data = wheel.read(name)
            if match := VARIANT.match(name):
                if AMX_MARK in data:
                    dropped.append(match.group(1))
                    continue
                kept.append(match.group(1))
                name = f"llama_cpp/lib/{match.group(1)}"
            elif match := SONAME.match(name):
                soname = match.group(1)
            files[name] = data
    if not kept:
        raise SystemExit(f"{built}: no bin/libggml-cpu-*.so: build it with GGML_BACKEND_DL=ON GGML_CPU_ALL_VARIANTS=ON")
    if not soname:
        raise SystemExit(f"{built}: no llama_cpp/lib/libggml.so.<N> to load the back ends into")
    files["llama_cpp/__init__.py"] += HOOK.format(soname=soname).encode()
    [record] = [n for n in files if PurePosixPath(n).name == "RECORD" and n.endswith(".dist-info/RECORD")]
    lines = [f"{n},{_digest(d)},{len(d)}" for n, d in files.items() if n != record]
    files[record] = ("\n".join([*lines, f"{record},,"]) + "\n").encode()
    out_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out_dir / built.name, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name.endswith(".so") or ".so." in name else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(info, data)
    return kept, dropped


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    kept, dropped = repack(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"CPU variants: {' '.join(v[12:-3] for v in kept)}; left out (AMX): {' '.join(v[12:-3] for v in dropped)}")


if __name__ == "__main__":
    main()
