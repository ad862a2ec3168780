"""Quote mode: answer with the passages' own sentences, verbatim, with citations. No LLM.

Also the fallback when the LLM endpoint is down or times out. Each sentence of the retrieved
passages is scored against the question (0.6 * cosine + 0.4 * share of the question's terms);
the best few above a threshold are quoted in document order, otherwise the answer is the refusal.
"""

from __future__ import annotations

from embeddings import Embedder
from rag.lexical import content_terms
from rag.sentences import split_sentences
from rag.types import AnswerSentence, Citation, Document, Hit
from rag.verify import Support
from rag.citations import CitationBook


def rank_sentences(question: str, hits: list[Hit], documents: dict[str, Document], embedder: Embedder):
    """All sentences of the hits as (score, hit index, start, end), best first."""
    cands = []
    for j, h in enumerate(hits):
        doc = documents[h.chunk.doc_id]
        for s, e in split_sentences(doc.text, h.chunk.start, h.chunk.end):
            if len(doc.text[s:e].split()) >= 4:
                cands.append((j, s, e, doc.text[s:e]))
    if not cands:
        return []
    vecs = embedder.embed([question] + [c[3] for c in cands])
    cos = vecs[1:] @ vecs[0]
    q_terms = content_terms(question)
    scored = []
    for (j, s, e, text), c in zip(cands, cos):
        cover = len(q_terms & content_terms(text)) / len(q_terms) if q_terms else 0.0
        scored.append((0.6 * float(c) + 0.4 * cover, j, s, e))
    scored.sort(key=lambda x: -x[0])
    return scored


def quote_answer(ranked: list, hits: list[Hit], documents: dict[str, Document], threshold: float,
                 max_sentences: int = 3) -> tuple[list[AnswerSentence], list[Citation]]:
    """The best supporting sentences (from `rank_sentences`), quoted, or nothing below the threshold."""
    if not ranked or ranked[0][0] < threshold:
        return [], []
    top = ranked[0][0]
    chosen = [r for r in ranked[: max_sentences * 3] if r[0] >= max(threshold, top - 0.12)][:max_sentences]
    chosen.sort(key=lambda r: (r[1], r[2]))
    book = CitationBook(hits, documents)
    sentences = []
    for score, j, s, e in chosen:
        text = " ".join(documents[hits[j].chunk.doc_id].text[s:e].split())
        n = book.cite(j, Support(True, score, s, e))
        sentences.append(AnswerSentence(f"“{text}”", (n,), True, score, "quoted verbatim"))
    return sentences, book.citations


def compress(ranked: list, hits: list[Hit], documents: dict[str, Document], per_hit: int) -> list[str]:
    """For each hit, its `per_hit` most relevant sentences in document order: what the LLM reads."""
    picked: dict[int, list[tuple[int, int]]] = {}
    for _, j, s, e in ranked:
        if len(picked.setdefault(j, [])) < per_hit:
            picked[j].append((s, e))
    out = []
    for j, h in enumerate(hits):
        doc = documents[h.chunk.doc_id]
        spans = sorted(picked.get(j, [])) or [(h.chunk.start, h.chunk.end)]
        out.append(" ".join(" ".join(doc.text[s:e].split()) for s, e in spans))
    return out
