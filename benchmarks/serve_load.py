"""Load on `ragqa serve`: N concurrent API clients for a bounded time, asking a mix of answerable, off-topic
(to be refused) and Chinese questions, while `ragqa reindex` rewrites the same index in another process every few
seconds. Prints requests, errors, outcomes that differ from the expected one, latency (whole answer) p50/p95, the
re-index runs, and the peak memory (VmHWM) of the server and of its model process.

The documents are data/sample plus 20 generated notes; the re-index loop edits one note per run (its content
changes, so it is re-embedded and rewritten). Expected outcomes: a question taken from a document's own words is
answered (sources returned), an off-topic one refused (no sources, the not-found sentence), and each question is
first asked alone to check that the expectation holds, so the load run checks that concurrency changes nothing.
Loopback only; the server's token is random.

    .venv/bin/python benchmarks/serve_load.py [MINUTES] [CLIENTS]   # default 5 minutes, 8 clients
    (RAGQA_LLM__MODEL=smollm2-135m for the test model; RAGQA_MODE=fake for no models at all)
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
ANSWERABLE = [
    "What is the hotel limit per night in London?",
    "How many days a week may employees work remotely?",
    "How long must receipts be kept?",
]
REFUSED = ["What is the boiling point of tungsten?", "Who won the 1998 football world cup final?"]
CHINESE = ["员工每周最多可以远程办公几天？"]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def ask(base: str, token: str, question: str) -> tuple[bool, float]:
    """(answered, seconds); raises on any error (HTTP status, error event, no [DONE])."""
    body = {"model": "ragqa", "stream": True, "messages": [{"role": "user", "content": question}]}
    started = time.perf_counter()
    events = []
    with httpx.stream(
        "POST",
        f"{base}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=600,
    ) as r:
        if r.status_code != 200:
            raise RuntimeError(f"HTTP {r.status_code}: {r.read()[:200]!r}")
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    if not events or events[-1] != "[DONE]":
        raise RuntimeError("the stream ended without [DONE]")
    chunks = [json.loads(e) for e in events[:-1]]
    if any("error" in c for c in chunks):
        raise RuntimeError(f"error event: {[c['error'] for c in chunks if 'error' in c]}")
    return bool(chunks[-1].get("sources")), time.perf_counter() - started


def main() -> None:
    minutes = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    with tempfile.TemporaryDirectory() as tmp:
        docs, index = Path(tmp) / "docs", Path(tmp) / "index"
        shutil.copytree(ROOT / "data" / "sample", docs)
        for i in range(20):
            (docs / f"note{i:02d}.md").write_text(f"# Note {i}\n\nProject note {i}: the budget review is on day {i}.\n")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "RAGQA_INDEX_DIR": str(index)}
        cli = [sys.executable, "-m", "app.cli"]
        subprocess.run([*cli, "reindex", str(docs)], env=env, check=True, capture_output=True)
        token, port = secrets.token_hex(16), free_port()
        log = open(Path(tmp) / "serve.log", "w")  # noqa: SIM115 - closed below
        server = subprocess.Popen(
            [*cli, "serve", "--port", str(port)],
            env={**env, "RAGQA_SERVE__TOKEN": token},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
            else:
                sys.exit(f"the server did not become ready: {(Path(tmp) / 'serve.log').read_text()[-2000:]}")
            expected = {q: True for q in ANSWERABLE + CHINESE} | {q: False for q in REFUSED}
            for question, want in expected.items():  # alone first: the expectation holds without load
                got, _ = ask(base, token, question)
                if got != want:
                    sys.exit(f"alone, {question!r} was {'answered' if got else 'refused'}: the set does not fit")

            stop = time.monotonic() + minutes * 60
            reindexed: list[int] = []

            def reindex_loop() -> None:
                for run in itertools.count():
                    if time.monotonic() > stop:
                        return
                    note = docs / f"note{run % 20:02d}.md"
                    note.write_text(note.read_text() + f"Revised in run {run}.\n")
                    done = subprocess.run([*cli, "reindex", str(docs)], env=env, capture_output=True, text=True)
                    reindexed.append(done.returncode)
                    time.sleep(2)

            results: list[tuple[str, bool, float]] = []
            errors: list[str] = []
            lock = threading.Lock()

            def client(n: int) -> None:
                questions = itertools.cycle(list(expected)[n % len(expected) :] + list(expected)[: n % len(expected)])
                while time.monotonic() < stop:
                    question = next(questions)
                    try:
                        got, seconds = ask(base, token, question)
                        with lock:
                            results.append((question, got, seconds))
                    except Exception as exc:  # noqa: BLE001 - counted and printed
                        with lock:
                            errors.append(f"{question!r}: {exc}")

            threads = [threading.Thread(target=reindex_loop)] + [
                threading.Thread(target=client, args=(n,)) for n in range(clients)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wrong = [(q, got) for q, got, _ in results if got != expected[q]]
            times = sorted(s for _, _, s in results)
            model = [c for c in children(server.pid)]
            print(f"{clients} clients, {minutes:g} min, re-index runs {len(reindexed)} (exit codes {set(reindexed)})")
            print(f"requests {len(results) + len(errors)}, errors {len(errors)}, wrong outcomes {len(wrong)}")
            for kind, group in (("answerable", ANSWERABLE), ("refused", REFUSED), ("chinese", CHINESE)):
                n = sum(1 for q, _, _ in results if q in group)
                right = sum(1 for q, got, _ in results if q in group and got == expected[q])
                print(f"  {kind:<10} {right}/{n} as expected")
            if times:
                p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
                print(f"latency p50 {statistics.median(times):.2f} s, p95 {p95:.2f} s (whole answer)")
            print(f"peak RSS: server {peak_kb(server.pid) / 1024:.0f} MB, model process "
                  f"{sum(peak_kb(c) for c in model) / 1024:.0f} MB")  # fmt: skip
            for e in errors[:5]:
                print("error:", e)
            for q, got in wrong[:5]:
                print("wrong:", q, "answered" if got else "refused")
        finally:
            server.terminate()
            server.wait(30)
            log.close()


if __name__ == "__main__":
    main()
