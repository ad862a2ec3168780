"""HNSW at scale, both stores in one run: recall@10 against exact search, query latency, ingest rate.

Vectors shaped like real embeddings: the base is the SciFact chunk vectors of the default model
(the cached index of bench/retrieval_quality.py, 16k x 384), and each synthetic vector is a real
one moved by noise drawn from the real vectors' own spread: normalize(x_i + s (x_j - x_k) / sqrt 2)
for random chunks i, j, k (x_j - x_k has the corpus's covariance, so the noise follows the
directions real embeddings vary in; s = --noise). Queries are real SciFact query embeddings.
Uniform random vectors are the worst case for HNSW (all neighbours near-ties) and are not used.

What it does, with the same vectors and the same graph parameters (RAG_HNSW_M,
RAG_HNSW_EF_CONSTRUCTION) for both:
  directory store  `DirectoryStore.commit` (JSONL, bm25s, FAISS IndexHNSWFlat, checksums, rename)
  PostgreSQL store `PostgresStore.commit` into PostgreSQL 18 + pgvector 0.8 on loopback (binary
                   COPY, tsvector, then CREATE INDEX ... USING hnsw, all in one transaction)
then every query is searched through each store's own `dense()` (the path `rag ask` takes;
for PostgreSQL a SQL round trip on loopback with the version filter and iterative scan), at each
efSearch in --ef, after one warm-up pass. Ground truth is exact inner product over all vectors.
Chunk texts are one short line each, so ingest rates are of the vector side (the realistic,
full-text ingest rate is in bench/store_quality.py).

How to read it: recall@10 = share of the true 10 nearest found, mean over queries; p50/p95 in ms
per query; ingest = chunks committed per second (embedding excluded). Results go to
bench/results/store_hnsw-<n>.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import _common as C

sys.path.insert(0, str(C.ROOT / "tests"))


def synthetic(base: np.ndarray, n: int, noise: float, seed: int = 0, block: int = 100_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        i, j, k = (rng.integers(0, len(base), hi - lo) for _ in range(3))
        v = base[i] + noise * (base[j] - base[k]) / np.sqrt(2)
        out[lo:hi] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int = 10, block: int = 200_000) -> np.ndarray:
    best_s = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), 0), dtype=np.int64)
    for lo in range(0, len(vectors), block):
        s = queries @ vectors[lo : lo + block].T
        top = np.argpartition(-s, k - 1, axis=1)[:, :k]
        cand_s = np.concatenate([best_s, np.take_along_axis(s, top, 1)], axis=1)
        cand_i = np.concatenate([best_i, top + lo], axis=1)
        keep = np.argsort(-cand_s, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(cand_s, keep, 1), np.take_along_axis(cand_i, keep, 1)
    return best_i


def make_change(vectors: np.ndarray, model: str):
    from rag.index import Change
    from rag.types import Chunk, Document

    per_doc = 100
    docs = [Document(id=f"d{d:07d}", source=f"synthetic/{d}.txt", title=f"Synthetic {d}", text="x" * 40,
                     format="txt") for d in range((len(vectors) + per_doc - 1) // per_doc)]
    chunks = [Chunk(id=f"c{i:08d}", doc_id=f"d{i // per_doc:07d}", source=f"synthetic/{i // per_doc}.txt",
                    text=f"synthetic chunk {i}", start=0, end=10, ordinal=i % per_doc) for i in range(len(vectors))]
    texts = [f"synthetic chunk {i}" for i in range(len(vectors))]
    return Change(model=model, keep=set(), documents=docs, chunks=chunks, vectors=vectors, texts=texts, files={},
                  all_documents={d.id: d for d in docs})


def measure(label: str, load, ids_of, queries: np.ndarray, truth: np.ndarray, efs: list[int], log) -> list[dict]:
    rows = []
    for ef in efs:
        index = load(ef)
        for q in queries:  # warm-up pass: caches and connections, not timed
            index.dense(q, 10)
        lat, rec = [], []
        for q, true in zip(queries, truth):
            t0 = time.perf_counter()
            ids, _ = index.dense(q, 10)
            lat.append((time.perf_counter() - t0) * 1000)
            rec.append(len(set(ids_of(index, ids)) & set(true.tolist())) / 10)
        row = {"store": label, "ef_search": ef, "recall@10": float(np.mean(rec)),
               "p50_ms": C.percentile(lat, 50), "p95_ms": C.percentile(lat, 95)}
        log(f"  {label:10s} ef={ef:4d} recall@10={row['recall@10']:.3f} p50 {row['p50_ms']:.2f} ms "
            f"p95 {row['p95_ms']:.2f} ms")
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="vectors (default 1,000,000)")
    ap.add_argument("--queries", type=int, default=200, help="SciFact queries searched (default 200)")
    ap.add_argument("--ef", default="40,64,128,256,512", help="efSearch values (default 40,64,128,256,512)")
    ap.add_argument("--noise", type=float, default=0.5, help="noise scale s (default 0.5)")
    ap.add_argument("--stores", default="directory,postgresql", help="which stores (default both)")
    ap.add_argument("--pg-shared-buffers", default="6GB",
                    help="PostgreSQL shared_buffers (default 6GB: the 1M table and its HNSW index, ~2 GB each, "
                         "stay in PostgreSQL's own cache, as pgvector's docs advise for HNSW)")
    ap.add_argument("--base", type=int, default=0,
                    help="embed only the first N SciFact abstracts as the base (one vector each) instead of "
                         "the cached full SciFact chunk index (default 0: the full index)")
    args = ap.parse_args()
    log = lambda m: print(m, flush=True)  # noqa: E731
    from embeddings import get_embedder
    from pg_fixture import PgCluster
    from rag.index import DirectoryStore, Index
    from rag.index.postgres import PostgresStore

    info = C.machine()
    efs = [int(x) for x in args.ef.split(",")]
    stores = args.stores.split(",")
    embedder = get_embedder("minilm")
    if args.base:
        log(f"embedding the first {args.base} SciFact abstracts as the base ...")
        base = embedder.embed([d.text for d in C.scifact_documents(args.base)], batch_size=16).astype(np.float32)
        model = embedder.name
    else:
        C.ensure_scifact_index("minilm", log=log)
        base_index = Index.load(C.scifact_settings("minilm"))
        base = base_index.vectors.reconstruct_n(0, base_index.vectors.ntotal)
        model = base_index.manifest["model"]
    result_base = {"vectors": int(len(base)), "source": f"first {args.base} abstracts" if args.base else "chunk index"}
    qtexts = list(C.scifact_train_queries()[0].values())[: args.queries]
    queries = embedder.embed(qtexts).astype(np.float32)
    log(f"generating {args.n} vectors from {len(base)} SciFact chunk vectors (noise {args.noise}) ...")
    vectors = synthetic(base, args.n, args.noise)
    t0 = time.perf_counter()
    truth = exact_top(vectors, queries)
    exact_ms = (time.perf_counter() - t0) * 1000 / len(queries)
    true_sims = np.einsum("ij,ij->i", queries, vectors[truth[:, 0]])  # each query's nearest neighbour
    log(f"exact top-10 for {len(queries)} queries: {exact_ms:.1f} ms per query (numpy, both cores)")
    change = make_change(vectors, model)
    from rag.settings import Settings

    common = dict(approx_threshold=1000, embedding_model="minilm")
    result = {"machine": info, "args": vars(args), "base": result_base, "exact_ms_per_query": exact_ms,
              "ingest": {}, "search": [],
              "hnsw": {"m": Settings().hnsw_m, "ef_construction": Settings().hnsw_ef_construction}}

    if "directory" in stores:
        with tempfile.TemporaryDirectory(prefix="rag-hnsw-") as tmp:
            s = Settings(home=Path(tmp), **common)
            store = DirectoryStore(s)
            t0 = time.perf_counter()
            with store.writer_lock():
                store.commit(change, None, s)
            secs = time.perf_counter() - t0
            result["ingest"]["directory"] = {"seconds": secs, "chunks_per_s": args.n / secs,
                                             "peak_rss_mb": C.peak_rss_mb()}
            log(f"directory store: committed {args.n} chunks in {secs:.0f} s ({args.n / secs:.0f}/s)")

            loaded = DirectoryStore(s).load()

            def load_dir(ef):
                loaded.vectors.hnsw.efSearch = ef
                return loaded

            result["search"] += measure("directory", load_dir, lambda ix, ids: [int(i) for i in ids], queries, truth,
                                        efs, log)

    if "postgresql" in stores:
        cluster = PgCluster().init().start("fsync=on", "full_page_writes=on",
                                           f"shared_buffers={args.pg_shared_buffers}",
                                           "max_parallel_maintenance_workers=1")
        try:
            url = cluster.create_database("hnsw")
            s = Settings(store_url=url, home=Path(tempfile.gettempdir()), **common)
            store = PostgresStore(s)
            t0 = time.perf_counter()
            with store.writer_lock():
                store.commit(change, None, s)
            secs = time.perf_counter() - t0
            result["ingest"]["postgresql"] = {"seconds": secs, "chunks_per_s": args.n / secs}
            log(f"postgresql store: committed {args.n} chunks in {secs:.0f} s ({args.n / secs:.0f}/s)")
            sizes = store.fetch("SELECT pg_size_pretty(pg_relation_size('rag.chunks')), "
                                "pg_size_pretty(pg_relation_size('rag.chunks_hnsw'))")[0]
            result["postgresql_sizes"] = {"table": sizes[0], "hnsw_index": sizes[1]}
            # row ids are the COPY order: rid - first rid = position in `vectors`
            first = store.fetch("SELECT min(rid) FROM rag.chunks")[0][0]

            def load_pg(ef, _s=s):
                return PostgresStore(_s.model_copy(update={"hnsw_ef_search": ef})).load()

            result["search"] += measure("postgresql", load_pg, lambda ix, ids: [int(i) - first for i in ids],
                                        queries, truth, efs, log)
        finally:
            cluster.destroy()

    print(f"\n{args.n} vectors (SciFact-shaped, noise {args.noise}), {len(queries)} real queries, k=10, "
          f"M={result['hnsw']['m']}, efConstruction={result['hnsw']['ef_construction']}")
    print(C.table(["store", "efSearch", "recall@10", "p50 ms", "p95 ms"],
                  [[r["store"], r["ef_search"], r["recall@10"], r["p50_ms"], r["p95_ms"]] for r in result["search"]]))
    print(C.table(["store", "ingest s", "chunks/s"],
                  [[k, v["seconds"], v["chunks_per_s"]] for k, v in result["ingest"].items()]))
    result["nearest_similarity_quartiles"] = (np.percentile(true_sims, [25, 50, 75]).tolist()
                                             if len(true_sims) else [])
    path = C.write_results(f"store_hnsw-{args.n}", result)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
