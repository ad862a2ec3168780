"""Candidates: the sentences of the retrieved passages that may answer the question, ranked.

Retrieval returns chunks; the answer is usually one sentence inside one of them, and a chunk
that merely repeats the question's setting words can outrank the chunk holding it. So every
sentence of every retrieved chunk is scored on its own against the question (0.6 * cosine +
0.4 * share of the question's content terms, held by the sentence or its paragraph's opening),
and the judge then reads the best few.

Each candidate carries its paragraph's opening sentence as `context`: in meeting records and
papers alike, who is speaking or what is being measured is often said once, at the start of a
paragraph ("The representative of X said ...", "In this cohort study ..."), and a sentence such
as "She called for 30 billion" cannot be attributed without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from embeddings import Embedder
from rag.index.retrieve import relevance_scores
from rag.ingest.clean import short_path
from rag.ingest.sentences import split_sentences
from rag.types import Document, Hit

MIN_WORDS = 4
_HEADING_WORDS = 15  # a line this short without a full stop is a heading or a label, not a statement


@dataclass(frozen=True)
class Candidate:
    """One sentence of a retrieved passage: where it is, its score, and its paragraph's opening."""

    score: float
    hit: int  # index into the hits
    start: int  # offsets into the document text
    end: int
    text: str
    context: str = ""  # the paragraph's first sentence, when this is not it

    def as_tuple(self) -> tuple[float, int, int, int]:
        """(score, hit, start, end): the shape quote mode and select_context take."""
        return (self.score, self.hit, self.start, self.end)


def _paragraph_opening(doc: Document, start: int, headings: bool = True) -> str:
    """What a sentence is read with: its section's last headings (what it is about; unless
    `headings` is False), then its paragraph's first sentence when it is not that one (who is
    speaking, what is measured)."""
    para = doc.paragraph_at(start)
    if para is None:
        return ""
    heading = short_path(para.section) if headings else ""
    first = split_sentences(doc.text, para.start, para.end)
    if not first or first[0][0] >= start:
        return f"{heading}." if heading else ""  # the sentence is the paragraph's first
    s, e = first[0]
    opening = " ".join(doc.text[s:e].split())
    return f"{heading}. {opening}" if heading else opening


def _statement(doc: Document, start: int, text: str) -> bool:
    """A sentence of the content: inside a content paragraph (the loader leaves page furniture
    out of `doc.paragraphs`), and not a short line without a full stop (a heading or label)."""
    if doc.paragraphs and doc.paragraph_at(start) is None:
        return False
    t = text.strip()
    return t[-1:] in ".!?\"”’)" or len(t.split()) > _HEADING_WORDS


def sentences_of(hits: list[Hit], documents: dict[str, Document],
                 keep: Callable[[Document, int, str], bool] | None = None) -> list[tuple[int, int, int, Document]]:
    """(hit index, start, end, document) of every sentence of at least MIN_WORDS words of the
    hits that `keep(doc, start, text)` keeps, in hit order: the sentences that the candidates and
    the model's context (quote.rank_sentences) are ranked from. Overlapping chunks (windows of a
    long paragraph share sentences) give a sentence once, under the first hit that holds it: the
    same sentence twice in the model's context spends its word budget on a repeat and weighs that
    sentence double."""
    seen: set[tuple[str, int]] = set()
    out = []
    for j, h in enumerate(hits):
        doc = documents[h.chunk.doc_id]
        for s, e in split_sentences(doc.text, h.chunk.start, h.chunk.end):
            text = doc.text[s:e]
            if len(text.split()) >= MIN_WORDS and (doc.id, s) not in seen and (keep is None or keep(doc, s, text)):
                seen.add((doc.id, s))
                out.append((j, s, e, doc))
    return out


def rank(question: str, hits: list[Hit], documents: dict[str, Document], embedder: Embedder,
         on=lambda step: True) -> list[Candidate]:
    """All statements (`sentences_of` the hits, headings and labels left out) of the hits, best
    first. `on(step)`: whether an optional step runs (Settings.on)."""
    found = [(j, s, e, " ".join(doc.text[s:e].split()), _paragraph_opening(doc, s, on("headings")))
             for j, s, e, doc in sentences_of(hits, documents, keep=_statement)]
    if not found:
        return []
    scores = relevance_scores(question, [f[3] for f in found], embedder, [f[4] for f in found])
    out = [Candidate(score, j, s, e, text, ctx) for (j, s, e, text, ctx), score in zip(found, scores)]
    out.sort(key=lambda c: -c.score)
    return out
