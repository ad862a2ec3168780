"""Is a sentence supported by a passage? Deterministic checks first, then similarity, then a judge.

For each (claim, passage) pair:
1. Hard checks, any failure is final: every number in the claim appears in the passage
   (figures written as words count: "fifteenth" = 15); every quoted phrase appears verbatim;
   every name (capitalised word not opening the sentence, acronym) appears in the passage
   or its document's title, symbol or date. Figures and names the question itself states
   count as given.
2. Evidence score on the best window of one or two passage sentences:
   0.5 * cosine(claim, window) + 0.5 * share of the claim's content terms in the window.
   Above `hi` supported, below `lo` not.
3. Between `lo` and `verbatim` (near-identical wording), a `Judge` decides when one is
   available (the model's probability of "yes", against a threshold), because similarity cannot
   see negation or swapped actors; without a judge, `hi` decides. Thresholds were set on
   eval/verifier_labels.jsonl.
The best window is the quoted span a citation shows, with exact offsets into the document.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np

from embeddings import Embedder
from rag.lexical import content_terms
from rag.sentences import split_sentences

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
_QUOTED = re.compile(r"[\"“]([^\"“”]{4,}?)[\"”]")
_NAME = re.compile(r"\b(?:[A-Z][a-z’'‑-]*[A-Z][A-Za-z]*|[A-Z]{2,}[a-z]?|[A-Z][a-z’'‑-]{2,})\b")
_FUNCTION_CAPS = {"The", "This", "That", "These", "Those", "It", "Its", "In", "On", "At", "By", "For", "And",
                  "But", "Or", "As", "A", "An", "He", "She", "They", "We", "I", "His", "Her", "Their", "Our",
                  "According", "Also", "However", "There", "Here", "When", "While", "With", "From", "To"}


def norm(s: str) -> str:
    """Text as compared by the checks: NFKC, lower case, plain quotes and hyphens, single spaces."""
    s = unicodedata.normalize("NFKC", s).lower()
    s = s.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    s = re.sub(r"[‐‑‒–—]", "-", s)
    return " ".join(s.split())


def numbers(text: str) -> set[str]:
    """Figures stated in a text, normalised ("1,500" -> "1500", "fifteenth" and "15th" -> "15")."""
    out = {m.group(1).replace(",", "") for m in _NUM.finditer(text)}
    # a thousands separator followed by a space, as text extraction leaves it ("5, 446 travellers")
    out |= {m.group().replace(",", "").replace(" ", "") for m in _SPACED_THOUSANDS.finditer(text)}
    for m in _NUMWORD.finditer(text):
        if m.group(1):
            out.add(str(_TENS[m.group(1).lower()] + _WORDNUM[m.group(2).lower()]))
        else:
            out.add(str(_WORDNUM[m.group(3).lower()]))
    return {n[:-2] if n.endswith(".0") else n for n in out}


def claim_numbers(text: str, ordinals: bool = True) -> set[str]:
    """Figures a claim asserts: digits only (number words in claims are mostly not figures).
    `ordinals`: "20th" counts (as 20), as the passage must state it too; off where a figure must
    be a quantity ("the 48th meeting" answers no "how many")."""
    return {m.group(1).replace(",", "") for m in _NUM.finditer(text) if ordinals or not m.group(2)}


def _join_spaced_thousands(claim: str, have: set[str]) -> str:
    """The claim with "4, 158" read as 4158 wherever the passage states 4158 (as "4,158" or "4, 158"):
    a writer copying a figure may add or drop the space after a thousands separator. Elsewhere
    "5, 446" stays two figures, as a list of numbers would be."""
    def one(m: re.Match) -> str:
        joined = m.group().replace(", ", "")
        return joined if joined in have else m.group()

    return _SPACED_THOUSANDS.sub(one, claim)


def quoted(text: str) -> list[str]:
    return [q.strip(" ,.") for q in _QUOTED.findall(text) if len(q.split()) >= 2]


def names(text: str) -> list[str]:
    """Capitalised words and acronyms, except the sentence's first word and function words."""
    out = []
    for m in _NAME.finditer(text):
        w = m.group()
        if m.start() == 0 or w in _FUNCTION_CAPS:
            continue
        out.append(w)
    return out


def hard_failures(claim: str, passage: str, title: str = "", given: str = "") -> list[str]:
    """Reasons the passage cannot support the claim, whatever their similarity.

    `given` is the question: a figure or name the user wrote ("at the 2025 meeting") is the
    question's premise restated, not a claim the passage must carry.
    """
    fails = []
    have = numbers(passage) | numbers(title) | numbers(given)
    for n in sorted(claim_numbers(_join_spaced_thousands(claim, have)) - have):
        fails.append(f"number {n} not in the passage")
    np_ = norm(passage)
    for q in quoted(claim):
        if norm(q) not in np_:
            fails.append(f"quoted words “{q}” not in the passage")
    hay = np_ + " " + norm(title) + " " + norm(given)
    for name in names(claim):
        stem = norm(name)[: max(4, min(len(name), 6) - 1)]
        if stem not in hay:
            fails.append(f"{name} not in the passage")
    return fails


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
    title: str = ""
    windows: list[tuple[int, int]] = field(default_factory=list)

    def __post_init__(self):
        sents = split_sentences(self.text, self.start, self.end) or [(self.start, self.end)]
        self.windows = list(sents) + [(a[0], b[1]) for a, b in zip(sents, sents[1:])]


class EvidenceVerifier:
    """Scores claims against passages; see the module docstring for the rule."""

    def __init__(self, embedder: Embedder, judge: Judge | None = None, lo: float = 0.5, hi: float = 0.6,
                 verbatim: float = 0.97):
        self.embedder = embedder
        self.judge = judge
        self.lo, self.hi, self.verbatim = lo, hi, verbatim

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
        win_terms = [content_terms(t) for t in win_texts]
        out: list[list[Support]] = []
        for i, claim in enumerate(claims):
            terms = content_terms(claim)
            row = []
            for j, p in enumerate(passages):
                fails = hard_failures(claim, p.text[p.start : p.end], p.title, given)
                best, best_w = -1.0, None
                for w, (owner, s, e) in enumerate(owners):
                    if owner != j:
                        continue
                    cover = len(terms & win_terms[w]) / len(terms) if terms else 0.0
                    score = 0.5 * float(cos[i, w]) + 0.5 * cover
                    if score > best:
                        best, best_w = score, (s, e)
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
            verdict = self.judge.supports(claim, p.text[sup.start : sup.end])
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
    against a threshold set on eval/verifier_labels.jsonl; None when the model cannot answer."""

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
