"""Query latency of retrieval, on the real SciFact index and on 1M synthetic vectors.

What it measures:
  (i)  SciFact (full corpus, cached index built by the project's ingest): per query, p50/p95 of
       the embedder's `embed_query` alone, of `HybridRetriever.search(q, k=10)` end to end
       (embedding included), and of the same search with the query vector precomputed
       (retrieval only: dense + BM25 + fusion + de-duplication). Embedders are warmed first.
  (ii) Synthetic: `--n` (default 1,000,000) random unit vectors of dim 384 (float32, generated in
       blocks). Exact IndexFlatIP and HNSW, both built with `rag.index.build_vector_index` (the
       threshold decides which), plus an exact index at SciFact size. Each configuration runs in
       its own subprocess so its peak RSS (ru_maxrss) is its own. Queries are data points plus
       small noise; recall@10 (and @1) is measured against exact search. Reported: build seconds,
       single-query search p50/p95 for k=10, recall, peak RSS, and RSS once the source array is
       freed (what a server holding only the index would use).

How to read it: lower latency is better; recall@10 of HNSW says how many of the true 10 nearest
neighbours it returns. Random high-dimensional vectors are the worst case for HNSW: neighbours 2-10
are near-ties, so recall@10 here is a lower bound for real embeddings. Peak RSS includes the
float32 source array (n x 384 x 4 bytes) held while the index copies it.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time

import _common as C

DIM = 384


def scifact_latency(embedder_name: str, n_queries: int, k: int, log) -> dict:
    import numpy as np

    from embeddings import get_embedder
    from rag.index import Index
    from rag.index.retrieve import HybridRetriever

    C.ensure_scifact_index(embedder_name, log=log)
    settings = C.scifact_settings(embedder_name)
    index = Index.load(settings)
    emb = get_embedder(embedder_name)
    queries, _ = C.scifact_train_queries()
    texts = list(queries.values())[:n_queries]
    for t in texts[:10]:
        emb.embed_query(t)

    embed_s, qvecs = [], {}
    for t in texts:
        t0 = time.perf_counter()
        qvecs[t] = emb.embed_query(t)
        embed_s.append(time.perf_counter() - t0)

    class Precomputed:  # the retriever's embedder, answering from the vectors computed above
        name, dim, max_tokens = emb.name, emb.dim, emb.max_tokens

        def embed_query(self, text):
            return qvecs[text]

    full = HybridRetriever(settings, index=index, embedder=emb)
    only = HybridRetriever(settings, index=index, embedder=Precomputed())
    for t in texts[:10]:
        full.search(t, k)
        only.search(t, k)
    full_s, only_s = [], []
    for t in texts:  # interleaved so background load affects both alike
        t0 = time.perf_counter()
        full.search(t, k)
        full_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        only.search(t, k)
        only_s.append(time.perf_counter() - t0)
    assert np.allclose(qvecs[texts[0]], emb.embed_query(texts[0]), atol=1e-5)
    return {"embedder": embedder_name, "chunks": len(index.chunks), "index_kind": index.manifest.get("index_kind"),
            "queries": len(texts), "k": k, "embed_query": C.latency_summary(embed_s),
            "search_end_to_end": C.latency_summary(full_s), "search_retrieval_only": C.latency_summary(only_s)}


def synthetic_data(n: int, n_queries: int, seed: int = 0):
    """n unit vectors (float32, made in blocks of 100k) and queries = data points + small noise."""
    import numpy as np

    x = np.empty((n, DIM), dtype=np.float32)
    for b, start in enumerate(range(0, n, 100_000)):
        block = np.random.default_rng([seed, b]).standard_normal((min(100_000, n - start), DIM), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        x[start : start + len(block)] = block
    rng = np.random.default_rng([seed, 10**6])
    src = rng.choice(n, size=n_queries, replace=False)
    q = x[src] + rng.standard_normal((n_queries, DIM), dtype=np.float32) * (0.1 / DIM**0.5)  # |noise| ~ 0.1
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return x, np.ascontiguousarray(q, dtype=np.float32), src


def worker(kind: str, n: int, n_queries: int, k: int) -> dict:
    """One configuration, in its own process: build, search, recall, memory."""
    import faiss
    import numpy as np

    from rag.index import build_vector_index, index_kind
    from rag.settings import Settings

    x, q, src = synthetic_data(n, n_queries)
    _, truth = faiss.knn(q, x, k, metric=faiss.METRIC_INNER_PRODUCT)
    with tempfile.TemporaryDirectory() as home:
        s = Settings(home=home, approx_threshold=(n - 1 if kind == "hnsw" else n))
    t0 = time.perf_counter()
    index = build_vector_index(x, s)
    build = time.perf_counter() - t0
    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = s.hnsw_ef_search  # what Index.load sets from the manifest
    rss_built = C.current_rss_mb()
    del x
    gc.collect()
    rss_serving = C.current_rss_mb()
    for i in range(10):
        index.search(q[i : i + 1], k)
    lat, found = [], np.empty((n_queries, k), dtype=np.int64)
    for i in range(n_queries):
        t0 = time.perf_counter()
        _, ids = index.search(q[i : i + 1], k)
        lat.append(time.perf_counter() - t0)
        found[i] = ids[0]
    recall = float(np.mean([len(set(found[i]) & set(truth[i])) / k for i in range(n_queries)]))
    return {"kind": index_kind(index), "n": n, "dim": DIM, "k": k, "queries": n_queries,
            "hnsw": {"m": s.hnsw_m, "ef_construction": s.hnsw_ef_construction, "ef_search": s.hnsw_ef_search}
            if kind == "hnsw" else None,
            "build_seconds": build, "search": C.latency_summary(lat), "recall@10": recall,
            "recall@1_source_point": float(np.mean(found[:, 0] == src)),
            "truth_top1_is_source": float(np.mean(truth[:, 0] == src)),
            "peak_rss_mb": C.peak_rss_mb(), "rss_after_build_mb": rss_built, "rss_serving_mb": rss_serving,
            "faiss_threads": faiss.omp_get_max_threads(), "load_average_at_end": C.load_average()}


def run_worker(kind: str, n: int, n_queries: int, k: int, log) -> dict:
    log(f"  {kind} n={n:,} ... (subprocess)")
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, __file__, "--worker", kind, "--n", str(n), "--queries", str(n_queries),
                        "--k", str(k)], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"worker {kind} n={n} failed:\n{p.stderr[-3000:]}")
    r = json.loads(p.stdout.strip().splitlines()[-1])
    log(f"    build {r['build_seconds']:.1f}s, p50 {r['search']['p50_ms']:.2f} ms, recall@10 {r['recall@10']:.4f}, "
        f"peak RSS {r['peak_rss_mb']:.0f} MB ({time.perf_counter() - t0:.0f}s total)")
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="synthetic vectors (default 1,000,000)")
    ap.add_argument("--queries", type=int, default=200, help="queries per configuration (>= 200 for the report)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--embedders", nargs="*", default=["minilm", "minilm-int8"], choices=["minilm", "minilm-int8"],
                    help="embedders for the SciFact part (none: skip it)")
    ap.add_argument("--skip-synthetic", action="store_true", help="only the SciFact part")
    ap.add_argument("--no-hnsw", action="store_true", help="skip the (slow) HNSW build")
    ap.add_argument("--scifact-chunks", type=int, default=None,
                    help="size of the SciFact-size exact index (default: the real index's chunk count)")
    ap.add_argument("--worker", choices=["flat", "hnsw"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.n, args.queries, args.k)))
        return
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    info = C.machine()

    sci = [scifact_latency(e, args.queries, args.k, log) for e in args.embedders]
    syn = []
    if not args.skip_synthetic:
        n_sci = args.scifact_chunks or (sci[0]["chunks"] if sci else C.ensure_scifact_index("minilm", log=log)["chunks"])
        syn.append(run_worker("flat", n_sci, args.queries, args.k, log))
        syn.append(run_worker("flat", args.n, args.queries, args.k, log))
        if not args.no_hnsw:
            syn.append(run_worker("hnsw", args.n, args.queries, args.k, log))

    if sci:
        print(f"\n(i) SciFact index, {sci[0]['chunks']} chunks, {sci[0]['queries']} queries, k={args.k}\n")
        rows = []
        for r in sci:
            for label, key in (("embed_query only", "embed_query"), ("hybrid search, end to end", "search_end_to_end"),
                               ("hybrid search, retrieval only", "search_retrieval_only")):
                rows.append([r["embedder"], label, r[key]["p50_ms"], r[key]["p95_ms"]])
        print(C.table(["embedder", "what", "p50 ms", "p95 ms"], rows))
    if syn:
        print(f"\n(ii) synthetic unit vectors, dim {DIM}, {args.queries} queries (data point + noise), k={args.k}\n")
        rows = [[r["kind"], f"{r['n']:,}", round(r["build_seconds"], 2), r["search"]["p50_ms"], r["search"]["p95_ms"],
                 r["recall@10"], round(r["peak_rss_mb"]), round(r["rss_serving_mb"])] for r in syn]
        print(C.table(["index", "vectors", "build s", "p50 ms", "p95 ms", "recall@10", "peak RSS MB",
                       "RSS w/o source MB"], rows))
    path = C.write_results("query_latency", {"machine": info, "scifact": sci, "synthetic": syn})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
