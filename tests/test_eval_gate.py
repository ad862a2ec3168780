"""The harness on the real index and embedder: a good pipeline passes, broken ones fail the gate.

The scripted generator writes the model's text only; retrieval, citation verification, the
harness's own re-verification and scoring all run for real on docs_raw/.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from eval import TOLERANCES
from eval.cli import eval_group
from eval.compare import Tolerances, changed_documents, compare
from eval.runner import Checkpoint, run_suite, save_run
from eval.suite import lint_against_corpus, load_suite
from rag.llm.generate import ScriptedGenerator
from rag.ingest import ingest
from rag.pipeline import Assistant
from rag.llm.prompt import REFUSAL
from rag.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

SUITE = """
- id: s1
  question: "How many States Parties does the Trafficking in Persons Protocol have?"
  answerable: true
  facts: ['\\b185\\b']
  documents: ["docs_raw/SG-SM-22926-secretary-general-remarks.txt"]
  tags: [single-fact]
- id: s2
  question: "In what year did Sweden criminalize the purchase of sexual services?"
  answerable: true
  facts: ['\\b1999\\b']
  documents: ["docs_raw/GA-76-high-level-meeting-2021-part3.txt"]
  tags: [single-fact]
- id: s3
  question: "On behalf of how many states was the cross-regional joint statement on technology-facilitated trafficking delivered?"
  answerable: true
  facts: ['\\b44\\b']
  documents: ["docs_raw/cross-regional-statement-technology-trafficking.txt"]
  tags: [single-fact]
- id: s4
  question: "What is the population of Ghana?"
  answerable: false
  tags: [unanswerable]
"""

# question fragment -> (answer, words its source must contain)
GOOD = {
    "States Parties": ("The Trafficking in Persons Protocol has 185 States Parties", "185 States Parties"),
    "Sweden": ("In 1999, Sweden became the first country to criminalize the purchase of sexual services", "1999"),
    "cross-regional": ("The cross-regional joint statement was delivered on behalf of 44 states", "44 states"),
}
WRONG = ("Israel has set up a dedicated forfeiture fund for compensation and aid to victims", "forfeiture fund")


def _sources(messages) -> dict[int, str]:
    user = messages[-1]["content"]
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"^\[(\d+)\] .*?\n<<<\n(.*?)\n>>>", user, re.S | re.M)}


def _answer(messages, pick) -> str:
    question = messages[-1]["content"].split("Question:")[-1]
    hit = pick(question)
    if hit is None:
        return REFUSAL
    text, needle = hit
    n = next((n for n, body in _sources(messages).items() if needle in body), None)
    return f"{text} [{n}]." if n else REFUSAL


def good_reply(messages):
    return _answer(messages, lambda q: next((v for k, v in GOOD.items() if k in q), None))


def wrong_document_reply(messages):
    """Answers every answerable question with a true sentence from another document, cited to it."""
    return _answer(messages, lambda q: WRONG if "Ghana" not in q else None)


class WrongRetriever:
    """Returns the passages for an unrelated query, whatever is asked."""

    def __init__(self, inner):
        self.inner = inner
        self.index = inner.index

    def search(self, query, k=None, flt=None):
        return self.inner.search("the meeting was adjourned and the next plenary announced", k, flt)


@pytest.fixture(scope="module")
def home(tmp_path_factory, real_embedder):
    home = tmp_path_factory.mktemp("home")
    ingest([ROOT / "docs_raw"], Settings(home=home), embedder=real_embedder, progress=False)
    return home


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    p = tmp_path_factory.mktemp("suite") / "small.yaml"
    p.write_text(SUITE)
    return load_suite(p)


def _run(home, embedder, suite, reply, retriever=None):
    settings = Settings(home=home, judge=False)
    assistant = Assistant(settings, generator=ScriptedGenerator(reply), embedder=embedder)
    if retriever:
        assistant._retriever = retriever(assistant.retriever)
    return run_suite(suite, assistant, mode="generate")


@pytest.fixture(scope="module")
def good_run(home, real_embedder, suite):
    return _run(home, real_embedder, suite, good_reply)


def test_good_pipeline_scores_perfectly(good_run):
    m = good_run["metrics"]
    for name in ("retrieval_hit", "facts", "accuracy", "documents_cited", "citation_recall", "citation_precision",
                 "faithfulness", "refusal_accuracy", "pass_rate"):
        assert m[name] == 1.0, name
    assert m["false_refusals"] == 0.0 and m["latency_p50_ms"] > 0
    s1 = good_run["items"][0]
    assert s1["sentences"][0]["verified"] and s1["sentences"][0]["sources"][0].endswith(
        "docs_raw/SG-SM-22926-secretary-general-remarks.txt")
    assert good_run["corpus"]["hash"] and len(good_run["corpus"]["documents"]) == 5
    assert set(good_run["expected_documents"]) == {i for it in good_run["items"] for i in it["documents_expected"]}
    assert not compare(good_run, good_run, Tolerances.load()).failed


def test_answers_citing_the_wrong_document_fail_the_gate(home, real_embedder, suite, good_run):
    broken = _run(home, real_embedder, suite, wrong_document_reply)
    m = broken["metrics"]
    assert m["facts"] == 0.0 and m["documents_cited"] == 0.0
    cmp = compare(broken, good_run, Tolerances.load())
    assert cmp.failed
    failed = {r["metric"] for r in cmp.rows if r["failed"]}
    assert {"facts", "accuracy", "documents_cited", "pass_rate"} <= failed
    assert [x["id"] for x in cmp.items[:3]] == ["s1", "s2", "s3"]  # newly failing first
    assert all(x["status"] == "newly failing" for x in cmp.items[:3])


def test_retriever_returning_wrong_documents_fails_the_gate(home, real_embedder, suite, good_run):
    broken = _run(home, real_embedder, suite, good_reply, retriever=WrongRetriever)
    assert broken["metrics"]["retrieval_hit"] < 1.0
    cmp = compare(broken, good_run, Tolerances.load())
    assert cmp.failed
    assert {"retrieval_hit", "facts", "false_refusals"} <= {r["metric"] for r in cmp.rows if r["failed"]}


def test_harness_rejudges_citations_instead_of_trusting_the_pipeline(home, real_embedder, suite):
    class LyingVerifierAssistant(Assistant):
        """Marks every sentence supported and cites it to the first passage, whatever it says."""

        def ask(self, question, **kw):
            from dataclasses import replace

            ans = super().ask(question, **kw)
            hit = self.retriever.search(question, 6)[0]
            doc = self.retriever.index.documents[hit.chunk.doc_id]
            from rag.types import AnswerSentence, Citation

            cit = Citation(1, doc.source, doc.id, hit.chunk.id, doc.title, doc.symbol, doc.date, None, None,
                           hit.chunk.text, hit.chunk.start, hit.chunk.end)
            sent = AnswerSentence("The Protocol was signed by 300 States in 1850.", (1,), True, 1.0)
            return replace(ans, refused=False, sentences=(sent,), citations=(cit,), answer=sent.text + " [1]")

    settings = Settings(home=home, judge=False)
    assistant = LyingVerifierAssistant(settings, generator=ScriptedGenerator(good_reply), embedder=real_embedder)
    run = run_suite(suite.select(ids=("s1",)), assistant, mode="generate")
    assert run["items"][0]["sentences"][0]["pipeline_supported"] is True
    assert run["metrics"]["citation_recall"] == 0.0 and run["metrics"]["citation_precision"] == 0.0


def test_repeat_gives_mean_and_std_and_a_run_resumes(home, real_embedder, suite, tmp_path):
    settings = Settings(home=home, judge=False)
    sub = suite.select(ids=("s1", "s4"))
    run = run_suite(sub, Assistant(settings, generator=ScriptedGenerator(good_reply), embedder=real_embedder),
                    mode="generate", repeat=2)
    assert run["repeat"] == 2 and len(run["repeats"]) == 2
    assert run["metrics"]["facts"] == 1.0 and run["metrics_std"]["facts"] == 0.0
    assert run["metrics_std"]["latency_p50_ms"] >= 0 and all(it["passed_runs"] == 2 for it in run["items"])
    # an interrupted run: s1 was checkpointed, s4 was being written when it stopped
    cp = Checkpoint(tmp_path, sub, "generate")
    cp.start(resume=False)
    cp.add(run["items"][0])
    with open(cp.path, "a") as f:
        f.write('{"id": "s4", "ans')
    done = cp.start(resume=True)
    assert set(done) == {"s1"}
    gen = ScriptedGenerator(good_reply)
    again = run_suite(sub, Assistant(settings, generator=gen, embedder=real_embedder), mode="generate", done=done)
    assert len(gen.calls) == 1 and [r["id"] for r in again["items"]] == ["s1", "s4"]
    cp.finish()
    assert not cp.path.exists()


def test_run_is_saved_atomically_with_metadata(tmp_path, good_run):
    path = save_run(dict(good_run), tmp_path)
    again = save_run(dict(good_run), tmp_path)
    assert path != again and not list(tmp_path.glob(".*.tmp"))
    data = json.loads(path.read_text())
    for key in ("git", "settings", "corpus", "suite", "model", "items", "metrics", "by_tag", "expected_documents"):
        assert key in data
    assert data["model"] == "scripted" and data["settings"]["index_fingerprint"] == Settings().index_fingerprint()


def test_default_suite_agrees_with_the_corpus(home):
    from rag.index import Index

    assert lint_against_corpus(load_suite("default"), Index.load(Settings(home=home)).documents) == []


def test_cli_run_baseline_gate_and_reports(home, suite, monkeypatch):
    monkeypatch.setenv("RAG_HOME", str(home))
    runner = CliRunner()
    first = runner.invoke(eval_group, [suite.path, "--mode", "quote", "-q"])
    assert first.exit_code == 0, first.output
    assert "| Facts stated |" in first.output
    second = runner.invoke(eval_group, [suite.path, "--mode", "quote", "--baseline", "latest", "--json"])
    assert second.exit_code == 0, second.output
    gate = json.loads(second.output)["gate"]
    assert gate["failed"] is False and gate["warnings"] == []
    # a baseline that was much better: the same run must now fail
    runs = sorted((home / "eval" / "runs").glob("*.json"))
    better = json.loads(runs[-1].read_text())
    better["metrics"]["latency_p50_ms"] = 1.0
    better["metrics"]["facts"] = min(1.0, better["metrics"]["facts"] + 0.5)
    for it in better["items"]:
        it["passed"] = True
    path = home / "better.json"
    path.write_text(json.dumps(better))
    # latency is reported, not gated, by the shipped tolerances; a team gates it with its own file
    shipped = runner.invoke(eval_group, ["run", suite.path, "--mode", "quote", "--baseline", str(path)])
    assert shipped.exit_code == 0 and "Latency p50" in shipped.output, shipped.output
    timed = home / "timed.yaml"
    timed.write_text(TOLERANCES.read_text().replace("latency_p50_ms: null", "latency_p50_ms: {ratio: 3.0}"))
    third = runner.invoke(eval_group, ["run", suite.path, "--mode", "quote", "--baseline", str(path),
                                       "--tolerances", str(timed)])
    assert third.exit_code == 1, third.output
    assert "FAILED" in third.output and "Latency p50" in third.output
    report = sorted((home / "eval" / "reports").glob("*.html"))[-1].read_text()
    assert report.count("<svg") == 3 and "Metrics over 4 run(s)" in report
    again = runner.invoke(eval_group, ["report", "latest", "--markdown"])
    assert again.exit_code == 0 and again.output.startswith("# Eval run ")
    changes = runner.invoke(eval_group, ["changes", suite.path])
    assert changes.exit_code == 0 and "Corpus unchanged" in changes.output
    assert "No item's expected documents changed." in changes.output


def test_corpus_update_lists_items_whose_documents_changed(tmp_path, real_embedder, suite):
    docs = tmp_path / "docs_raw"
    docs.mkdir()
    for name in ("SG-SM-22926-secretary-general-remarks.txt", "cross-regional-statement-technology-trafficking.txt"):
        shutil.copy(ROOT / "docs_raw" / name, docs / name)
    settings = Settings(home=tmp_path / "home", judge=False)
    ingest([docs], settings, embedder=real_embedder, progress=False)
    assistant = Assistant(settings, embedder=real_embedder)
    base = run_suite(suite.select(ids=("s1", "s3")), assistant, mode="quote")
    with open(docs / "SG-SM-22926-secretary-general-remarks.txt", "a") as f:
        f.write("\nA paragraph added after the baseline.\n")
    (docs / "cross-regional-statement-technology-trafficking.txt").unlink()
    ingest([docs], settings, embedder=real_embedder, progress=False)
    from rag.index import Index

    changed = changed_documents(base, Index.load(settings).documents, suite.select(ids=("s1", "s3")))
    assert [(c["id"], c["status"]) for c in changed] == [("s1", "changed"), ("s3", "disappeared")]
