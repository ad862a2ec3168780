"""Ingest throughput in chunks per second, on the same SciFact chunks for every contender.

What it measures: the first `--docs` SciFact abstracts (default 2000) are chunked once with the
project's chunker (`rag.ingest.chunk.chunk_document` + `index_text`), then:
  (a) project ingest   `rag.ingest.index_documents` end to end (chunk + embed + write FAISS, BM25,
                       manifest to a fresh temporary index), once per embedder;
  (b) plain ST encode  `SentenceTransformer.encode(texts, batch_size=B)` on the same index
                       texts, at B = 16 and at sentence-transformers' default 32: the faster of
                       the two is the float model's own speed limit, the baseline for every ratio;
  (c) int8 raw embed   the project's int8 ONNX embedder `.embed(texts)` alone;
  (d) LangChain        `HuggingFaceEmbeddings(model_name=<local model dir>)` +
                       `FAISS.from_documents` on the same texts (LangChain's defaults).
Every model is loaded and warmed up on one small batch before timing; load times are reported
separately. Contenders run round-robin `--repeats` times so background load hits all of them
alike; the table shows the median (and the min-max spread) of chunks/s.

How to read it: "ratio vs (b)" above 1 means faster than plain sentence-transformers. The goal
is project ingest >= 0.9x (b) and faster than (d); the verdict lines say met / not met for each
embedder (the project default is minilm, embedded in batches of RAG_EMBED_BATCH_SIZE=16).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import _common as C


def prepare(n_docs: int, log):
    from embeddings.base import count_tokens
    from rag.ingest.chunk import chunk_document, index_text
    from rag.settings import Settings

    s = Settings(home=C.CACHE / "unused")
    docs = C.scifact_documents(n_docs)
    t0 = time.perf_counter()
    by_id = {d.id: d for d in docs}
    chunks = [c for d in docs for c in chunk_document(d, count_tokens, s.chunk_tokens, s.chunk_overlap_tokens)]
    texts = [index_text(c, by_id[c.doc_id]) for c in chunks]
    chunk_secs = time.perf_counter() - t0
    tokens = count_tokens(texts)
    log(f"{len(docs)} documents -> {len(texts)} chunks in {chunk_secs:.2f}s "
        f"(mean {statistics.mean(tokens):.0f} tokens, max {max(tokens)})")
    return docs, texts, {"documents": len(docs), "chunks": len(texts), "chunking_seconds": chunk_secs,
                         "mean_tokens": statistics.mean(tokens), "max_tokens": max(tokens)}


def contenders(docs, texts, log) -> tuple[dict, dict]:
    """name -> zero-argument callable that does the timed work; and the load times."""
    from embeddings import get_embedder
    from embeddings.base import minilm_dir
    from rag.ingest import index_documents
    from rag.settings import Settings

    loads = {}
    warm = texts[:16]

    def timed_load(name, fn):
        t0 = time.perf_counter()
        obj = fn()
        loads[name] = time.perf_counter() - t0
        return obj

    emb_f = get_embedder("minilm")
    emb_q = get_embedder("minilm-int8")
    timed_load("project minilm (load + warm-up)", lambda: emb_f.embed(warm))
    timed_load("project minilm-int8 (load + warm-up)", lambda: emb_q.embed(warm))

    from sentence_transformers import SentenceTransformer

    st = timed_load("plain SentenceTransformer (load)", lambda: SentenceTransformer(str(minilm_dir()), device="cpu"))
    st.encode(warm, batch_size=64)

    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document as LCDocument
    from langchain_huggingface import HuggingFaceEmbeddings

    lc_emb = timed_load("LangChain HuggingFaceEmbeddings (load)",
                        lambda: HuggingFaceEmbeddings(model_name=str(minilm_dir()), model_kwargs={"device": "cpu"}))
    lc_emb.embed_documents(warm)
    lc_docs = [LCDocument(page_content=t) for t in texts]
    log("load times: " + ", ".join(f"{k} {v:.1f}s" for k, v in loads.items()))
    log(f"torch threads: {__import__('torch').get_num_threads()}; ST max_seq_length {st.max_seq_length}")

    def project(name, emb):
        def run():
            with tempfile.TemporaryDirectory(prefix="bench-ingest-") as home:
                index_documents(docs, Settings(home=home, embedding_model=name), embedder=emb)
        return run

    log(f"project embed batch size (RAG_EMBED_BATCH_SIZE): {Settings(home=C.CACHE / 'unused').embed_batch_size}")

    return {
        "(a) project ingest, minilm": project("minilm", emb_f),
        "(a) project ingest, minilm-int8": project("minilm-int8", emb_q),
        "(b) plain ST encode (bs 16)": lambda: st.encode(texts, batch_size=16),
        "(b) plain ST encode (bs 32)": lambda: st.encode(texts, batch_size=32),
        "(c) int8 ONNX raw embed()": lambda: emb_q.embed(texts, batch_size=16),
        "(d) LangChain HF + FAISS": lambda: FAISS.from_documents(lc_docs, lc_emb),
    }, loads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=2000, help="first N SciFact documents (default 2000)")
    ap.add_argument("--repeats", type=int, default=2, help="round-robin repetitions (default 2)")
    args = ap.parse_args()
    log = lambda msg: print(msg, flush=True)  # noqa: E731

    info = C.machine()
    docs, texts, facts = prepare(args.docs, log)
    runs, loads = contenders(docs, texts, log)
    secs: dict[str, list[float]] = {name: [] for name in runs}
    loadavg = []
    for rep in range(args.repeats):
        for name, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            secs[name].append(time.perf_counter() - t0)
            log(f"  round {rep + 1}: {name:34s} {secs[name][-1]:6.1f}s  "
                f"{len(texts) / secs[name][-1]:6.1f} chunks/s  load avg {C.load_average()[0]}")
        loadavg.append(C.load_average())

    n = len(texts)
    rate = {k: n / statistics.median(v) for k, v in secs.items()}
    base = max(rate["(b) plain ST encode (bs 16)"], rate["(b) plain ST encode (bs 32)"])
    lc = rate["(d) LangChain HF + FAISS"]
    rows = [[k, f"{rate[k]:.1f}", f"{n / max(v):.1f}-{n / min(v):.1f}", f"{rate[k] / base:.2f}x",
             f"{rate[k] / lc:.2f}x"] for k, v in secs.items()]
    print(f"\n{facts['documents']} SciFact documents, {n} chunks (mean {facts['mean_tokens']:.0f} tokens), "
          f"median of {args.repeats} round-robin runs\n")
    print(C.table(["contender", "chunks/s", "min-max", "vs best (b)", "vs (d)"], rows))
    print()
    goals = {}
    for emb in ("minilm", "minilm-int8"):
        r = rate[f"(a) project ingest, {emb}"]
        goals[emb] = {"ratio_vs_b": r / base, "ge_0.9x_b": r >= 0.9 * base, "ratio_vs_d": r / lc, "faster_than_d": r > lc}
        g = goals[emb]
        print(f"project ingest ({emb}): {g['ratio_vs_b']:.2f}x (b) -> >=0.9x {'MET' if g['ge_0.9x_b'] else 'NOT MET'}; "
              f"{g['ratio_vs_d']:.2f}x (d) -> faster than LangChain {'MET' if g['faster_than_d'] else 'NOT MET'}")
    path = C.write_results("ingest_throughput", {
        "machine": info, "data": facts, "repeats": args.repeats, "load_seconds": loads, "seconds": secs,
        "chunks_per_second_median": rate, "goals": goals, "load_average_per_round": loadavg})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
