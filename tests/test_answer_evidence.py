"""The evidence-first flow (rag/answer/) on a real index and the real embedder, with a scripted
judge and a scripted reader standing in for the model's probabilities and text.

Ranking, choosing by threshold, citing, verifying, the fallbacks and the notes run for real;
the real model's judgements are tested in tests/test_answer_llm.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.answer.judge import ScriptedJudge
from rag.llm.generate import ScriptedGenerator
from rag.ingest import ingest
from rag.pipeline import DIFFER_NOTE, MISSING_FIGURE_NOTE, Assistant
from rag.llm.prompt import REFUSAL
from rag.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

QUESTION = "How many States Parties does the Trafficking in Persons Protocol have?"


@pytest.fixture(scope="module")
def home(tmp_path_factory, real_embedder):
    home = tmp_path_factory.mktemp("home")
    ingest([ROOT / "docs_raw"], Settings(home=home), embedder=real_embedder, progress=False)
    return home


def _judge_yes_if(*needles: str) -> ScriptedJudge:
    """Choosing: p = 0.9 when the candidate text (after 'Text:') holds every needle, else 0.05.
    Verifying a written sentence ('Claim:'): 0.9 (the hard checks still apply)."""
    def p(prompt: str) -> float:
        if "Text:" not in prompt:
            return 0.9
        text = prompt.split("Text:", 1)[1]
        return 0.9 if all(n in text for n in needles) else 0.05
    return ScriptedJudge(p)


EVIDENCE = {"answer_flow": "evidence", "judge_scoring": "probability"}


def _assistant(home, embedder, reply, judge):
    return Assistant(Settings(home=home, **EVIDENCE), generator=ScriptedGenerator(reply), embedder=embedder,
                     judge=judge)


def _check_offsets(answer):
    for c in answer.citations:
        assert (ROOT / c.source).read_text(encoding="utf-8")[c.start : c.end] == c.quote


def test_judge_chooses_the_evidence_and_the_reader_answers_from_it_only(home, real_embedder):
    judge = _judge_yes_if("185 States Parties")
    seen = []

    def reply(messages):
        seen.append(messages[-1]["content"])
        return "The Protocol has 185 States Parties [1]."

    events = list(_assistant(home, real_embedder, reply, judge).events(QUESTION))
    kinds = [(e["event"], e.get("stage")) for e in events]
    # the ranked evidence is shown before the judge is asked, the chosen one before the answer is written
    assert kinds.index(("evidence", "ranked")) < kinds.index(("status", "judging"))
    assert kinds.index(("evidence", "chosen")) < kinds.index(("status", "generating"))
    chosen = next(e for e in events if e.get("stage") == "chosen")["quotes"]
    assert len(chosen) == 1 and "185 States Parties" in chosen[0]["text"]
    # the reader read only the chosen evidence sentence
    assert "185 States Parties" in seen[0] and seen[0].count("\n[") == 1 and "[2]" not in seen[0]
    answer = events[-1]["answer"]
    assert answer.answer == "The Protocol has 185 States Parties [1]."
    [cit] = answer.citations
    assert cit.source.endswith("SG-SM-22926-secretary-general-remarks.txt") and "185 States Parties" in cit.quote
    assert len(cit.quote.split()) < 60  # the sentence, not the whole chunk
    _check_offsets(answer)
    choosing = [c for c in judge.calls if "Text:" in c]
    assert len(choosing) == Settings().judge_candidates == len(answer.evidence)


def test_nothing_the_judge_accepts_is_a_refusal_without_writing(home, real_embedder):
    gen_calls = []
    answer = _assistant(home, real_embedder, lambda m: gen_calls.append(m) or "x", ScriptedJudge(lambda t: 0.1)).ask(
        "What is the annual budget of the Voluntary Trust Fund for Victims of Trafficking?")
    assert answer.refused and answer.answer == REFUSAL and not answer.citations
    assert gen_calls == []


def test_a_written_sentence_the_evidence_does_not_state_gives_way_to_the_quoted_evidence(home, real_embedder):
    judge = _judge_yes_if("185 States Parties")
    answer = _assistant(home, real_embedder, "The Protocol has 192 States Parties [1].", judge).ask(QUESTION)
    assert not answer.refused
    assert answer.sentences[0].text.startswith("“") and "185 States Parties" in answer.sentences[0].text
    assert any("192" in r.text for r in answer.removed)
    _check_offsets(answer)


def test_a_partial_answer_is_kept_and_says_what_is_missing(home, real_embedder):
    q = "Which country was the first to criminalize the purchase of sexual services, and in what year?"
    judge = _judge_yes_if("Sweden")
    answer = _assistant(home, real_embedder,
                        "Sweden was the first country to criminalize the purchase of sexual services [1].", judge).ask(q)
    assert not answer.refused
    assert answer.answer.startswith("Sweden was the first country")
    assert answer.answer.endswith(MISSING_FIGURE_NOTE)
    assert [c.source.split("/")[-1] for c in answer.citations] == ["GA-76-high-level-meeting-2021-part3.txt"]


def test_sources_that_state_different_figures_are_both_shown(tmp_path, real_embedder):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "hearing-a.txt").write_text(
        "Harbour Inspection Hearing, Session A\n\nThe delegate of Norland said that the harbour inspection "
        "programme had found 420 cases of forced labour on fishing vessels in 2024.\n")
    (docs / "hearing-b.txt").write_text(
        "Harbour Inspection Hearing, Session B\n\nThe delegate of Estmark said that the harbour inspection "
        "programme had found 1,150 cases of forced labour on fishing vessels in 2024.\n")
    home = tmp_path / "home"
    ingest([docs], Settings(home=home), embedder=real_embedder, progress=False)
    judge = _judge_yes_if("cases of forced labour")
    gen_calls = []
    answer = _assistant(home, real_embedder, lambda m: gen_calls.append(m) or "x", judge).ask(
        "How many cases of forced labour on fishing vessels did the harbour inspection programme find in 2024?")
    assert not answer.refused
    assert "420" in answer.answer and "1,150" in answer.answer and answer.answer.endswith(DIFFER_NOTE)
    assert sorted(c.source.split("/")[-1] for c in answer.citations) == ["hearing-a.txt", "hearing-b.txt"]
    assert gen_calls == []  # each figure is quoted with its own citation, not paraphrased


def test_without_a_judge_the_best_ranked_sentences_are_read(home, real_embedder):
    s = Settings(home=home, judge=False, **EVIDENCE)
    answer = Assistant(s, generator=ScriptedGenerator("The Protocol has 185 States Parties [1]."),
                       embedder=real_embedder).ask(QUESTION)
    assert not answer.refused and "185" in answer.answer and answer.evidence == ()
