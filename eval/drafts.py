"""Draft suite items for a person to review: from indexed passages (by the LLM) or from feedback.

Drafts are never trusted: an LLM-drafted item is kept only when its answer pattern occurs in
the passage it came from and the question does not give the answer away; a feedback item
carries the user's comment and the rated answer in `notes`, for the reviewer to decide what a
good answer states. Both kinds are written with `suite.write_drafts`, never into default.yaml.
"""

from __future__ import annotations

import datetime
import json
import random
import re
from pathlib import Path
from typing import Callable

from eval.suite import Item, Suite
from rag.errors import LLMUnavailable

DRAFT_PROMPT = """Passage:
<<<
{text}
>>>
Write one question that this passage answers on its own, naming who or what it is about, and its answer: a few words copied from the passage.
Reply in exactly two lines:
Q: <question>
A: <answer>"""

_Q = re.compile(r"^\s*Q\s*[:.]\s*(.+?)\s*$", re.M | re.I)
_A = re.compile(r"^\s*A\s*[:.]\s*(.+?)\s*$", re.M | re.I)
_NUMBER = re.compile(r"\d[\d,.]*\d|\d")
_ARTICLES = re.compile(r"^(?:the|a|an)\s+", re.I)


def fact_pattern(answer: str) -> str | None:
    """A regex for the answer's key fact: its first figure, else the short answer itself."""
    answer = answer.strip().strip(".\"'“”")
    m = _NUMBER.search(answer)
    if m:
        return r"\b" + re.escape(m.group().rstrip(".,")) + r"\b"
    words = _ARTICLES.sub("", answer).split()
    if not words:
        return None
    if len(words) > 5:  # a long answer: its longest word is the most distinctive part
        words = [max(words, key=len)]
    return r"\s+".join(re.escape(w.strip(",;:")) for w in words)


def parse_draft(reply: str) -> tuple[str, str] | None:
    q, a = _Q.search(reply), _A.search(reply)
    if not q or not a:
        return None
    question = q.group(1).strip()
    return (question if question.endswith("?") else question + "?"), a.group(1).strip()


def _sample(index, n: int, seed: int) -> list:
    """Chunks spread over the documents (round robin), long enough to hold a fact."""
    rng = random.Random(seed)
    by_doc: dict[str, list] = {}
    for c in index.chunks:
        if len(c.text.split()) >= 30:
            by_doc.setdefault(c.doc_id, []).append(c)
    for chunks in by_doc.values():
        rng.shuffle(chunks)
    docs = sorted(by_doc)
    rng.shuffle(docs)
    out = []
    while len(out) < n and any(by_doc.values()):
        for d in docs:
            if by_doc[d] and len(out) < n:
                out.append(by_doc[d].pop())
    return out


def draft_from_chunks(index, generator, *, n: int = 10, seed: int = 0,
                      log: Callable[[str], None] = lambda m: None) -> list[Item]:
    """Up to n drafted items, each from one passage; tries at most 2n passages."""
    today = datetime.date.today().isoformat()
    items: list[Item] = []
    for chunk in _sample(index, 2 * n, seed):
        if len(items) >= n:
            break
        text = " ".join(chunk.text.split())
        try:
            reply = generator.complete([{"role": "user", "content": DRAFT_PROMPT.format(text=text)}],
                                       max_tokens=120, temperature=0.0)
        except LLMUnavailable as e:
            log(f"skipped a passage: {e}")
            continue
        parsed = parse_draft(reply)
        pattern = fact_pattern(parsed[1]) if parsed else None
        if not parsed or not pattern:
            log(f"discarded: reply not in Q:/A: form ({' '.join(reply.split())[:80]!r})")
            continue
        question, answer = parsed
        if not re.search(pattern, text, re.I):
            log(f"discarded: answer {answer!r} is not in its passage")
            continue
        if re.search(pattern, question, re.I):
            log(f"discarded: the question gives the answer away ({question!r})")
            continue
        items.append(Item(
            id=f"draft-{today}-{len(items) + 1:03d}", question=question, answerable=True, facts=(pattern,),
            documents=(chunk.source,), tags=("draft", "generated"), origin=f"chunk {chunk.id}",
            notes=f"LLM answer: {answer}. Passage: {text[:300]}{'…' if len(text) > 300 else ''}"))
        log(f"drafted: {question}")
    return items


def _norm_q(q: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", q.lower()).split())


def known_questions(suites_dir: Path) -> set[str]:
    """Questions already in any suite or drafts file (invalid files are skipped)."""
    from eval.suite import SuiteError, load_suite

    out = set()
    for p in sorted(suites_dir.glob("*.y*ml")) + sorted(suites_dir.glob("*.jsonl")):
        try:
            out |= {_norm_q(i.question) for i in load_suite(p).items}
        except SuiteError:
            continue
    return out


def draft_from_feedback(path: Path, suite: Suite | None = None, known: set[str] | None = None) -> list[Item]:
    """One draft per distinct thumbs-down question not already in a suite, newest feedback first."""
    if not Path(path).exists():
        return []
    from eval import SUITES_DIR

    seen = set(known if known is not None else known_questions(SUITES_DIR))
    if suite is not None:
        seen |= {_norm_q(i.question) for i in suite.items}
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue  # a half-written last line must not stop the rest
        if isinstance(r, dict) and r.get("rating") == "down" and isinstance(r.get("question"), str) and r["question"].strip():
            records.append(r)
    today = datetime.date.today().isoformat()
    items: list[Item] = []
    for r in sorted(records, key=lambda r: str(r.get("ts", "")), reverse=True):
        key = _norm_q(r["question"])
        if key in seen:
            continue
        seen.add(key)
        cited = [c.get("source") for c in r.get("citations") or [] if isinstance(c, dict) and c.get("source")]
        answer = " ".join(str(r.get("answer") or "").split())
        notes = [f"thumbs down {r.get('ts', '')}".strip()]
        if r.get("comment"):
            notes.append(f"comment: {' '.join(str(r['comment']).split())}")
        notes.append(("refused: " if r.get("refused") else "answer: ") + answer[:400])
        if cited:
            notes.append("cited: " + ", ".join(dict.fromkeys(cited)))
        notes.append("TODO: decide answerable; add facts (regexes) and documents")
        items.append(Item(
            id=f"fb-{today}-{len(items) + 1:03d}", question=" ".join(r["question"].split()), answerable=True,
            tags=("draft", "feedback") + ((f"mode-{r['mode']}",) if r.get("mode") else ()),
            origin=f"feedback {r.get('ts', '')}".strip(), notes=" | ".join(notes)))
    return items
