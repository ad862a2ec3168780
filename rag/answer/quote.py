"""Quote mode: answer with the passages' own sentences, verbatim, with citations. No LLM.

Also the fallback when the LLM endpoint is down or times out. Each sentence of the retrieved
passages is scored against the question (0.6 * cosine + 0.4 * share of the question's terms);
the best few above a threshold are quoted in document order, otherwise the answer is the refusal.
"""

from __future__ import annotations

import re

from embeddings import Embedder
from rag.index.retrieve import relevance_scores
from rag.ingest.sentences import split_sentences
from rag.types import AnswerSentence, Citation, Document, Hit
from rag.answer.verify import Support
from rag.answer.candidates import sentences_of
from rag.answer.cite import CitationBook


def rank_sentences(question: str, hits: list[Hit], documents: dict[str, Document], embedder: Embedder):
    """All sentences of the hits (`candidates.sentences_of`: each once) as (score, hit index,
    start, end), best first."""
    cands = [(j, s, e, doc.text[s:e]) for j, s, e, doc in sentences_of(hits, documents)]
    if not cands:
        return []
    scores = relevance_scores(question, [c[3] for c in cands], embedder)
    scored = [(score, j, s, e) for (j, s, e, _), score in zip(cands, scores)]
    scored.sort(key=lambda x: -x[0])
    return scored


_REFERS_BACK = re.compile(r"\b(?:he|she|they|his|her|their|him|them)\b", re.I)


def quote_start(doc: Document, start: int, text: str) -> int:
    """Where a quote of the sentence at `start` begins: at the sentence before it, in the same
    paragraph, when the sentence refers back to someone ("... she said", "he noted ..."), so
    that the quote names who it is (a speaker, the authors); else at the sentence itself."""
    if not _REFERS_BACK.search(text):
        return start
    para = doc.paragraph_at(start)
    if para is None:
        return start
    before = split_sentences(doc.text, para.start, start)
    return before[-1][0] if before else start


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


def select_context(ranked: list, hits: list[Hit], documents: dict[str, Document], max_hits: int,
                   budget_words: int, margin: float | None = None) -> tuple[list[int], list[str]]:
    """What the LLM reads: the most relevant sentences (from `rank_sentences`) of the first
    `max_hits` hits, best first, until `budget_words` words are taken (the best one always is).
    Sentences scoring more than `margin` below the best are left out even when there is room:
    on the default suite's answerable questions a margin of 0.25 cut the median context from 76
    to 57 words and kept every asked-for fact that the 80 words held.

    Returns (hit indices, texts): the hits that gave a sentence, in retrieval order, each with
    its chosen sentences in document order. Prompt evaluation dominates the time to the first
    token on a CPU, so the budget is the latency knob (bench/answer_latency.py).
    """
    picked: dict[int, list[tuple[int, int]]] = {}
    used = 0
    best = next((r[0] for r in ranked if r[1] < max_hits), None)
    floor = best - margin if best is not None and margin is not None else float("-inf")
    for score, j, s, e in ranked:
        if j >= max_hits:
            continue
        if score < floor:
            break  # best first: the rest score lower still
        words = len(documents[hits[j].chunk.doc_id].text[s:e].split())
        if picked and used + words > budget_words:
            continue  # a shorter, less relevant sentence may still fit
        picked.setdefault(j, []).append((s, e))
        used += words
    order = sorted(picked)
    if not order and hits:  # no sentence long enough to rank: the best passage as it is
        return [0], [" ".join(hits[0].chunk.text.split()[:budget_words])]
    texts = []
    for j in order:
        doc = documents[hits[j].chunk.doc_id]
        texts.append(" ".join(" ".join(doc.text[s:e].split()) for s, e in sorted(picked[j])))
    return order, texts
