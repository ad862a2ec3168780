"""`rag eval judge`: the answer judge's threshold fitted on labelled candidate sentences.

The fit on pairs written by hand (a separable set must give a threshold between the classes,
and each suite's threshold is tried on the other suite); then the pairs collected from the real
index and retriever on docs_raw/, with a scripted judge, where the labels must follow the
item's facts and expected documents, unanswerable items give only "does not answer", and
two-part questions are left out.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.answer_judge import collect, fit, format_fit, load_pairs
from eval.suite import Item, Suite
from rag.errors import RagError

ROOT = Path(__file__).resolve().parent.parent


def _pair(suite, p, answers):
    return {"suite": suite, "item": "x", "question": "q", "sentence": "s", "answers": answers, "p": p}


def test_the_threshold_separates_the_classes_and_each_suite_s_fit_is_tried_on_the_other():
    a = [_pair("a", p, True) for p in (0.9, 0.85, 0.8)] + [_pair("a", p, False) for p in (0.6, 0.5, 0.2)]
    b = [_pair("b", p, True) for p in (0.95, 0.7)] + [_pair("b", p, False) for p in (0.75, 0.4)]
    r = fit(a + b)
    ra = r["suites"]["a"]
    assert 0.6 < ra["threshold"] < 0.8 and ra["roc_auc"] == 1.0 and ra["fit"]["accuracy"] == 1.0
    assert ra["fit"]["answering"] == 3 and ra["fit"]["all_no"] == 0.5
    # a's cut (0.7) on b: 0.95, 0.75 and 0.7 said to answer, 0.4 not: all right but 0.75
    assert ra["threshold"] == 0.7 and ra["on_the_others"]["accuracy"] == 0.75
    assert r["suites"]["b"]["roc_auc"] == 0.75
    assert r["pooled"]["fit"]["n"] == 10 and set(r["pooled"]) >= {"on_a", "on_b"}
    text = format_fit(r, 0.78)
    assert "| a |" in text and "| all together |" in text and "ANSWER_THRESHOLD = 0.78" in text
    with pytest.raises(RagError, match="No pairs"):
        fit([])


def test_the_rescue_bar_is_fitted_per_item_on_the_most_items_right():
    """Per item, only the most probable candidate counts: quoted when it reaches the bar. The bar
    lies halfway between two items' probabilities, where it makes the most items right over all
    suites (the highest of the best bars)."""
    from eval.answer_judge import fit_rescue

    def pair(suite, item, answerable, p, answers=False):
        return {"suite": suite, "item": item, "answerable": answerable, "answers": answers, "p": p}

    pairs = [pair("a", "a1", True, 0.76, True), pair("a", "a1", True, 0.5),  # right at 0.71, refused at 0.78
             pair("a", "a2", False, 0.70), pair("a", "a2", False, 0.3),  # unanswerable: refused above 0.70
             pair("b", "b1", True, 0.9, True), pair("b", "b2", True, 0.72, True),  # b2: right below 0.72 only
             pair("b", "b3", True, 0.8), pair("b", "b3", True, 0.6, True),  # best is wrong: quoted, wrong
             pair("b", "b4", False, 0.2)]
    r = fit_rescue(pairs, spread=0.02, current=0.78)
    assert r["threshold"] == 0.71 and r["highest_unanswerable"] == 0.70  # 0.74 would lose b2
    assert r["suites"]["a"] == {"items": 2, "unanswerable": 1, "right": 1.0, "right_at_current": 0.5}
    assert r["suites"]["b"]["right"] == 0.75 and r["suites"]["b"]["right_at_current"] == 0.5
    assert fit_rescue([{k: v for k, v in p.items() if k != "answerable"} for p in pairs]) is None  # old files
    text = format_fit(fit(pairs), 0.78)
    assert "ANSWER_THRESHOLD fitted 0.71" in text and "| a | 2 (1) | 1.000 | 0.500 |" in text
    # halfway between the unanswerable item's best candidate and the answerable one's
    assert fit_rescue([pair("a", "x", True, 0.9, True), pair("a", "y", False, 0.5)], spread=0.02)["threshold"] == 0.7


def test_saved_pairs_load_and_a_bad_line_names_its_number(tmp_path):
    good = tmp_path / "p.jsonl"
    good.write_text(json.dumps(_pair("a", 0.5, True)) + "\n\n" + json.dumps(_pair("b", 0.1, False)) + "\n")
    assert [r["suite"] for r in load_pairs(good)] == ["a", "b"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(_pair("a", 0.5, True)) + "\n" + json.dumps({"suite": "a", "p": "high"}) + "\n")
    with pytest.raises(RagError, match=r"bad.jsonl line 2: .*rag eval judge SUITE --out"):
        load_pairs(bad)


@pytest.fixture(scope="module")
def home(tmp_path_factory, real_embedder):
    from rag.ingest import ingest
    from rag.settings import Settings

    home = tmp_path_factory.mktemp("home")
    ingest([ROOT / "docs_raw"], Settings(home=home), embedder=real_embedder, progress=False)
    return home


@pytest.mark.slow
def test_pairs_are_what_the_judge_reads_labelled_by_facts_and_documents(home, real_embedder):
    from rag.answer.judge import ScriptedJudge
    from rag.llm.generate import ScriptedGenerator
    from rag.pipeline import Assistant
    from rag.settings import Settings

    suite = Suite("suites/mini.yaml", (
        Item("a1", "In what year was the Global Plan of Action adopted?", True, facts=(r"\b2010\b",),
             documents=("docs_raw/hearing-summary-2025-06-30.txt",)),
        Item("u1", "How much money was pledged to the UN Voluntary Trust Fund for Victims of Trafficking at the "
                   "2025 high-level meeting?", False),
        Item("n1", "How much did Narnia pledge to the trust fund?", False),
        Item("t1", "How many States Parties does the Protocol have, and by how much has the number of children "
                   "among detected victims increased since 2019?", True, facts=("185",)),
    ))
    judge = ScriptedJudge(lambda text: 0.9 if "2010" in text.split("Text:")[-1] else 0.2)
    assistant = Assistant(Settings(home=home, judge_candidates=4), generator=ScriptedGenerator(lambda m: ""),
                          embedder=real_embedder, judge=judge)
    seen = []
    pairs = collect(suite, assistant, progress=seen.append)
    assert seen == ["a1", "u1", "n1", "t1"]
    assert {r["item"] for r in pairs} == {"a1", "u1"}  # the two-part question is left out
    a1 = [r for r in pairs if r["item"] == "a1"]
    assert len(a1) == 4 and len(judge.calls) == len(pairs)
    for r in a1:  # answering: states 2010 and comes from the expected document
        assert r["answers"] == ("2010" in r["sentence"] and r["source"].endswith("hearing-summary-2025-06-30.txt"))
        assert r["p"] == (0.9 if "2010" in r["sentence"] else 0.2) and r["suite"] == "mini"
    assert any(r["answers"] for r in a1)
    u1 = [r for r in pairs if r["item"] == "u1"]
    assert u1 and not any(r["answers"] for r in u1)  # unanswerable: no candidate answers
    # Narnia is named by no document: nothing is eligible, as in the answer stage
    assert not [r for r in pairs if r["item"] == "n1"]


def test_the_answer_check_bar_is_fitted_on_items_won_and_lost():
    """Removing a right answer loses its item, removing an answer to an unanswerable question wins
    it, removing a wrong answer to an answerable one changes nothing: the bar maximises won minus
    lost, halfway between two answers, the lowest of the best."""
    from eval.answer_judge import fit_correct

    def row(p, passed, answerable=True):
        return {"suite": "a", "item": f"i{p}", "answerable": answerable, "passed": passed, "p": p}

    rows = [row(0.1, False, False), row(0.3, False), row(0.5, True), row(0.6, False, False), row(0.9, True)]
    r = fit_correct(rows)
    assert r["threshold"] == 0.2 and r["net_items"] == 1  # 0.55 would win 0.6 but lose 0.5
    assert fit_correct([row(0.4, False, False), row(0.8, True)])["threshold"] == 0.6
    assert fit_correct([]) is None
