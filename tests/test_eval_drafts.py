"""Drafting suite items: from passages with a (scripted) LLM, and from thumbs-down feedback."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

from click.testing import CliRunner

from eval.cli import eval_group
from eval.drafts import draft_from_chunks, draft_from_feedback, fact_pattern, parse_draft
from eval.suite import load_suite, write_drafts
from rag.llm.generate import ScriptedGenerator
from rag.types import Chunk

PASSAGES = {
    "sg": "This year marks the twenty-fifth anniversary of the Convention and the Trafficking in Persons Protocol, "
          "now almost universally ratified, with 185 States Parties, the Secretary-General said in his message "
          "to the meeting, calling on all States to implement it fully and to protect every victim.",
    "se": "For example, in 1999, Sweden became the first country in the world to criminalize the purchase but not "
          "the sale of sexual services, which made Sweden a less attractive market for criminals interested in "
          "trafficking people for sexual exploitation, she told the Assembly at the meeting in November.",
    "il": "Israel's representative said her country has set up a dedicated forfeiture fund for compensation and aid "
          "to victims of trafficking, and that approaches focused on victims and helping them overcome trauma are "
          "critical, as it harnesses the same technologies misused by criminals to boost its response.",
}


def _index():
    chunks = [Chunk(id=f"c-{k}", doc_id=f"d-{k}", source=f"docs_raw/{k}.txt", text=t, start=0, end=len(t), ordinal=0)
              for k, t in PASSAGES.items()]
    return SimpleNamespace(chunks=chunks)


def _reply(messages):
    text = messages[-1]["content"]
    if "185 States Parties" in text:
        return "Q: How many States Parties does the Trafficking in Persons Protocol have?\nA: 185"
    if "Sweden" in text:
        return "Q: In what year did Sweden criminalize buying sex?\nA: 2001"  # not in the passage
    return "Q: What did Israel set up for victims, a forfeiture fund?\nA: a forfeiture fund"  # gives it away


def test_fact_pattern_and_parse():
    assert fact_pattern("185 States Parties") == r"\b185\b"
    assert fact_pattern("The Forfeiture Fund.") == r"Forfeiture\s+Fund"
    assert re.search(fact_pattern("some $30 billion"), "moves some $30 billion", re.I)
    assert parse_draft("Sure!\nQ: Who spoke\nA: Sweden") == ("Who spoke?", "Sweden")
    assert parse_draft("no format here") is None


def test_drafts_from_passages_are_checked_against_them(tmp_path):
    log = []
    items = draft_from_chunks(_index(), ScriptedGenerator(_reply), n=3, seed=1, log=log.append)
    assert [i.question for i in items] == ["How many States Parties does the Trafficking in Persons Protocol have?"]
    [item] = items
    assert item.facts == (r"\b185\b",) and item.documents == ("docs_raw/sg.txt",) and item.origin == "chunk c-sg"
    assert "draft" in item.tags and item.answerable
    assert any("not in its passage" in m for m in log) and any("gives the answer away" in m for m in log)
    path = write_drafts(items, "drafts", tmp_path)
    assert load_suite(path).items[0].facts == (r"\b185\b",)


def _feedback(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
        f.write('{"ts": "half a line')  # a crash mid-write must not hide the rest


def test_feedback_becomes_drafts(tmp_path):
    fb = tmp_path / "feedback.jsonl"
    base = {"answer": "The documents do not say.", "mode": "generate", "model": "m", "citations": [], "refused": True}
    _feedback(fb, [
        {**base, "ts": "2025-01-01T10:00:00", "question": "Who chairs the Commission?", "rating": "down",
         "comment": "it is in the hearing summary"},
        {**base, "ts": "2025-01-01T11:00:00", "question": "Who chairs the commission", "rating": "down", "comment": ""},
        {**base, "ts": "2025-01-01T12:00:00", "question": "Fine question?", "rating": "up", "comment": ""},
        {**base, "ts": "2025-01-02T09:00:00", "rating": "down", "comment": "wrong figure", "refused": False,
         "question": "How much money does trafficking move?", "answer": "It moves $20 billion [1].",
         "citations": [{"n": 1, "source": "docs_raw/GA-76-high-level-meeting-2021-part3.txt", "quote": "…"}]},
        {**base, "ts": "2025-01-03T09:00:00", "rating": "down", "comment": "",
         "question": "How many States Parties does the Trafficking in Persons Protocol have?"},  # already in default
    ])
    items = draft_from_feedback(fb, load_suite("default"), known=set())
    assert [i.question for i in items] == ["How much money does trafficking move?", "Who chairs the commission"]
    first = items[0]
    assert first.id.startswith("fb-") and first.origin == "feedback 2025-01-02T09:00:00"
    assert "comment: wrong figure" in first.notes and "answer: It moves $20 billion [1]." in first.notes
    assert "cited: docs_raw/GA-76-high-level-meeting-2021-part3.txt" in first.notes
    assert draft_from_feedback(tmp_path / "none.jsonl", None, known=set()) == []


def test_feedback_command_writes_reviewable_file(tmp_path, rag_home):
    rag_home.mkdir(parents=True, exist_ok=True)
    _feedback(rag_home / "feedback.jsonl", [{"ts": "t1", "question": "What is new here?", "answer": "x",
                                               "rating": "down", "comment": "", "citations": [], "refused": False}])
    out = tmp_path / "drafts"
    result = CliRunner().invoke(eval_group, ["feedback", "--out-dir", str(out)])
    assert result.exit_code == 0, result.output
    [path] = out.glob("drafts-feedback-*.yaml")
    suite = load_suite(path)
    assert suite.items[0].question == "What is new here?" and suite.warnings  # no facts yet: flagged for review
    again = CliRunner().invoke(eval_group, ["feedback", "--out-dir", str(out)])
    assert len(list(out.glob("*.yaml"))) == 2 and "Wrote 1" in again.output  # a new file, never overwritten
