"""Questions that ask two things: "Which alloy was the bridge built from, and in which year did
it open?"

Asked two things at once, the small model often answers one of them and stops, even when both
facts are in what it reads (on the eval suites' two-part questions, about half the time); a
worked two-part example in the prompt did not change that. So each part is read and answered on its own (its own best
sentences, the whole question shown for what "its" or "they" refer to), and the verified parts
make one answer. A part whose answer does not survive verification goes to the judge, as a
refused answer does: the most probable of that part's own best sentences that answers it is
quoted; when none does, the part is said to be missing. Each
part is also retrieved on its own: asked about two things, the whole question's retrieval can
rank one part's passage below the passages the model reads.

The split is by grammar only: a second question word after "and" (", and how many ...",
" and in which year ..."), which is how people join two questions in one sentence in any field;
or the same question asked again of a second group with its question words left out ("How
common was X among A, and among B?"), where the repeated preposition marks the second group.
A second part that repeats the first's question words and names only a new group ("..., and
how many in 2031?") is completed from the first part, so that it is read, retrieved and judged
as the whole question it asks.
"""

from __future__ import annotations

import re

from rag.answer.relevance import WH_WORDS, figures

MAX_PARTS = 3
MIN_WORDS = 3  # "In which year?" is a part; "and how" alone is not

_PREP = r"(?:in|on|at|from|between|among|for|by|since|during|to|of|with|after|before|under|until)"
_SPLIT = re.compile(rf"(?:,\s*|\s+)(?:and|but)\s+(?=(?:{_PREP}\s+)?{WH_WORDS}\b)", re.I)


# The same question asked again of a second group, its question words left out: "How common was
# X among A, and among B?" asks "How common was X among B?" too. The preposition repeated after
# ", and" marks where the second group begins; what comes before the first one is shared.
_ELLIPSIS = re.compile(rf"^(?P<head>{WH_WORDS}\b.*?\s)(?P<prep>{_PREP})\s+(?P<first>.+?),\s*and\s+(?P=prep)\s+"
                       rf"(?P<second>(?!{WH_WORDS}\b).+)$", re.I)


def question_parts(question: str) -> list[str]:
    """The questions asked, each as its own sentence ending in "?"; one part (the question as
    given) when it asks one thing, or when a piece would be too short to be a question. A second
    part asked by ellipsis ("..., and among B?") is given the first part's question words."""
    return [p for p, _ in _parts(question)]


def _parts(question: str) -> list[tuple[str, bool]]:
    """`question_parts`, each with whether it was completed from the first part (and so asks
    the whole of its question on its own)."""
    q = " ".join(question.split())
    pieces = [p.strip(" ,;?") for p in _SPLIT.split(q)]
    completed = [False] * len(pieces)
    if len(pieces) == 1 and (m := _ELLIPSIS.match(q.rstrip(" ?"))):
        head = m.group("head") + m.group("prep")
        pieces, completed = [f"{head} {m.group('first')}", f"{head} {m.group('second')}"], [True, True]
    if len(pieces) < 2 or len(pieces) > MAX_PARTS or any(len(p.split()) < MIN_WORDS for p in pieces):
        return [(q, False)]
    out = [(pieces[0], completed[0])]
    for p, done in zip(pieces[1:], completed[1:]):
        whole = _borrow(pieces[0], p)
        out.append((whole, done or whole != p))
    return [(p[0].upper() + p[1:] + "?", done) for p, done in out]


def _borrow(first: str, piece: str) -> str:
    """A part that repeats the first part's question words and then only a new group ("what share
    in the 2031 survey" after "what share of households owned a car in the census") asks the
    first part's question of that group: the first part up to its last phrase with the same
    preposition, then the new group. Any other part is returned as it is."""
    words, own = first.split(), piece.split()
    if len(own) < 3 or [w.lower() for w in own[:2]] != [w.lower() for w in words[:2]]:
        return piece
    prep = own[2].lower()
    if prep == "of" or not re.fullmatch(_PREP, prep):  # "what share of B ..." names its own quantity
        return piece
    at = max((i for i, w in enumerate(words) if i >= 2 and w.lower() == prep), default=None)
    return piece if at is None else " ".join(words[:at] + own[2:])


def part_query(part: str, question: str) -> str:
    """What a part is retrieved with: the part, then the whole question (what the part is
    about: "In which year did it open?" names no bridge). Measured on the
    suites' two-part questions: every asked-for fact in what the model reads for 5 of 8 (default)
    and 7 of 9 (SciFact), against 5 and 5 with the whole question's passages for every part,
    and 5 and 7 with the part alone (which ranks the right passage lower)."""
    return f"{part} {question}"


def part_question(question: str, part: str) -> str:
    """What the model (and the judge) is asked for one part: the whole question (what "its" or
    "they" refer to), then the one part to answer; or the part alone when it was completed from
    the first part and so asks the whole of its question ("How common was X among B?"): the
    whole question would show the other group's words too."""
    if (part, True) in _parts(question):
        return part
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
