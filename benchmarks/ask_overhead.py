"""What the answer path adds to the model's own time to first token: `ragqa ask`'s path (retrieval, prompt,
answer check, streaming) against a bare llama-cpp-python call given the very prompt the product sent, same
model file and settings (context, threads, seed, temperature).

Both start cold on the prompt, as a new `ragqa ask` process does: the product's model gets an empty prompt
cache and a reset context before each round, the bare model a reset context. Rounds alternate (product, bare)
so the machine's load hits both alike; the medians and their ratio are printed. Both answers stop after a few
tokens (`llm.max_tokens` is set low for the run): only the first token is timed.

    .venv/bin/python benchmarks/ask_overhead.py [ROUNDS] [INDEX_DIR] [QUESTION]
    (defaults: 3 rounds; data/sample indexed into a temporary folder with the default embedder; a question
     the sample documents answer. RAGQA_LLM__MODEL picks another model.)
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "What is the hotel limit per night in London?"
MAX_TOKENS = 16  # the least llm.max_tokens allows


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    question = sys.argv[3] if len(sys.argv) > 3 else QUESTION
    os.environ["RAGQA_LLM__MAX_TOKENS"] = str(MAX_TOKENS)
    from llama_cpp import Llama

    from ingest.index import Indexer
    from rag.llm_process import ChildProcessGenerator
    from rag.pipeline import build_pipeline
    from rag.settings import load_settings

    with tempfile.TemporaryDirectory() as tmp:
        index = sys.argv[2] if len(sys.argv) > 2 else tmp
        settings = load_settings(index_dir=index)
        pipeline = build_pipeline(settings)
        if len(sys.argv) <= 2:
            Indexer(pipeline).ingest([ROOT / "data" / "sample"])
        gen = pipeline.generator.inner
        if not isinstance(gen, ChildProcessGenerator):
            sys.exit("this benchmark compares the local llama.cpp model (RAGQA_LLM__BASE_URL must be unset)")
        sent: list[list[dict[str, str]]] = []
        real_stream = gen.stream

        def recording(messages, max_tokens=None):  # type: ignore[no-untyped-def]
            sent.append(list(messages))
            return real_stream(messages, max_tokens)

        gen.stream = recording
        gen.load()
        pipeline.embedder.embed(["warm-up"])
        bare = Llama(
            model_path=str(gen.path),
            n_ctx=gen.n_ctx,
            n_threads=gen.n_threads,
            seed=gen.seed,
            n_gpu_layers=gen.n_gpu_layers,
            verbose=False,
        )

        def product_round() -> tuple[float, str]:
            gen.reset_cache()  # empty, as in a new process
            started = time.perf_counter()
            stream = pipeline.answerer.ask(question)
            pieces = iter(stream)
            first = next(pieces, "")
            elapsed = time.perf_counter() - started
            rest = "".join(pieces)
            if not sent:
                sys.exit(f"the product did not ask the model: {first + rest!r}")
            return elapsed, first + rest

        def bare_round(messages: list[dict[str, str]]) -> tuple[float, str]:
            bare.reset()
            started = time.perf_counter()
            elapsed, text = None, ""
            for chunk in bare.create_chat_completion(
                messages=messages,  # type: ignore[arg-type]
                stream=True,
                max_tokens=MAX_TOKENS,
                temperature=gen.temperature,
                seed=gen.seed,
            ):
                piece = chunk["choices"][0]["delta"].get("content")  # type: ignore[index]
                if piece:
                    elapsed = elapsed or time.perf_counter() - started
                    text += piece
            return elapsed or time.perf_counter() - started, text

        product_round()  # loads what loads lazily (keyword index, tokenizer): not what is timed
        product: list[float] = []
        plain: list[float] = []
        for i in range(1, rounds + 1):
            p, p_text = product_round()
            b, b_text = bare_round(sent[-1])
            product.append(p)
            plain.append(b)
            print(f"round {i}: ragqa ask {p:6.2f} s {p_text[:40]!r}   bare llama-cpp-python {b:6.2f} s {b_text[:40]!r}")
            sys.stdout.flush()
        tokens = len(bare.tokenize("".join(m["content"] for m in sent[-1]).encode(), add_bos=False))
        p_med, b_med = statistics.median(product), statistics.median(plain)
        print(f"\nmodel {gen.path.name}, prompt about {tokens} tokens, {rounds} rounds, n_threads {gen.n_threads}")
        print(f"{'':24} {'median TTFT':>12} {'min':>8}")
        print(f"{'ragqa ask':24} {p_med:>10.2f} s {min(product):>6.2f} s")
        print(f"{'bare llama-cpp-python':24} {b_med:>10.2f} s {min(plain):>6.2f} s")
        print(f"ratio {p_med / b_med:.3f} (goal <= 1.05)")


if __name__ == "__main__":
    main()
