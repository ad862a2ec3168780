"""Citations made by code: parse the model's markers, verify, repair, number and resolve them.

The model sees sources numbered 1..k and writes markers. Here each answer sentence is split
from its markers; markers outside 1..k are dropped; every sentence is checked against every
retrieved passage; a sentence keeps the cited sources that support it, or is re-cited to the
passage that supports it best ("repaired"), or is removed (or flagged, by setting) when no
passage supports it. A sentence that shares nothing with the question is removed, and an answer
that lacks the figure the question asks for is a refusal (rag/answer/relevance.py). Citation
numbers in the final answer are assigned by first appearance and each resolves to a document,
its metadata and the exact quoted span.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Iterable

from rag.llm.prompt import REFUSAL
from rag.answer.relevance import (OFF_TOPIC, REASON as MISSES_FIGURE, misses_figure, names_absent, off_topic,
                                  unnamed_reason)
from rag.ingest.clean import short_path
from rag.ingest.sentences import split_sentences
from rag.types import AnswerSentence, Citation, Document, Hit
from rag.answer.verify import EvidenceVerifier, Passage, Support

REPAIR_TRIES = 3  # passages tried, most similar first, for a sentence its own citation does not support
_MARKER = re.compile(r"\[\s*(?:sources?\s*)?(\d{1,2}(?:\s*(?:,|;|and|-|–)\s*\d{1,2})*)\s*\]|【(\d{1,2})】", re.I)
_PAREN_MARKER = re.compile(r"\(\s*(?:sources?\s*)?(\d)\s*\)", re.I)
_FILLER_TAIL = re.compile(
    r"[,;]?\s*\(?\b(?:as (?:stated|mentioned|noted|reported|shown|described|indicated) (?:in|by)|according to|see|from)"
    r"(?:\s+(?:the\s+)?sources?)?\s*\)?\s*([.!?]?)\s*$", re.I)
_FILLER_HEAD = re.compile(r"^(?:according to|as (?:stated|noted|mentioned) in|based on|from)\s*(?:the\s+)?"
                          r"(?:sources?|passages?|documents?)?\s*,?\s*", re.I)
_REFUSALS = re.compile(r"documents? do(?:es)? not say|sources? do(?:es)? not (?:say|contain|mention|provide|state)"
                       r"|no information (?:is|was)? ?(?:provided|given|available)|not (?:mentioned|stated|provided) in the sources"
                       # "The manufacturer ... was not specified [1]": a sentence about what the source
                       # leaves out, cited as if it were an answer (a refusal, so the judge may rescue)
                       r"|\b(?:is|are|was|were|been)\s+not\s+(?:specified|mentioned|stated)\b"
                       r"|\b(?:passages?|texts?|sources?|documents?|evidence|context)\s+(?:does|do|did)\s+not\s+"
                       r"(?:specify|mention|state|say|give|provide)\b",
                       re.I)


@dataclass
class Draft:
    """A generated sentence before verification: clean text and the source numbers it named."""

    text: str
    cited: list[int]
    dropped: list[int]


def _numbers(group: str) -> list[int]:
    out: list[int] = []
    for part in re.split(r"\s*(?:,|;|and)\s*", group):
        if re.fullmatch(r"\d+\s*[-–]\s*\d+", part):
            a, b = (int(x) for x in re.split(r"[-–]", part))
            out.extend(range(a, min(b, a + 10) + 1))
        elif part.strip().isdigit():
            out.append(int(part))
    return out


def is_refusal(text: str) -> bool:
    return bool(_REFUSALS.search(text)) or text.strip() == REFUSAL


def parse(raw: str, k: int) -> list[Draft]:
    """Split generated text into sentences with their source numbers (1..k); others are dropped."""
    drafts: list[Draft] = []
    for s, e in split_sentences(raw):
        piece = raw[s:e]
        found: list[int] = []
        for m in _MARKER.finditer(piece):
            found.extend(_numbers(m.group(1) or m.group(2)))
        text = _MARKER.sub("", piece)
        if not found:
            for m in _PAREN_MARKER.finditer(text):
                if 1 <= int(m.group(1)) <= k:
                    found.append(int(m.group(1)))
            text = _PAREN_MARKER.sub(lambda m: "" if 1 <= int(m.group(1)) <= k else m.group(0), text)
        text = _clean(text)
        if not re.search(r"\w", text):  # a bare marker after the full stop belongs to the previous sentence
            if drafts:
                drafts[-1].cited.extend(n for n in found if 1 <= n <= k and n not in drafts[-1].cited)
            continue
        valid = list(dict.fromkeys(n for n in found if 1 <= n <= k))
        drafts.append(Draft(text, valid, [n for n in found if not 1 <= n <= k]))
    return drafts


def _clean(text: str) -> str:
    text = re.sub(r"\s+([.,;:!?])", r"\1", " ".join(text.split()))
    text = _FILLER_TAIL.sub(lambda m: m.group(1) or ".", text).strip()
    text = _FILLER_HEAD.sub("", text).strip()
    if text and text[0].islower():
        text = text[0].upper() + text[1:]
    if text and text[-1] not in ".!?\"”’)":
        text += "."
    return text


def passage(doc: Document, start: int, end: int) -> Passage:
    """doc.text[start:end] as the verifier sees it: names and figures may also come from the
    document's title, symbol and date, and from the headings of its section (what it is about)."""
    para = doc.paragraph_at(start)
    heading = short_path(para.section) if para is not None else ""
    return Passage(doc.text, start, end, " ".join(x for x in (doc.title, doc.symbol, doc.date, heading) if x),
                   heading=heading)


def passages_for(hits: list[Hit], documents: dict[str, Document]) -> list[Passage]:
    return [passage(documents[h.chunk.doc_id], h.chunk.start, h.chunk.end) for h in hits]


class CitationBook:
    """Numbers citations by first use; one number per (document, quoted span)."""

    def __init__(self, hits: list[Hit], documents: dict[str, Document]):
        self.hits, self.documents = hits, documents
        self.citations: list[Citation] = []
        self._by_key: dict[tuple, int] = {}

    @classmethod
    def resume(cls, hits: list[Hit], documents: dict[str, Document], citations: list[Citation]) -> "CitationBook":
        """A book over `hits` that goes on numbering after `citations` (made over the same hits)."""
        book = cls(hits, documents)
        book.citations = list(citations)
        book._by_key = {(c.doc_id, c.start, c.end): c.n for c in citations}
        return book

    def cite(self, hit_index: int, support: Support) -> int:
        hit = self.hits[hit_index]
        key = (hit.chunk.doc_id, support.start, support.end)
        if key not in self._by_key:
            doc = self.documents[hit.chunk.doc_id]
            para = doc.paragraph_at(support.start)
            n = len(self.citations) + 1
            self.citations.append(Citation(
                n=n, source=doc.source, doc_id=doc.id, chunk_id=hit.chunk.id, title=doc.title,
                symbol=doc.symbol, date=doc.date, section=(para.section if para else hit.chunk.section),
                paragraph=(para.n if para else hit.chunk.paragraph), quote=doc.text[support.start : support.end],
                start=support.start, end=support.end,
            ))
            self._by_key[key] = n
        return self._by_key[key]


def verify_drafts(drafts: list[Draft], hits: list[Hit], documents: dict[str, Document],
                  verifier: EvidenceVerifier, policy: str = "remove", question: str = "",
                  passages: list[Passage] | None = None, figure_rule: bool = True, on=lambda step: True):
    """Verify and cite each draft sentence. Returns (kept sentences, removed sentences, citations).
    `question`: what was asked; its own figures and names may be repeated in the answer.
    `passages`: how the verifier sees each hit (default: its chunk, with the document's title).
    `figure_rule`: an answer without the figure the question asks for becomes a refusal (the
    evidence-first flow keeps such a partial answer and says what is missing instead).
    `on(step)`: whether an optional step of rag/answer/steps.py runs (Settings.on)."""
    drafts = [d for d in drafts if not is_refusal(d.text)]
    book = CitationBook(hits, documents)
    passages = passages if passages is not None else passages_for(hits, documents)
    kept: list[AnswerSentence] = []
    removed: list[AnswerSentence] = []
    for d in drafts:
        row: list[Support | None] = [None] * len(passages)

        def assess(js: Iterable[int]) -> None:
            """The evidence verdicts against passages `js`, computed when first needed: scoring a
            passage embeds all its windows, and most sentences are settled by the passages they cite."""
            todo = [j for j in js if row[j] is None]
            if todo:
                for j, sup in zip(todo, verifier.assess([d.text], [passages[j] for j in todo], question)[0]):
                    row[j] = sup

        def settle(j: int) -> Support:
            row[j] = verifier.resolve(d.text, passages[j], row[j])
            return row[j]

        def evidence(js: list[int]) -> list[str]:
            return [passages[j].text[row[j].start : row[j].end] for j in js]

        notes = [f"dropped marker [{n}]: no such source" for n in d.dropped]
        assess(n - 1 for n in d.cited)
        ok_cited = [n for n in d.cited if settle(n - 1).supported]
        j = None
        if not ok_cited and on("repair"):
            # another retrieved passage may support it: try the most similar of those stating its
            # figures and names (at most REPAIR_TRIES judge calls)
            assess(range(len(passages)))
            others = sorted((j for j in range(len(row)) if j + 1 not in d.cited and row[j].supported is not False),
                            key=lambda j: -row[j].score)[:REPAIR_TRIES]
            j = next((j for j in others if settle(j).supported), None)
        found = [n - 1 for n in ok_cited] or ([j] if j is not None else [])
        if found and on("off_topic") and off_topic(question, d.text, evidence(found)):
            why, score = OFF_TOPIC, max(row[f].score for f in found)
        elif ok_cited:
            bad = [n for n in d.cited if n not in ok_cited]
            if bad:
                notes.append("dropped " + ", ".join(f"[{n}]" for n in bad) + ": does not support the sentence")
            nums = tuple(book.cite(n - 1, row[n - 1]) for n in ok_cited)
            kept.append(AnswerSentence(d.text, nums, True, max(row[n - 1].score for n in ok_cited), "; ".join(notes)))
            continue
        elif j is not None:
            was = ", ".join(f"[{n}]" for n in d.cited) or "nothing"
            notes.append(f"repaired: cited {was}, supported by source {j + 1}")
            kept.append(AnswerSentence(d.text, (book.cite(j, row[j]),), True, row[j].score, "; ".join(notes)))
            continue
        else:
            if not d.cited:
                assess(range(len(passages)))
            look = [row[n - 1] for n in d.cited] or row
            best = max(look, key=lambda s: s.score) if look else None
            why = "; ".join(best.reasons) if best and best.reasons else "no source supports it"
            score = best.score if best else 0.0
        sentence = AnswerSentence(d.text, (), False, score, why)
        (kept if policy == "flag" else removed).append(sentence)
    # true and cited, but not an answer (see rag/answer/relevance.py): the question asks for a
    # figure and none is given; or it names what it asks about ("the Harbour Board's tide
    # tables") and no document the answer cites names it anywhere, titles included. The rescue's
    # candidates are held to the same names (rag/pipeline.py `eligible`); the years and ordinals
    # it also checks are left to the judge here, since a written sentence may answer about a year
    # its document puts another way ("from 2010 on" answers about 2015).
    why = None
    if figure_rule and on("figure_rule") and misses_figure(question, [s.text for s in kept if s.supported]):
        why = MISSES_FIGURE
    elif on("off_topic") and book.citations and (missing := names_not_in(
            question, (c.doc_id for c in book.citations), documents, names_only=True)):
        why = unnamed_reason(missing)
    if why is not None:
        kept, gone = withdraw(kept, why, policy)
        removed += gone
        book.citations.clear()
    return kept, removed, book.citations


def withdraw(sentences: list[AnswerSentence], why: str, policy: str = "remove"):
    """(sentences, removed): every supported sentence taken back for `why`, its citations with it;
    under the "flag" policy it stays in place, flagged, else it moves to the removed."""
    marked = [replace(s, citations=(), supported=False, reason=why) if s.supported else s for s in sentences]
    if policy == "flag":
        return marked, []
    return [s for s in sentences if not s.supported], [m for m, s in zip(marked, sentences) if s.supported]


def names_not_in(question: str, doc_ids: Iterable[str], documents: dict[str, Document],
                 names_only: bool = False) -> list[str]:
    """`names_absent` over these documents' titles, dates and texts (each document once): the
    names the question uses when none of them is in any of the documents (or, unless
    `names_only`, the ordinals or years it asks about that none states), else []."""
    return names_absent(question, (f"{documents[d].title}\n{documents[d].date or ''}\n{documents[d].text}"
                                   for d in dict.fromkeys(doc_ids)), names_only)


def render(sentences: list[AnswerSentence]) -> str:
    """Answer text with markers after each sentence; unsupported (flagged) ones marked [unverified]."""
    parts = []
    for s in sentences:
        marks = "".join(f"[{n}]" for n in s.citations) if s.supported else "[unverified]"
        body = s.text
        if s.supported and not s.citations:  # a note of the answer's own ("The documents do not give ...")
            parts.append(body)
            continue
        if body and body[-1] in ".!?":
            parts.append(f"{body[:-1]} {marks}{body[-1]}")
        else:
            parts.append(f"{body} {marks}")
    return " ".join(parts)
