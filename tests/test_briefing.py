"""Briefing export: citation numbers shared across answers, reference list, Markdown and DOCX."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from docx import Document as DocxDocument

from rag.briefing import renumber, to_docx, to_markdown
from rag.llm.prompt import REFUSAL
from rag.types import Answer, AnswerSentence, Citation

ROOT = Path(__file__).resolve().parent.parent
GA = "docs_raw/GA-12734-political-declaration.txt"
HEARING = "docs_raw/hearing-summary-2025-06-30.txt"


def cite(n: int, source: str, needle: str, **meta) -> Citation:
    """A citation of the first occurrence of `needle` in a real corpus file (real offsets)."""
    text = (ROOT / source).read_text(encoding="utf-8")
    start = text.index(needle)
    return Citation(n=n, source=source, doc_id="id-" + Path(source).stem, chunk_id=f"c{n}",
                    title=meta.get("title", Path(source).stem), symbol=meta.get("symbol"),
                    date=meta.get("date"), section=meta.get("section"), paragraph=meta.get("paragraph"),
                    quote=needle, start=start, end=start + len(needle))


MEMBERS = cite(1, GA, "The 193-member organ committed to intensifying efforts", title="General Assembly Adopts "
               "Political Declaration", symbol="GA/12734", date="2025-11-24", paragraph=5)
HEARING_DATE = cite(2, HEARING, "30 June 2025, United Nations Headquarters, New York", title="Summary of the hearing",
                    date="2025-06-30", section="Introduction", paragraph=2)
RESOLUTION = cite(1, HEARING, "pursuant to General Assembly resolution 79/286", title="Summary of the hearing",
                  date="2025-06-30", section="Introduction", paragraph=4)


def answer(question: str, sentences: list[AnswerSentence], citations: list[Citation], **kw) -> Answer:
    text = " ".join(s.text for s in sentences)
    return Answer(question=question, answer=text, refused=False, mode="generate", model="test-model",
                  sentences=tuple(sentences), citations=tuple(citations), **kw)


def sent(text: str, *numbers: int, supported: bool = True, reason: str = "") -> AnswerSentence:
    return AnswerSentence(text=text, citations=tuple(numbers), supported=supported, reason=reason)


@pytest.fixture
def answers() -> list[Answer]:
    first = answer("Who adopted the declaration?", [
        sent("The 193-member General Assembly committed to intensify efforts.", 1),
        sent("The hearing took place on 30 June 2025 in New York.", 2),
    ], [MEMBERS, HEARING_DATE])
    # the second answer cites the resolution as [1] and the hearing date (same span) as [2]
    second = answer("Under which resolution was the hearing held?", [
        sent("It was held under resolution 79/286.", 1),
        sent("It took place on 30 June 2025.", 2),
    ], [RESOLUTION, cite(2, HEARING, "30 June 2025, United Nations Headquarters, New York",
                         title="Summary of the hearing", date="2025-06-30", section="Introduction", paragraph=2)])
    refused = Answer(question="What is the capital of Mars?", answer=REFUSAL, refused=True, mode="quote", model=None)
    return [first, second, refused]


def test_renumbering_is_shared_across_the_briefing(answers):
    items, refs = renumber(answers)
    assert [r.n for r in refs] == [1, 2, 3]
    assert [r.citation.quote for r in refs] == [MEMBERS.quote, HEARING_DATE.quote, RESOLUTION.quote]
    # answer 2's [1] becomes [3]; its [2] is the same span as answer 1's [2] and keeps that number
    assert [nums for _, nums, _ in items[1].sentences] == [(3,), (2,)]


def test_markdown_has_renumbered_markers_and_reference_list(answers):
    md = to_markdown(answers, title="Trafficking briefing")
    assert md.startswith("# Trafficking briefing\n")
    assert "## 1. Who adopted the declaration?" in md
    assert "The 193-member General Assembly committed to intensify efforts [1]." in md
    assert "It was held under resolution 79/286 [3]. It took place on 30 June 2025 [2]." in md
    assert f"## 3. What is the capital of Mars?\n\n{REFUSAL}" in md
    refs = md.split("## References", 1)[1]
    entries = re.findall(r"^(\d+)\. \*\*(.+?)\*\*", refs, re.M)
    assert entries == [("1", "General Assembly Adopts Political Declaration"), ("2", "Summary of the hearing"),
                       ("3", "Summary of the hearing")]
    assert "GA/12734 · 2025-11-24 · ¶ 5" in refs
    assert "2025-06-30 · § Introduction, ¶ 2" in refs
    assert f"`{GA}`" in refs and f"characters {MEMBERS.start}–{MEMBERS.end}" in refs
    for c in (MEMBERS, HEARING_DATE, RESOLUTION):
        assert f"“{c.quote}”" in refs
    assert refs.count("“30 June 2025, United Nations Headquarters, New York”") == 1


def test_brackets_inside_a_quoted_sentence_are_not_renumbered():
    c = cite(1, GA, "The 193-member organ", title="GA")
    a = answer("q", [sent("“A footnote [7] stays as it is.”", 1)], [c])
    other = answer("p", [sent("Another sentence.", 1)], [cite(1, HEARING, "30 June 2025", title="H")])
    md = to_markdown([other, a])
    assert "“A footnote \\[7\\] stays as it is.” [2]" in md
    text = "\n".join(p.text for p in DocxDocument(io.BytesIO(to_docx([other, a]))).paragraphs)
    assert "“A footnote [7] stays as it is.” [2]" in text


def test_flagged_sentence_marked_and_removed_sentence_left_out():
    a = answer("q", [sent("Supported one.", 1), sent("A claim no source makes.", 1, supported=False,
                                                           reason="number 42 not in any source")],
               [MEMBERS], removed=(sent("A removed sentence.", 1, supported=False, reason="off topic"),))
    md = to_markdown([a])
    assert "Supported one [1]. A claim no source makes [unverified]." in md
    assert "removed sentence" not in md


def test_markdown_escapes_markup_in_text():
    c = cite(1, GA, "The 193-member organ", title="Costs *really* $5 <b>")
    md = to_markdown([answer("Is *this* a `link` [x](y)?", [sent("It costs $5 and *more*.", 1)], [c])],
                     title="A <script> title")
    assert "# A \\<script\\> title" in md
    assert "Is \\*this\\* a \\`link\\` \\[x\\](y)?" in md
    assert "It costs \\$5 and \\*more\\* [1]." in md
    assert "**Costs \\*really\\* \\$5 \\<b\\>**" in md


def test_notice_is_kept():
    a = answer("q", [sent("Quoted.", 1)], [MEMBERS], notice="The language model did not answer; quotes shown.")
    assert "> Note: The language model did not answer; quotes shown." in to_markdown([a])


def test_docx_reopens_with_questions_answers_and_quotes(answers):
    data = to_docx(answers, title="Trafficking briefing")
    assert data[:2] == b"PK"
    doc = DocxDocument(io.BytesIO(data))
    paras = [p.text for p in doc.paragraphs]
    assert doc.core_properties.title == "Trafficking briefing"
    assert paras[0] == "Trafficking briefing" and doc.paragraphs[0].style.name == "Title"
    headings = [p.text for p in doc.paragraphs if p.style.name.startswith("Heading")]
    assert headings == ["1. Who adopted the declaration?", "2. Under which resolution was the hearing held?",
                        "3. What is the capital of Mars?", "References"]
    text = "\n".join(paras)
    assert "It was held under resolution 79/286 [3]. It took place on 30 June 2025 [2]." in text
    assert REFUSAL in paras
    for c in (MEMBERS, HEARING_DATE, RESOLUTION):
        assert f"“{c.quote}”" in paras
    assert f"[1] General Assembly Adopts Political Declaration — GA/12734 · 2025-11-24 · ¶ 5. Source: {GA}" in text


def test_empty_briefing_is_valid():
    assert to_markdown([]).startswith("# Briefing\n")
    assert DocxDocument(io.BytesIO(to_docx([]))).paragraphs[0].text == "Briefing"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("libreoffice") is None, reason="libreoffice not installed")
def test_docx_opens_in_libreoffice(answers, tmp_path):
    """A word processor opens the file: LibreOffice converts it to PDF with the quotes intact."""
    from pypdf import PdfReader

    src = tmp_path / "briefing.docx"
    src.write_bytes(to_docx(answers, title="Trafficking briefing"))
    subprocess.run(["libreoffice", f"-env:UserInstallation=file://{tmp_path}/lo-profile", "--headless",
                    "--convert-to", "pdf", "--outdir", str(tmp_path), str(src)],
                   check=True, capture_output=True, timeout=180)
    text = " ".join("".join(p.extract_text() for p in PdfReader(tmp_path / "briefing.pdf").pages).split())
    assert "Trafficking briefing" in text
    assert "resolution 79/286 [3]" in text
    assert MEMBERS.quote in text
