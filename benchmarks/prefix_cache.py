"""Time to first token of a follow-up turn, with and without llama.cpp's prefix cache, in one run.

Turn 1 is asked on an engine whose LLM keeps a prompt cache (LlamaRAMCache), warmed at start as the app's is.
Turn 2 (a follow-up, with its question rewrite in between) is then asked on that engine, timing its answer call;
the same answer prompt is then replayed on a second LLM instance with the cache off (loaded and warmed on an
unrelated prompt first, so neither pays load time).
Prints both times to the first answer token and their ratio, plus the whole follow-up turn's time to first
token (rewrite + retrieval + answer) against the 6 s goal.

    .venv/bin/python benchmarks/prefix_cache.py INDEX_DIR [MODEL]
    (INDEX_DIR: e.g. 2022 Q3 AAPL, 2023 Q1 AAPL and 2023 Q1 NVDA ingested with `ragqa ingest`)
"""

from __future__ import annotations

import sys
import time

from rag.llm_process import ChildProcessGenerator
from rag.pipeline import build_pipeline
from rag.prompt import warm_up_prompts
from rag.settings import load_settings

QUESTIONS = [
    "What were Apple's total net sales for the three months ended June 25, 2022?",
    "And for the three months ended December 31, 2022?",
]


def first_token(gen: ChildProcessGenerator, messages: list) -> float:  # type: ignore[type-arg]
    started = time.perf_counter()
    pieces = gen.stream(messages)
    next(pieces)
    elapsed = time.perf_counter() - started
    for _ in pieces:
        pass
    return elapsed


def main() -> None:
    index = sys.argv[1]
    model = sys.argv[2] if len(sys.argv) > 2 else "qwen2.5-coder-1.5b"
    settings = load_settings(index_dir=index, llm={"model": model})
    pipeline = build_pipeline(settings)
    cached = pipeline.generator.inner  # the local model, prompt cache on (the default)
    answerer = pipeline.answerer

    for prompt in warm_up_prompts():  # as the app and `ragqa chat` do at start
        cached.warm(prompt)
    turn1 = answerer.ask(QUESTIONS[0])
    r1 = turn1.consume()
    print(f"turn 1: first token {r1.timings.first_token_s:.2f} s, answer: {r1.answer[:120]!r}")

    seen: list = []  # type: ignore[type-arg]  # (messages, seconds to first piece) per LLM call
    real_stream = cached.stream

    def recording(messages, max_tokens=None):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        call = [messages, None]
        seen.append(call)
        for i, piece in enumerate(real_stream(messages, max_tokens)):
            if i == 0:
                call[1] = time.perf_counter() - started
            yield piece

    cached.stream = recording  # type: ignore[method-assign]
    turn2 = answerer.ask(QUESTIONS[1], history=[turn1.turn()])
    for _ in turn2:
        pass
    whole_ttft = turn2.result.timings.first_token_s
    answer_messages, with_cache = seen[-1]
    print(f"turn 2: standalone {turn2.result.standalone_question!r}")
    print(f"turn 2: answer {turn2.result.answer[:120]!r}")

    cold = build_pipeline(load_settings(index_dir=index, llm={"model": model, "prompt_cache_mb": 0})).generator.inner
    first_token(cold, [{"role": "user", "content": "Say hello."}])  # load and warm, unrelated prompt
    without = first_token(cold, answer_messages)
    prompt_tokens = cached.count_tokens(answer_messages)
    print(f"follow-up answer prompt: {prompt_tokens} tokens")
    print(
        f"time to first token, follow-up answer: with cache {with_cache:.2f} s | without {without:.2f} s | "
        f"ratio {with_cache / without:.2f}"
    )
    whole = f"{whole_ttft:.2f} s" if whole_ttft is not None else "none (no answer was streamed)"
    print(f"whole follow-up turn (rewrite + retrieval + answer), first token: {whole} (goal 6 s)")


if __name__ == "__main__":
    main()
