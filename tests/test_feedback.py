"""Feedback: one JSON line per rating in HOME/feedback.jsonl, read back by `load`."""

from __future__ import annotations

import json

import pytest

from rag import feedback
from rag.llm.prompt import REFUSAL
from rag.settings import Settings
from rag.types import Answer, AnswerSentence, Citation

KEYS = {"ts", "question", "answer", "rating", "comment", "mode", "model", "citations", "refused"}


@pytest.fixture
def settings(rag_home) -> Settings:
    return Settings()  # RAG_HOME points at this test's temporary directory


def cited_answer() -> Answer:
    c = Citation(n=1, source="docs_raw/SG-SM-22926-secretary-general-remarks.txt", doc_id="d1", chunk_id="c1",
                 title="Human Trafficking", symbol="SG/SM/22926", date=None, section=None, paragraph=6,
                 quote="now almost universally ratified, with 185 States Parties.", start=1043, end=1100)
    s = AnswerSentence(text="The Protocol has 185 States Parties.", citations=(1,), supported=True)
    return Answer(question="How many States Parties?", answer="The Protocol has 185 States Parties [1].",
                  refused=False, mode="generate", model="qwen2.5-coder-1.5b-instruct-q4_k_m",
                  sentences=(s,), citations=(c,))


def test_record_appends_one_json_line(settings, rag_home):
    rec = feedback.record(settings, cited_answer(), "up", "  Exactly   right\n")
    path = rag_home / "feedback.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    stored = json.loads(lines[0])
    assert stored == rec
    assert set(stored) == KEYS
    assert stored["question"] == "How many States Parties?"
    assert stored["answer"] == "The Protocol has 185 States Parties [1]."
    assert stored["rating"] == "up" and stored["comment"] == "Exactly right"
    assert stored["mode"] == "generate" and stored["model"] == "qwen2.5-coder-1.5b-instruct-q4_k_m"
    assert stored["refused"] is False
    assert stored["citations"] == [{"n": 1, "source": "docs_raw/SG-SM-22926-secretary-general-remarks.txt",
                                    "quote": "now almost universally ratified, with 185 States Parties."}]
    assert stored["ts"].endswith("+00:00")


def test_load_returns_records_in_order(settings):
    assert feedback.load(settings) == []
    feedback.record(settings, cited_answer(), "up")
    refusal = Answer(question="Capital of Mars?", answer=REFUSAL, refused=True, mode="quote", model=None)
    feedback.record(settings, refusal, "down", "should have said it is not in the documents")
    got = feedback.load(settings)
    assert [r["rating"] for r in got] == ["up", "down"]
    assert got[1]["refused"] is True and got[1]["answer"] == REFUSAL and got[1]["citations"] == []
    assert got[0]["comment"] == ""


def test_bad_rating_writes_nothing(settings, rag_home):
    with pytest.raises(ValueError, match="up.*down"):
        feedback.record(settings, cited_answer(), "meh")
    assert not (rag_home / "feedback.jsonl").exists()


def test_torn_line_is_skipped(settings, rag_home):
    feedback.record(settings, cited_answer(), "down", "wrong figure")
    with open(rag_home / "feedback.jsonl", "a", encoding="utf-8") as f:
        f.write('{"ts": "2025-01-01T00:00:00+00:00", "quest')  # a crash mid-write
    got = feedback.load(settings)
    assert len(got) == 1 and got[0]["comment"] == "wrong figure"
    feedback.record(settings, cited_answer(), "up")
    assert [r["rating"] for r in feedback.load(settings)] == ["down", "up"]  # starts on a line of its own
