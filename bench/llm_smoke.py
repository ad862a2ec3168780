"""Embedded LLM smoke benchmark: model assembly, server start, time to first token, tokens/s.

What it measures, in order, with the project's own code paths:
  1. `ensure_model`        assemble (or verify via its sidecar) the GGUF in RAG_MODELS_DIR;
  2. `ensure_running`      start the llama-cpp-python server (or reuse a running one);
  3. one RAG-shaped request through `make_generator(...).stream()`: a system instruction,
     ~1,500 tokens of numbered sources and a question; time to first token (prompt
     processing) and generated deltas per second (llama-cpp-python streams one token per
     delta, so deltas/s = tokens/s);
  4. the same sources with another question: the prompt-prefix reuse shows as a much
     shorter time to first token.
The server is stopped at the end unless --keep is given. The machine has 2 cores: anything
else running at the same time (an ingest, a test suite) slows every number here.

Run: python bench/llm_smoke.py [--keep] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SYSTEM = (
    "Answer the question using only the numbered sources. Cite each claim with the source "
    "number in square brackets, like [3]. If the sources do not contain the answer, say so."
)


def sources_text(n: int = 40) -> str:
    goals = ["poverty", "hunger", "health", "education", "gender equality", "clean water", "energy"]
    return "\n\n".join(
        f"[{i}] The General Assembly, in resolution {70 + i}/{i * 3}, recalled its commitment to "
        f"{goals[i % len(goals)]} and requested the Secretary-General to report on progress by "
        f"{2020 + i % 10}, noting that {i * 7} Member States had submitted voluntary reviews."
        for i in range(1, n + 1)
    )


def timed_stream(gen, messages: list[dict], max_tokens: int) -> tuple[float, float, int, str]:
    start = time.perf_counter()
    first = None
    deltas = []
    for delta in gen.stream(messages, max_tokens=max_tokens):
        if first is None:
            first = time.perf_counter() - start
        deltas.append(delta)
    total = time.perf_counter() - start
    return first or total, total, len(deltas), "".join(deltas)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave the server running")
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    os.environ.setdefault("RAG_MODELS_DIR", str(ROOT / ".rag" / "models"))
    if not args.keep:
        os.environ.setdefault("RAG_HOME", tempfile.mkdtemp(prefix="llm-smoke-"))

    from rag.llm.generate import make_generator
    from rag.llm.model import ensure_model
    from rag.llm.server import EmbeddedServer
    from rag.settings import Settings

    settings = Settings()
    t = time.perf_counter()
    path = ensure_model(settings)
    print(f"model ready        {time.perf_counter() - t:7.2f} s   {path}")

    server = EmbeddedServer(settings)
    t = time.perf_counter()
    server.ensure_running()
    print(f"server ready       {time.perf_counter() - t:7.2f} s   {server.base_url}")
    try:
        gen = make_generator(settings)
        sources = sources_text()
        for label, question in (
            ("first request", "Which resolution concerns clean water, and when is its report due?"),
            ("same sources", "How many Member States are mentioned in source 12?"),
        ):
            messages = [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": f"Sources:\n\n{sources}\n\nQuestion: {question}"},
            ]
            first, total, n, text = timed_stream(gen, messages, args.max_tokens)
            rate = (n - 1) / (total - first) if n > 1 and total > first else float("nan")
            print(
                f"{label:<18} first token {first:6.2f} s   {n} tokens in {total:6.2f} s   "
                f"{rate:5.1f} tok/s generation"
            )
            print(f"    {text.strip()[:160]!r}")
    finally:
        if not args.keep:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
