"""Hybrid retrieval: BM25 and dense rankings fused, near-duplicates collapsed, filters applied,
then the chunk holding the best-matching sentence pulled in.

Fusion is reciprocal rank fusion by default (robust, needs no score calibration); the
distribution-based score fusion (DBSF) alternative is kept because it is measured side by side
in bench/retrieval_quality.py.

Chunks are ranked whole, so a chunk whose one answering sentence sits among sentences about
other things ranks below chunks that merely repeat the question's setting words ("Who chaired
the closing session of the review conference?": the chair's sentence shares a paragraph with the
session's topics). So the sentences of the next chunks of the fused ranking (down to
`sentence_pool`) are scored one by one, as the answer stage scores its candidates
(`relevance_scores`), and the chunk holding the best of them is added after the k.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Literal, Protocol

import numpy as np

from embeddings import Embedder, get_embedder
from rag.index import Index, LoadedIndex
from rag.index.lexical import content_terms
from rag.ingest.sentences import split_sentences
from rag.settings import Settings
from rag.types import Hit, SearchFilter

Mode = Literal["hybrid", "bm25", "dense"]


class Retriever(Protocol):
    def search(self, query: str, k: int | None = None, flt: SearchFilter | None = None) -> list[Hit]:
        """The k most relevant passages for a query, best first."""
        ...


def rrf(rankings: list[np.ndarray], k: int = 60) -> dict[int, float]:
    """Reciprocal rank fusion: sum of 1/(k + rank) over the rankings that contain an item."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, idx in enumerate(ranking, start=1):
            fused[int(idx)] = fused.get(int(idx), 0.0) + 1.0 / (k + rank)
    return fused


def dbsf(results: list[tuple[np.ndarray, np.ndarray]]) -> dict[int, float]:
    """Distribution-based score fusion: scores scaled by mean ± 3 std of each list, then summed."""
    fused: dict[int, float] = {}
    for ids, scores in results:
        if len(ids) == 0:
            continue
        mu, sd = float(np.mean(scores)), float(np.std(scores)) or 1.0
        lo, hi = mu - 3 * sd, mu + 3 * sd
        for idx, s in zip(ids, scores):
            fused[int(idx)] = fused.get(int(idx), 0.0) + (float(s) - lo) / (hi - lo)
    return fused


def relevance_scores(question: str, texts: list[str], embedder: Embedder,
                     contexts: list[str] | None = None, query_vector: np.ndarray | None = None) -> list[float]:
    """How well each text matches the question: 0.6 * cosine + 0.4 * share of the question's
    content terms it holds (the score sentences are pulled in by here, and that quote mode and
    the candidates of rag/answer rank by). With `contexts` (one per text), a term may be held by
    the text or by its context. `query_vector`: the question's embedding, when already made."""
    if not texts:
        return []
    contexts = contexts or [""] * len(texts)
    if query_vector is None:
        vecs = embedder.embed([question] + list(texts))
        query_vector, vecs = vecs[0], vecs[1:]
    else:
        vecs = embedder.embed(list(texts))
    cos = vecs @ query_vector
    q_terms = content_terms(question)
    out = []
    for text, context, c in zip(texts, contexts, cos):
        held = content_terms(text) | content_terms(context)
        cover = len(q_terms & held) / len(q_terms) if q_terms else 0.0
        out.append(0.6 * float(c) + 0.4 * cover)
    return out


_TOKEN = re.compile(r"\w+")


def _shingles(text: str, n: int = 3) -> set[tuple[str, ...]]:
    words = _TOKEN.findall(text.lower())
    if len(words) < n:
        return {tuple(words)}
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def near_duplicate(a: set, b: set, threshold: float) -> bool:
    """True when the smaller passage is mostly contained in the larger (shingle containment)."""
    if not a or not b:
        return False
    return len(a & b) / min(len(a), len(b)) >= threshold


class HybridRetriever:
    """Search one index version; `mode` selects hybrid or a single retriever (for benchmarks)."""

    def __init__(self, settings: Settings, index: LoadedIndex | None = None, embedder: Embedder | None = None,
                 mode: Mode = "hybrid"):
        self.settings = settings
        self._index = index
        self._embedder = embedder
        self.mode = mode

    @property
    def index(self) -> LoadedIndex:
        """The live version of the configured store (directory or PostgreSQL), loaded on first use."""
        if self._index is None:
            self._index = Index.load(self.settings)
        return self._index

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder(self.settings.embedding_model)
        return self._embedder

    def search(self, query: str, k: int | None = None, flt: SearchFilter | None = None) -> list[Hit]:
        k = k or self.settings.k
        index = self.index
        mask = index.allowed_mask(flt)
        n_cand = max(self.settings.candidates, k * 3)
        results: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        qvec = self.embedder.embed_query(query) if self.mode in ("hybrid", "dense") else None
        if qvec is not None:
            results["dense"] = index.dense(qvec, n_cand, mask)
        if self.mode in ("hybrid", "bm25"):
            results["bm25"] = index.lexical(query, n_cand, mask)
        if self.mode == "hybrid":
            if self.settings.fusion == "rrf":
                fused = rrf([ids for ids, _ in results.values()], self.settings.rrf_k)
            else:
                fused = dbsf(list(results.values()))
        else:
            ids, scores = next(iter(results.values()))
            fused = {int(i): float(s) for i, s in zip(ids, scores)}
        ranks = {name: {int(i): r for r, i in enumerate(ids, start=1)} for name, (ids, _) in results.items()}
        order = sorted(fused, key=lambda i: -fused[i])
        pool = self.settings.sentence_pool if self.mode == "hybrid" and self.settings.on("sentence_pull") else 0
        hits = self._collapse(order, fused, ranks, max(k, pool))
        if len(hits) <= k:
            return hits
        return hits[:k] + self._best_sentence(query, qvec, hits[k:])

    def _best_sentence(self, query: str, qvec: np.ndarray, rest: list[Hit]) -> list[Hit]:
        """[the hit of `rest` holding the sentence that best matches the query], its ranks noting
        "sentence": 1; [] when `rest` has no sentence."""
        where, texts = [], []
        for j, h in enumerate(rest):
            text = h.chunk.text
            for a, b in split_sentences(text):
                where.append(j)
                texts.append(" ".join(text[a:b].split()))
        if not texts:
            return []
        scores = relevance_scores(query, texts, self.embedder, query_vector=qvec)
        best = rest[where[int(np.argmax(scores))]]
        return [replace(best, ranks={**best.ranks, "sentence": 1})]

    def _collapse(self, order: list[int], fused: dict[int, float], ranks: dict, k: int) -> list[Hit]:
        index = self.index
        kept: list[Hit] = []
        kept_sh: list[set] = []
        chunks: dict = {}
        batch = max(2 * k, 16)  # fetched together: one round trip for a PostgreSQL store
        for pos, i in enumerate(order):
            if i not in chunks:
                chunks |= index.chunk_map(order[pos : pos + batch])
            chunk = chunks.get(i)
            if chunk is None:  # collected since this version was loaded (keep_versions=1)
                continue
            sh = _shingles(chunk.text)
            if any(near_duplicate(sh, other, self.settings.dedupe_threshold) for other in kept_sh):
                continue
            doc = index.documents.get(chunk.doc_id)
            kept.append(
                Hit(
                    chunk=chunk,
                    score=fused[i],
                    title=doc.title if doc else "",
                    date=doc.date if doc else None,
                    symbol=doc.symbol if doc else None,
                    ranks={name: r[i] for name, r in ranks.items() if i in r},
                )
            )
            kept_sh.append(sh)
            if len(kept) >= k:
                break
        return kept
