"""Questions that ask two things: "Which drug was the regimen built on, and between which years
were its patients enrolled?"

Measured on both eval suites (session 7): asked two things at once, the small model answered one
of them and stopped, on 5 of the 8 two-part questions of the default suite and 5 of the 9 of the
SciFact suite, even when both facts were in what it read; a worked two-part example in the
prompt did not change that. So each part is read and answered on its own (its own best
sentences, the whole question shown for what "its" or "they" refer to), and the verified parts
make one answer. A part whose answer does not survive verification goes to the judge, as a
refused answer does: the most probable of that part's own best sentences that answers it is
quoted; when none does, the part is said to be missing. Each
part is also retrieved on its own: asked about two things, the whole question's retrieval can
rank one part's passage below the passages the model reads.

The split is by grammar only: a second question word after "and" (", and how many ...",
" and in which year ..."), which is how people join two questions in one sentence in any field.
"""

from __future__ import annotations

import re

from rag.answer.relevance import WH_WORDS, figures

MAX_PARTS = 3
MIN_WORDS = 3  # "In which year?" is a part; "and how" alone is not

_PREP = r"(?:in|on|at|from|between|for|by|since|during|to|of|with|after|before|under|until)"
_SPLIT = re.compile(rf"(?:,\s*|\s+)(?:and|but)\s+(?=(?:{_PREP}\s+)?{WH_WORDS}\b)", re.I)


def question_parts(question: str) -> list[str]:
    """The questions asked, each as its own sentence ending in "?"; one part (the question as
    given) when it asks one thing, or when a piece would be too short to be a question."""
    q = " ".join(question.split())
    pieces = [p.strip(" ,;?") for p in _SPLIT.split(q)]
    if len(pieces) < 2 or len(pieces) > MAX_PARTS or any(len(p.split()) < MIN_WORDS for p in pieces):
        return [q]
    return [p[0].upper() + p[1:] + "?" for p in pieces]


def part_query(part: str, question: str) -> str:
    """What a part is retrieved with: the part, then the whole question (what the part is
    about: "Between which years were its patients enrolled?" names no study). Measured on the
    suites' two-part questions: every asked-for fact in what the model reads for 5 of 8 (default)
    and 7 of 9 (SciFact), against 5 and 5 with the whole question's passages for every part,
    and 5 and 7 with the part alone (which ranks the right passage lower)."""
    return f"{part} {question}"


def part_question(question: str, part: str) -> str:
    """What the model is asked for one part: the whole question (what "its" or "they" refer
    to), then the one part to answer."""
    return f"{question}\nAnswer only this part of it: {part}"


def missing_note(part: str) -> str:
    """Said when a part has no supported answer, so a partial answer is not taken for a whole one."""
    return f"The documents do not say: {part[0].lower() + part[1:]}"


def repeats(draft: str, earlier: list[str], question: str) -> bool:
    """Whether a part's written answer repeats an earlier part's instead of answering its own:
    the very same sentence, or only figures an earlier part's answer already gave ("42,276 [1]"
    for the cases in 2000, then "42,276 in 2000 [1]" for the cases in 2010). Figures the
    question itself holds (its years) do not count; two parts that ask two things are not
    answered by one figure."""
    if draft in earlier:
        return True
    given = figures(question)
    own = figures(draft) - given
    before = set().union(*(figures(t) for t in earlier)) - given
    return bool(own) and own <= before
