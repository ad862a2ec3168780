"""Start-up of `rag ask --mode quote` as a separate process, and the embedding throughput that
decides which MiniLM backend serves which job.

    python bench/cli_startup.py [startup] [--runs 5]  wall time of the command, NumPy vs torch backend
    python bench/cli_startup.py embed [--texts 300]   texts/s of both backends on the same chunks

Results: bench/results/cli_startup.json and bench/results/cli_embed.json.

`startup` ingests docs_raw/ into a private RAG_HOME once (unless --home points at an index),
then runs `rag ask --mode quote QUESTION` --runs times for each backend, alternating, so that
background load hits both alike; it prints every wall time and CPU time (user + system, which
background load hardly changes) with the 1-minute load average, the medians and their ratio.
The backend is chosen with RAG_MINILM_BACKEND (numpy, the default, or torch: the
sentence-transformers path that imports PyTorch).

`embed` embeds the same SciFact chunks (index texts of up to 200 tokens, the default chunk size)
with both backends, round-robin --repeats times, each model loaded and warmed up first, and
prints the median texts/s and the ratio.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common as C

QUESTION = "How many States Parties does the Trafficking in Persons Protocol have?"
BACKENDS = ("numpy", "torch")


def _rag() -> list[str]:
    """The installed `rag` script of this interpreter's venv, run with this checkout first on the path."""
    exe = Path(sys.executable).with_name("rag")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "rag.cli"]


def _env(home: Path, backend: str) -> dict:
    env = dict(os.environ, RAG_HOME=str(home), RAG_MINILM_BACKEND=backend)
    env["PYTHONPATH"] = os.pathsep.join(x for x in (str(C.ROOT), env.get("PYTHONPATH")) if x)
    return env


def startup(args) -> None:
    if args.home:
        _startup(args, Path(args.home))
    else:
        with tempfile.TemporaryDirectory(prefix="rag-startup-") as tmp:
            _startup(args, Path(tmp))


def _startup(args, home: Path) -> None:
    if not args.home:
        print(f"ingesting docs_raw/ into {home} ...", flush=True)
        subprocess.run(_rag() + ["ingest", str(C.ROOT / "docs_raw"), "-q"], env=_env(home, "numpy"),
                       check=True, stdout=subprocess.DEVNULL)
    cmd = _rag() + ["ask", "--mode", "quote", args.question]
    answers = {}
    for b in BACKENDS:  # warm the page cache (and check both give an answer) before timing
        answers[b] = subprocess.run(cmd, env=_env(home, b), capture_output=True, text=True, check=True).stdout
    if answers["numpy"] != answers["torch"]:
        print("WARNING: the backends gave different answers")
    walls: dict[str, list[float]] = {b: [] for b in BACKENDS}
    cpus: dict[str, list[float]] = {b: [] for b in BACKENDS}
    print(f"{'run':>3}  {'backend':<7} {'wall s':>7} {'cpu s':>6}  load(1m)")
    for i in range(args.runs):
        for b in BACKENDS if i % 2 == 0 else BACKENDS[::-1]:
            load = os.getloadavg()[0]
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run(cmd, env=_env(home, b), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            walls[b].append(time.perf_counter() - t0)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus[b].append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)  # user + system
            print(f"{i + 1:>3}  {b:<7} {walls[b][-1]:7.2f} {cpus[b][-1]:6.2f}  {load:.2f}", flush=True)
    med = {b: statistics.median(v) for b, v in walls.items()}
    for b in BACKENDS:
        print(f"median {b:<6} {med[b]:6.2f} s wall (min {min(walls[b]):.2f}, max {max(walls[b]):.2f}), "
              f"{statistics.median(cpus[b]):.2f} s CPU, n={args.runs}")
    print(f"torch / numpy: {med['torch'] / med['numpy']:.1f}x   goal <= 3 s: "
          f"{'met' if med['numpy'] <= 3.0 else 'not met'} ({med['numpy']:.2f} s)")
    path = C.write_results("cli_startup", {
        "command": "rag ask --mode quote QUESTION", "question": args.question, "runs": args.runs,
        "backends": {b: {"median_wall_s": round(med[b], 2), "min_wall_s": round(min(walls[b]), 2),
                         "max_wall_s": round(max(walls[b]), 2),
                         "median_cpu_s": round(statistics.median(cpus[b]), 2),
                         "wall_s": [round(x, 3) for x in walls[b]], "cpu_s": [round(x, 3) for x in cpus[b]]}
                     for b in BACKENDS},
        "torch_over_numpy": round(med["torch"] / med["numpy"], 1),
        "goal_s": 3.0, "goal_met": med["numpy"] <= 3.0})
    print(f"wrote {path}")


def embed(args) -> None:
    from embeddings.base import count_tokens
    from embeddings.minilm import MiniLMTorchEmbedder
    from embeddings.minilm_numpy import MiniLMNumpyEmbedder
    from rag.ingest.chunk import chunk_document, index_text

    texts: list[str] = []
    for doc in C.scifact_documents(args.texts):
        texts += [index_text(c, doc) for c in chunk_document(doc, count_tokens)]
        if len(texts) >= args.texts:
            break
    texts = texts[: args.texts]
    models = {"numpy": MiniLMNumpyEmbedder(), "torch": MiniLMTorchEmbedder()}
    for name, m in models.items():
        t0 = time.perf_counter()
        m.embed(texts[:8])
        print(f"{name}: load + warm-up {time.perf_counter() - t0:.1f} s")
    rates: dict[str, list[float]] = {n: [] for n in models}
    for r in range(args.repeats):
        for name in (list(models) if r % 2 == 0 else list(models)[::-1]):
            t0 = time.perf_counter()
            models[name].embed(texts, batch_size=args.batch_size)
            rates[name].append(len(texts) / (time.perf_counter() - t0))
            print(f"  repeat {r + 1} {name:<6} {rates[name][-1]:6.1f} texts/s  load(1m) {os.getloadavg()[0]:.2f}",
                  flush=True)
    med = {n: statistics.median(v) for n, v in rates.items()}
    for n in models:
        print(f"median {n:<6} {med[n]:6.1f} texts/s ({len(texts)} texts, batch {args.batch_size})")
    print(f"numpy / torch: {med['numpy'] / med['torch']:.2f}x")
    path = C.write_results("cli_embed", {
        "texts": len(texts), "batch_size": args.batch_size, "repeats": args.repeats,
        "backends": {n: {"median_texts_per_s": round(med[n], 1), "texts_per_s": [round(x, 1) for x in rates[n]]}
                     for n in models},
        "numpy_over_torch": round(med["numpy"] / med["torch"], 2)})
    print(f"wrote {path}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd")
    s = sub.add_parser("startup", help="wall time of `rag ask --mode quote` per backend (the default)")
    for parser in (p, s):  # `startup` is the default: its options work without the word too
        parser.add_argument("--runs", type=int, default=5)
        parser.add_argument("--home", help="an existing RAG_HOME with an index (default: ingest docs_raw/ into a "
                            "temporary one)")
        parser.add_argument("--question", default=QUESTION)
    e = sub.add_parser("embed", help="texts/s of the NumPy and torch backends on the same chunks")
    e.add_argument("--texts", type=int, default=300)
    e.add_argument("--repeats", type=int, default=3)
    e.add_argument("--batch-size", type=int, default=16, help="RAG_EMBED_BATCH_SIZE (default 16)")
    args = p.parse_args()
    embed(args) if args.cmd == "embed" else startup(args)


if __name__ == "__main__":
    main()
