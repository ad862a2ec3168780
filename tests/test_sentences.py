"""Sentence spans on real UN prose: abbreviations, numbers, symbols and quotes must not split."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.ingest.sentences import split_sentences

DOCS = Path(__file__).resolve().parent.parent / "docs_raw"


def sentences(text: str, start: int = 0, end: int | None = None) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text, start, end)]


def corpus_line(name: str, opening: str) -> str:
    text = (DOCS / name).read_text(encoding="utf-8")
    return next(ln for ln in text.splitlines() if ln.startswith(opening))


def test_corpus_paragraph_with_several_sentences():
    line = corpus_line("SG-SM-22926-secretary-general-remarks.txt", "Second, we must deepen collaboration.")
    got = sentences(line)
    assert got[0] == "Second, we must deepen collaboration."
    assert got[1].startswith("This includes strengthening and facilitating the exchange")
    assert len(got) == 3 and "".join(got).replace(" ", "") == line.replace(" ", "")


def test_corpus_titles_and_initials_do_not_split():
    line = corpus_line("hearing-summary-2025-06-30.txt", "H.E. Mr. Jonibek Hikmat")
    got = sentences(line)
    assert got[0].startswith("H.E. Mr. Jonibek Hikmat, Permanent Representative of the Republic of Tajikistan")
    assert all(not s.endswith(("H.E.", "Mr.", "Ms.")) for s in got)
    line = corpus_line("hearing-summary-2025-06-30.txt", "The panel discussion was moderated by Ms. Delphine")
    assert sentences(line)[0].startswith("The panel discussion was moderated by Ms. Delphine Schantz")


def test_corpus_am_pm_does_not_split():
    line = corpus_line("GA-76-high-level-meeting-2021-part3.txt", "The General Assembly will reconvene at 10 a.m.")
    assert sentences(line) == [line]


def test_corpus_closing_quote_after_period():
    line = corpus_line("GA-12734-political-declaration.txt", '"As this crime evolves, our responses must keep pace,"')
    got = sentences(line)
    assert got[0] == '"As this crime evolves, our responses must keep pace," he said.'
    line = corpus_line("GA-12734-political-declaration.txt", '"Human trafficking is succeeding because')
    got = sentences(line)
    assert got[0] == '"Human trafficking is succeeding because Governments are moving too slowly," also ' \
                     'added Shamere McKenzie, Chief Executive Officer of Sun Gate Foundation and a survivor of trafficking.'
    assert got[1].startswith('"My voice had been stolen [...] my w')  # "[...] my" is not a boundary


def test_curly_closing_quote():
    text = "She called it “one of humanity’s gravest crimes.” Next, the Assembly voted."
    assert sentences(text) == ["She called it “one of humanity’s gravest crimes.”", "Next, the Assembly voted."]


def test_symbols_and_decimals_do_not_split():
    line = corpus_line("GA-12734-political-declaration.txt", "Adopting the resolution titled")
    assert "(document A/80/L.8)" in sentences(line)[0]
    text = "Growth was 3.5 per cent in 2024. See A/RES/79/286. The vote was 120 to 3."
    assert sentences(text) == ["Growth was 3.5 per cent in 2024.", "See A/RES/79/286.", "The vote was 120 to 3."]


@pytest.mark.parametrize("text", [
    "Mr. Smith and Mrs. Lee met Dr. Patel.",
    "The U.N. Secretary-General spoke at 3 p.m. today.",
    "They cited resolution No. 5 and the St. Petersburg meeting.",
    "Some States, e.g. Kenya, i.e. a member, agreed.",
    "Delegates from Chile vs. Peru, etc. They agreed.",
    "The report by J. Smith was adopted.",
    "H.E. Ms. Maria Michail thanked the President.",
])
def test_abbreviations_do_not_split(text):
    assert sentences(text) == [text]


def test_question_exclamation_and_ellipsis():
    assert sentences("Why now? Because it is urgent! Wait… Then go.") == [
        "Why now?", "Because it is urgent!", "Wait…", "Then go."]


def test_no_number_after_no_is_a_boundary():
    assert sentences("The answer was No. Then they left.") == ["The answer was No.", "Then they left."]


def test_offsets_are_absolute_and_trimmed():
    text = "IGNORED. \n  First sentence here.  Second one.\n\nIGNORED TOO."
    start = text.index("First") - 2
    end = text.index("IGNORED TOO")
    spans = split_sentences(text, start, end)
    assert [text[s:e] for s, e in spans] == ["First sentence here.", "Second one."]
    assert spans[0][0] == text.index("First")
    assert split_sentences(text, 5, 5) == []
    assert split_sentences("   ") == []


def test_page_break_inside_a_sentence_is_not_a_boundary_but_a_heading_is():
    text = "It was stressed that Member\n\nStates should harmonise laws.\n\n### Closing\n\nThe end."
    assert sentences(text) == ["It was stressed that Member\n\nStates should harmonise laws.", "### Closing", "The end."]


def test_every_corpus_paragraph_is_covered():
    from rag.ingest.clean import analyse

    for path in sorted(DOCS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        for p in analyse(text, "txt")[0]:
            spans = split_sentences(text, p.start, p.end)
            assert spans and spans[0][0] == p.start and spans[-1][1] == p.end
            assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
            assert all(text[s:e] == text[s:e].strip() for s, e in spans)
