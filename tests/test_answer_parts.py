"""A question that asks two things is read and answered part by part (rag/answer/parts.py).

The splitting is plain grammar, tested on questions from both eval suites' fields; the flow runs
the real pipeline (ingested docs_raw/, real embedder, real verifier) with a scripted generator
that answers whichever part its prompt asks for, as the small model does when asked one thing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.answer.parts import part_question, question_parts, repeats
from rag.llm.generate import ScriptedGenerator
from rag.ingest import ingest
from rag.pipeline import Assistant
from rag.settings import Settings
from conftest import source_with

ROOT = Path(__file__).resolve().parent.parent

TWO_PART = ("How many States Parties does the Trafficking in Persons Protocol have, and by how much has the "
            "number of children among detected victims increased since 2019?")


def test_questions_are_split_at_a_second_question_word():
    assert question_parts("Which fluoroquinolone was the regimen built on, and between which years were its "
                          "patients enrolled?") == ["Which fluoroquinolone was the regimen built on?",
                                                    "Between which years were its patients enrolled?"]
    assert question_parts("What did Sweden criminalize and in which year?") == ["What did Sweden criminalize?",
                                                                                "In which year?"]
    assert question_parts(TWO_PART)[1] == ("By how much has the number of children among detected victims "
                                           "increased since 2019?")
    # the same question asked again of a second group, by ellipsis: the question words are shared
    assert question_parts("How common was anaemia among the children treated at home, and among those admitted "
                          "to hospital?") == ["How common was anaemia among the children treated at home?",
                                              "How common was anaemia among those admitted to hospital?"]
    assert question_parts("What share of women were detected in 2019, and in 2022?") == [
        "What share of women were detected in 2019?", "What share of women were detected in 2022?"]
    # a part completed from the first asks its whole question: it is asked on its own
    q = "How many cases did the province record in 2000, and how many in 2010?"
    first, second = question_parts(q)
    assert part_question(q, second) == second and part_question(q, first).endswith("this part of it: " + first)
    # a part that repeats the question words and names only a new group asks the first part's question
    assert question_parts("How many cases did the province record in 2000, and how many in 2010?")[1] == (
        "How many cases did the province record in 2010?")
    assert question_parts("What share of patients were seropositive in the survey, and what share in the "
                          "cohort?")[1] == "What share of patients were seropositive in the cohort?"
    assert question_parts("What share of adults were cured in the trial, and what share of children relapsed "
                          "in the cohort?")[1] == "What share of children relapsed in the cohort?"
    # one question: no second question word, or a piece too short to ask anything
    for q in ("What did the Secretary-General urge States and civil society to do?", "Who spoke and how?",
              "Which countries signed, and when?", "What did the report say about Asia and about Africa?"):
        assert question_parts(q) == [q], q
    assert "Answer only this part of it: In which year?" in part_question("What ... and in which year?",
                                                                          "In which year?")


@pytest.fixture(scope="module")
def home(tmp_path_factory, real_embedder):
    home = tmp_path_factory.mktemp("home")
    ingest([ROOT / "docs_raw"], Settings(home=home), embedder=real_embedder, progress=False)
    return home


def _answer(home, real_embedder, second: str):
    def reply(messages):
        asked = messages[-1]["content"].rsplit("Answer only this part of it: ", 1)[1]
        if asked.startswith("How many States Parties"):
            return f"The Protocol has 185 States Parties [{source_with(messages, '185 States Parties')}]."
        return second.format(n=source_with(messages, "increased by one third"))

    gen = ScriptedGenerator(reply)
    s = Settings(home=home, judge=False, answer_flow="context")
    return Assistant(s, generator=gen, embedder=real_embedder).ask(TWO_PART), gen


@pytest.mark.slow
def test_each_part_is_asked_on_its_own_and_both_answers_are_kept(home, real_embedder):
    ans, gen = _answer(home, real_embedder,
                       "The number of children among detected victims has increased by one third since 2019 [{n}].")
    assert len(gen.calls) == 2, "one generation per part"
    asked = [c["messages"][-1]["content"].rsplit("Answer only this part of it: ", 1)[1] for c in gen.calls]
    assert asked == question_parts(TWO_PART)
    assert not ans.refused
    assert [s.supported and bool(s.citations) for s in ans.sentences] == [True, True]
    assert "185 States Parties" in ans.answer and "one third" in ans.answer
    quotes = " ".join(c.quote for c in ans.citations)
    assert "185 States Parties" in quotes and "increased by one third" in quotes
    for c in ans.citations:  # every citation quotes its document exactly
        assert (ROOT / c.source).read_text(encoding="utf-8")[c.start : c.end] == c.quote
    assert "The documents do not say" not in ans.answer


@pytest.mark.slow
def test_a_part_without_a_supported_answer_is_said_to_be_missing(home, real_embedder):
    ans, _ = _answer(home, real_embedder, "The number of children has increased by 45 per cent since 2019 [{n}].")
    assert not ans.refused
    assert [s.text for s in ans.sentences if s.citations] == ["The Protocol has 185 States Parties."]
    assert any("number 45 not in the passage" in r.reason for r in ans.removed)
    assert ans.answer.endswith("The documents do not say: by how much has the number of children among detected "
                               "victims increased since 2019?")


def test_a_part_answered_with_only_an_earlier_part_s_figures_repeats_it():
    """A part answered with the earlier part's figure: "42,276 [1]" for the cases in 2000, then "42,276 in 2000 [1]" for
    the cases in 2010: a new sentence, the old figure. The question's own years do not count."""
    q = "How many malaria cases did KwaZulu-Natal record in 2000, and how many in 2010?"
    assert repeats("42,276 in 2000.", ["42,276."], q)
    assert repeats("42,276.", ["42,276."], q)  # the very sentence
    assert not repeats("380 in 2010.", ["42,276."], q)
    assert not repeats("Of the 42,276 cases, 30% were children.", ["42,276."], q)  # a new figure with the old
    assert not repeats("Cases fell in 2010.", ["42,276."], q)  # no figure: for the other checks to judge
    assert not repeats("42,276.", [], q)


@pytest.mark.slow
def test_a_part_answered_with_an_earlier_part_s_sentence_is_missing(home, real_embedder):
    """Seen on SciFact: asked for a figure in 2000 and one in 2010, the model gave the 2000 figure
    for both parts. The repeat is not an answer to the second part."""
    ans, _ = _answer(home, real_embedder, "The Protocol has 185 States Parties [1].")
    assert [s.text for s in ans.sentences if s.citations] == ["The Protocol has 185 States Parties."]
    assert "The documents do not say: by how much" in ans.answer


@pytest.mark.slow
def test_a_part_without_a_supported_answer_is_rescued_by_the_judge(home, real_embedder):
    """As a refused answer is (test_answer.py), a missing part is: the judge reads that part's own
    best sentences and the one it finds answers is quoted, cited after the answered part; a judge
    that finds none leaves the part said to be missing."""
    from rag.answer.judge import ScriptedJudge

    def reply(messages):
        prompt = messages[-1]["content"]
        if "Answer only this part of it: " not in prompt:
            return "yes"  # the verifier's own judge
        if prompt.rsplit("Answer only this part of it: ", 1)[1].startswith("How many States Parties"):
            return f"The Protocol has 185 States Parties [{source_with(messages, '185 States Parties')}]."
        return "The number of children has increased by 45 per cent since 2019 [1]."

    def ask(fn):
        s = Settings(home=home, answer_flow="context")
        return Assistant(s, generator=ScriptedGenerator(reply), embedder=real_embedder,
                         judge=ScriptedJudge(fn)).ask(TWO_PART)

    ans = ask(lambda text: 0.9 if "Text: " in text and "increased by one third" in text.split("Text: ")[1] else 0.1)
    assert not ans.refused and "The documents do not say" not in ans.answer, ans.answer
    first, second = [s for s in ans.sentences if s.citations]
    assert first.text == "The Protocol has 185 States Parties." and "judge" in second.reason
    assert [c.n for c in ans.citations] == [1, 2] and second.citations == (2,)
    assert "increased by one third" in ans.citations[1].quote
    for c in ans.citations:  # every citation quotes its document exactly
        assert (ROOT / c.source).read_text(encoding="utf-8")[c.start : c.end] == c.quote

    nothing = ask(lambda text: 0.1)
    assert nothing.answer.endswith("The documents do not say: by how much has the number of children among "
                                   "detected victims increased since 2019?")
