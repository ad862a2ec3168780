"""Ingest throughput in chunks/s: one process, every local core, and Ray with two worker nodes here.

What it measures, side by side in one run on the same files (the first `--docs` SciFact abstracts,
each written out as a Markdown file), each contender indexing them into a fresh index:
  (a) single process   `ingest(..., RAG_INGEST_WORKERS=1)`: load, chunk and embed in this process,
                       the embedder on one BLAS thread (the single-process ingest as it always was)
  (b) all cores        `ingest(...)` with the default workers (one process per core, one BLAS
                       thread each), worker start-up included in every run
  (c) Ray              `ingest(..., RAG_INGEST_ENGINE=ray)` on a local cluster: a head with no CPU
                       and two worker nodes of one CPU each (separate processes on 127.0.0.1,
                       tests/ray_fixture.py); the driver stays connected, so Ray's workers and
                       their loaded model are reused from one round to the next
and the plain embedder alone on every third of the same index texts ((e): every ninth; it is
many times slower beside other work), no loading, chunking or writing, in the splits of
processes x BLAS threads that use every core:
  (d) 1 process x 1 thread   (e) 1 process x 2 threads   (f) 2 processes x 1 thread (pool started before)
The best of (d)-(f) is the plain embedder's best throughput on all cores.

Contenders run round-robin `--rounds` times, so the other work on this shared machine hits all
of them alike; the table shows the median. The load average and the machine's busy share
(/proc/stat) during each run are printed and saved: on two cores shared with other work, a
second process only gets the part of the second core that the other work leaves.

The CPU time each contender got is measured too (this process, its reaped children, the pool's
and the Ray nodes' processes, from /proc): "cores used" is CPU seconds per second of its run, and
chunks per CPU-second is its speed per core obtained. Times the machine's cores, that projects
what a contender reaches on an idle machine; the projection is printed and saved as such,
beside the measured ratios.

Checks: (a), (b) and (c) give the same chunk ids in the same order and vectors equal within 1e-5.
Bars: (b) >= 1.7x (a); (c) >= 0.8x (b).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import _common as C

sys.path.insert(0, str(C.ROOT / "tests"))


def write_corpus(folder: Path, n: int) -> int:
    """The first n SciFact abstracts as Markdown files (title heading, abstract). Returns bytes written."""
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    with open(C.SCIFACT / "corpus.jsonl") as f:
        for i, line in enumerate(f):
            if i >= n:
                break
            r = json.loads(line)
            text = f"# {r['title'].strip()}\n\n{r['text'].strip()}\n"
            (folder / f"{r['_id']}.md").write_text(text)
            total += len(text.encode())
    return total


class CpuShare:
    """The machine's busy share of all cores over an interval, from /proc/stat."""

    def __enter__(self):
        self.a = self._read()
        return self

    def __exit__(self, *exc):
        b = self._read()
        busy = (b[0] - self.a[0])
        total = (b[1] - self.a[1])
        self.share = busy / total if total else float("nan")
        return False

    @staticmethod
    def _read():
        vals = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = vals[3] + vals[4]
        return sum(vals) - idle, sum(vals)


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids) -> dict[int, float]:
    """User + system CPU seconds of each live process (/proc/PID/stat), all its threads."""
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / _TICK
    return out


class CpuUsed:
    """CPU seconds used by this process, its reaped children and the given other processes."""

    def __init__(self, others=lambda: []):
        self.others = others

    def _now(self):
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime, cpu_seconds(self.others())

    def __enter__(self):
        self.a = self._now()
        return self

    def __exit__(self, *exc):
        b = self._now()
        self.seconds = b[0] - self.a[0] + sum(v - self.a[1].get(pid, 0.0) for pid, v in b[1].items())
        return False


_emb = None


def _pool_init():
    global _emb
    from embeddings.minilm_numpy import MiniLMNumpyEmbedder

    _emb = MiniLMNumpyEmbedder(1)
    _emb.embed(["warm up"])


def _pool_embed(texts):
    return _emb.embed(texts, batch_size=16)


def index_rows(settings):
    from rag.index import Index

    idx = Index.load(settings)
    return [c.id for c in idx.chunks], idx.vectors.reconstruct_n(0, idx.vectors.ntotal)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=200, help="first N SciFact abstracts (default 200)")
    ap.add_argument("--rounds", type=int, default=3, help="round-robin repetitions (default 3)")
    args = ap.parse_args()
    log = lambda msg: print(msg, flush=True)  # noqa: E731

    import numpy as np

    from embeddings import get_embedder
    from embeddings.minilm_numpy import MiniLMNumpyEmbedder
    from rag.ingest import ingest
    from rag.ingest.chunk import chunk_document, index_text
    from rag.ingest.engines import available_cores
    from rag.ingest.load import load_file
    from rag.settings import Settings
    from ray_fixture import RayCluster

    info = C.machine()
    work = Path(tempfile.mkdtemp(prefix="bench-scaling-"))
    cluster = None
    try:
        files = work / "files"
        nbytes = write_corpus(files, args.docs)
        emb = get_embedder("minilm")
        emb.embed(["warm up"])
        base = Settings(home=work / "unused")
        from embeddings.base import count_tokens

        docs = [load_file(p, str(p)) for p in sorted(files.iterdir())]
        texts = [index_text(c, d) for d in docs
                 for c in chunk_document(d, count_tokens, base.chunk_tokens, base.chunk_overlap_tokens)]
        n = len(texts)
        cores = available_cores()
        log(f"{args.docs} SciFact abstracts as files ({nbytes / 1024:.0f} KB) -> {n} chunks; {cores} cores; "
            f"load average {C.load_average()}")

        t0 = time.perf_counter()
        cluster = RayCluster(object_store_mb=300)
        cluster.start_head(num_cpus=0)
        cluster.add_node(num_cpus=1)
        cluster.add_node(num_cpus=1)
        from rag.ingest.ray_engine import RayEngine

        RayEngine(cluster.address).start()
        import ray

        while ray.cluster_resources().get("CPU", 0) < 2:
            time.sleep(0.2)
        ray_start = time.perf_counter() - t0
        log(f"Ray cluster: head (0 CPUs) + 2 worker nodes (1 CPU each) started in {ray_start:.1f}s")

        e2 = MiniLMNumpyEmbedder(2)
        e2.embed(["warm up"])
        t0 = time.perf_counter()
        pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"), initializer=_pool_init)
        list(pool.map(_pool_embed, [["a"], ["b"]]))
        pool_start = time.perf_counter() - t0
        log(f"two worker processes started and their models loaded in {pool_start:.1f}s")
        sample = texts[::3]  # the plain embedder runs on every third chunk (same length spread), to save time
        halves = [sample[i::2] for i in range(2)]
        sample_e = sample[::3]  # (e) is many times slower beside other work: a third of the sample

        homes = iter(range(10**6))

        def fresh(**kw):
            return Settings(home=work / f"home{next(homes)}", **kw)

        last: dict = {}

        def run_ingest(name, **kw):
            def fn():
                s = fresh(**kw)
                r = ingest([files], s, embedder=emb, progress=False)
                assert len(r.added) == args.docs and not r.failed, r.summary()
                last[name] = s
            return fn

        runs = {
            "(a) single process": run_ingest("a", ingest_workers=1),
            "(b) all cores": run_ingest("b"),
            "(c) Ray, 2 worker nodes": run_ingest("c", ingest_engine="ray", ray_address=cluster.address),
            "(d) plain embed 1 proc x 1 thread": lambda: emb.embed(sample, batch_size=16),
            "(e) plain embed 1 proc x 2 threads": lambda: e2.embed(sample_e, batch_size=16),
            "(f) plain embed 2 procs x 1 thread": lambda: list(pool.map(_pool_embed, halves)),
        }
        others = {"(c) Ray, 2 worker nodes": cluster.pids,
                  "(f) plain embed 2 procs x 1 thread": lambda: list(pool._processes or {})}
        cpu: dict[str, list[float]] = {k: [] for k in runs}
        secs: dict[str, list[float]] = {k: [] for k in runs}
        busy: dict[str, list[float]] = {k: [] for k in runs}
        loads: dict[str, list[float]] = {k: [] for k in runs}
        identical = None
        for rnd in range(args.rounds):
            for name, fn in runs.items():
                with CpuShare() as share, CpuUsed(others.get(name, lambda: [])) as used:
                    t0 = time.perf_counter()
                    fn()
                    secs[name].append(time.perf_counter() - t0)
                busy[name].append(round(share.share, 3))
                cpu[name].append(round(used.seconds, 2))
                loads[name].append(C.load_average()[0])
                done = len(sample_e) if name.startswith("(e)") else len(sample) if "plain" in name else n
                log(f"  round {rnd + 1}: {name:36s} {secs[name][-1]:6.1f}s {done / secs[name][-1]:6.1f} chunks/s  "
                    f"{used.seconds / secs[name][-1]:.2f} cores used  machine busy {share.share:.0%}  load {loads[name][-1]}")
            if identical is None:
                ids_a, v_a = index_rows(last["a"])
                identical = {"chunks": len(ids_a)}
                for k in ("b", "c"):
                    ids, v = index_rows(last[k])
                    identical[k] = {"same_ids_in_order": ids == ids_a,
                                    "max_abs_vector_diff": float(np.abs(v - v_a).max()) if ids == ids_a else None}
                log(f"  identical to (a): {identical}")
        pool.shutdown()

        size = {k: (len(sample) if "plain" in k else n) for k in runs}
        size["(e) plain embed 1 proc x 2 threads"] = len(sample_e)
        rate = {k: size[k] / statistics.median(v) for k, v in secs.items()}
        single = rate["(a) single process"]
        allc = rate["(b) all cores"]
        plain_best_name = max(("(d) plain embed 1 proc x 1 thread", "(e) plain embed 1 proc x 2 threads",
                               "(f) plain embed 2 procs x 1 thread"), key=rate.get)
        plain = rate[plain_best_name]
        per_cpu = {k: size[k] * len(v) / sum(cpu[k]) for k, v in secs.items()}  # chunks per CPU-second
        cores_used = {k: statistics.median(c / w for c, w in zip(cpu[k], secs[k])) for k in runs}
        rows = [[k, f"{rate[k]:.1f}", f"{size[k] / max(v):.1f}-{size[k] / min(v):.1f}", f"{rate[k] / single:.2f}x",
                 f"{rate[k] / plain:.2f}x", f"{cores_used[k]:.2f}", f"{per_cpu[k]:.1f}",
                 f"{statistics.median(busy[k]):.0%}"] for k, v in secs.items()]
        print(f"\n{args.docs} SciFact abstracts, {n} chunks, median of {args.rounds} round-robin rounds; "
              f"load average {C.load_average()} at the end\n")
        print(C.table(["contender", "chunks/s", "min-max", "vs (a)", "vs best plain", "cores used",
                       "chunks/CPU-s", "machine busy"], rows))
        ok_ids = all(identical[k]["same_ids_in_order"] and identical[k]["max_abs_vector_diff"] <= 1e-5
                     for k in ("b", "c"))
        bars = {
            "all_cores_vs_single": {"ratio": allc / single, "bar": 1.7, "met": allc / single >= 1.7},
            "ray_vs_all_cores": {"ratio": rate["(c) Ray, 2 worker nodes"] / allc, "bar": 0.8,
                                 "met": rate["(c) Ray, 2 worker nodes"] / allc >= 0.8},
            "identical_chunks_and_vectors": {"met": ok_ids},
            "all_cores_vs_best_plain_embedder": {"ratio": allc / plain, "best_plain": plain_best_name},
        }
        print()
        print(f"all cores vs single process: {allc / single:.2f}x -> >= 1.7x {'MET' if bars['all_cores_vs_single']['met'] else 'NOT MET'}")
        print(f"Ray (2 worker nodes) vs all cores: {bars['ray_vs_all_cores']['ratio']:.2f}x -> >= 0.8x "
              f"{'MET' if bars['ray_vs_all_cores']['met'] else 'NOT MET'}")
        print(f"all cores vs the plain embedder's best on all cores ({plain_best_name}): {allc / plain:.2f}x")
        print(f"same chunk ids in order and vectors within 1e-5: {'MET' if ok_ids else 'NOT MET'} {identical}")
        # with the machine to itself, a contender gets every core it asks for: its rate per CPU-second
        # times its cores (1 for the single process, all for the others) is what it would reach
        projected = {"(a) single process": per_cpu["(a) single process"],
                     "(b) all cores": per_cpu["(b) all cores"] * cores,
                     "(c) Ray, 2 worker nodes": per_cpu["(c) Ray, 2 worker nodes"] * cores}
        print(f"projected on an idle machine from CPU time (chunks/CPU-s x cores): all cores "
              f"{projected['(b) all cores'] / projected['(a) single process']:.2f}x single, Ray "
              f"{projected['(c) Ray, 2 worker nodes'] / projected['(b) all cores']:.2f}x all cores")
        per_round = [secs["(a) single process"][i] / secs["(b) all cores"][i] for i in range(args.rounds)]
        print(f"all cores vs single, round by round: {', '.join(f'{r:.2f}x' for r in per_round)}")
        path = C.write_results("ingest_scaling", {
            "machine": info,
            "data": {"documents": args.docs, "chunks": n, "bytes": nbytes, "plain_embed_chunks": len(sample),
                     "plain_embed_chunks_e": len(sample_e)},
            "rounds": args.rounds,
            "cores": cores, "seconds": secs, "chunks_per_second_median": rate, "machine_busy_share": busy,
            "ratio_vs_single": {k: r / single for k, r in rate.items()},
            "cpu_seconds": cpu, "cores_used_median": cores_used, "chunks_per_cpu_second": per_cpu,
            "projected_idle_chunks_per_second": projected,
            "projected_idle_ratios": {"all_cores_vs_single": projected["(b) all cores"] / projected["(a) single process"],
                                      "ray_vs_all_cores": projected["(c) Ray, 2 worker nodes"] / projected["(b) all cores"]},
            "load_average_1min_after_each_run": loads, "all_cores_vs_single_per_round": per_round,
            "startup_seconds": {"ray_cluster": ray_start, "two_worker_processes_with_model": pool_start},
            "identical": identical, "bars": bars})
        print(f"\nwrote {path}")
    finally:
        if cluster is not None:
            try:
                import ray

                ray.shutdown()
            except ImportError:
                pass
            cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
