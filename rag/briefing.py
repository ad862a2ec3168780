"""A briefing: several answers exported as one Markdown or DOCX document with one reference list.

Each answer cites its own sources as [1], [2]...; in a briefing the numbers are reassigned
across the whole document, so [3] means the same passage wherever it appears, and a passage
cited by two answers gets one number. The reference list gives, per number, the document's
title, symbol, date, section and paragraph, its source path and the exact span quoted.

Answers are re-rendered from their verified sentences rather than by rewriting markers in the
answer text: a quoted sentence may itself contain "[1]" (a footnote in the source), which must
not be renumbered. Sentences the verifier removed are not exported; flagged ones keep their
"[unverified]" mark.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date

from rag.types import Answer, Citation

DEFAULT_TITLE = "Briefing"


@dataclass(frozen=True)
class Reference:
    """One entry of the briefing's reference list."""

    n: int
    citation: Citation

    def location(self) -> str:
        """Section and paragraph, e.g. "§ Recommendations, ¶ 12" (empty when unknown)."""
        c = self.citation
        parts = []
        if c.section:
            parts.append(f"§ {c.section}")
        if c.paragraph:
            parts.append(f"¶ {c.paragraph}")
        return ", ".join(parts)

    def meta(self) -> str:
        """Symbol, date and location joined with " · "."""
        c = self.citation
        return " · ".join(x for x in (c.symbol, c.date, self.location()) if x)


@dataclass(frozen=True)
class Item:
    """One question and its answer, as sentences with briefing-wide citation numbers."""

    question: str
    sentences: tuple[tuple[str, tuple[int, ...], bool], ...]  # (text, numbers, supported)
    refused: bool
    text: str  # the answer as the user saw it (used when there are no sentences)
    notice: str | None


def renumber(answers: list[Answer]) -> tuple[list[Item], list[Reference]]:
    """Items with citation numbers reassigned across all answers, and the reference list.

    Numbers follow first appearance; two citations of the same span of the same document
    (same doc_id, start and end) share one number.
    """
    refs: list[Reference] = []
    by_span: dict[tuple[str, int, int], int] = {}
    items: list[Item] = []
    for answer in answers:
        local: dict[int, int] = {}
        cites = {c.n: c for c in answer.citations}
        sentences = []
        for s in answer.sentences:
            numbers = []
            for n in s.citations:
                if n not in local:
                    c = cites.get(n)
                    if c is None:  # a marker without a citation cannot be checked: drop it
                        continue
                    key = (c.doc_id, c.start, c.end)
                    if key not in by_span:
                        by_span[key] = len(refs) + 1
                        refs.append(Reference(by_span[key], c))
                    local[n] = by_span[key]
                numbers.append(local[n])
            sentences.append((s.text, tuple(numbers), s.supported))
        items.append(Item(answer.question, tuple(sentences), answer.refused, answer.answer, answer.notice))
    return items, refs


def _sentence(text: str, numbers: tuple[int, ...], supported: bool, mark) -> str:
    """A sentence with its markers before the final full stop, as the answer showed it."""
    marks = "".join(mark(n) for n in numbers) if supported else "[unverified]"
    if text and text[-1] in ".!?":
        return f"{text[:-1]} {marks}{text[-1]}"
    return f"{text} {marks}"


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|$])")


def _md(text: str) -> str:
    """Text escaped so Markdown shows it literally (no emphasis, links or HTML)."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def _answer_text(item: Item, escape=lambda s: s) -> str:
    if item.refused or not item.sentences:
        return escape(item.text)
    return " ".join(_sentence(escape(t), nums, ok, lambda n: f"[{n}]") for t, nums, ok in item.sentences)


def _intro(n: int, collection: str | None) -> str:
    source = f" From the collection “{collection}”." if collection else ""
    return (f"{n} question{'s' if n != 1 else ''}, {date.today().isoformat()}.{source} "
            "Every sentence cites the numbered passage that states it; the references quote it.")


def to_markdown(answers: list[Answer], title: str = DEFAULT_TITLE, collection: str | None = None) -> str:
    """The briefing as Markdown: a section per question, then the numbered references. `collection`:
    the collection the answers were written from, named under the title."""
    items, refs = renumber(answers)
    out = [f"# {_md(title)}", "", f"_{_md(_intro(len(items), collection))}_", ""]
    for i, item in enumerate(items, start=1):
        out += [f"## {i}. {_md(item.question)}", "", _answer_text(item, _md), ""]
        if item.notice:
            out += [f"> Note: {_md(item.notice)}", ""]
    if refs:
        out += ["## References", ""]
        for r in refs:
            c = r.citation
            meta = r.meta()
            out.append(f"{r.n}. **{_md(c.title)}**" + (f" — {_md(meta)}" if meta else "")
                       + f". Source: `{c.source}`, characters {c.start}–{c.end}.  ")
            out.append(f"   > “{_md(c.quote)}”")
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def to_docx(answers: list[Answer], title: str = DEFAULT_TITLE, collection: str | None = None) -> bytes:
    """The briefing as a Word document (.docx bytes), same content and numbering as Markdown."""
    from docx import Document as DocxDocument
    from docx.shared import Pt, RGBColor

    items, refs = renumber(answers)
    doc = DocxDocument()
    doc.core_properties.title = title
    doc.add_heading(title, level=0)
    intro = doc.add_paragraph(_intro(len(items), collection))
    intro.runs[0].italic = True
    for i, item in enumerate(items, start=1):
        doc.add_heading(f"{i}. {item.question}", level=2)
        p = doc.add_paragraph()
        if item.refused or not item.sentences:
            p.add_run(item.text).italic = item.refused
        else:
            for j, (text, numbers, ok) in enumerate(item.sentences):
                body, end = (text[:-1], text[-1]) if text and text[-1] in ".!?" else (text, "")
                p.add_run(("" if j == 0 else " ") + body + " ")
                if ok:
                    run = p.add_run("".join(f"[{n}]" for n in numbers))
                    run.bold = True
                else:
                    run = p.add_run("[unverified]")
                    run.font.color.rgb = RGBColor(0xB0, 0x40, 0x00)
                p.add_run(end)
        if item.notice:
            note = doc.add_paragraph()
            note.add_run("Note: ").bold = True
            note.add_run(item.notice).italic = True
    if refs:
        doc.add_heading("References", level=1)
        for r in refs:
            c = r.citation
            p = doc.add_paragraph()
            p.add_run(f"[{r.n}] ").bold = True
            p.add_run(c.title).bold = True
            meta = r.meta()
            if meta:
                p.add_run(f" — {meta}")
            p.add_run(f". Source: {c.source}, characters {c.start}–{c.end}.")
            q = doc.add_paragraph()
            q.paragraph_format.left_indent = Pt(18)
            q.add_run(f"“{' '.join(c.quote.split())}”").italic = True
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()

