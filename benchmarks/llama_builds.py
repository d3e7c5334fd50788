"""llama.cpp builds side by side: prompt and generation tokens/s of one GGUF model under each built
llama-cpp-python wheel, measured by `ragqa doctor`'s own model check, in alternating rounds of one run (this
machine is shared and noisy: ratios, not seconds). The first wheel is the baseline of the ratios.

Each wheel is unpacked into a temporary folder put first on the child's PYTHONPATH, so one venv times them all.
Also printed per build: llama.cpp's system info (the CPU features the build uses).

    .venv/bin/python benchmarks/llama_builds.py MODEL ROUNDS WHEEL [WHEEL...]
    e.g. benchmarks/llama_builds.py qwen2.5-coder-1.5b 3 /tmp/native.whl ~/.cache/ragqa/wheels/*/llama_cpp*.whl
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = "from rag.doctor import child; child()"


def check(site: Path, role: str, **config: object) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{ROOT}"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps({"role": role, "name": role, **config})],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    if done.returncode != 0:
        sys.exit(f"{site}: the check died (exit {done.returncode}): {done.stderr[-500:]}")
    figures: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    if "error" in figures:
        sys.exit(f"{site}: {figures['error']}")
    return figures


def main() -> None:
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    from rag.models import resolve
    from rag.settings import load_settings

    model = resolve(sys.argv[1], load_settings().models_dir)
    rounds = int(sys.argv[2])
    wheels = [Path(w) for w in sys.argv[3:]]
    with tempfile.TemporaryDirectory() as tmp:
        sites = []
        for i, wheel in enumerate(wheels):
            site = Path(tmp) / str(i)
            zipfile.ZipFile(wheel).extractall(site)
            sites.append(site)
            info = check(site, "library")
            print(f"[{i}] {wheel.name} ({wheel.parent.name})\n    {str(info['system_info']).strip()}")
        prompt: list[list[float]] = [[] for _ in wheels]
        gen: list[list[float]] = [[] for _ in wheels]
        for r in range(rounds):
            for i, site in enumerate(sites):
                figures = check(site, "llm", path=str(model))
                prompt[i].append(float(figures["prompt_tps"]))  # type: ignore[arg-type]
                gen[i].append(float(figures["gen_tps"]))  # type: ignore[arg-type]
                print(f"round {r + 1} [{i}] prompt {prompt[i][-1]:7.1f} tok/s  generation {gen[i][-1]:6.2f} tok/s")
                sys.stdout.flush()
    base_p, base_g = statistics.median(prompt[0]), statistics.median(gen[0])
    print(f"\n{model.name}, {rounds} rounds, medians; ratio = build / [0]")
    print(f"{'build':<6} {'prompt tok/s':>13} {'ratio':>6} {'gen tok/s':>10} {'ratio':>6}")
    for i in range(len(wheels)):
        p, g = statistics.median(prompt[i]), statistics.median(gen[i])
        print(f"[{i}]    {p:13.1f} {p / base_p:6.2f} {g:10.2f} {g / base_g:6.2f}")


if __name__ == "__main__":
    main()
