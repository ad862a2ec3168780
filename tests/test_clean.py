"""Paragraphs, sections, boilerplate and metadata, checked on the real corpus and on made-up pages."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.ingest.clean import _segment, analyse, find_date, find_symbols

DOCS = Path(__file__).resolve().parent.parent / "docs_raw"
GA = "GA-12734-political-declaration.txt"
GA76 = "GA-76-high-level-meeting-2021-part3.txt"
SG = "SG-SM-22926-secretary-general-remarks.txt"
CROSS = "cross-regional-statement-technology-trafficking.txt"
HEARING = "hearing-summary-2025-06-30.txt"
ALL = [GA, GA76, SG, CROSS, HEARING]


def read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def paragraphs(name: str) -> tuple[str, list[str], list, dict]:
    text = read(name)
    ps, meta = analyse(text, "txt")
    return text, [text[p.start:p.end] for p in ps], list(ps), meta


@pytest.mark.parametrize("name", ALL)
def test_spans_are_trimmed_and_numbered(name):
    text, texts, ps, _ = paragraphs(name)
    assert ps, name
    assert [p.n for p in ps] == list(range(1, len(ps) + 1))
    for p, t in zip(ps, texts):
        assert t == t.strip() and t
        assert not t.lstrip().startswith("#"), "heading lines are not paragraphs"
    assert all(a.end <= b.start for a, b in zip(ps, ps[1:]))


CHROME = {
    CROSS: [
        "Get Full Government Meeting Transcripts, Videos, & Alerts Forever!",
        "This article was created by AI summarizing key points discussed.",
        "View the Full Meeting & All Its Details",
        "This article offers just a summary.",
        "Watch full, unedited meeting videos",
        "Search every word spoken in unlimited transcripts",
        "AI summaries & real-time alerts (all government levels)",
        "Permanent access to expanding government content",
        "Access Full Meeting",
        "30-day money-back guarantee",
    ],
    GA76: [
        "Preview Language",
        "Available Languages: Original, Arabic, Chinese, English, French, Russian, Spanish",
        "Six Official",
        "Other Formats",
        "For further details please see SOURCE below.",
        "Parent ID",
        "Asset ID",
    ],
    GA: ["Complete Live Blog coverage of today's meeting can be found here .",
         "For information media. Not an official record."],
    SG: ["For information media. Not an official record."],
}


@pytest.mark.parametrize("name", list(CHROME))
def test_no_chrome_line_survives(name):
    text, texts, _, _ = paragraphs(name)
    for line in CHROME[name]:
        assert line in text  # the chrome is still in the text: offsets stay valid
        assert not any(line in t for t in texts), line


# (first content paragraph, last content paragraph) of each file, by their opening words
CONTENT = {
    GA: ("With human trafficking rapidly expanding", '"Trafficking for the purpose of forced criminality'),
    GA76: ("The international community must speed up", "The General Assembly will reconvene at 10 a.m."),
    SG: ("I thank the President of the General Assembly", "Human trafficking is a global crime"),
    CROSS: ("An unidentified representative delivering", "The statement cautioned that trafficking"),
    HEARING: ("The President of the General Assembly convened", "H.E. Mr. Jonibek Hikmat"),
}


@pytest.mark.parametrize("name", ALL)
def test_first_and_last_content_paragraphs_survive(name):
    text, texts, _, _ = paragraphs(name)
    first, last = CONTENT[name]
    for opening in (first, last):
        line = next(ln for ln in text.splitlines() if ln.startswith(opening))
        assert line in texts, opening
    assert texts[-1].startswith(last)


def test_headline_and_metadata_lines_are_kept():
    _, texts, _, _ = paragraphs(GA)
    assert texts[:3] == ["Eightieth Session,", "48th Meeting (AM & PM)", "GA/12734"]
    assert texts[3].startswith("General Assembly Adopts Political Declaration")
    _, texts, _, _ = paragraphs(GA76)
    assert "23-Nov-2021 03:36:34" in texts
    assert any(t.startswith("Coordinated approach to human trafficking") for t in texts)
    _, texts, _, _ = paragraphs(CROSS)
    assert "November 24, 2025 | United Nations, Federal" in texts
    assert sum(t.startswith("Cross-regional statement urges") for t in texts) == 1  # repeat dropped


def test_sentence_after_tail_chrome_is_kept():
    text = read(SG) + "\n\nA new closing paragraph about maritime trafficking routes in 2026.\n\nShare Article\n"
    ps, _ = analyse(text, "txt")
    texts = [text[p.start:p.end] for p in ps]
    assert texts[-1] == "A new closing paragraph about maritime trafficking routes in 2026."
    assert "For information media. Not an official record." not in texts


def test_core_paragraphs_are_never_touched():
    # "As you translate your new ..." addresses the reader, but sits inside the core
    _, texts, _, _ = paragraphs(SG)
    assert any(t.startswith("As you translate your new Political Declaration") for t in texts)


def test_markdown_headings_set_sections():
    text, texts, ps, _ = paragraphs(HEARING)

    def section(opening: str) -> str | None:
        return next(p.section for t, p in zip(texts, ps) if t.startswith(opening))

    assert section("The President of the General Assembly convened") == "Introduction"
    assert section("H.E. Philemon Yang, President") == "Opening segment"
    assert section("Participants emphasised the rapidly").startswith(
        "2. Address the dangers of the misuse of technology")
    # a section is its heading path: the markup puts "#### Closing remarks" under "# 8. Enhance ..."
    assert section("H.E. Mr. Jonibek Hikmat") == (
        "8. Enhance global, regional and national co-ordination in the response to trafficking in persons"
        " › Closing remarks")
    # a heading of the same or a higher level ends the deeper ones ("# 2." after "### Key Messages")
    assert section("Participants emphasised the rapidly").startswith("2. Address")
    assert ps[0].section is None  # the title precedes every heading
    assert not any("**" in (p.section or "") or "#" in (p.section or "") for p in ps)


def test_title_case_lines_are_section_headings():
    _, texts, ps, _ = paragraphs(GA)
    assert "Role of New Technologies, Artificial Intelligence" not in texts

    def section(opening: str) -> str | None:
        return next(p.section for t, p in zip(texts, ps) if t.startswith(opening))

    assert section("The second panel focused") == "Role of New Technologies, Artificial Intelligence"
    assert section("Mira Sorvino") == "Focus on Survivors: ‘Hear Their Voices and Look into Their Eyes’"
    assert section("Karin Herrera") == "Organized Criminal Gangs Dominate Illegal Trade"
    assert section("With human trafficking rapidly") is None


def test_page_breaks_are_joined():
    text, texts, _, _ = paragraphs(HEARING)
    for a, b in [("over the past 15 years in", "shaping collective anti-trafficking efforts"),
                 ("intelligence to create", "child sexual abuse material."),
                 ("gender inequality and other", "causes. Participants stressed"),
                 ("root causes of trafficking such as poverty,", "reform global immigration systems"),
                 ("It was stressed that Member", "States should harmonise legal frameworks")]:
        joined = [t for t in texts if a in t]
        assert len(joined) == 1 and b in joined[0], a
        assert "\n\n" in joined[0]  # the span covers the blank lines between


def test_short_block_continued_in_lowercase_is_joined():
    text = "The meeting was held in\n\nthe main hall of the building.\n\nThe Second Paragraph"
    ps, _ = analyse(text, "txt")
    assert text[ps[0].start:ps[0].end] == "The meeting was held in\n\nthe main hall of the building."


EXPECTED_META = {
    GA: dict(date=None, symbol="GA/12734", body="General Assembly", references=("A/80/L.8",),
             title="General Assembly Adopts Political Declaration Reaffirming Global Resolve to End "
                   "Human Trafficking, ‘One of Humanity’s Gravest Crimes’"),
    GA76: dict(date="2021-11-23", symbol=None, body="General Assembly", references=("GA/12387",),
               title="(Part 3) General Assembly: High-level Meeting on the appraisal of the UN global plan "
                     "of action to combat trafficking in persons- Plenary Meeting, 76th Session"),
    SG: dict(date=None, symbol="SG/SM/22926", body="Secretary-General", references=(),
             title="Human Trafficking ‘Growing and Evolving’, Secretary-General Warns General Assembly, "
                   "Urging More Focus on Stronger Laws, Putting Victims at Centre of Policymaking"),
    CROSS: dict(date="2025-11-24", symbol=None, body=None, references=(),
                title="Cross-regional statement urges renewed global action on technology‑facilitated "
                      "trafficking in persons"),
    HEARING: dict(date="2025-06-30", symbol=None, body="General Assembly", references=("A/RES/79/286",)),
}


@pytest.mark.parametrize("name", ALL)
def test_corpus_metadata(name):
    _, _, _, meta = paragraphs(name)
    for key, want in EXPECTED_META[name].items():
        assert meta[key] == want, key
    if name == HEARING:
        assert meta["title"].startswith("Summary of the informal interactive multi-stakeholder hearing")


def test_made_up_web_page_chrome_is_general():
    long1 = ("The Committee met in New York to consider the report on migration, and several "
             "delegations said that the data showed a steady rise in the number of cases reported.")
    middle = ("One delegate said: you cannot click your way out of a crisis, so please read the "
              "report before you vote on it, and the Chair agreed with that view.")
    long2 = ("Delegates also asked for a clearer timetable, and the Chair promised a revised "
             "draft of the text before the end of the session in December.")
    page = "\n".join([
        "Skip to main content", "Menu", "", "Committee Reviews Migration Report", "",
        "12 March 2024", "Share this story", "", long1, "", "Interim Findings", "", middle, "",
        long2, "", "Thank you.", "", "Related Stories", "Subscribe to our newsletter for daily updates.",
        "Committee Reviews Migration Report", "© 2024 Example News. All rights reserved.",
    ])
    ps, meta = analyse(page, "md")
    texts = [page[p.start:p.end] for p in ps]
    assert texts == ["Committee Reviews Migration Report", "12 March 2024", long1, middle, long2, "Thank you."]
    assert ps[3].section == "Interim Findings"
    assert meta["title"] == "Committee Reviews Migration Report"
    assert meta["date"] == "2024-03-12"


def test_without_long_prose_nothing_is_dropped():
    text = "# Notes\n\nShort line one\n\nAnother short line"
    ps, meta = analyse(text, "md")
    assert [text[p.start:p.end] for p in ps] == ["Short line one", "Another short line"]
    assert meta["title"] == "Notes"


def test_crlf_and_hard_wrapped_markdown():
    lines = ["The General Assembly today adopted a resolution on the protection of",
             "migrant workers, after a debate in which many delegations stressed the",
             "importance of safe and regular pathways for migration and the role of",
             "regional organizations."]
    text = "# Migration\r\n\r\n" + "\r\n".join(lines) + "\r\n\r\nA second paragraph that is short.\r\n"
    ps, _ = analyse(text, "md")
    assert len(ps) == 2
    assert text[ps[0].start:ps[0].end] == "\r\n".join(lines)
    assert ps[0].section == "Migration"


def test_pdf_lines_are_joined_into_paragraphs():
    text = ("Annual Report\nThe Office recorded a rise in the number of cases, and the trend was\n"
            "strongest in regions hit by economic shocks.\n"
            "A second paragraph starts here and runs on for a while, long enough to\nwrap once.")
    ps, meta = analyse(text, "pdf")
    texts = [text[p.start:p.end] for p in ps]
    assert texts[0] == "Annual Report" and meta["title"] == "Annual Report"
    assert texts[1].startswith("The Office") and texts[1].endswith("economic shocks.")
    assert texts[2].endswith("wrap once.")


def test_find_symbols():
    text = ("Adopting A/80/L.8 (see A/RES/79/286, GA/12387.) and SG/SM/22926; A/HRC/59/L.1/Rev.1 "
            "and E/CN.15/2025/L.3; General Assembly resolution 78/1; not HIV/AIDS, 24/7 or UN/DESA.")
    assert find_symbols(text) == ["A/80/L.8", "A/RES/79/286", "GA/12387", "SG/SM/22926",
                                  "A/HRC/59/L.1/Rev.1", "E/CN.15/2025/L.3", "A/RES/78/1"]


@pytest.mark.parametrize("text,iso", [
    ("30 June 2025, United Nations Headquarters", "2025-06-30"),
    ("November 24, 2025 | United Nations", "2025-11-24"),
    ("23-Nov-2021 03:36:34", "2021-11-23"),
    ("Issued 2024-02-29 in Geneva", "2024-02-29"),
    ("on Wednesday, 24 November, to take action", None),
    ("31 February 2025", None),
])
def test_find_date(text, iso):
    assert find_date(text) == iso


def test_body_from_symbol_prefix():
    for sym, body in [("A/80/L.8", "General Assembly"), ("S/2024/5", "Security Council"),
                      ("E/2025/10", "Economic and Social Council"), ("SG/SM/1", "Secretary-General")]:
        text = f"{sym}\n\nSome Headline About a Meeting\n\n" + "The meeting went on for long hours " * 3 + "today."
        assert analyse(text, "txt")[1]["body"] == body, sym


def test_long_run_of_open_lines_joins_into_one_exact_paragraph():
    """Thousands of lines that each continue the last sentence join into one paragraph whose
    offsets span them all (the join keeps only a bounded tail while working: the whole span
    must still be cut at the end)."""
    lines = [f"lower case open line number {i} with some words" for i in range(3000)]
    text = "\n\n".join(lines) + "."
    paragraphs, _ = analyse(text, "txt")
    assert len(paragraphs) == 1
    p = paragraphs[0]
    assert (p.start, p.end) == (0, len(text))
    blocks = _segment(text, "txt")
    assert [b.text for b in blocks] == [text]
