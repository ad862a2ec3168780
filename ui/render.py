"""HTML for answers and cited passages. Pure functions: no Streamlit, everything escaped.

Every piece of text from a document, the model or the user goes through `esc`, which also
turns "$" into an entity so Streamlit's Markdown never reads an amount as LaTeX.
"""

from __future__ import annotations

import html
import re

from rag.types import Answer, Citation, Document

STAGES = {
    "rewriting": "Understanding the follow-up…",
    "retrieving": "Retrieving…",
    "judging": "Choosing the evidence that answers…",
    "generating": "Writing…",
    "verifying": "Checking citations…",
}

PASSAGE_MAX = 1200  # characters of context shown around a cited span (before + after)

CSS = """
<style>
.rag-answer {font-size: 1.02rem; line-height: 1.6;}
.rag-cite {display: inline-block; padding: 0 .3em; margin: 0 .05em; border-radius: .3em;
  background: #e8eefc; color: #1f4fb8; font-size: .8em; font-weight: 600; vertical-align: .15em;}
.rag-flagged {text-decoration: underline wavy #d9822b; text-underline-offset: .25em;}
.rag-unverified {display: inline-block; padding: 0 .3em; border-radius: .3em; background: #fff1e0;
  color: #9a4b00; font-size: .78em; font-weight: 600; vertical-align: .15em;}
.rag-draft {color: #6b7280; font-style: italic; line-height: 1.6;}
.rag-meta {color: #4b5563; font-size: .85rem; margin-bottom: .35rem;}
.rag-passage {border-left: 3px solid #c7d2fe; padding: .4rem .75rem; background: #f8fafc;
  font-size: .92rem; line-height: 1.55; border-radius: 0 .3rem .3rem 0;}
.rag-passage mark {background: #fde68a; padding: 0 .1em; border-radius: .15em;}
.rag-removed {text-decoration: line-through; color: #6b7280;}
.rag-evidence {font-size: .9rem; color: #374151; border-left: 3px solid #93c5fd; padding: .2rem .6rem; margin: .3rem 0;}
.rag-evidence ul {margin: .2rem 0 0 1rem; padding: 0;}
.rag-ev-head {font-weight: 600; color: #1f2937;}
.rag-ev-src {color: #6b7280; font-size: .8rem;}
.rag-stage {color: #4b5563; font-size: .92rem; display: flex; align-items: center; gap: .5rem;}
.rag-spinner {width: .85rem; height: .85rem; border: 2px solid #c7d2fe; border-top-color: #1f4fb8;
  border-radius: 50%; display: inline-block; animation: rag-spin .8s linear infinite;}
@keyframes rag-spin {to {transform: rotate(360deg);}}
</style>
"""


def esc(text: str | None) -> str:
    """HTML-escaped text on one line (whitespace collapsed), with "$" as an entity."""
    return html.escape(" ".join(str(text or "").split())).replace("$", "&#36;")


_MD = re.compile(r"([\\`*_\[\]<>#|$~])")


def md_escape(text: str | None) -> str:
    """Text shown literally inside Streamlit Markdown (labels, captions)."""
    return _MD.sub(r"\\\1", " ".join(str(text or "").split()))


def _with_marks(text: str, marks: str) -> str:
    """Markers go before the sentence's final full stop, as in the CLI ("… Parties [1].")."""
    if text and text[-1] in ".!?":
        return f"{esc(text[:-1])} {marks}{esc(text[-1])}"
    return f"{esc(text)} {marks}"


def answer_html(answer: Answer, turn: int) -> str:
    """The verified answer: each sentence with its [n] markers; flagged sentences marked."""
    titles = {c.n: c.title for c in answer.citations}
    parts = []
    for s in answer.sentences:
        if s.supported:
            marks = "".join(f'<span class="rag-cite" title="{esc(titles.get(n, ""))}">[{n}]</span>'
                            for n in s.citations)
            parts.append(_with_marks(s.text, marks))
        else:
            mark = f'<span class="rag-unverified" title="{esc(s.reason)}">[unverified]</span>'
            parts.append(f'<span class="rag-flagged" title="{esc(s.reason)}">{_with_marks(s.text, mark)}</span>')
    body = " ".join(parts) if parts else esc(answer.answer)
    return f'<div class="rag-answer" data-turn="{turn}">{body}</div>'


def evidence_html(quotes: list[dict], stage: str, turn: int) -> str:
    """The evidence as soon as it is known: the best-matching sentences (stage 'ranked'), then
    the ones the judge found to answer (stage 'chosen'), each with its document and paragraph."""
    head = "Best-matching passages" if stage == "ranked" else "Evidence that answers"
    items = []
    for q in quotes:
        where = " · ".join(str(x) for x in (q.get("symbol") or q.get("title"), q.get("date")) if x)
        para = f" ¶{q['paragraph']}" if q.get("paragraph") else ""
        items.append(f'<li><q>{esc(q["text"])}</q> <span class="rag-ev-src">{esc(where + para)}</span></li>')
    return (f'<div class="rag-evidence" data-stage="{esc(stage)}" data-turn="{turn}">'
            f'<div class="rag-ev-head">{esc(head)}</div><ul>{"".join(items)}</ul></div>')


def draft_html(text: str, turn: int) -> str:
    """The model's text as it streams in, before verification (shown greyed, with a cursor)."""
    return f'<div class="rag-draft" data-turn="{turn}">{esc(text)} ▌</div>'


def citation_meta(c: Citation) -> str:
    """Symbol · date · § section · ¶ paragraph (plain text)."""
    where = []
    if c.section:
        where.append(f"§ {' '.join(c.section.split())}")
    if c.paragraph:
        where.append(f"¶ {c.paragraph}")
    return " · ".join(x for x in (c.symbol, c.date, ", ".join(where)) if x)


def citation_label(c: Citation, width: int = 90) -> str:
    """The expander label: "[n] Title — meta" (Markdown-escaped, title shortened)."""
    title = " ".join(c.title.split())
    if len(title) > width:
        title = title[: width - 1].rsplit(" ", 1)[0] + "…"
    meta = citation_meta(c)
    return md_escape(f"[{c.n}] {title}" + (f" — {meta}" if meta else ""))


def passage(doc: Document | None, c: Citation, limit: int = PASSAGE_MAX) -> dict:
    """The paragraph(s) around a cited span, split into before / quote / after.

    Falls back to the quote alone when the document is no longer indexed. Long paragraphs
    are cut to about `limit` characters of context, at word boundaries.
    """
    if doc is None or not (0 <= c.start < c.end <= len(doc.text)):
        return {"before": "", "quote": c.quote, "after": "", "cut_before": False, "cut_after": False,
                "found": False}
    first = doc.paragraph_at(c.start)
    last = doc.paragraph_at(max(c.start, c.end - 1))
    a = first.start if first else max(0, c.start - limit // 2)
    b = last.end if last else min(len(doc.text), c.end + limit // 2)
    a, b = min(a, c.start), max(b, c.end)
    half = limit // 2
    cut_before = c.start - a > half
    cut_after = b - c.end > half
    if cut_before:  # start at a word boundary about `half` characters before the quote
        a = c.start - half
        space = doc.text.find(" ", a, c.start)
        a = space + 1 if space != -1 else a
    if cut_after:
        b = c.end + half
        space = doc.text.rfind(" ", c.end, b)
        b = space if space > c.end else b
    return {"before": doc.text[a : c.start], "quote": doc.text[c.start : c.end], "after": doc.text[c.end : b],
            "cut_before": cut_before, "cut_after": cut_after, "found": True}


def passage_html(p: dict, n: int) -> str:
    """The passage with the cited span in <mark>, everything escaped."""
    before = ("… " if p["cut_before"] else "") + esc(p["before"])
    after = esc(p["after"]) + (" …" if p["cut_after"] else "")
    sep_b = " " if p["before"][-1:].isspace() else ""
    sep_a = " " if p["after"][:1].isspace() else ""
    return (f'<div class="rag-passage" data-cite="{n}">{before}{sep_b}<mark>{esc(p["quote"])}</mark>'
            f'{sep_a}{after}</div>')


def source_line(c: Citation) -> str:
    return f"{c.source}, characters {c.start}–{c.end}"
