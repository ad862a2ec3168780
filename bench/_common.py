"""Shared helpers for the benchmarks: SciFact loading, IR metrics, the cached SciFact index,
timing statistics, memory readings, plain tables and the JSON results file.

The scripts run as `python bench/NAME.py` without the project being installed, so importing
this module puts the repository root on `sys.path`. Models come from installed packages only:
the Hugging Face hub is switched off before anything imports transformers.
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SCIFACT = Path(os.environ.get("BENCH_SCIFACT", ROOT.parent / "shared" / "benchmarks" / "scifact"))
RESULTS = ROOT / "bench" / "results"
CACHE = RESULTS / "cache"

# Every script imports this module first, so this is the start of the run for the results' meta.
_STARTED = datetime.now(timezone.utc)
_LOAD_AT_START = [round(x, 2) for x in os.getloadavg()]


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- SciFact -------------------------------------------------------------------------------------


def scifact_documents(limit: int | None = None):
    """SciFact corpus records as project Documents (title paragraph + abstract paragraph)."""
    from rag.types import Document, Paragraph

    docs = []
    with open(SCIFACT / "corpus.jsonl") as f:
        for line in f:
            r = json.loads(line)
            title, abstract = r["title"].strip(), r["text"].strip()
            text = f"{title}\n\n{abstract}"
            paras = (
                Paragraph(n=1, start=0, end=len(title), section=None),
                Paragraph(n=2, start=len(title) + 2, end=len(text), section=None),
            )
            doc_id = str(r["_id"])
            docs.append(Document(id=doc_id, source=f"scifact/{doc_id}", title=title, text=text,
                                 format="txt", paragraphs=paras))
            if limit and len(docs) >= limit:
                break
    return docs


def scifact_train_queries() -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """(query id -> text, query id -> {doc id: graded relevance}) for the train queries with qrels."""
    qrels: dict[str, dict[str, int]] = {}
    with open(SCIFACT / "qrels" / "train.tsv") as f:
        next(f)  # header
        for line in f:
            qid, did, score = line.rstrip("\n").split("\t")
            qrels.setdefault(qid, {})[did] = int(score)
    queries = {}
    with open(SCIFACT / "queries.jsonl") as f:
        for line in f:
            r = json.loads(line)
            if str(r["_id"]) in qrels:
                queries[str(r["_id"])] = r["text"]
    return queries, {q: qrels[q] for q in queries}


# --- metrics (BEIR / trec_eval conventions) ----------------------------------------------------------


def ndcg_at_k(ranked: list[str], rels: dict[str, int], k: int = 10) -> float:
    """nDCG@k with linear gains (gain = qrels grade) and log2(rank + 1) discount, as trec_eval."""
    dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted((g for g in rels.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: list[str], rels: dict[str, int], k: int = 100) -> float:
    """Share of the relevant documents (grade > 0) found in the top k."""
    relevant = {d for d, g in rels.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant & set(ranked[:k])) / len(relevant)


def metrics_self_check() -> None:
    """Hand-computed cases; raises AssertionError if the metric code is wrong."""
    rels = {"a": 1, "b": 2}
    # DCG = 1/log2(2) + 2/log2(4) = 2 ; IDCG = 2/log2(2) + 1/log2(3) = 2.630930 ; nDCG = 0.760188
    assert abs(ndcg_at_k(["a", "x", "b"], rels, 10) - 2 / (2 + 1 / math.log2(3))) < 1e-12
    assert abs(ndcg_at_k(["a", "x", "b"], rels, 10) - 0.760188) < 1e-6
    assert ndcg_at_k(["b", "a"], rels, 10) == 1.0
    assert ndcg_at_k(["x", "y"], rels, 10) == 0.0
    assert ndcg_at_k(["x", "a"], {"a": 1}, 1) == 0.0  # cut-off respected
    assert recall_at_k(["a", "x", "b"], rels, 2) == 0.5
    assert recall_at_k(["a", "x", "b"], rels, 3) == 1.0
    assert recall_at_k(["a"], {"a": 0, "b": 1}, 10) == 0.0  # grade 0 is not relevant


def doc_ranking(hits) -> list[str]:
    """Document ids in order of their best chunk (doc score = max over its chunks)."""
    seen: dict[str, None] = {}
    for h in hits:  # hits come best first, so the first chunk of a document is its maximum
        seen.setdefault(h.chunk.doc_id, None)
    return list(seen)


# --- the SciFact index, built once per embedder through the project's ingest ------------------------


def scifact_settings(embedder: str, **overrides):
    from rag.settings import Settings

    fp = Settings(home=CACHE, embedding_model=embedder).index_fingerprint()
    return Settings(home=CACHE / f"scifact-{embedder}-{fp}", embedding_model=embedder, **overrides)


def ensure_scifact_index(embedder: str, rebuild: bool = False, log=print) -> dict:
    """Build (or reuse) the full-corpus SciFact index for `embedder`. Returns build facts."""
    from rag.index import Index
    from rag.ingest import index_documents
    from rag.index.versions import IndexDir

    settings = scifact_settings(embedder)
    docs = scifact_documents()
    if not rebuild and IndexDir(settings.index_dir).current():
        try:
            idx = Index.load(settings)
            if idx.manifest.get("fingerprint") == settings.index_fingerprint() and len(idx.documents) == len(docs):
                return {"embedder": embedder, "home": str(settings.home), "cached": True,
                        "chunks": len(idx.chunks), "documents": len(idx.documents)}
        except Exception as e:  # noqa: BLE001 - any unreadable cache is rebuilt
            log(f"cached index unusable ({type(e).__name__}: {e}); rebuilding")
    from embeddings import get_embedder

    log(f"building SciFact index for {embedder} ({len(docs)} documents) ...")
    t0 = time.perf_counter()
    version = index_documents(docs, settings, embedder=get_embedder(embedder))
    secs = time.perf_counter() - t0
    manifest = json.loads((version / "manifest.json").read_text())
    log(f"  built {manifest['counts']['chunks']} chunks in {secs:.0f}s")
    return {"embedder": embedder, "home": str(settings.home), "cached": False, "build_seconds": secs,
            "chunks": manifest["counts"]["chunks"], "documents": manifest["counts"]["documents"]}


# --- timing, memory, machine state -----------------------------------------------------------------


def percentile(xs, q: float) -> float:
    """Linear-interpolated percentile (numpy's default method) of a list of numbers."""
    import numpy as np

    return float(np.percentile(np.asarray(xs, dtype=float), q))


def latency_summary(seconds: list[float]) -> dict:
    """p50 / p95 / mean in milliseconds."""
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95),
            "mean_ms": sum(ms) / len(ms)}


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict:
    import importlib.metadata as md

    versions = {}
    for pkg in ("torch", "sentence-transformers", "onnxruntime", "faiss-cpu", "numpy", "bm25s",
                "langchain-core", "langchain-community", "langchain-huggingface"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "load_average_at_start": load_average(), "versions": versions,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


# --- output ----------------------------------------------------------------------------------------


def table(headers: list[str], rows: list[list]) -> str:
    """A plain fixed-width text table."""
    cells = [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = lambda r: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in cells])


def _fmt(x) -> str:
    if isinstance(x, float):
        return f"{x:.4f}" if abs(x) < 10 else f"{x:.1f}"
    return str(x)


def _git() -> dict:
    """The checkout's commit, and whether tracked files differ from it (results files aside)."""
    def run(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()

    try:
        commit = run("rev-parse", "HEAD")
        changed = [line for line in run("status", "--porcelain", "--untracked-files=no").splitlines()
                   if not line[3:].startswith("bench/results/")]
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit or None, "dirty": bool(changed)}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags() -> list[str]:
    """The instruction-set flags that change how fast the models run (llama.cpp, FAISS, ONNX)."""
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile", "fma")
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return [w for w in wanted if w in have]
    except OSError:
        pass
    return []


def _ram_gb() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 ** 2, 1)
    except OSError:
        pass
    return None


def run_meta() -> dict:
    """What a reader needs to weigh a figure: when, which code, which machine, how busy it was.

    `date` is when the run finished (UTC); the load averages (1, 5 and 15 minutes) are read when
    this module was imported (the run's start) and now. docs/measurements.md prints all of it.
    """
    now = datetime.now(timezone.utc)
    script = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    try:
        script_name = str(script.relative_to(ROOT)) if script else None
    except ValueError:
        script_name = str(script)
    return {
        "date": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "started": _STARTED.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seconds": round((now - _STARTED).total_seconds(), 1),
        "script": script_name,
        "argv": sys.argv[1:],
        "nice": os.nice(0),
        "git": _git(),
        "machine": {"cpu": _cpu_model(), "cores": os.cpu_count(), "cpu_flags": _cpu_flags(), "ram_gb": _ram_gb(),
                    "python": platform.python_version(), "platform": platform.platform()},
        "load_average": {"start": _LOAD_AT_START, "end": load_average()},
    }


def write_results(name: str, payload: dict) -> Path:
    """Write bench/results/NAME.json: the payload with a `meta` block (run_meta) in front.

    The results files are committed; docs/measurements.md and the README's figures are generated
    from them (scripts/gen_docs.py), so a figure in the docs always names its run.
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"meta": run_meta(), **{k: v for k, v in payload.items() if k != "meta"}}
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    tmp.replace(path)
    return path
