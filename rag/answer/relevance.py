"""Does a verified answer give the kind of thing the question asks for?

The verifier proves that each sentence is stated by its source; it cannot see that a true,
well-cited sentence misses the question. The small model does this when the sources lack the
answer: asked "How many permits were issued under that scheme?", it cites a source saying
permits "remain rare"; asked which organization a panellist represents, it
answers with another speaker's title. Deterministic checks:

- A question asking for a figure (how many, how much, what percentage, which year, on what
  date, what is the budget, what relapse rate, what daily dose...) is answered only by a
  sentence stating one, in digits or in words ("a third", "two million"; not "thousands"); an
  answer with none is a refusal (both modes).
- A sentence that shares no content word with the question, neither in itself nor in the window
  it cites, is off the question and removed: "1999 [1]" passes when its source is about the
  question, "Ana Ruiz, Minister of Transport [2]" does not when it asks about Omar Lind.
- An answer none of whose cited documents names what the question names (`names_absent`, names
  only) is withdrawn: asked about "the Harbour Board's tide tables", a sentence about another
  office's tide tables is true of its page and no answer about the Harbour Board.

The names, ordinals and years a question asks about (`names_absent`) decide which retrieved
documents the judge may quote from (rag/pipeline.py `eligible`): a document that never names
the Thai soldiers, "the second panel" or 2015 does not answer about them. Checked over whole
documents (titles too), not sentences, since a document names its subject once and then says
"the patients" or "she"; a year may be stated within a range ("2009-2010").
"""

from __future__ import annotations

import re
from typing import Iterable

from rag.index.lexical import content_terms
from rag.answer.verify import _ORD, claim_numbers, named, names, norm

_ASKS_FIGURE = re.compile(
    r"\b(?:how (?:many|much)|what (?:percentage|per ?cent|share|proportion|fraction|number of|figures?|date)"
    r"|(?:in )?(?:what|which) year"
    r"|what (?:is|was|were|are) the (?:\w+ ){0,2}(?:budget|cost|amount|number|population|rate|total|dose"
    r"|incidence|prevalence)"
    # "What relapse rate did ...", "What weekly dose ...", "What rise in detection ...": a quantity
    # named right after "what", with at most three words before it
    r"|what (?:(?!(?:did|does|do|is|was|were|are|has|have|had|gave|give|gives|caused?|causes|led|leads?|explains?"
    r"|explained|drove|drives?|contributed?|contributes)\b)[\w-]+ ){0,3}"
    r"(?:rates?|ratios?|percentages?|doses?|dosages?|amounts?|budgets?|costs?|prices?"
    r"|increases?|rises?|decreases?|falls?|drops?|reductions?|incidence|prevalence)"
    # a magnitude asked by its dimension ("How big is the buffer?", "How long may the comment be?",
    # "What resolution does it assume?") or in a unit ("..., in bytes?", "in points")
    r"|how (?:big|large|small|long|old|far|fast|high|wide|tall|heavy|deep)"
    r"|what (?:size|resolution|length|width|height|depth|duration|speed|weight|capacity|temperature)"
    r"|in (?:bytes|kilobytes|megabytes|gigabytes|bits|seconds|milliseconds|minutes|hours|days|weeks|months|years"
    r"|points|pixels|dpi|inches|millimet(?:er|re)s|centimet(?:er|re)s|met(?:er|re)s|kilomet(?:er|re)s"
    r"|degrees|percent|kilograms|grams|litres|liters))\b",
    re.I,
)
# A figure in an answer: digits, or a quantity in words ("a third", "twice", "two million").
# Vague plurals ("thousands of victims") are not an answer to "how much".
_FIGURE_WORDS = re.compile(
    r"\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|sixty|seventy"
    r"|eighty|ninety|hundred|thousand|million|billion|dozen|half|halved|third|quarter|twice|double[ds]?"
    r"|tripled?|\w+fold|per ?cent|percent)\b",
    re.I,
)


def asks_for_figure(question: str) -> bool:
    return bool(_ASKS_FIGURE.search(question))


def figures(text: str) -> set[str]:
    """The figures a text states: numbers in digits, and quantities in words (not ordinals: "the
    48th meeting" names a meeting)."""
    return claim_numbers(text, ordinals=False) | {m.group().lower() for m in _FIGURE_WORDS.finditer(text)}


def misses_figure(question: str, sentences: list[str]) -> bool:
    """True when the question asks for a figure and none of the sentences states one (beyond
    the figures the question itself holds: "in 2019" repeated is not an answer)."""
    given = figures(question)
    return asks_for_figure(question) and not any(figures(s) - given for s in sentences)


REASON = "the question asks for a figure and the answer gives none"


def off_topic(question: str, sentence: str, evidence: list[str]) -> bool:
    """True when the question has content words and neither the sentence nor its cited
    evidence (the quoted windows) shares any of them."""
    asked = content_terms(question)
    if not asked:
        return False
    said = content_terms(sentence).union(*(content_terms(t) for t in evidence))
    return not (asked & said)


OFF_TOPIC = "shares nothing with the question: not an answer to it"


def unnamed_reason(missing: list[str]) -> str:
    """Why an answer is withdrawn when no document it cites names what the question names."""
    return f"no document it cites names {', '.join(missing)}: not an answer about that"


WH_WORDS = r"(?:who|whom|whose|what|which|when|where|how|why)"  # the words that ask (rag/answer/parts.py too)
_QUESTION_PIECES = re.compile(r"\n+|(?<=[?!:])\s+")


def asked_names(question: str) -> list[str]:
    """The names the question uses: its capitalised words after the first, else its acronyms.

    Capitalised names ("Norway", "Lyon") say which study, place or speaker is meant;
    acronyms ("GDP", "LED") mostly name the topic, which documents about another study share.
    So when the question has both, its capitalised names are the ones that count. Each line or
    sentence of the question starts with a capital that names nothing: a part's question is the
    whole question, then "Answer only this part of it: In which year ...?"."""
    asked = [n for piece in _QUESTION_PIECES.split(question) for n in names(piece)]
    proper = [n for n in asked if not re.sub(r"['’]?s$", "", n).isupper()]
    return proper or asked


_ORDINAL_WORDS = tuple(w for w, n in _ORD.items() if n <= 10)  # "first" .. "tenth", in order
# "the second panel", "its third report", "the 2nd arm": an ordinal that picks one of several
# ("the first time", "the first-ever forum" pick nothing out)
_ORDINAL = re.compile(r"\b(?:the|its|their|his|her)\s+(" + "|".join(_ORDINAL_WORDS)
                      + r"|\d+(?:st|nd|rd|th))\s+(?!time\b)([a-z][\w-]*)", re.I)


def asked_ordinals(question: str) -> list[str]:
    """The ordinals with which the question picks one of several things: ["second panel"]."""
    return [f"{m.group(1).lower()} {m.group(2).lower()}" for m in _ORDINAL.finditer(question)
            if content_terms(m.group(2))]  # "the first in the world", "the first to" name no thing


def _says_ordinal(ordinal: str, text: str) -> bool:
    """Whether `text` (normalised) says the ordinal, in words or digits ("second" or "2nd")."""
    word = ordinal.split()[0]
    forms = {word}
    if word in _ORDINAL_WORDS:
        n = _ORDINAL_WORDS.index(word) + 1
        forms.add(f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n, 'th') }")
    elif word[:-2].isdigit() and 1 <= int(word[:-2]) <= len(_ORDINAL_WORDS):
        forms.add(_ORDINAL_WORDS[int(word[:-2]) - 1])
    return any(re.search(rf"(?<![\w-]){f}(?![\w])", text) for f in forms)


def names_absent(question: str, documents: Iterable[str], names_only: bool = False) -> list[str]:
    """The names the question uses (`asked_names`) when it uses some and none of them appears in
    any of `documents` (the texts of the documents an answer cites, titles included; read only
    when the question names something); else (unless `names_only`) the ordinals with which it
    picks one of several ("the second panel") that none of the documents says at all: a document
    with a single panel discussion answers about that one, not the second; and the years it asks
    about ("in 2015") that none of the documents states, as a year or inside a range of years
    ("2009-2010"): a survey of 2009-2010 does not answer for 2015; else []."""
    asked = asked_names(question)
    ordinals = asked_ordinals(question)
    years = asked_years(question)
    if not asked and not ordinals and not years:
        return []
    hay = " ".join(documents)
    if asked and not named(asked, hay):
        return asked
    if names_only:
        return []
    said = norm(hay) if ordinals else ""
    missing = [f"the {o}" for o in ordinals if not _says_ordinal(o, said)]
    stated = stated_years(hay) if years else set()
    return missing + [y for y in years if int(y) not in stated]


# A year the question asks about: after a word that sets a time ("in 2015", "since 2010",
# "by mid-2030"). "the 2000 participants" or "the 2030 Agenda" are not asked-about years.
_ASKED_YEAR = re.compile(r"\b(?:in|since|by|from|to|until|till|before|after|during|between|and|through|year|"
                         r"early|late|mid)[\s-]+((?:19|20)\d\d)\b(?![.,]?\d|\s*%)", re.I)
_YEAR = re.compile(r"(?<![\d.,/$€£])((?:19|20)\d\d)(?![.,]?\d)")
_MONTHS = {"january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december"}
# "2009-2010", "1989-93", "from 2005 to 2011", "between November 2009 and December 2010" ("Dec.", "Sept" too)
_MONTH_WORD = r"(?:(?:" + "|".join(m[:3] for m in _MONTHS) + r")[a-z]*\.?\s+)?"
_YEAR_RANGE = re.compile(r"((?:19|20)\d\d)\s*(?:-|–|—|to|and|until|through)\s*" + _MONTH_WORD
                         + r"((?:19|20)?\d\d)(?![.,]?\d)", re.I)


def asked_years(question: str) -> list[str]:
    """The years the question asks about ("in 2015", "since 2010"), in order, each once."""
    return list(dict.fromkeys(m.group(1) for m in _ASKED_YEAR.finditer(question)))


def stated_years(text: str) -> set[int]:
    """The years a text states: each year written, and every year inside a range it writes."""
    out = {int(y) for y in _YEAR.findall(text)}
    for m in _YEAR_RANGE.finditer(text):
        a, b = m.group(1), m.group(2)
        lo, hi = int(a), int(a[:4 - len(b)] + b)
        if lo < hi <= lo + 50:
            out.update(range(lo, hi + 1))
    return out
