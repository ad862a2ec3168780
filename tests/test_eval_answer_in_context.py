"""`answer_in_context`: is a sentence stating the item's facts among the k passages retrieved?

The formula on passages written by hand, the runner's per-item record (and the text a model was
shown, for an Answer that exposes it), then the real index and retriever on docs_raw/, where a
retriever that keeps the right document but drops the passage holding the answer must be caught
by this metric and not by document-level hit@k.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.compare import Tolerances, compare
from eval.metrics import answer_in_context, summarize
from eval.runner import run_suite, score_item
from eval.suite import Item, load_suite
from rag.types import Answer, Document

ROOT = Path(__file__).resolve().parent.parent

A, B, C = "docs/a.md", "docs/b.md", "docs/c.txt"
PASSAGES = [
    (C, "The meeting closed at 6 p.m. Delegates from 77 countries attended."),
    (A, "# Tafenoquine in Thai soldiers\n\nTwo hundred and five soldiers took part. Monthly tafenoquine "
        "gave a protective efficacy of 97% for all malaria. It was well tolerated."),
    (B, "In Minsk, MDR-TB was found in 35.3% of new patients. Of those previously treated, 76.5% had it."),
]


def test_every_fact_in_a_retrieved_sentence_is_a_hit_with_its_rank():
    r = answer_in_context(PASSAGES, [r"\b97\s*%"])
    assert r == {"hit": 1.0, "rank": 2, "ranks": [2],
                 "sentences": ["Monthly tafenoquine gave a protective efficacy of 97% for all malaria."]}
    # two facts in two sentences of the third passage: complete at rank 3
    r = answer_in_context(PASSAGES, [r"35\.3", r"76\.5"])
    assert r["hit"] == 1.0 and r["rank"] == 3 and r["ranks"] == [3, 3]
    assert r["sentences"][1] == "Of those previously treated, 76.5% had it."


def test_a_missing_fact_is_a_miss_and_no_facts_is_undefined():
    r = answer_in_context(PASSAGES, [r"35\.3", r"\b42\s*%"])
    assert r["hit"] == 0.0 and r["rank"] is None and r["ranks"] == [3, None] and r["sentences"][1] is None
    assert answer_in_context([], [r"x"])["hit"] == 0.0
    assert answer_in_context(PASSAGES, []) is None


def test_facts_are_matched_within_one_sentence_not_across_sentences():
    # "soldiers ... 97%" spans two sentences of the same passage: not one answer sentence
    assert answer_in_context(PASSAGES, [r"five soldiers.*97"])["hit"] == 0.0
    assert answer_in_context(PASSAGES, [r"tafenoquine.*97"])["hit"] == 1.0


def test_only_passages_of_the_expected_documents_count():
    # 77 occurs in the unrelated meeting passage; it is not the answer sentence of document B
    assert answer_in_context(PASSAGES, [r"\b77\b"])["hit"] == 1.0
    assert answer_in_context(PASSAGES, [r"\b77\b"], relevant={B})["hit"] == 0.0
    r = answer_in_context(PASSAGES, [r"\b97\s*%", r"35\.3"], relevant={A, B})
    assert r["hit"] == 1.0 and r["ranks"] == [2, 3]
    assert answer_in_context(PASSAGES, [r"\b97\s*%"], relevant=set())["hit"] == 0.0


def _doc(source: str, text: str) -> Document:
    return Document(id=f"id-{source}", source=source, title=source, text=text, format="md")


AnswerWithContext = Answer  # Answer.context: the passages shown to the model (evidence-first flow)


def _score(item, answer, passages):
    docs = {d.id: d for d in (_doc(s, t) for s, t in PASSAGES)}
    return score_item(item, answer, [s for s, _ in passages], docs, {}, verifier=None, passages=passages)


def test_score_item_records_the_retrieved_and_the_shown_answer_sentence():
    item = Item("x1", "How well did monthly tafenoquine protect?", True, facts=(r"\b97\s*%",), documents=(A,))
    refused = Answer(question=item.question, answer="cannot answer", refused=True, mode="quote", model=None)
    r = _score(item, refused, PASSAGES)
    # a refusal does not change whether the answer was retrieved
    assert r["answer_in_context"]["hit"] == 1.0 and r["answer_in_context"]["rank"] == 2
    assert r["answer_in_shown"] is None  # this Answer does not say what the model saw
    assert _score(item, refused, [PASSAGES[0], PASSAGES[2]])["answer_in_context"]["hit"] == 0.0

    shown_wrong = AnswerWithContext(question=item.question, answer="cannot answer", refused=True, mode="generate",
                                    model="m", context=({"source": B, "text": PASSAGES[2][1]},))
    r = _score(item, shown_wrong, PASSAGES)
    assert r["answer_in_context"]["hit"] == 1.0 and r["answer_in_shown"]["hit"] == 0.0  # retrieved, not shown
    shown_right = AnswerWithContext(question=item.question, answer="cannot answer", refused=True, mode="generate",
                                    model="m", context=(PASSAGES[1][1],))
    assert _score(item, shown_right, PASSAGES)["answer_in_shown"]["hit"] == 1.0

    unanswerable = Item("x2", "How many nets were distributed?", False)
    assert _score(unanswerable, refused, PASSAGES)["answer_in_context"] is None


def test_the_label_the_model_read_counts_as_shown():
    # in a manual the name a passage describes is often only in its label's headings
    item = Item("x3", "Which switch drains the pipes?", True, facts=(r"switch b",))
    body = "Stops the pump and drains the pipes, so that they do not freeze."
    labelled = Answer(question=item.question, answer="cannot answer", refused=True, mode="generate", model="m",
                      context=({"source": A, "label": "Pump manual — Controls › Switch B", "text": body},))
    assert _score(item, labelled, PASSAGES)["answer_in_shown"]["hit"] == 1.0
    unlabelled = Answer(question=item.question, answer="cannot answer", refused=True, mode="generate", model="m",
                        context=({"source": A, "text": body},))
    assert _score(item, unlabelled, PASSAGES)["answer_in_shown"]["hit"] == 0.0


def test_summarize_averages_over_answerable_items_only():
    def res(id, answerable, hit, shown=None):
        return {"id": id, "answerable": answerable, "tags": [], "facts": 1.0 if answerable else None,
                "refused": not answerable, "correct": True, "documents_cited": None, "retrieval": None,
                "answer_in_context": None if hit is None else {"hit": hit},
                "answer_in_shown": None if shown is None else {"hit": shown},
                "citation_recall": None, "citation_precision": None, "faithfulness": None, "passed": True,
                "latency_ms": 10.0}

    items = [res("a", True, 1.0, 1.0), res("b", True, 0.0, 1.0), res("c", True, 1.0), res("d", True, None),
             res("e", False, None), {"id": "f", "answerable": True, "tags": [], "error": "boom", "passed": False,
                                     "correct": False, "facts": 0.0, "refused": False}]
    m = summarize(items)
    assert m["answer_in_context"] == pytest.approx(2 / 3)  # a, b, c; d has no facts, f errored
    assert m["answer_in_shown"] == 1.0
    assert summarize([res("c", True, 1.0)])["answer_in_shown"] is None


# --- the real index and retriever ------------------------------------------------------------

SUITE = """
- id: r1
  question: "How many States Parties does the Trafficking in Persons Protocol have?"
  answerable: true
  facts: ['\\b185\\b']
  documents: ["docs_raw/SG-SM-22926-secretary-general-remarks.txt"]
- id: r2
  question: "Who said \\"The problem is not AI, it's the humans behind it\\"?"
  answerable: true
  facts: ['hoffman']
  documents: ["docs_raw/GA-12734-political-declaration.txt"]
- id: r3
  question: "What is the population of Ghana?"
  answerable: false
"""


class DropsAnswerPassages:
    """Keeps the retrieved documents but drops every passage stating an answer (figure or name)."""

    def __init__(self, inner, needles=("185", "Hoffman")):
        self.inner, self.index, self.needles = inner, inner.index, needles

    def search(self, query, k=None, flt=None):
        hits = self.inner.search(query, 40, flt)
        return [h for h in hits if not any(n in h.chunk.text for n in self.needles)][:k]


@pytest.fixture(scope="module")
def small_suite(tmp_path_factory):
    p = tmp_path_factory.mktemp("suite") / "aic.yaml"
    p.write_text(SUITE)
    return load_suite(p)


@pytest.fixture(scope="module")
def home(tmp_path_factory, real_embedder):
    from rag.ingest import ingest
    from rag.settings import Settings

    home = tmp_path_factory.mktemp("aic-home")
    ingest([ROOT / "docs_raw"], Settings(home=home), embedder=real_embedder, progress=False)
    return home


def _run(home, embedder, suite, wrap=None):
    from rag.pipeline import Assistant
    from rag.settings import Settings

    assistant = Assistant(Settings(home=home, judge=False), embedder=embedder)
    if wrap:
        assistant._retriever = wrap(assistant.retriever)
    return run_suite(suite, assistant, mode="quote")


@pytest.mark.slow
def test_real_retrieval_finds_the_answer_sentence_and_the_gate_sees_it_lost(home, real_embedder, small_suite):
    good = _run(home, real_embedder, small_suite)
    assert good["metrics"]["answer_in_context"] == 1.0
    r1, r2, r3 = good["items"]
    assert "185 States Parties" in r1["answer_in_context"]["sentences"][0]
    assert 1 <= r1["answer_in_context"]["rank"] <= good["k"]
    assert "Hoffman" in r2["answer_in_context"]["sentences"][0]
    assert r3["answer_in_context"] is None
    assert good["metrics"]["answer_in_shown"] is None  # quote mode: no model was shown anything

    broken = _run(home, real_embedder, small_suite, DropsAnswerPassages)
    # the right documents are still retrieved: document-level hit@k cannot tell
    assert broken["metrics"]["retrieval_hit"] == 1.0
    assert broken["metrics"]["answer_in_context"] == 0.0
    cmp = compare(broken, good, Tolerances.load())
    assert "answer_in_context" in {r["metric"] for r in cmp.rows if r["failed"]}
