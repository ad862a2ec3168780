"""Retrieval quality on SciFact (BEIR train split): document-level nDCG@10 and Recall@100.

What it measures: the full SciFact corpus (5,183 abstracts) is indexed once per embedder through
the project's own `rag.ingest.index_documents` (cached under bench/results/cache/), then every
train query with qrels is searched with `rag.index.retrieve.HybridRetriever` in four modes: BM25 only,
dense only, hybrid with reciprocal rank fusion (RRF) and hybrid with distribution-based score
fusion (DBSF). Retrieval returns chunks; a document's score is the maximum over its chunks, so
the document ranking is the order in which documents first appear among the top chunks
(`--k-chunks`, default 300, enough to rank ~100 documents).

How to read it: higher is better for both metrics. nDCG@10 uses BEIR/trec_eval conventions
(linear gains from the qrels grade, log2 discount). "Hybrid beats both parts" compares the hybrid
mean against the better of BM25 and dense on the same run; the paired bootstrap 95% interval of
that difference says whether the gap is more than noise. The int8 check asks whether the
quantised model is within 0.005 nDCG@10 of the float model in each mode.
"""

from __future__ import annotations

import argparse
import random
import time

import _common as C

MODES = [("bm25", "bm25", "rrf"), ("dense", "dense", "rrf"), ("hybrid-rrf", "hybrid", "rrf"),
         ("hybrid-dbsf", "hybrid", "dbsf")]


def evaluate(embedder_name: str, queries: dict, qrels: dict, k_chunks: int, log) -> dict:
    from embeddings import get_embedder
    from embeddings.memo import Memoized
    from rag.index import Index
    from rag.index.retrieve import HybridRetriever

    index = Index.load(C.scifact_settings(embedder_name))
    embedder = Memoized(get_embedder(embedder_name))  # each query is embedded once, shared by the modes
    out = {}
    for label, mode, fusion in MODES:
        retriever = HybridRetriever(C.scifact_settings(embedder_name, fusion=fusion), index=index,
                                    embedder=embedder, mode=mode)
        t0 = time.perf_counter()
        per_query = {}
        for qid, text in queries.items():
            docs = C.doc_ranking(retriever.search(text, k_chunks))
            per_query[qid] = {"ndcg@10": C.ndcg_at_k(docs, qrels[qid], 10),
                              "recall@100": C.recall_at_k(docs, qrels[qid], 100), "docs_ranked": len(docs)}
        n = len(per_query)
        out[label] = {
            "ndcg@10": sum(r["ndcg@10"] for r in per_query.values()) / n,
            "recall@100": sum(r["recall@100"] for r in per_query.values()) / n,
            "mean_docs_ranked": sum(r["docs_ranked"] for r in per_query.values()) / n,
            "queries_under_100_docs": sum(r["docs_ranked"] < 100 for r in per_query.values()),
            "seconds": time.perf_counter() - t0,
            "per_query": per_query,
        }
        log(f"  {embedder_name:12s} {label:12s} nDCG@10={out[label]['ndcg@10']:.4f} "
            f"R@100={out[label]['recall@100']:.4f} ({out[label]['seconds']:.0f}s)")
    return {"chunks": len(index.chunks), "documents": len(index.documents), "modes": out}


def paired_bootstrap(a: list[float], b: list[float], rounds: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% interval of mean(a - b) over queries, by resampling queries."""
    rng = random.Random(seed)
    d = [x - y for x, y in zip(a, b)]
    means = sorted(sum(d[rng.randrange(len(d))] for _ in d) / len(d) for _ in range(rounds))
    return means[int(0.025 * rounds)], means[int(0.975 * rounds) - 1]


def verdicts(results: dict) -> dict:
    out = {}
    for emb, r in results.items():
        m = r["modes"]
        qids = list(m["bm25"]["per_query"])
        for fused in ("hybrid-rrf", "hybrid-dbsf"):
            for metric in ("ndcg@10", "recall@100"):
                best = max(("bm25", "dense"), key=lambda x: m[x][metric])
                diff = m[fused][metric] - m[best][metric]
                lo, hi = paired_bootstrap([m[fused]["per_query"][q][metric] for q in qids],
                                          [m[best]["per_query"][q][metric] for q in qids])
                out[f"{emb} {fused} {metric}"] = {
                    "beats_both": m[fused][metric] > max(m["bm25"][metric], m["dense"][metric]),
                    "best_single": best, "diff_vs_best_single": diff, "ci95": [lo, hi]}
    if {"minilm", "minilm-int8"} <= results.keys():
        for label, _, _ in MODES:
            d = results["minilm-int8"]["modes"][label]["ndcg@10"] - results["minilm"]["modes"][label]["ndcg@10"]
            out[f"int8 vs float {label} ndcg@10"] = {"diff": d, "within_0.005": abs(d) <= 0.005}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=None, help="evaluate only the first N train queries (quick run)")
    ap.add_argument("--embedders", nargs="+", default=["minilm", "minilm-int8"], choices=["minilm", "minilm-int8"])
    ap.add_argument("--k-chunks", type=int, default=300, help="chunks retrieved per query (default 300)")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached SciFact indexes")
    args = ap.parse_args()
    log = lambda msg: print(msg, flush=True)  # noqa: E731

    C.metrics_self_check()
    log("metric self-check passed (hand-computed nDCG/recall cases)")
    info = C.machine()
    queries, qrels = C.scifact_train_queries()
    if args.limit:
        queries = dict(list(queries.items())[: args.limit])
        qrels = {q: qrels[q] for q in queries}
    builds = {e: C.ensure_scifact_index(e, rebuild=args.rebuild, log=log) for e in args.embedders}
    results = {e: evaluate(e, queries, qrels, args.k_chunks, log) for e in args.embedders}
    v = verdicts(results)

    rows = [[e, label, r["modes"][label]["ndcg@10"], r["modes"][label]["recall@100"],
             round(r["modes"][label]["mean_docs_ranked"], 1)]
            for e, r in results.items() for label, _, _ in MODES]
    print(f"\nSciFact train, {len(queries)} queries, {next(iter(results.values()))['chunks']} chunks "
          f"per index, doc score = max over chunks, {args.k_chunks} chunks retrieved per query\n")
    print(C.table(["embedder", "retriever", "nDCG@10", "Recall@100", "docs ranked"], rows))
    print()
    for key, val in v.items():
        if "beats_both" in val:
            ci = val["ci95"]
            print(f"{key}: {'BEATS' if val['beats_both'] else 'does NOT beat'} both parts "
                  f"(vs {val['best_single']}: {val['diff_vs_best_single']:+.4f}, 95% CI [{ci[0]:+.4f}, {ci[1]:+.4f}])")
        else:
            print(f"{key}: {val['diff']:+.4f} -> {'within' if val['within_0.005'] else 'NOT within'} 0.005")
    for r in results.values():  # per-query rows are long: keep them out of the summary but in the file
        for m in r["modes"].values():
            m["per_query"] = {q: {"ndcg@10": round(x["ndcg@10"], 5), "recall@100": round(x["recall@100"], 5)}
                              for q, x in m["per_query"].items()}
    path = C.write_results("retrieval_quality", {
        "machine": info, "queries": len(queries), "k_chunks": args.k_chunks, "builds": builds,
        "results": results, "verdicts": v})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
