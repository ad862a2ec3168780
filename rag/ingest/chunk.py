"""Structure-aware chunking: sections, then paragraphs, then sentences, bounded in model tokens.

Every chunk is a contiguous span of `Document.text`, so `chunk.text == doc.text[start:end]`
and an answer can later quote an exact offset range. Chunks never cross a section heading.
Short paragraphs of one section are packed together up to the token limit; a paragraph too
long for one chunk is cut at sentence boundaries into windows that overlap by whole sentences.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, Sequence

from rag.ingest.sentences import split_sentences
from rag.types import Chunk, Document, Paragraph

TokenCounter = Callable[[Sequence[str]], list[int]]


@dataclass
class _Piece:
    """A unit the packer places: a whole paragraph or one sentence of a long paragraph."""

    start: int
    end: int
    tokens: int
    paragraph: int
    section: str | None


def chunk_id(doc_id: str, start: int, end: int) -> str:
    return hashlib.sha256(f"{doc_id}:{start}:{end}".encode()).hexdigest()[:16]


def chunk_document(
    doc: Document, count_tokens: TokenCounter, max_tokens: int = 200, overlap_tokens: int = 40
) -> list[Chunk]:
    """Cut one document into chunks. `count_tokens` counts model tokens for a batch of strings."""
    paras = list(doc.paragraphs)
    if not paras:
        return []
    para_tokens = count_tokens([doc.text[p.start : p.end] for p in paras])
    spans: list[tuple[list[_Piece], str | None]] = []
    group: list[_Piece] = []
    group_tokens = 0

    def flush():
        nonlocal group, group_tokens
        if group:
            spans.append((group, group[0].section))
        group, group_tokens = [], 0

    for p, n_tok in zip(paras, para_tokens):
        if group and (p.section != group[-1].section or group_tokens + n_tok > max_tokens):
            flush()
        if n_tok <= max_tokens:
            group.append(_Piece(p.start, p.end, n_tok, p.n, p.section))
            group_tokens += n_tok
            continue
        flush()
        for window in _split_long_paragraph(doc.text, p, count_tokens, max_tokens, overlap_tokens):
            spans.append((window, p.section))

    flush()
    chunks = []
    for ordinal, (pieces, section) in enumerate(spans):
        start, end = pieces[0].start, pieces[-1].end
        chunks.append(
            Chunk(
                id=chunk_id(doc.id, start, end),
                doc_id=doc.id,
                source=doc.source,
                text=doc.text[start:end],
                start=start,
                end=end,
                ordinal=ordinal,
                section=section,
                paragraph=pieces[0].paragraph,
                paragraph_end=pieces[-1].paragraph,
            )
        )
    return chunks


def _split_long_paragraph(
    text: str, p: Paragraph, count_tokens: TokenCounter, max_tokens: int, overlap_tokens: int
) -> list[list[_Piece]]:
    """Sentence windows of at most `max_tokens`, each starting with the previous one's tail."""
    sents = split_sentences(text, p.start, p.end) or [(p.start, p.end)]
    pieces: list[_Piece] = []
    for (s, e), n_tok in zip(sents, count_tokens([text[s:e] for s, e in sents])):
        if n_tok <= max_tokens:
            pieces.append(_Piece(s, e, n_tok, p.n, p.section))
        else:  # a run-on "sentence": cut at word boundaries
            pieces.extend(_split_words(text, s, e, count_tokens, max_tokens, p))
    windows: list[list[_Piece]] = []
    i = 0
    while i < len(pieces):
        window, used = [], 0
        j = i
        while j < len(pieces) and (not window or used + pieces[j].tokens <= max_tokens):
            window.append(pieces[j])
            used += pieces[j].tokens
            j += 1
        windows.append(window)
        if j >= len(pieces):
            break
        # step back over whole sentences worth at most `overlap_tokens`, but always advance
        back, k = 0, j
        while k - 1 > i and back + pieces[k - 1].tokens <= overlap_tokens:
            k -= 1
            back += pieces[k].tokens
        i = k
    return windows


def _split_words(text: str, s: int, e: int, count_tokens: TokenCounter, max_tokens: int, p: Paragraph):
    words = []
    pos = s
    for w in text[s:e].split():
        ws = text.index(w, pos)
        words.append((ws, ws + len(w)))
        pos = ws + len(w)
    counts = count_tokens([text[a:b] for a, b in words])
    out, cur, used = [], [], 0
    for (a, b), n in zip(words, counts):
        if cur and used + n > max_tokens:
            out.append(_Piece(cur[0][0], cur[-1][1], used, p.n, p.section))
            cur, used = [], 0
        cur.append((a, b))
        used += n
    if cur:
        out.append(_Piece(cur[0][0], cur[-1][1], used, p.n, p.section))
    return out


def index_text(chunk: Chunk, doc: Document) -> str:
    """What retrieval sees for a chunk: the document title and section give context to the passage."""
    head = doc.title
    if chunk.section and chunk.section != doc.title:
        head = f"{head} — {chunk.section}"
    return f"{head}\n{chunk.text}"
