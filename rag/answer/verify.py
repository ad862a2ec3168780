"""Is a sentence supported by a passage? Deterministic checks first, then similarity, then a judge.

For each (claim, passage) pair:
1. Hard checks, any failure is final: every number in the claim appears in the passage
   (figures written as words or in scientific notation count: "fifteenth", "one thousand",
   "half", "1.5 x 10^5", and so does a quantity in another unit: "1,000 ms" for "one second";
   `quantities`), and a share the claim gives in words or as "one in N" ("more than two
   thirds", "about one in 200") is true of a share the passage states (`claim_shares`); every name
   (capitalised word not opening the sentence, acronym; an opening acronym or possessive,
   "Ghana's delegate", too) appears in the passage, spelled out ("MRI") or as the acronym of its
   initials ("UNODC"), or in its document's title, symbol, date or the passage's headings.
   Figures and names the question itself states count as given. Then who and what the passage
   binds them to: a figure the passage lists for another group ("39% of ART, and 41% of
   TB patients", or paired by "respectively"; `misbound`), a figure from paragraphs that never
   name the speaker the claim names (`misattributed`), a word the passage denies ("the purchase -
   but not the sale", "an insignificant trend", or "were not predictive" in the sentence closest
   to the claim; `denied`), "on behalf of" turned round (`swapped_behalf`), contrasted clauses
   swapped ("A ... x, while B ... y" given as "B ... x, while A ... y"; `crossed`). Each says
   nothing where it cannot read the structure.
2. Evidence score on the best window of one or two passage sentences, or of a paragraph's
   opening (who speaks) through its third or fourth sentence:
   0.5 * cosine(claim, window) + 0.5 * share of the claim's content terms in the window;
   then widened within its paragraph until it holds the claim's figures and names (`covering`).
   Above `hi` supported, below `lo` not.
3. Between `lo` and `verbatim` (near-identical wording), a `Judge` decides when one is
   available (the model's probability of "yes", against a threshold), because similarity cannot
   see negation or swapped actors; without a judge, `hi` decides. The judge reads the claim's
   shares and scientific figures as the passage writes them (`restate_shares`). Thresholds were
   set on the dev half of eval/verifier_labels.jsonl; `lo` is low (0.4) because a faithful paraphrase shares
   few words with its source ("the engine would not turn over" for "the car failed to start"), and only
   the judge can see it.
The best window is the quoted span a citation shows, with exact offsets into the document.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from collections import Counter
from typing import Iterable, Iterator, Protocol, Sequence

import numpy as np

from embeddings import Embedder
from rag.index.lexical import content_terms, tokenize
from rag.ingest.sentences import split_sentences

_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
          "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_ORD = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
        "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14,
        "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19,
        "twentieth": 20, "thirtieth": 30, "fortieth": 40, "fiftieth": 50, "hundredth": 100}
_WORDNUM = {w: i for i, w in enumerate(_UNITS)} | _TENS | _ORD | {"hundred": 100, "dozen": 12}
# a figure, written with digits: "1,500", "3.5", and ordinals ("20th", "1st": the 20 is the figure)
_NUM = re.compile(r"(?<![\w/.\-‑])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(st|nd|rd|th)?(?![\w/]|\.\d)")
_SPACED_THOUSANDS = re.compile(r"(?<![\w/.,\-‑])\d{1,3}(?:, \d{3})+(?![\w/]|\.\d|,\d)")
_NUMWORD = re.compile(r"\b(" + "|".join(sorted(_TENS, key=len, reverse=True)) + r")[-‑ ]("
                      + "|".join(_UNITS[1:10] + list(_ORD)[:9]) + r")\b|\b(" + "|".join(_WORDNUM) + r")\b", re.I)
_NAME = re.compile(r"\b(?:[A-Z][a-z’'‑-]*[A-Z][A-Za-z]*|[A-Z]{2,}[a-z]?|[A-Z][a-z’'‑-]{2,})\b")
_FUNCTION_CAPS = {"The", "This", "That", "These", "Those", "It", "Its", "In", "On", "At", "By", "For", "And",
                  "But", "Or", "As", "A", "An", "He", "She", "They", "We", "I", "His", "Her", "Their", "Our",
                  "According", "Also", "However", "There", "Here", "When", "While", "With", "From", "To",
                  "What", "Which", "Who", "Whom", "Whose", "Why", "How", "Where"}


def norm(s: str) -> str:
    """Text as compared by the checks: NFKC, lower case, plain quotes and hyphens, single spaces."""
    s = unicodedata.normalize("NFKC", s).lower()
    s = s.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    s = re.sub(r"[‐‑‒–—]", "-", s)
    return " ".join(s.split())


def numbers(text: str) -> set[str]:
    """Figures stated in a text, normalised ("1,500" -> "1500", "fifteenth" and "15th" -> "15"),
    with the values of numbers written with scale words ("one thousand" and "1 thousand" ->
    "1000", "2.5 million" -> "2500000") and the percentages that fractions in words state ("half"
    -> "50", "a third" -> "33" and "33.3"): a writer may give the same figure either way."""
    out = {m.group(1).replace(",", "") for m in _NUM.finditer(text)}
    # a thousands separator followed by a space, as text extraction leaves it ("5, 446 travellers")
    out |= {m.group().replace(",", "").replace(" ", "") for m in _SPACED_THOUSANDS.finditer(text)}
    out |= {_word_value(m) for m in _NUMWORD.finditer(text)}
    out |= _scaled(text)
    out |= {value for value, _ in _scientific(text)}
    for m in _FRACTION.finditer(text):
        share = _fraction_value(m.group(1), m.group(2))
        out |= {f"{share:.0f}", f"{share:.1f}"}
    return {_plain(n) for n in out}


def _plain(figure: str) -> str:
    """A figure as the checks compare it: "50.0" -> "50" (a whole value written with a decimal)."""
    return figure[:-2] if figure.endswith(".0") else figure


_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9, "trillion": 10**12}
_NUMBER_WORDS = re.compile(r"(?:\d+(?:\.\d+)?|" + "|".join(sorted(_WORDNUM.keys() - _ORD.keys(), key=len, reverse=True))
                           + r")(?:[-‑ ](?:" + "|".join(_UNITS[1:10]) + r"))?", re.I)
_SCALED = re.compile(r"\b(" + _NUMBER_WORDS.pattern + r")\s+(" + "|".join(_SCALES) + r")"
                     r"(?:\s+(?:and\s+)?(" + _NUMBER_WORDS.pattern + r"))?\b", re.I)
# "half", "a third", "two thirds", "one quarter", "three quarters": shares in words
_FRACTION = re.compile(r"\b(a|an|one|two|three|1|2|3)?[\s-]*(half|thirds?|quarters?)\b", re.I)
_FRACTIONS = {"half": 50.0, "third": 100 / 3, "quarter": 25.0}
_COUNT = {"two": 2, "2": 2, "three": 3, "3": 3}


def _fraction_value(count: str | None, part: str) -> float:
    """The per cent a fraction in words states: ("two", "thirds") -> 66.7, (None, "half") -> 50."""
    return _FRACTIONS[part.lower().rstrip("s")] * _COUNT.get((count or "a").lower(), 1)


def _amount(word: str) -> float | None:
    """The value of a number written in digits or words ("two", "twenty-five", "2.5")."""
    w = word.lower().replace("‑", "-")
    if re.fullmatch(r"\d+(?:\.\d+)?", w):
        return float(w)
    parts = re.split(r"[- ]", w)
    if all(p in _WORDNUM for p in parts):
        return float(sum(_WORDNUM[p] for p in parts))
    return None


def _scaled(text: str) -> set[str]:
    """Numbers written with a scale word: "one thousand", "2.5 million", "three hundred and
    fifty" -> {"1000", "2500000", "350"}."""
    out = set()
    for m in _SCALED.finditer(text):
        base = _amount(m.group(1))
        if base is None:
            continue
        value = base * _SCALES[m.group(2).lower()]
        rest = _amount(m.group(3)) if m.group(3) else None
        if rest is not None and rest < _SCALES[m.group(2).lower()]:
            value += rest
        out.add(f"{value:.0f}" if value == int(value) else f"{value:g}")
    return out


def _word_value(m: re.Match) -> str:
    """The figure a `_NUMWORD` match writes in words: "twenty-five" -> "25", "fifteenth" -> "15"."""
    if m.group(1):
        return str(_TENS[m.group(1).lower()] + _WORDNUM[m.group(2).lower()])
    return str(_WORDNUM[m.group(3).lower()])


def claim_numbers(text: str, ordinals: bool = True) -> set[str]:
    """Figures a claim asserts: digits only (number words in claims are mostly not figures).
    `ordinals`: "20th" counts (as 20), as the passage must state it too; off where a figure must
    be a quantity ("the 48th meeting" answers no "how many")."""
    return {_plain(m.group(1).replace(",", "")) for m in _NUM.finditer(text) if ordinals or not m.group(2)}


def _join_spaced_thousands(claim: str, have: set[str]) -> str:
    """The claim with "4, 158" read as 4158 wherever the passage states 4158 (as "4,158" or "4, 158"):
    a writer copying a figure may add or drop the space after a thousands separator. Elsewhere
    "5, 446" stays two figures, as a list of numbers would be."""
    def one(m: re.Match) -> str:
        joined = m.group().replace(", ", "")
        return joined if joined in have else m.group()

    return _SPACED_THOUSANDS.sub(one, claim)


def _name_matches(text: str) -> Iterator[re.Match]:
    """Capitalised words and acronyms, except the text's first word and function words."""
    return (m for m in _NAME.finditer(text) if m.start() > 0 and m.group() not in _FUNCTION_CAPS)


def names(text: str) -> list[str]:
    """Capitalised words and acronyms, except the sentence's first word and function words."""
    return [m.group() for m in _name_matches(text)]


# A sentence's first word is capitalised anyway; it is a name when it is an acronym ("IOM said")
# or a possessive ("Ghana's delegate"): who said or did something, often the whole claim.
_LEAD_NAME = re.compile(r"([A-Z]{2,}[a-z]?|[A-Z][a-z]+)(?=['’]s\b)|[A-Z]{2,}[a-z]?\b")


def lead_name(text: str) -> str:
    """The text's first word when it is a name by its form (see `_LEAD_NAME`), else ""."""
    m = _LEAD_NAME.match(text.lstrip())
    word = (m.group(1) or m.group()) if m else ""
    return "" if word in _FUNCTION_CAPS else word


def named(asked: Iterable[str], text: str) -> set[str]:
    """Those of the `asked` names that `text` holds. A name matches a word beginning with its
    first four letters, so "Thai" finds "Thailand" and "Iranian" finds "Iran" (but "President"
    does not find "expressed")."""
    hay = norm(text)
    return {n for n in asked if re.search(r"(?<!\w)" + re.escape(norm(n)[:4]), hay)}


def hard_failures(claim: str, passage: str, title: str = "", given: str = "",
                  off: frozenset[str] = frozenset()) -> list[str]:
    """Reasons the passage cannot support the claim, whatever their similarity.

    `given` is the question: a figure or name the user wrote ("at the 2025 meeting") is the
    question's premise restated, not a claim the passage must carry. `off`: the checks switched
    off (verify_figures, verify_names, verify_binding; rag/answer/steps.py).
    """
    fails = []
    if "verify_figures" not in off:
        fails += [f"number {n} not in the passage" for n in sorted(absent_figures(claim, passage, title, given))]
    if "verify_names" not in off:
        fails += [f"{name} not in the passage" for name in absent_names(claim, f"{passage} {title}", given)]
    if not fails and "verify_binding" not in off:
        fails += (misbound(claim, passage, given) or misattributed(claim, passage, title, given)
                  or denied(claim, passage) or swapped_behalf(claim, passage) or crossed(claim, passage))
    return fails


def absent_names(claim: str, text: str, given: str = "") -> list[str]:
    """The claim's names (see `names`, `lead_name`) that neither `text` nor `given` holds, in
    full or spelled out ("MRI" for "magnetic resonance imaging")."""
    hay = norm(text) + " " + norm(given)
    out = []
    for name in filter(None, [lead_name(claim), *names(claim)]):
        name = re.sub(r"['’]s?$", "", name)  # "Yang's": the name is Yang
        stem = norm(name)[: max(4, min(len(name), 6) - 1)]
        if stem not in hay and not spelled_out(name, text):
            out.append(name)
    if out:
        covered = abbreviated(claim, text) | unit_names(claim, text)
        out = [name for name in out if name not in covered]
    return out


# Small words a name may hold between its capitalised words ("Office on Drugs and Crime"), and
# the wider set an acronym's spelling-out may skip ("Food and Drug Administration", "a", "by").
_NAME_JOINERS = ("of", "and", "the", "for", "in", "on", "to")
_SMALL_WORDS = {*_NAME_JOINERS, "a", "an", "with", "by"}
_CAPITALISED_RUN = re.compile(r"[A-Z][\w’'-]*(?:\s+(?:(?:" + "|".join(_NAME_JOINERS) + r")\s+)*[A-Z][\w’'-]*)+")


def abbreviated(claim: str, text: str) -> set[str]:
    """The words of the claim's names that `text` gives as an acronym of their initials: "United
    Nations Office on Drugs and Crime" where the text says "UNODC" (small words such as "on" may
    be skipped), as `spelled_out` reads the other way round."""
    acronyms = set(re.findall(r"\b[A-Z]{2,8}(?=s?\b)", text))
    out: set[str] = set()
    for m in _CAPITALISED_RUN.finditer(claim):
        words = m.group().split()
        caps = [w for w in words if w[0].isupper()]
        for i in range(len(caps)):
            for j in range(i + 2, len(caps) + 1):
                if "".join(w[0] for w in caps[i:j]) in acronyms:
                    out |= set(caps[i:j])
    return out


def absent_figures(claim: str, *texts: str) -> set[str]:
    """The claim's figures (see `claim_numbers`) that none of `texts` states, and the shares it
    gives with a relation ("more than two thirds", "about one in 200") that no share the texts
    state satisfies (see `claim_shares`)."""
    have = set().union(*map(numbers, texts))
    shares = claim_shares(claim)
    plain = claim_numbers(_join_spaced_thousands(_without(claim, shares), have)) - have
    found, wrong = _quantity_figures(claim, plain, texts)
    plain = (plain - found) | wrong
    if shares:
        stated = [v for t in texts for v in _bound_shares(claim, t)]
        plain |= {sh.text for sh in shares if not any(sh.holds(v) for v in stated)}
    return plain


def _bound_shares(claim: str, text: str) -> list[float]:
    """The shares `text` states in the sentences that share most of the claim's words, among
    those stating a share: "more than half of the specimens" is read against the specimens'
    42.6%, not against "the outer 50% of the wall" two sentences on (as `misbound` reads figures)."""
    stating = [(x, shares) for a, b in split_sentences(text) for x in [text[a:b]] if (shares := stated_shares(x))]
    if len(stating) < 2:
        return [v for v, _ in stated_shares(text)]
    terms = content_terms(claim)
    overlap = [len(terms & content_terms(x)) for x, _ in stating]
    return [v for (_, shares), k in zip(stating, overlap) if k == max(overlap) for v, _ in shares]


@dataclass(frozen=True)
class Share:
    """A share a claim states in words or as "one in N", with the relation it states it in."""
    text: str  # as written, qualifier included: "more than two thirds"
    start: int
    end: int
    value: float  # per cent
    qualifier: str  # as written: "more than", or ""
    relation: str  # "about", "above" (more than), "below" (at most), "nearly" (below, but close)

    def holds(self, pct: float) -> bool:
        """Whether a stated share of `pct` per cent makes the claim true: "more than two thirds"
        for 70%, "about a third" not for 45%. "About" allows a tenth of the value and rounding."""
        slack = 0.1 * self.value + 1.5
        if self.relation == "above":
            return pct >= self.value - 0.5
        if self.relation == "below":
            return pct <= self.value + 0.5
        if self.relation == "nearly":
            return self.value - slack <= pct <= self.value + 0.5
        return abs(pct - self.value) <= slack


_ABOVE = ("more than", "over", "above", "at least", "in excess of", "just over", "upwards of")
_BELOW = ("less than", "under", "below", "fewer than", "at most", "up to")
_NEARLY = ("nearly", "almost", "just under")
_APPROX = ("about", "around", "approximately", "roughly", "some", "close to")
_QUAL = "|".join(sorted(_ABOVE + _BELOW + _NEARLY + _APPROX, key=len, reverse=True)).replace(" ", r"\s+")
# a fraction in words: (count, third or quarter) or (half); "the second half" is no share of anything
_FRACTION_WORDS = (r"(?:(one|two|three|a|an|1|2|3)[\s-]+(thirds?|quarters?)|"
                   r"(?<!first )(?<!second )(?<!other )(?<!latter )(?<!former )(?<!the )(half))")
_ONE_IN_WORDS = r"(?:one|1)[\s-]+in[\s-]+(\d{1,3}(?:,\d{3})+|\d+)\b"
# "two thirds of", "more than half of", "by more than three quarters", "a one-in-200 risk". A
# fraction is a share only as a share of something ("of") or with a relation; "half an hour" and
# "the second half of the day" are not shares. A time after "of" is no group ("a quarter of an hour").
_CLAIM_SHARE = re.compile(
    r"\b(?:(" + _QUAL + r")\s+)?(?:an?\s+)?(?:" + _FRACTION_WORDS +
    r"(?=\s+of\s+(?!(?:an?\s+|the\s+)?(?:hour|minute|second|day|week|month|year|decade|century)s?\b))"
    r"|" + _ONE_IN_WORDS + ")", re.I)
# with a relation ("nearly half"), or as a change ("rose by a quarter", "cut by half"; not "by a
# third party")
_CLAIM_SHARE_QUALIFIED = re.compile(
    r"\b(" + _QUAL + r")\s+(?:an?\s+)?" + _FRACTION_WORDS + r"\b(?![-‑])", re.I)
_CLAIM_CHANGE = re.compile(
    r"\b(?:rose|risen|rises?|increas\w*|fell|fallen|falls?|dropp\w*|drops?|declin\w*|decreas\w*|cut|"
    r"reduc\w*|gr[eo]wn?|grows?|climb\w*|jump\w*|shr[aiu]nk\w*)\s+by\s+"
    r"(()(?:an?\s+)?" + _FRACTION_WORDS + r")\b(?![-‑])", re.I)
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*(?:%|per ?cent\b)", re.I)
_PART_OF = re.compile(r"\b(\d{1,3}(?:,\d{3})+|\d+)\s+(?:of|out of)\s+(?:the\s+|all\s+)?(\d{1,3}(?:,\d{3})+|\d+)\b",
                      re.I)
# as `_FRACTION`, but a third or a quarter needs its count: "the third chapter" states no share
_STATED_FRACTION = re.compile(r"\b(?:(one|two|three|a|an)[\s-]+(thirds?|quarters?)|(half))\b", re.I)
_ONE_IN = re.compile(r"\b" + _ONE_IN_WORDS, re.I)


def claim_shares(claim: str) -> list[Share]:
    """Shares the claim states in words or as "one in N", each with its relation. A writer may
    give the passage's 70% as "more than two thirds" or its 0.5% as "one in 200": the figures
    check cannot find those words in the passage, and the small judge does not do the sum."""
    found: dict[int, Share] = {}
    for rx in (_CLAIM_SHARE, _CLAIM_SHARE_QUALIFIED, _CLAIM_CHANGE):
        for m in rx.finditer(claim):
            # groups: qualifier, count, third or quarter, half[, N of one in N]
            g = m.groups()[1:] if rx is _CLAIM_CHANGE else m.groups()
            span = 1 if rx is _CLAIM_CHANGE else 0
            start, end = m.start(span), m.end(span)
            if any(f.start <= start < f.end for f in found.values()):
                continue
            qual = " ".join((g[0] or "").lower().split())
            n = g[4] if len(g) > 4 else None
            value = 100.0 / float(n.replace(",", "")) if n else _fraction_value(g[1], g[2] or g[3])
            relation = ("above" if qual in _ABOVE else "below" if qual in _BELOW
                        else "nearly" if qual in _NEARLY else "about")
            found[start] = Share(claim[start:end], start, end, value, g[0] or "", relation)
    return sorted(found.values(), key=lambda sh: sh.start)


def stated_shares(text: str) -> list[tuple[float, str]]:
    """Shares a passage states, in per cent, each with its words: "80%", "28 of the 40" (70%),
    "two thirds", "one in 200" (0.5%)."""
    out = [(float(m.group(1)), m.group()) for m in _PERCENT.finditer(text)]
    for m in _PART_OF.finditer(text):
        part, whole = (float(g.replace(",", "")) for g in m.groups())
        if 0 < part <= whole:
            out.append((100.0 * part / whole, m.group()))
    out += [(_fraction_value(count, part or half), m.group())
            for m in _STATED_FRACTION.finditer(text) for count, part, half in [m.groups()]]
    out += [(100.0 / float(m.group(1).replace(",", "")), m.group()) for m in _ONE_IN.finditer(text)
            if float(m.group(1).replace(",", "")) > 0]
    return out


def _without(claim: str, shares: Sequence[Share]) -> str:
    """The claim with its shares blanked out (their digits, "200" of "one in 200", are no count)."""
    for sh in reversed(shares):
        claim = claim[: sh.start] + " " * (sh.end - sh.start) + claim[sh.end:]
    return claim


def restate_shares(claim: str, evidence: str) -> str:
    """The claim with each share it gives in other words written as the evidence states it
    ("more than three quarters" -> "80%" where the evidence says 80%), for the judge: the small
    model compares the words of a figure, not its value, and the relation was checked here."""
    stated = stated_shares(evidence)
    for sh in reversed(claim_shares(claim)):
        # the nearest share the evidence states, a percentage first ("70%" rather than "28 of the 40")
        match = min(((v, words) for v, words in stated if sh.holds(v)),
                    key=lambda m: (not _PERCENT.fullmatch(m[1]), abs(m[0] - sh.value)), default=None)
        if match is None or match[1].lower() == sh.text.lower():
            continue
        v, words = match
        if sh.qualifier and abs(v - sh.value) < 0.5:  # "more than half" for "over 50%": the relation stays
            words = f"{sh.qualifier} {words}"
        claim = claim[: sh.start] + words + claim[sh.end:]
    return _restate_quantities(_restate_scientific(claim, evidence), evidence)


# "1.5 x 10^5", "1.5 × 10(5)" (a superscript as text extraction flattens it)
_SCIENTIFIC = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*[x×]\s*10\s*(?:\^\s*([-−]?\d{1,2})|\(\s*([-−]?\d{1,2})\s*\))(?![\w.])")


def _scientific(text: str) -> list[tuple[str, str]]:
    """Numbers in scientific notation, each as a plain figure and as written."""
    out = []
    for m in _SCIENTIFIC.finditer(text):
        value = float(m.group(1)) * 10 ** int((m.group(2) or m.group(3)).replace("−", "-"))
        out.append((f"{value:.0f}" if value == int(value) else f"{value:g}", m.group()))
    return out


# Units a quantity may be given in, with their size in their dimension's base unit (seconds,
# bytes, metres, grams, litres). A writer may give "300 ms" as "0.3 seconds" or "64 KiB" as
# "65,536 bytes": the same figure, which the figures check must not reject and the judge cannot
# convert. Months and years are a twelfth apart exactly, never so many days. "KB", "MB" and "GB"
# are used in both senses (1000 and 1024), so either counts.
_UNITS_BY_DIMENSION = {
    "time": {("ns", "nanoseconds?"): 1e-9, ("µs", "us", "microseconds?"): 1e-6,
             ("ms", "msecs?", "milliseconds?"): 1e-3, ("s", "secs?", "seconds?"): 1.0,
             ("mins?", "minutes?"): 60.0, ("h", "hrs?", "hours?"): 3600.0, ("days?",): 86400.0,
             ("weeks?",): 604800.0, ("months?",): 31557600.0 / 12, ("years?", "yrs?"): 31557600.0},
    "data": {("bytes?", "B"): 1.0, ("KiB", "kibibytes?"): 1024.0, ("MiB", "mebibytes?"): 2.0**20,
             ("GiB", "gibibytes?"): 2.0**30, ("TiB",): 2.0**40, ("kB", "KB", "kilobytes?"): (1e3, 1024.0),
             ("MB", "megabytes?"): (1e6, 2.0**20), ("GB", "gigabytes?"): (1e9, 2.0**30),
             ("TB", "terabytes?"): (1e12, 2.0**40)},
    "length": {("nm", "nanomet(?:re|er)s?"): 1e-9, ("µm", "micromet(?:re|er)s?"): 1e-6,
               ("mm", "millimet(?:re|er)s?"): 1e-3, ("cm", "centimet(?:re|er)s?"): 1e-2,
               ("m", "met(?:re|er)s?"): 1.0, ("km", "kilomet(?:re|er)s?"): 1e3},
    "mass": {("µg", "micrograms?"): 1e-6, ("mg", "milligrams?"): 1e-3, ("g", "grams?"): 1.0,
             ("kg", "kilograms?"): 1e3, ("tonnes?",): 1e6},
    "volume": {("µl", "µL", "microlit(?:re|er)s?"): 1e-6, ("ml", "mL", "millilit(?:re|er)s?"): 1e-3,
               ("l", "L", "lit(?:re|er)s?"): 1.0},
}
# each way of writing a unit -> (its dimension, its sizes)
_UNIT_SIZES = {name: (dimension, size if isinstance(size, tuple) else (size,))
               for dimension, table in _UNITS_BY_DIMENSION.items() for names, size in table.items() for name in names}
_UNIT_NAMES = sorted(_UNIT_SIZES, key=len, reverse=True)
_UNIT_PATTERN = "|".join(f"(?i:{n})" if len(n) > 3 else n for n in _UNIT_NAMES)
# A figure (digits, a number in words, "half a") and its unit: "300 ms", "one second",
# "1,048,576-byte", "half a minute". Abbreviations keep their case ("m" is no "M"); words do not.
_QUANTITY = re.compile(
    r"(?<![\w.,])(?:(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)|(?i:(" + _NUMBER_WORDS.pattern + r")|(half)\s+an?))"
    r"(?:\s*-\s*|\s+|(?<=\d))(" + _UNIT_PATTERN + r")(?![\w%])")


def _unit(written: str) -> tuple[str, tuple[float, ...]] | None:
    """The dimension and sizes of a unit as written: an abbreviation as its case says, a word in
    any case ("Seconds")."""
    for name in _UNIT_NAMES:
        if re.fullmatch(name, written) or (len(name) > 3 and re.fullmatch(name, written, re.I)):
            return _UNIT_SIZES[name]
    return None


@dataclass(frozen=True)
class Quantity:
    """A figure with a unit, as written, with its values in its dimension's base unit."""
    text: str
    start: int
    end: int
    figure: str  # the figure as `claim_numbers` gives it ("1000" of "1,000 ms"), "" when in words
    amount: float  # the figure's value in its own unit
    unit: str  # as written
    dimension: str
    values: tuple[float, ...]  # more than one where the unit has two senses ("KB")

    def equals(self, other: "Quantity") -> bool:
        return self.dimension == other.dimension and any(
            abs(a - b) <= 1e-9 * max(abs(a), abs(b)) for a in self.values for b in other.values)


@functools.lru_cache(maxsize=512)
def quantities(text: str) -> tuple[Quantity, ...]:
    """Figures with a unit of time, data size, length, mass or volume a text states (remembered:
    the figures check and the names check read the same claim and passage)."""
    out = []
    for m in _QUANTITY.finditer(text):
        digits, words, half, unit_text = m.groups()
        unit = _unit(unit_text)
        if unit is None or (words and _amount(words) is None):
            continue
        amount = float(digits.replace(",", "")) if digits else 0.5 if half else _amount(words)
        figure = _plain(digits.replace(",", "")) if digits else ""
        out.append(Quantity(m.group(), m.start(), m.end(), figure, amount, unit_text, unit[0],
                            tuple(amount * size for size in unit[1])))
    return tuple(out)


def _quantity_figures(claim: str, missing: set[str], texts: Sequence[str]) -> tuple[set[str], set[str]]:
    """The claim's figures the texts state as quantities in another unit, and those they do not.

    Found: a `missing` figure the claim gives, wherever it writes it, with a unit the texts
    state the same quantity in ("1,000 ms" for "one second"). Wrong: a figure the claim gives
    with a unit where the texts state that number only with another unit of the dimension and
    no equal quantity ("30 seconds" where the passage says "30 minutes", "2 KB" for "2 MB")."""
    written = quantities(claim)
    if not written:
        return set(), set()
    stated = [q for t in texts for q in quantities(t)]
    found, wrong = set(), set()
    for n in missing:
        at = [m for m in _NUM.finditer(claim) if _plain(m.group(1).replace(",", "")) == n]
        with_unit = [q for q in written if q.figure == n]
        if at and len(with_unit) == len(at) and all(any(q.equals(s) for s in stated) for q in with_unit):
            found.add(n)
    for q in written:
        if q.figure and q.figure not in missing and not any(q.equals(s) for s in stated) and any(
                s.dimension == q.dimension and s.amount == q.amount for s in stated):
            wrong.add(q.text)
    return found, wrong


def unit_names(claim: str, text: str) -> set[str]:
    """The units the claim writes after a figure ("KB" of "2 KB") where `text` states the same
    quantity in any unit ("2,048 bytes"): a unit, not a name the text must repeat."""
    stated = quantities(text)
    return {q.unit for q in quantities(claim) if any(q.equals(s) for s in stated)}


def _restate_quantities(claim: str, evidence: str) -> str:
    """The claim's quantities the evidence states in another unit, written as the evidence
    writes them ("1,000 ms" -> "one second"), for the judge (see `restate_shares`)."""
    stated = quantities(evidence)
    for q in reversed(quantities(claim)):
        same = next((s for s in stated if q.equals(s)), None)
        if same is not None and same.text.lower() != q.text.lower():
            claim = claim[: q.start] + same.text + claim[q.end:]
    return claim


def _restate_scientific(claim: str, evidence: str) -> str:
    """A figure of the claim the evidence writes in scientific notation, written as the evidence
    writes it ("20,000" -> "2 × 10(4)"), for the judge (see `restate_shares`)."""
    forms = dict(_scientific(evidence))
    if not forms:
        return claim
    return _NUM.sub(lambda m: forms.get(m.group(1).replace(",", ""), m.group()), claim)


def spelled_out(name: str, text: str) -> bool:
    """Whether `name` is an acronym that `text` spells out: consecutive words whose first letters
    are its letters ("MRI" in "magnetic resonance imaging", "WHO" in "World Health
    Organization"; small words such as "of" may be skipped), as a writer may use either."""
    letters = re.sub(r"s$", "", name) if re.fullmatch(r"[A-Z]{2,8}s", name) else name
    if not re.fullmatch(r"[A-Z]{2,8}", letters):
        return False
    words = re.findall(r"[^\W\d_]+", text)
    target = letters.lower()
    for i, w in enumerate(words):
        if w[0].lower() != target[0]:
            continue
        k, j = 0, i
        while j < len(words) and k < len(target):
            if words[j][0].lower() == target[k]:
                k += 1
            elif words[j].lower() not in _SMALL_WORDS:
                break
            j += 1
        if k == len(target):
            return True
    return False


# Lists of figures for different groups: "19% among A, 46% among B, and 37% among C",
# "EUR 40 for adults, EUR 25 for children", "(steel, 13.4%; copper, 11.7%)".
_LIST_SEP = re.compile(r";|,\s*(?:and|or)\s+|,|\s+(?:and|or|while|whereas|but|versus|vs\.?|compared (?:with|to))\s+",
                       re.I)
_BRACKET = re.compile(r"[(\[]([^()\[\]]*)[)\]]")
_PERCENT_UNIT = r"\s*(?:%|per ?cent)"  # "%", "per cent", "percent"
_WORD_PERCENT = re.compile(_NUMWORD.pattern + "(?=" + _PERCENT_UNIT + ")", re.I)
_UNIT_TERMS = {"percent", "cent"}
_PERCENT_AFTER = re.compile(_PERCENT_UNIT, re.I)
_CURRENCY_BEFORE = re.compile(r"(?:[$€£¥]|\b[A-Z]{3})\s*$")


def _kind(text: str, start: int, end: int) -> str:
    """What a figure counts: "%" (a share), "money" (after a currency), or "n" (anything else)."""
    if _PERCENT_AFTER.match(text, end):
        return "%"
    return "money" if _CURRENCY_BEFORE.search(text[max(0, start - 5) : start]) else "n"


def _figure_marks(text: str) -> list[tuple[int, str, str]]:
    """(position, value, kind) of the figures a sentence states: digits, and percentages in
    words ("Thirty-one percent")."""
    spaced = [(m.start(), m.end()) for m in _SPACED_THOUSANDS.finditer(text)]  # "5, 446": one figure
    out = [(a, text[a:b].replace(",", "").replace(" ", ""), _kind(text, a, b)) for a, b in spaced]
    out += [(m.start(), m.group(1).replace(",", ""), _kind(text, m.start(), m.end())) for m in _NUM.finditer(text)
            if not any(a <= m.start() < b for a, b in spaced)]
    out += [(m.start(), _word_value(m), "%") for m in _WORD_PERCENT.finditer(text)]
    return sorted(out)


def _words(text: str) -> set[str]:
    """Content words, a hyphenated word as one ("pre-ART" is not "ART")."""
    text = re.sub(r"(?<=[^\W\d_])[-‑](?=[^\W\d_])", "", text)
    return {t for t in content_terms(text) if len(t) > 1 and not t[0].isdigit()} - _UNIT_TERMS


_ABBR_DEF = re.compile(r"\(([A-Z][A-Za-z]{0,2}[A-Z]{1,5}s?)\)")


def abbreviations(text: str) -> dict[str, str]:
    """Abbreviations a text defines, "magnetic resonance imaging (MRI)" -> {"mri":
    "magnetic resonance imaging"}: the shortest run of words just before the bracket that holds the letters of
    the abbreviation in order, its first letter opening the first word (Schwartz and Hearst's
    rule)."""
    out = {}
    for m in _ABBR_DEF.finditer(text):
        abbr = m.group(1)[:-1] if m.group(1)[-1] == "s" and m.group(1)[:-1].isupper() else m.group(1)  # "ICTs"
        words = re.findall(r"[\w-]+", text[max(0, m.start() - 120) : m.start()])[-(len(abbr) + 5):]
        for k in range(1, len(words) + 1):
            long = " ".join(words[-k:])
            if long[0].lower() == abbr[0].lower() and _letters_in_order(abbr.lower(), long.lower()):
                out[abbr.lower()] = long
                break
    return out


def _letters_in_order(abbr: str, long: str) -> bool:
    """Whether each letter of `abbr` is in `long`, in order."""
    i = 0
    for ch in abbr:
        i = long.find(ch, i)
        if i < 0:
            return False
        i += 1
    return True


def list_elements(sentence: str) -> list[tuple[dict[str, str], set[str]]]:
    """The elements of a sentence that lists figures for different groups, as ({figure: kind},
    words) pairs (kind: see `_kind`); [] when it lists none (one figure). A sentence saying
    "respectively" is read by `_respectively`.

    The sentence is cut at list separators (";", ",", "and", "while", "compared with" ...). A
    bracket after a figure ("[95% CI: 134 to 207]", "(68%)") belongs to its element and its words
    are not read; a bracket that is itself a list ("(steel, 13.4%; copper, 11.7%)") is
    cut too. An element's words are those from its first figure on ("Death rates were" before
    the first figure is said of them all); a bare figure takes the words just before it
    ("steel, 13.4%")."""
    if resp := _RESPECTIVELY.search(sentence):
        return _respectively(sentence, resp.start())
    marks = _figure_marks(sentence)
    if len(marks) < 2:
        return []
    work, masked = sentence, []  # same length as sentence: masked brackets become spaces
    for m in _SPACED_THOUSANDS.finditer(work):
        work = work[: m.start()] + m.group().replace(",", " ") + work[m.end():]
    while m := _BRACKET.search(work):
        inside = [v for at, v, _ in marks if m.start() < at < m.end()]
        if ";" in m.group(1) and len(inside) >= 2:
            work = work[: m.start()] + ";" + work[m.start() + 1 : m.end() - 1] + ";" + work[m.end():]
        else:
            masked.append((m.start(), m.end()))
            work = work[: m.start()] + " " * (m.end() - m.start()) + work[m.end():]
    owner = {at: next((a for a, b in masked if a <= at < b), at) for at, _, _ in marks}
    cuts = [0] + [x for m in _LIST_SEP.finditer(work) for x in (m.start(), m.end())] + [len(work)]
    pieces = []  # (figures, words, bare)
    for a, b in zip(cuts[::2], cuts[1::2]):
        figs = [(at, v, k) for at, v, k in marks if a <= owner[at] < b]
        first = min((at for at, _, _ in figs if owner[at] == at), default=min((owner[at] for at, _, _ in figs), default=a))
        words = _words(_WORD_PERCENT.sub(" ", work[first:b]))
        pieces.append(({v: k for _, v, k in figs}, words, bool(figs) and not words))
    elements = []
    for i, (figs, words, bare) in enumerate(pieces):
        if not figs:
            continue
        if bare and i and not pieces[i - 1][0]:
            words = _words(sentence[cuts[2 * i - 2] : cuts[2 * i - 1]])
        elements.append((figs, words))
    return elements if len(elements) >= 2 else []


_FIG = r"(?:[$€£¥]\s*|\b[A-Z]{3}\s+)?\d[\d,]*(?:\.\d+)?(?:" + _PERCENT_UNIT + ")?"
_FIG_RUN = re.compile(_FIG + r"(?:(?:\s*,\s*(?:and\s+|or\s+)?|\s+(?:and|or)\s+)" + _FIG + ")+")
_ITEM_SEP = re.compile(r"\s*,\s*(?:and\s+|or\s+)?|\s+(?:and|or)\s+")
_RESPECTIVELY = re.compile(r"\brespectively\b", re.I)


def _respectively(sentence: str, end: int) -> list[tuple[dict[str, str], set[str]]]:
    """The elements of "A, B and C were 10%, 20% and 30%, respectively" (or "10%, 20% and 30%
    using A, B and C respectively"): the last run of figures before "respectively" paired in order
    with as many items after it, or else with the last as many before it; [] when the counts
    differ. `end`: where "respectively" stands."""
    runs = list(_FIG_RUN.finditer(sentence, 0, end))
    if not runs:
        return []
    run = runs[-1]
    figs = [(run.start() + m.start(), run.start() + m.end()) for m in re.finditer(_FIG, run.group())]
    after = [t for t in _ITEM_SEP.split(sentence[run.end() : end].strip(" ,")) if t.strip()]
    head = sentence[: run.start()]
    head = head[max(head.rfind(";"), head.rfind(":")) + 1 :]
    before = [t for t in _ITEM_SEP.split(head.strip(" ,")) if t.strip()]
    items = after if len(after) == len(figs) else before[-len(figs):] if len(before) >= len(figs) else []
    if len(items) != len(figs):
        return []
    out = []
    for (a, b), item in zip(figs, items):
        digits = _NUM.search(sentence, a, b)
        out.append(({digits.group(1).replace(",", ""): _kind(sentence, digits.start(), digits.end())}, _words(item)))
    return out


def misbound(claim: str, passage: str, given: str = "") -> list[str]:
    """Reasons a claim gives a figure to the wrong group: in every passage sentence stating it
    that shares most of the claim's words, the claim's figure is another group's ("39% of TB
    patients" where the passage lists "39% of ART, and 41% of TB patients"). The claim names
    words of another element and none of the figure's own element's distinctive words. The
    similarity score cannot see this: every word and figure of the claim is in the sentence.
    Only shares and sums of money are read, each against the elements listing figures of its
    kind: a count beside them is mostly the sentence's setting ("Of the 5346 patients included,
    2602 (57.3%) ...")."""
    claimed = sorted(claim_numbers(_join_spaced_thousands(claim, numbers(passage))) - numbers(given))
    if not claimed:
        return []
    sents = [passage[a:b] for a, b in split_sentences(passage)]
    lists = [list_elements(t) for t in sents]
    if not any(lists):
        return []  # no sentence lists figures for groups: nothing to read
    # an abbreviation the passage defines stands for its words too ("MRI": magnetic resonance imaging)
    spelled = {_words(a).pop(): _words(long) for a, long in abbreviations(passage).items() if _words(a)}

    def spell(words: set[str]) -> set[str]:
        return words.union(*(spelled[w] for w in words if w in spelled))

    said = spell(_words(claim))
    parsed = [(numbers(t), [(figs, spell(words)) for figs, words in elements], len(said & _words(t)))
              for t, elements in zip(sents, lists)]
    out = []
    for f in claimed:
        # the sentences stating f that share most of the claim's words: where a figure recurs in
        # another statement ("66% of cases among children" identified, "66% of the adults" sent
        # home), the claim is read against the statement it repeats
        closest = max((shared for nums, _, shared in parsed if f in nums), default=0)
        verdicts = []  # per passage sentence stating f: is it another group's there?
        for nums, elements, shared in parsed:
            holding = [(figs[f], words) for figs, words in elements if f in figs]
            if (not holding and f not in nums) or shared < closest:
                continue
            if len(holding) != 1 or holding[0][0] == "n":
                verdicts.append(False)  # not listed here, listed twice, or a count: cannot tell
                continue
            kind, words = holding[0]
            others = set().union(*(w for figs, w in elements if f not in figs and kind in figs.values()))
            distinct = words - others
            verdicts.append(bool(distinct) and bool((said & others) - words) and not (said & distinct))
        if verdicts and all(verdicts):
            out.append(f"the passage lists {f} for another group than the sentence gives it to")
    return out


# "the purchase - but not the sale", "is not AI", "criminalised instead of protected"
_NEGATED = re.compile(r"\b(?:not|never|no|nor|rather than|instead of)\s+(?:the\s+|a\s+|an\s+)?([^\W\d_][\w-]*)", re.I)


def _negated_terms(text: str) -> list[str]:
    return [t for m in _NEGATED.finditer(text) for t in content_terms(m.group(1))]


def denied(claim: str, passage: str) -> list[str]:
    """Reasons a claim asserts what the passage denies, when the claim does not deny it too
    (similarity sees the same words either way): a word of the claim that the passage uses only
    after "not", "no", "rather than" or "instead of" (the purchase "but not the sale"); or one
    that the passage sentence sharing most of the claim's words denies ("RDW and leukocyte count
    were not predictive"), where no sentence using the word plainly shares as many."""
    if re.search(r"\b(?:without|neither|nor|not|never|no)\b", claim, re.I):
        return []  # a claim that denies something itself: the judge reads which
    said = content_terms(claim) - set(_negated_terms(claim))
    uses, negated = Counter(tokenize(passage)), Counter(_negated_terms(passage))
    if hit := _prefix_denied(said, passage):
        return [f"the passage says “{hit}”"]
    only = {t for t in said if negated[t] and negated[t] >= uses[t]}
    if hit := [m.group(0) for m in _NEGATED.finditer(passage) if content_terms(m.group(1)) & only][:1]:
        return [f"the passage says “{hit[0]}”"]
    terms = sorted(t for t in said if negated[t])
    if not terms:
        return []
    sents = [passage[a:b] for a, b in split_sentences(passage)]
    read = [(len(said & content_terms(x)), Counter(tokenize(x)), set(_negated_terms(x))) for x in sents]
    for t in terms:
        denying = [i for i, (_, toks, neg) in enumerate(read) if t in neg and toks[t] == 1]
        plain = [i for i, (_, toks, _) in enumerate(read) if toks[t] and i not in denying]
        best = max(denying, key=lambda i: read[i][0], default=None)
        if best is not None and read[best][0] >= 3 and read[best][0] > max((read[i][0] for i in plain), default=0):
            m = next(m for m in _NEGATED.finditer(sents[best]) if t in content_terms(m.group(1)))
            return [f"the passage says “{m.group(0)}”"]
    return []


# "un-" and "non-" negate; "in-" only an adjective ("insufficient", "incomplete"), as "informed"
# or "instance" are no negation of "formed" or "stance"
_NEGATING_PREFIX = re.compile(r"\b(?:un|non-?)(?=[^\W\d_]{5})|\bin(?=[^\W\d_]{3,}(?:ant|ent|ive|ible|able|ect|ete|"
                              r"ate|ous)(?:ly)?\b)", re.I)


def _prefix_denied(said: set[str], passage: str) -> str:
    """A word the passage states only with a negating prefix, where the claim states it plainly:
    "an insignificant trend" against "significantly higher", "unchanged" against "changed"."""
    uses = Counter(tokenize(re.sub(r"\b(non)-(?=\w)", r"\1", passage, flags=re.I)))
    for m in _NEGATING_PREFIX.finditer(passage):
        word = re.match(r"[\w-]+", passage[m.start():]).group()
        plain = tokenize(passage[m.end() : m.start() + len(word)])
        if plain and plain[0] in said and not uses[plain[0]]:
            return word
    return ""


_BEHALF = re.compile(r"\bon behalf of\s+([^,.;:()]+)", re.I)


def _behalf_of(text: str) -> list[tuple[str, set[str]]]:
    """Each "on behalf of" phrase of a text, with the content terms of its first six words."""
    return [(m.group(1), content_terms(" ".join(m.group(1).split()[:6]))) for m in _BEHALF.finditer(text)]


def swapped_behalf(claim: str, passage: str) -> list[str]:
    """Reasons a claim turns round who acts for whom: it says "on behalf of X" and the passage
    says "on behalf of" only of others ("Ryder, speaking on behalf of the Secretary-General"
    is not "the Secretary-General spoke on behalf of Ryder"); every word is in the passage."""
    theirs = _behalf_of(passage)
    if not theirs:
        return []
    for phrase, ours in _behalf_of(claim):
        who = names(" " + phrase)
        if ours and not any(ours & terms and len(named(who, t)) == len(who) for t, terms in theirs):
            return ["the passage says on whose behalf, and it is not whom the sentence says"]
    return []


# Clauses a sentence contrasts: "women and girls ... sexual exploitation, while boys ... forced labour"
_CONTRAST = re.compile(r";|,?\s+(?:while|whereas|but|compared (?:with|to)|versus|vs\.?)\s+", re.I)


def crossed(claim: str, passage: str) -> list[str]:
    """Reasons a claim swaps what a passage sentence contrasts: the claim has two contrasted
    clauses, and each takes words that only one of the passage's clauses uses together with words
    that only the other one uses ("boys ... sexual exploitation, while women and girls ...
    forced labour", where the passage gives sexual exploitation to women and girls and forced
    labour to boys). A claim clause inside one passage clause, or a one-clause comparison of
    both, is not read."""
    ours = [_words(c) for c in _CONTRAST.split(claim)]
    if len(ours) < 2:
        return []
    for a, b in split_sentences(passage):
        halves = [_words(h) for h in _CONTRAST.split(passage[a:b])]
        if len(halves) < 2:
            continue
        only = [h - set().union(*(o for j, o in enumerate(halves) if j != i)) for i, h in enumerate(halves)]
        crossing = [c for c in ours if sum(bool(c & o) for o in only) >= 2]
        if len(crossing) >= 2:
            return ["the sentence gives each of what the passage contrasts the other's words"]
    return []


_PARAGRAPH = re.compile(r"\n\s*\n")
_SUBJECT_PRONOUN = re.compile(r"\b(?:he|she)\b", re.I)


def _paragraphs(text: str) -> list[str]:
    return [p for p in _PARAGRAPH.split(text) if p.strip()]


def _refers_back(paragraph: str) -> bool:
    """Whether a paragraph's speaker is the previous paragraph's: it says "he" or "she" before
    naming anyone ("Focusing on solutions, she stressed ..."), not after ("Ilias Chatzis ...
    stressed ..., he said")."""
    m = _SUBJECT_PRONOUN.search(paragraph)
    if m is None:
        return False
    first = next(_name_matches(paragraph), None)
    return first is None or first.start() > m.start()


def misattributed(claim: str, passage: str, title: str = "", given: str = "") -> list[str]:
    """Reasons a claim gives a figure to someone the passage does not: the paragraphs stating the
    claim's figures (with the paragraph before one that says "he" or "she" before naming anyone,
    whom it refers back to) never name whom the claim names, and another paragraph does. Meeting
    records and papers attribute by paragraph ("Ms. X warned ...", then "she said ..."); the
    similarity score and the small judge read a sentence, not who said it."""
    figs = claim_numbers(claim) - numbers(given)
    said = names(claim)
    paras = _paragraphs(passage)
    if not figs or not said or len(paras) < 2:
        return []
    stated = [numbers(p) for p in paras]
    holding = ([i for i, n in enumerate(stated) if figs <= n]  # all of them ("35%" and "since 2019")
               or [i for i, n in enumerate(stated) if figs & n])
    if not holding:
        return []
    scope = set()
    for i in holding:
        scope.add(i)
        j = i
        while j > 0 and i - j < 2 and _refers_back(paras[j]):
            j -= 1
            scope.add(j)
    if named(said, " ".join(paras[i] for i in sorted(scope)) + " " + title) or not named(
            said, " ".join(p for i, p in enumerate(paras) if i not in scope)):
        return []
    return [f"the passage gives {' and '.join(sorted(figs, key=float))} where it does not name {' '.join(said)}"]


@dataclass(frozen=True)
class Support:
    """The verdict for one claim against one passage."""

    supported: bool | None  # None: undecided until `EvidenceVerifier.resolve`
    score: float
    start: int  # best evidence window, absolute offsets into the document text
    end: int
    reasons: tuple[str, ...] = ()
    judged: bool = False


class Judge(Protocol):
    def supports(self, claim: str, evidence: str) -> bool | None:
        """True/False when the judge can tell, None when it cannot (e.g. endpoint down)."""
        ...


@dataclass
class Passage:
    """A retrieved chunk as the verifier sees it: the document text and the chunk's span."""

    text: str  # the whole document text (offsets are into it)
    start: int
    end: int
    title: str = ""  # what names and figures may also come from: the document's title, symbol, date, headings
    windows: list[tuple[int, int]] = field(default_factory=list)
    heading: str = ""  # what the passage is about: its section's headings ("request_timeout (integer)")
    sentences: list[tuple[int, int]] = field(default_factory=list, init=False)
    paragraph_of: list[int] = field(default_factory=list, init=False)  # each sentence's paragraph, from 0

    def __post_init__(self):
        sents = split_sentences(self.text, self.start, self.end) or [(self.start, self.end)]
        self.sentences = sents
        self.paragraph_of = [0] * len(sents)
        self.windows = list(sents) + [(a[0], b[1]) for a, b in zip(sents, sents[1:])]
        # A paragraph's opening says who speaks ("Ms. Ana Ruiz, Minister of Transport of
        # Norway, ...", then "she warned ..."): its first sentence through its third and fourth.
        opening = 0
        for i in range(1, len(sents)):
            self.paragraph_of[i] = self.paragraph_of[i - 1]
            if _PARAGRAPH.search(self.text, sents[i - 1][1], sents[i][0]):
                opening = i
                self.paragraph_of[i] += 1
            elif i - opening in (2, 3):
                self.windows.append((sents[opening][0], sents[i][1]))


# The most sentences a window is widened to (`covering`).
COVER_SENTENCES = 4


def covering(claim: str, p: Passage, window: tuple[int, int], given: str = "") -> tuple[int, int]:
    """The window widened over the fewest neighbouring sentences of its passage (at most
    COVER_SENTENCES in all) that make it hold each figure and name of the claim the passage
    states: the judge reads only the window, and "the plotter uses Courier and 9 points" is
    stated by two sentences of one paragraph ("If no face is given, the plotter uses Courier.
    The size is measured in points. Without a size, it uses 9 points."), by neither alone. Never
    across a paragraph break (a name in the next paragraph is another speaker's); unchanged when
    no span that short holds them all."""
    def lacks(a: int, b: int) -> bool:
        text = p.text[a:b]
        return bool(absent_figures(claim, text, p.title, given) or absent_names(claim, f"{text} {p.title}", given))

    s, e = window
    sents, para = p.sentences, p.paragraph_of
    if not sents or not lacks(s, e):
        return window
    first = max((i for i, (a, _) in enumerate(sents) if a <= s), default=0)
    last = min((i for i, (_, b) in enumerate(sents) if b >= e), default=len(sents) - 1)
    for n in range(last - first + 2, COVER_SENTENCES + 1):
        for a in range(max(0, last - n + 1), first + 1):
            b = a + n - 1
            if b >= len(sents) or para[a] != para[first] or para[b] != para[last]:
                continue  # another paragraph's figures and names are another subject's
            if not lacks(sents[a][0], sents[b][1]):
                return min(s, sents[a][0]), max(e, sents[b][1])
    return window


class EvidenceVerifier:
    """Scores claims against passages; see the module docstring for the rule."""

    def __init__(self, embedder: Embedder, judge: Judge | None = None, lo: float = 0.4, hi: float = 0.6,
                 verbatim: float = 0.97, off: frozenset[str] = frozenset()):
        self.embedder = embedder
        self.judge = judge
        self.lo, self.hi, self.verbatim = lo, hi, verbatim
        self.off = off  # steps switched off: hard checks (`hard_failures`), judge_window, headings

    def assess(self, claims: Sequence[str], passages: Sequence[Passage], given: str = "") -> list[list[Support]]:
        """Support of every claim by every passage: result[i][j] is claim i against passage j.
        `given`: the question, whose figures and names a claim may repeat (see `hard_failures`)."""
        if not claims or not passages:
            return [[] for _ in claims]
        win_texts, owners = [], []
        for j, p in enumerate(passages):
            for s, e in p.windows:
                win_texts.append(p.text[s:e])
                owners.append((j, s, e))
        vecs = self.embedder.embed(list(claims) + win_texts)
        cvec, wvec = vecs[: len(claims)], vecs[len(claims):]
        cos = cvec @ wvec.T
        # a window holds the terms its passage's headings hold: "Read all the files in the archive
        # and check their CRCs" under the heading "testzip()" is about testzip
        heads = [content_terms(p.heading) for p in passages]
        win_terms = [content_terms(t) | heads[j] for t, (j, _, _) in zip(win_texts, owners)]
        out: list[list[Support]] = []
        for i, claim in enumerate(claims):
            terms = content_terms(claim)
            row = []
            for j, p in enumerate(passages):
                fails = hard_failures(claim, p.text[p.start : p.end], p.title, given, self.off)
                best, best_w = -1.0, None
                for w, (owner, s, e) in enumerate(owners):
                    if owner != j:
                        continue
                    cover = len(terms & win_terms[w]) / len(terms) if terms else 0.0
                    score = 0.5 * float(cos[i, w]) + 0.5 * cover
                    if score > best:
                        best, best_w = score, (s, e)
                if not fails and "judge_window" not in self.off:
                    best_w = covering(claim, p, best_w, given)
                row.append(self._verdict(claim, p, best, best_w, fails))
            out.append(row)
        return out

    def _verdict(self, claim: str, p: Passage, score: float, window, fails: list[str]) -> Support:
        """The evidence verdict; `supported` is None when only the judge can tell (see `resolve`)."""
        s, e = window
        if fails:
            return Support(False, score, s, e, tuple(fails))
        if score >= self.verbatim:
            return Support(True, score, s, e)
        if score < self.lo:
            return Support(False, score, s, e, ("little in common with the passage",))
        if self.judge is None and score >= self.hi:
            return Support(True, score, s, e)
        return Support(None, score, s, e)

    def resolve(self, claim: str, p: Passage, sup: Support) -> Support:
        """Settle an undecided verdict: ask the judge, or without one fall back on the score."""
        if sup.supported is not None:
            return sup
        if self.judge is not None:
            # The judge reads the best window, not the whole chunk: the span a citation would quote,
            # and a prompt a fraction as long (each judge call is a prompt the LLM must evaluate).
            # The window's section headings come first: "The default is 30 seconds." under
            # "idle_timeout (integer)" states that option's default, which the window alone does not say.
            window = p.text[sup.start : sup.end]
            head = p.heading if p.heading and "headings" not in self.off else ""
            if "verify_figures" not in self.off:
                claim = restate_shares(claim, f"{head} {window}")
            verdict = self.judge.supports(claim, f"{head}: {window}" if head else window)
            if verdict is not None:
                return Support(verdict, sup.score, sup.start, sup.end,
                               () if verdict else ("the judge found the passage does not state it",), True)
        ok = sup.score >= self.hi
        return Support(ok, sup.score, sup.start, sup.end, () if ok else ("weak overlap with the passage",))


JUDGE_PROMPT = """Passage:
<<<
{evidence}
>>>
Claim: {claim}
Does the passage state the claim (same facts, figures and actors)? Answer yes or no."""


class LLMJudge:
    """The judge the context flow was measured with: the generator's one-word yes/no verdict,
    parsed from its text; None when it cannot answer (RAG_JUDGE_SCORING=text)."""

    def __init__(self, generator):
        self.generator = generator

    def supports(self, claim: str, evidence: str) -> bool | None:
        from rag.errors import LLMUnavailable

        msgs = [{"role": "user", "content": JUDGE_PROMPT.format(evidence=" ".join(evidence.split()), claim=claim)}]
        try:
            reply = self.generator.complete(msgs, max_tokens=4, temperature=0.0).strip().lower()
        except LLMUnavailable:
            return None
        m = re.search(r"\b(yes|no|not|doesn't|does not)\b", reply)
        if m is None:
            return None
        return m.group(1) == "yes"


class ProbabilityJudge:
    """The verifier's judge: the model's probability that the passage states the claim (rag/answer/judge.py),
    against SUPPORT_THRESHOLD (chosen on whole answers); None when the model cannot answer."""

    def __init__(self, judge, threshold: float | None = None):
        from rag.answer.judge import SUPPORT_THRESHOLD

        self.judge = judge
        self.threshold = SUPPORT_THRESHOLD if threshold is None else threshold

    def probability(self, claim: str, evidence: str) -> float | None:
        from rag.answer.judge import support_messages

        return self.judge.p_yes(support_messages(claim, evidence))

    def supports(self, claim: str, evidence: str) -> bool | None:
        p = self.probability(claim, evidence)
        return None if p is None else p >= self.threshold


def llm_judge(settings, generator):
    """The verifier's judge for this generator, or None (no generator, or RAG_JUDGE=false):
    the model's yes-probability against a threshold (RAG_JUDGE_SCORING=probability), or its
    parsed one-word verdict (text, the measured default)."""
    if generator is None or not settings.judge:
        return None
    if settings.judge_scoring == "text":
        return LLMJudge(generator)
    from rag.answer.judge import make_judge

    judge = make_judge(settings, generator)
    return ProbabilityJudge(judge) if judge is not None else None


def cosine_rank(embedder: Embedder, query: str, texts: Sequence[str]) -> np.ndarray:
    """Cosine of a query against texts (all unit vectors)."""
    if not texts:
        return np.zeros(0, dtype=np.float32)
    vecs = embedder.embed([query, *texts])
    return vecs[1:] @ vecs[0]
