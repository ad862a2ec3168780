"""Find the content paragraphs of an extracted text, its sections, and its metadata.

Nothing is deleted from the text: citations quote character offsets into it, so boilerplate
(web-page chrome such as subscription banners, language pickers and sales footers) is only
left out of the paragraph list. The chrome rule is general, in the spirit of jusText: the
*core* of a document runs from its first to its last long prose paragraph and is never
touched; only the head and tail zones outside it are screened, for lines that talk to the
reader or about the page (calls to action, "you", "please", "this article", "click") and
for short UI labels (few words, no sentence punctuation, no digits). In the tail, once one
chrome line is seen, the rest is footer: labels, prices and ids there ("30-day money-back
guarantee") go too, but a whole sentence not addressed to the reader is still content (a
paragraph appended after a press disclaimer must not vanish).

The UN press disclaimer "For information media. Not an official record." is treated as
chrome, by the same rule as "For further details please see SOURCE below.": it is a notice
addressed to the press about the medium, not part of what the document reports. It is
identical in every press release, so as a paragraph it would only add a near-duplicate
passage to every document, and the document's status is already recorded by its symbol
(GA/..., SG/SM/... are press-release series).
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

from rag.types import Paragraph

TERMINAL = ".!?…"
_CLOSERS = "\"'”’»)]"
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)?")
_HEADING = re.compile(r"^ {0,3}#{1,6}\s+\S")
_RULE = re.compile(r"^\s*(?:([-*_=~`])(?:\s*\1){2,}|\*+)\s*$")  # ---, ***, ```, ===
_LIST_ITEM = re.compile(r"^(?:[-*+•]\s|\d{1,3}[.)]\s)")
_WORD = re.compile(r"[^\W_][\w'’‑-]*")
_SMALL = {"a", "an", "the", "and", "or", "nor", "but", "of", "on", "in", "to", "for", "at", "by",
          "from", "with", "into", "as", "vs", "via", "per", "against", "over", "under", "upon"}

# --- chrome signals (zones outside the core only) ---------------------------------------
_CTA_VERBS = {"get", "unlock", "subscribe", "click", "tap", "read", "download", "follow", "sign",
              "join", "learn", "see", "explore", "discover", "try", "buy", "register", "log",
              "login", "email", "listen", "donate", "upgrade", "skip", "go", "save", "claim",
              "browse", "continue", "back", "like"}
# Verbs that are also nouns: imperative unless a preposition follows ("Report of the ...").
_CTA_NOUNS = {"view", "watch", "search", "access", "share", "start", "contact", "visit", "report",
              "print", "request", "order", "return", "support"}
_NOUN_NEXT = {"of", "to", "for", "on", "in", "and", "by", "at", "from", "with"}
_READER = re.compile(r"\b(?:you|your|yours|you[’']\w+|please)\b", re.I)
_MEDIUM = re.compile(
    r"\bthis (?:article|page|site|website|story|post|video|summary)\b|\bclick\b|\bfound here\b"
    r"|»|\bread more\b|\bsubscri(?:be|ption)\b|\bnewsletter\b|\bcookies?\b|\bsign (?:in|up)\b"
    r"|\blog ?in\b|\ball rights reserved\b|©|\bprivacy policy\b|\bterms of (?:use|service)\b"
    r"|^for (?:more |further |full |additional )?(?:information|details)\b"
    r"|\bnot an official record\b",
    re.I,
)

# --- metadata ---------------------------------------------------------------------------
_SYM_GROUP = r"(?:[A-Z0-9]+(?:\.[A-Z0-9]+)*|[A-Z][a-z]{1,4}\.\d+)"
SYMBOL_RE = re.compile(rf"(?<![\w/.\-])[A-Z]{{1,8}}(?:/{_SYM_GROUP})+(?![\w/])")
_MONTHS = {m: i + 1 for i, m in enumerate(
    "january february march april may june july august september october november december".split())}
_MON = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_DATES = (
    (re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?[\s\-/]+({_MON})[\s\-/,]+(\d{{4}})\b", re.I), "dmy"),
    (re.compile(rf"\b({_MON})\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I), "mdy"),
    (re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"), "ymd"),
)
_ORDINAL = (r"(?:\d+(?:st|nd|rd|th)|(?:\w+-)?(?:first|second|third|fourth|fifth|sixth|seventh|"
            r"eighth|ninth|tenth|eleventh|twelfth|\w+teenth|\w+ieth|hundredth))")
_SESSION = re.compile(rf"\b{_ORDINAL}\s+(?:session|meeting|plenary)\b", re.I)
_BODIES = (  # symbol prefix -> issuing body; longest prefix first
    ("A/HRC/", "Human Rights Council"), ("A/", "General Assembly"), ("GA/", "General Assembly"),
    ("S/", "Security Council"), ("SC/", "Security Council"), ("E/", "Economic and Social Council"),
    ("ECOSOC/", "Economic and Social Council"), ("SG/", "Secretary-General"),
    ("ST/", "Secretariat"), ("T/", "Trusteeship Council"), ("HRC/", "Human Rights Council"),
    ("ICJ/", "International Court of Justice"),
)
_RESOLUTION = re.compile(r"\b(General Assembly|Security Council) resolutions? (\d{1,4}/\d{1,4}|\d{3,4}(?= \(\d{4}\)))")
_ORGANS = re.compile(
    r"General Assembly|Security Council|Economic and Social Council|Human Rights Council"
    r"|Trusteeship Council|International Court of Justice|(?<![\w-])Secretary-General")


@dataclass
class _Block:
    """A paragraph candidate: one line, or several joined lines, of the text."""

    start: int
    end: int
    text: str
    heading: bool = False  # a markdown heading line
    gap_before: bool = True  # a blank line (or the start of text) precedes it
    gap_after: bool = True
    joined: bool = False
    kind: str = "para"  # para | heading | chrome


def _words(s: str) -> int:
    return len(_WORD.findall(s))


def _ends_sentence(s: str) -> bool:
    s = s.rstrip().rstrip(_CLOSERS).rstrip()
    return bool(s) and s[-1] in TERMINAL


def _is_title_case(s: str) -> bool:
    words = [w.strip("‘’'\"“”()[]") for w in s.split()]
    words = [w for w in words if w and w[0].isalpha()]
    if not words or not words[0][0].isupper():
        return False
    big = [w for w in words if w.lower() not in _SMALL]
    return bool(big) and sum(w[0].isupper() for w in big) >= 0.8 * len(big)


def clean_heading(s: str) -> str:
    """A heading line without its markdown markup: '### **Introduction**' -> 'Introduction'."""
    s = re.sub(r"^\s*#+\s*", "", s.strip())
    return re.sub(r"\s+", " ", s.replace("**", "").replace("__", "")).strip(" *_#")


PATH_SEP = " › "


def short_path(section: str | None, levels: int = 2, words: int = 12) -> str:
    """A section's heading path as labels show it: its last `levels` headings, each cut to
    `words` words (a function's signature can run to fifty)."""
    if not section:
        return ""
    parts = section.split(PATH_SEP)[-levels:]
    return PATH_SEP.join(" ".join(p.split()[:words]) + ("…" if len(p.split()) > words else "") for p in parts)


def heading_level(s: str) -> int:
    """A markdown heading's level (its number of '#'); 7, below every level, for a heading that is
    a title-case line of its own: it only ever replaces the previous such line."""
    m = re.match(r"^\s*(#{1,6})\s", s)
    return len(m.group(1)) if m else 7


def find_symbols(text: str) -> list[str]:
    """UN document symbols in `text` (slash-separated groups, at least one digit), in order.

    "General Assembly resolution 79/286" is how UN prose cites A/RES/79/286, so that form
    is returned under its symbol too (and likewise Security Council resolutions as S/RES/).
    """
    found = [(m.start(), m.group()) for m in SYMBOL_RE.finditer(text) if any(c.isdigit() for c in m.group())]
    for m in _RESOLUTION.finditer(text):
        prefix = "A/RES/" if m.group(1) == "General Assembly" else "S/RES/"
        found.append((m.start(2), prefix + m.group(2)))
    return list(dict.fromkeys(sym for _, sym in sorted(found)))


def find_date(text: str) -> str | None:
    """The first full date (day, month and year) stated in `text`, as ISO yyyy-mm-dd."""
    found = []
    for rx, order in _DATES:
        for m in rx.finditer(text):
            g = m.groups()
            try:
                if order == "ymd":
                    d = _dt.date(int(g[0]), int(g[1]), int(g[2]))
                else:
                    day, mon = (g[0], g[1]) if order == "dmy" else (g[1], g[0])
                    mon = mon.lower().rstrip(".")
                    month = next(v for k, v in _MONTHS.items() if k.startswith(mon[:3]))
                    d = _dt.date(int(g[2]), month, int(day))
            except (ValueError, StopIteration):
                continue
            found.append((m.start(), d.isoformat()))
            break
    return min(found)[1] if found else None


def _is_metadata(s: str) -> bool:
    """Dateline, symbol or session/meeting line: kept, but never a headline or a UI label."""
    if _words(s) > 10:
        return False
    bare = s.strip(" \t.,;:()[]")
    return bool(SYMBOL_RE.fullmatch(bare) or find_date(s) or _SESSION.search(s))


def _reader_directed(s: str) -> bool:
    """Talks to the reader or about the page: a call to action, 'you', 'please', 'click'."""
    if _MEDIUM.search(s) or _READER.search(re.sub(r"(?i)\bthank you\b", "", s)):
        return True
    words = [w.lower() for w in _WORD.findall(s)]
    if not words:
        return False
    return words[0] in _CTA_VERBS or (words[0] in _CTA_NOUNS and (len(words) < 2 or words[1] not in _NOUN_NEXT))


def _ui_label(s: str) -> bool:
    return _words(s) <= 10 and not _ends_sentence(s) and not any(c.isdigit() for c in s)


def _is_prose(b: _Block) -> bool:
    """A long paragraph of sentences: what the core of a document is made of."""
    return not b.heading and _words(b.text) >= 20 and _ends_sentence(b.text) and not _MEDIUM.search(b.text)


def _wrapped(lines: list[tuple[int, int, str]]) -> bool:
    """A run of lines that looks hard-wrapped at a fixed width (one paragraph, many lines)."""
    if len(lines) < 3 or any(_LIST_ITEM.match(t) for _, _, t in lines):
        return False
    widths = [len(t) for _, _, t in lines[:-1]]
    top = max(widths)
    return 30 <= top <= 150 and min(widths) >= 0.6 * top and len(lines[-1][2]) <= top + 2


def _para_end(line: str, width: int) -> bool:
    """In hard-wrapped text, a line ends its paragraph when it stops short of the width."""
    return len(line) < 0.6 * width or (_ends_sentence(line) and len(line) < 0.85 * width)


_WINDOW = 2000  # characters of a block's text the join tests look at: keeps joining linear


def _page_break(a: _Block, b: _Block) -> bool:
    """True when `b` continues the sentence `a` leaves open (a page or line break split it).

    Only the last _WINDOW characters of `a` and the first of `b` are examined, so a file of
    thousands of open lines costs linear time (a block joined line by line would otherwise be
    rescanned whole at every join).
    """
    at, bt = a.text[-_WINDOW:], b.text[:_WINDOW]
    if a.heading or b.heading or _ends_sentence(at) or at.endswith((":", ";")):
        return False
    if bt[:1].islower():
        return True
    # "It was stressed that Member" / "States should ...": a long open prose block continued
    # by a prose block; titles and headlines are excluded by the title-case test.
    return (_words(at) >= 20 and (at[-1].isalpha() or at[-1] == ",")
            and bt[:1].isalpha() and _ends_sentence(b.text[-_WINDOW:])
            and not _is_title_case(at) and not _is_title_case(bt))


def _segment(text: str, fmt: str, headings: set[int] | None = None) -> list[_Block]:
    """Split text into blocks: lines, joined where a paragraph was wrapped or broken.
    `headings`: where the heading lines start, when the converter marked them (else a line
    opening with '#' is one)."""
    runs: list[list[tuple[int, int, str]]] = [[]]
    for m in _LINE.finditer(text):
        if m.start() == len(text):
            break
        raw = m.group().rstrip("\r\n")
        if not raw.strip() or _RULE.match(raw):
            if runs[-1]:
                runs.append([])
            continue
        s = m.start() + len(raw) - len(raw.lstrip())
        runs[-1].append((s, m.start() + len(raw.rstrip()), raw.strip()))
    blocks: list[_Block] = []
    for run in filter(None, runs):
        wrap = fmt == "pdf" or _wrapped(run)
        top = max(len(t) for _, _, t in run)
        for i, (s, e, t) in enumerate(run):
            b = _Block(s, e, t, heading=bool(_HEADING.match(t)) and (headings is None or s in headings),
                       gap_before=i == 0,
                       gap_after=i == len(run) - 1)
            prev = blocks[-1] if blocks and i > 0 else None
            if prev is not None and not prev.heading and not b.heading and not _LIST_ITEM.match(t) and (
                (wrap and not _para_end(run[i - 1][2], top))
                or _page_break(prev, b)
            ):
                # the text keeps a bounded tail while joining; the whole span is cut once, below
                prev.end, prev.text, prev.joined, prev.gap_after = e, text[max(prev.start, e - _WINDOW):e], True, b.gap_after
                continue
            blocks.append(b)
    merged: list[_Block] = []
    for b in blocks:  # joins across blank lines: page breaks
        if merged and b.gap_before and _page_break(merged[-1], b):
            a = merged[-1]
            a.end, a.text, a.joined, a.gap_after = b.end, text[max(a.start, b.end - _WINDOW):b.end], True, b.gap_after
        else:
            merged.append(b)
    for b in merged:
        if b.joined:
            b.text = text[b.start:b.end]
    return merged


def _introduces_prose(blocks: list[_Block], i: int) -> bool:
    """Whether the heading at `i` heads text: the first block after it that is no heading is a
    sentence not addressed to the reader ("Command line options", then "-v: print ... ."), as a
    section of a reference page after its last long paragraph is ("Related stories" heads links)."""
    nxt = next((b for b in blocks[i + 1:] if not b.heading), None)
    return nxt is not None and _ends_sentence(nxt.text) and _words(nxt.text) >= 6 and not _reader_directed(nxt.text)


def _mark(blocks: list[_Block], web: bool) -> tuple[int, int, int | None]:
    """Mark chrome and headings; return (core_start, core_end, title index).

    `web` is False for DOCX and PDF: authored documents carry no page furniture, so only
    lines addressed to the reader are chrome there; short label-like lines (table rows,
    signature blocks) are kept.
    """
    prose = [i for i, b in enumerate(blocks) if _is_prose(b)]
    core_start, core_end = (prose[0], prose[-1]) if prose else (0, len(blocks) - 1)
    title = None
    seen: set[str] = set()
    for i, b in enumerate(blocks[:core_start]):
        if b.heading:
            b.kind = "chrome" if _reader_directed(b.text) else "heading"
            if b.kind == "heading" and title is None:
                title = i
        elif _reader_directed(b.text) or b.text in seen:
            b.kind = "chrome"
        elif _is_metadata(b.text):
            pass
        elif title is None and _words(b.text) >= 2:
            title = i
        elif web and _ui_label(b.text):
            b.kind = "chrome"
        seen.add(b.text)
    # a text with markdown headings marks them all: a short title-case line in it is a label
    # ("Warning", "Note" before a notice), not the start of a section
    marked = any(b.heading for b in blocks)
    for b in blocks[core_start:core_end + 1]:
        if b.heading or (not marked and not b.joined and b.gap_before and b.gap_after and _words(b.text) <= 20
                         and not _ends_sentence(b.text) and b.text[-1] not in ",:;"
                         and _is_title_case(b.text) and not _is_metadata(b.text)):
            b.kind = "heading"
    footer = False  # once chrome is seen in the tail, only whole sentences can still be content
    for i, b in enumerate(blocks[core_end + 1:], start=core_end + 1):
        chrome = _reader_directed(b.text) or (web and _ui_label(clean_heading(b.text)) and not _is_metadata(b.text)
                                              and not (b.heading and _introduces_prose(blocks, i)))
        footer = web and (footer or chrome)
        if chrome or (footer and (b.heading or not _ends_sentence(b.text))):
            b.kind = "chrome"
        else:
            b.kind = "heading" if b.heading else "para"
    if title is None and blocks and blocks[0].heading:
        title = 0
    return core_start, core_end, title


def analyse(text: str, fmt: str, headings: set[int] | None = None) -> tuple[tuple[Paragraph, ...], dict]:
    """Content paragraphs (1-based, with their section) and metadata of an extracted text.

    Metadata: title (the first headline of the head zone), date (first date in the head
    zone, ISO), symbol (the document's own UN symbol standing on its own line in the head),
    body (issuing body, from the symbol prefix or the first UN organ the head names) and
    references (other UN symbols the content mentions, in order). `headings`: where the heading
    lines of a converted text start (see `_segment`).
    """
    blocks = _segment(text, fmt, headings)
    if not blocks:
        return (), {"title": None, "date": None, "symbol": None, "body": None, "references": ()}
    core_start, _, title_i = _mark(blocks, web=fmt not in ("pdf", "docx"))
    paragraphs: list[Paragraph] = []
    # Each paragraph's section is its heading path below the document's title ("Controls ›
    # set_limit(name, value)"): in a reference manual the name a paragraph describes is in its
    # headings ("The default is 0." says nothing of what), and retrieval, the model's context and
    # citations show the path.
    # The title is the section of the paragraphs right under it, and no part of deeper paths.
    path: list[tuple[int, str]] = []
    title = None
    for i, b in enumerate(blocks):
        if b.kind == "heading" and (text := clean_heading(b.text)):
            level = heading_level(b.text)
            while path and path[-1][0] >= level:
                path.pop()
            if i == title_i:
                title = text
            else:
                path.append((level, text))
        elif b.kind == "para":
            section = PATH_SEP.join(t for _, t in path) or title
            paragraphs.append(Paragraph(len(paragraphs) + 1, b.start, b.end, section))
    head = [b.text for b in blocks[:core_start] if b.kind != "chrome"]
    symbol = next((s for s in (t.strip(" \t.,;:()[]") for t in head)
                   if SYMBOL_RE.fullmatch(s) and any(c.isdigit() for c in s)), None)
    date = next(filter(None, (find_date(t) for t in head)), None)
    body = next((name for prefix, name in _BODIES if symbol and symbol.startswith(prefix)), None)
    if body is None:
        m = _ORGANS.search("\n".join(head))
        body = m.group() if m else None
    content = "\n".join(b.text for b in blocks if b.kind != "chrome")
    refs = tuple(s for s in find_symbols(content) if s != symbol)
    title = clean_heading(blocks[title_i].text) if title_i is not None else None
    return tuple(paragraphs), {"title": title or None, "date": date, "symbol": symbol,
                               "body": body, "references": refs}
