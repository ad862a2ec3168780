"""Split text into sentences, as (start, end) character spans into the original string.

Spans rather than strings, because citations are checked sentence by sentence and must
point back into the document. The rules are regular expressions tuned to UN prose: a
sentence ends at . ! ? or … (plus any closing quotes or brackets) followed by whitespace and
a capital, digit or opening quote — but not after titles and abbreviations (Mr., H.E.,
a.m., U.N., e.g., No. 5, initials such as "J. Smith"). Decimals (3.5) and document symbols
(A/80/L.8) never split, because no whitespace follows their dots. A line break inside a
paragraph (a page break, "…that Member\\n\\nStates should…") is not a boundary; a markdown
heading line is.
"""

from __future__ import annotations

import re

# A run of terminal punctuation, then closing quotes/brackets, then whitespace.
_END = re.compile(r"[.!?…]+[\"'”’»)\]]*(?=\s)")
_OPENERS = "\"'“‘«([¿¡"
_HEADING_LINE = re.compile(r"^[ \t]*#{1,6}[ \t]+[^\n]*$", re.M)

# Never end a sentence ("Mr. Smith", "St. Kitts", "etc. The" is rare enough to keep joined).
_ABBREV = {
    "mr", "mrs", "ms", "mssrs", "messrs", "dr", "prof", "st", "vs", "etc", "jr", "sr", "gen",
    "col", "lt", "capt", "sgt", "gov", "sen", "rep", "amb", "hon", "rev", "dept", "inc", "ltd",
    "co", "corp", "approx", "cf", "al", "fig", "jan", "feb", "apr", "aug", "sept", "oct", "nov",
    "dec", "mt", "esp", "excl", "incl", "viz", "ibid", "op", "mme", "mlle", "sra", "sr",
}
# End a sentence only when no number follows ("No. 5" vs "The answer was No. Then ...").
_NUM_ABBREV = {"no", "nos", "art", "arts", "para", "paras", "vol", "p", "pp", "ch", "sec", "ss"}
_DOTTED = re.compile(r"^(?:[A-Za-z]\.)+[A-Za-z]$")  # U.N, H.E, a.m, e.g, i.e, U.S


def _starts_sentence(ch: str) -> bool:
    return ch.isupper() or ch.isdigit() or ch in _OPENERS


def _is_boundary(text: str, m: re.Match, lo: int, hi: int) -> bool:
    """Whether the punctuation matched by `m` ends a sentence inside text[lo:hi]."""
    nxt = m.end()
    while nxt < hi and text[nxt].isspace():
        nxt += 1
    if nxt >= hi or not _starts_sentence(text[nxt]):
        return False
    punct = m.group()
    if punct[0] != "." or punct.startswith(".."):
        return True  # ! ? … and ellipses
    ws = max(text.rfind(c, lo, m.start()) for c in " \t\n\r\xa0")
    token = text[max(ws + 1, lo):m.start()].lstrip(_OPENERS)
    low = token.lower()
    if low in _ABBREV or _DOTTED.match(token):
        return False
    if low in _NUM_ABBREV and text[nxt].isdigit():
        return False
    if len(token) == 1 and token.isupper():
        return False  # an initial: "J. Smith"
    return True


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans (absolute offsets into `text`) inside text[start:end], whitespace-trimmed."""
    hi = len(text) if end is None else min(end, len(text))
    lo = max(0, start)
    if lo >= hi:
        return []
    cuts = [m.end() for m in _END.finditer(text, lo, hi) if _is_boundary(text, m, lo, hi)]
    for m in _HEADING_LINE.finditer(text, lo, hi):  # a heading is a sentence of its own
        cuts += [m.start(), m.end()]
    spans = []
    prev = lo
    for cut in sorted(set(cuts)) + [hi]:
        s, e = prev, cut
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s < e:
            spans.append((s, e))
        prev = max(prev, cut)
    return spans
