"""BEIR-format retrieval benchmarks: corpus.jsonl, queries.jsonl, qrels/<split>.tsv.

The corpus is indexed through the project's own chunker, embedder and index writer (the
current settings), once per corpus file and settings fingerprint, in RAG_HOME/eval/beir/.
Every query with qrels is searched by each retriever (BM25, dense, hybrid); chunks are turned
into a document ranking by first appearance (a document scores as its best chunk), and scored
with nDCG@10 and Recall@100 (eval.metrics, BEIR conventions).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import time
from pathlib import Path
from typing import Callable

from eval.metrics import dedupe, mean, ndcg_at_k, recall_at_k
from rag.errors import RagError


def _read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        raise RagError(f"{path} is missing: a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/<split>.tsv.")
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise RagError(f"{path}:{n}: not valid JSON ({e.msg}).") from None
    return out


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    """query id -> {document id: grade}; the header line (query-id corpus-id score) is optional."""
    if not path.exists():
        splits = sorted(p.stem for p in path.parent.glob("*.tsv")) if path.parent.exists() else []
        raise RagError(f"No qrels at {path}. Splits available: {', '.join(splits) or 'none'} (use --split).")
    qrels: dict[str, dict[str, int]] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split("\t")
        if not line.strip() or (n == 1 and not parts[-1].strip().lstrip("-").isdigit()):
            continue
        if len(parts) < 3:
            raise RagError(f"{path}:{n}: expected query-id, corpus-id, score separated by tabs.")
        qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return qrels


def load_beir(path: Path, split: str = "train"):
    """(documents, queries with qrels, qrels) of a BEIR folder."""
    from rag.types import Document, Paragraph

    qrels = load_qrels(path / "qrels" / f"{split}.tsv")
    docs = []
    for r in _read_jsonl(path / "corpus.jsonl"):
        title, body = str(r.get("title") or "").strip(), str(r.get("text") or "").strip()
        text = f"{title}\n\n{body}" if title else body
        paras = ((Paragraph(1, 0, len(title)), Paragraph(2, len(title) + 2, len(text))) if title
                 else (Paragraph(1, 0, len(text)),))
        did = str(r["_id"])
        docs.append(Document(id=did, source=f"{path.name}/{did}", title=title or did, text=text, format="txt",
                             paragraphs=paras))
    queries = {str(r["_id"]): r["text"] for r in _read_jsonl(path / "queries.jsonl") if str(r["_id"]) in qrels}
    return docs, queries, {q: qrels[q] for q in queries}


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def ensure_index(path: Path, docs: list, settings, embedder, log: Callable[[str], None], progress: bool = False):
    """The benchmark corpus's index under RAG_HOME/eval/beir/, built on first use."""
    from rag.index import Index
    from rag.ingest import index_documents
    from rag.index.versions import IndexDir

    home = Path(settings.home) / "eval" / "beir" / f"{path.name}-{_file_hash(path / 'corpus.jsonl')}-{settings.index_fingerprint()}"
    # always a directory index of its own: a benchmark must never replace a shared (RAG_STORE_URL) index
    bench = settings.model_copy(update={"home": home, "store_url": None, "store_read_url": None})
    if IndexDir(bench.index_dir).current() is None:
        log(f"indexing {len(docs)} documents of {path.name} into {home} (once) ...")
        t0 = time.perf_counter()
        index_documents(docs, bench, embedder=embedder, progress=progress)
        log(f"indexed in {time.perf_counter() - t0:.0f} s")
    return Index.load(bench), bench


def run_beir(path: Path, settings, *, split: str = "train", limit: int | None = None,
             modes: tuple[str, ...] = ("bm25", "dense", "hybrid"), k_chunks: int = 300, embedder=None,
             log: Callable[[str], None] = lambda m: None, progress: bool = False) -> dict:
    """nDCG@10 and Recall@100 per retriever mode; saves the result JSON in RAG_HOME/eval/beir/."""
    from embeddings import get_embedder
    from rag.index.retrieve import HybridRetriever
    from rag.index.versions import write_atomic

    bad = [m for m in modes if m not in ("bm25", "dense", "hybrid")]
    if bad:
        raise RagError(f"Unknown retriever {', '.join(bad)}: use bm25, dense, hybrid.")
    path = Path(path)
    docs, queries, qrels = load_beir(path, split)
    if limit:
        queries = dict(list(queries.items())[:limit])
    embedder = embedder or get_embedder(settings.embedding_model)
    index, bench = ensure_index(path, docs, settings, embedder, log, progress=progress)
    result = {"dataset": path.name, "split": split, "queries": len(queries), "documents": len(index.documents),
              "chunks": len(index.chunks), "k_chunks": k_chunks, "embedding_model": index.manifest.get("model"),
              "fusion": settings.fusion, "created": datetime.datetime.now().isoformat(timespec="seconds"),
              "modes": {}}
    for mode in modes:
        retriever = HybridRetriever(bench, index=index, embedder=embedder, mode=mode)
        t0 = time.perf_counter()
        per = {}
        for qid, text in queries.items():
            ranked = dedupe(h.chunk.doc_id for h in retriever.search(text, k_chunks))
            per[qid] = {"ndcg@10": round(ndcg_at_k(ranked, qrels[qid], 10), 5),
                        "recall@100": round(recall_at_k(ranked, qrels[qid], 100), 5)}
        result["modes"][mode] = {"ndcg@10": mean(p["ndcg@10"] for p in per.values()),
                                 "recall@100": mean(p["recall@100"] for p in per.values()),
                                 "seconds": round(time.perf_counter() - t0, 1), "per_query": per}
        log(f"{mode:7s} nDCG@10={result['modes'][mode]['ndcg@10']:.4f} "
            f"Recall@100={result['modes'][mode]['recall@100']:.4f}")
    stem = Path(settings.home) / "eval" / "beir" / f"{path.name}-{split}-{time.strftime('%Y%m%dT%H%M%S')}"
    stem.parent.mkdir(parents=True, exist_ok=True)
    out, n = stem.with_suffix(".json"), 2
    while out.exists():
        out, n = stem.with_name(f"{stem.name}-{n}.json"), n + 1
    write_atomic(out, json.dumps(result, indent=1))
    result["path"] = str(out)
    return result
