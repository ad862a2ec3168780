"""Baseline comparison and the gate, on hand-made runs (no pipeline involved)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from eval.compare import RunNotFound, Tolerances, changed_documents, compare, load_run
from eval.metrics import BY_NAME, by_tag, summarize
from rag.errors import RagError

ROOT = Path(__file__).resolve().parent.parent


def item(id, passed=True, answerable=True, facts=None, latency=1000.0, tags=("t",), docs=None):
    facts = (1.0 if passed else 0.0) if facts is None else facts
    return {"id": id, "question": f"{id}?", "answerable": answerable, "tags": list(tags),
            "answer": "yes" if passed else "no", "refused": not answerable and passed,
            "facts": facts if answerable else None, "correct": passed, "passed": passed,
            "documents_cited": (1.0 if passed else 0.0) if answerable else None,
            "documents_expected": docs or {}, "retrieval": {"hit": 1.0, "recall": 1.0, "mrr": 1.0} if answerable else None,
            "citation_recall": 1.0 if passed else 0.5, "citation_precision": 1.0, "faithfulness": 1.0 if passed else 0.5,
            "latency_ms": latency, "error": None}


def make_run(items, id="20250101T000000Z", corpus="c1", expected=None, mode="generate", model="m"):
    return {"schema": 1, "id": id, "created": "2025-01-01T00:00:00+00:00", "seconds": 1.0,
            "suite": {"path": "suite.yaml", "hash": "s1", "items": len(items)}, "git": {"commit": "abc", "dirty": False},
            "settings": {"index_fingerprint": "f1", "answer_fingerprint": "a1", "values": {}}, "mode": mode, "k": 6,
            "judge": False, "model": model, "index": {"version": "v1", "embedding_model": "e", "fingerprint": "f1"},
            "corpus": {"hash": corpus, "documents": {"docs/a.txt": "id-a"}}, "expected_documents": expected or {},
            "repeat": 1, "metrics": summarize(items), "metrics_std": None, "repeats": None,
            "by_tag": by_tag(items), "items": items}


def test_identical_runs_pass():
    run = make_run([item(f"q{i}") for i in range(20)])
    cmp = compare(run, run, Tolerances.load())
    assert not cmp.failed and not cmp.warnings
    assert all(r["delta"] in (0, None) for r in cmp.rows)


def test_one_flip_is_tolerated_many_are_not():
    base = make_run([item(f"q{i:02d}") for i in range(45)])
    one = make_run([item("q00", passed=False)] + [item(f"q{i:02d}") for i in range(1, 45)])
    assert not compare(one, base, Tolerances.load()).failed
    broken = make_run([item(f"q{i:02d}", passed=i % 3 != 0) for i in range(45)])
    cmp = compare(broken, base, Tolerances.load())
    assert cmp.failed
    failed = {r["metric"] for r in cmp.rows if r["failed"]}
    assert {"facts", "accuracy", "pass_rate", "documents_cited"} <= failed
    assert any("items newly failing" in f for f in cmp.failures)
    # newly failing items come first
    assert [x["status"] for x in cmp.items[:15]] == ["newly failing"] * 15
    assert cmp.items[0]["deltas"]["facts"] == -1.0


def test_latency_ratio_and_direction():
    base = make_run([item(f"q{i}", latency=1000) for i in range(10)])
    slower = make_run([item(f"q{i}", latency=2500) for i in range(10)])
    much_slower = make_run([item(f"q{i}", latency=3500) for i in range(10)])
    shipped = Tolerances.load()
    gated = Tolerances({**shipped.metrics, "latency_p50_ms": {"ratio": 3.0}, "latency_p95_ms": {"ratio": 3.0}},
                       shipped.newly_failing_items)
    assert not compare(slower, base, gated).failed
    cmp = compare(much_slower, base, gated)
    assert {r["metric"] for r in cmp.rows if r["failed"]} == {"latency_p50_ms", "latency_p95_ms"}
    assert not compare(base, much_slower, gated).failed  # faster is never a failure
    # The shipped tolerances report latency but never fail a run on it: load moves it, not the code.
    cmp = compare(much_slower, base, shipped)
    assert not cmp.failed and next(r for r in cmp.rows if r["metric"] == "latency_p50_ms")["delta"] == 2500


def test_false_refusals_rising_fails():
    base = make_run([item(f"q{i}") for i in range(10)])
    cur_items = [item(f"q{i}") for i in range(10)]
    for r in cur_items[:3]:
        r["refused"] = True
    cmp = compare(make_run(cur_items), base, Tolerances.load())
    row = next(r for r in cmp.rows if r["metric"] == "false_refusals")
    assert row["failed"] and row["delta"] == pytest.approx(0.3)


def test_unfair_comparisons_are_warned():
    run = make_run([item("q1")])
    other = make_run([item("q1")], corpus="c2", mode="quote", model="other")
    run["settings"]["values"] = {"context_sentences": 3, "llm_port": 8765, "removed_setting": 1}
    other["settings"]["values"] = {"context_sentences": 2, "llm_port": 8771, "new_setting": 1}
    warnings = " ".join(compare(other, run, Tolerances.load()).warnings)
    assert "corpus differs" in warnings and "mode differs" in warnings and "model differs" in warnings
    assert "settings differ from the baseline (context_sentences 3 -> 2)" in warnings  # not the port, not new ones


def test_tolerances_file_validated(tmp_path):
    tol = Tolerances.load()
    assert set(tol.metrics) == set(BY_NAME)  # every metric has a documented tolerance
    bad = tmp_path / "t.yaml"
    bad.write_text("metrics:\n  facts: lots\n")
    with pytest.raises(RagError, match="facts: expected a number"):
        Tolerances.load(bad)
    bad.write_text("metrics:\n  fats: 0.1\n")
    with pytest.raises(RagError, match="unknown metric fats"):
        Tolerances.load(bad)


def test_load_run_latest_and_errors(tmp_path):
    runs = tmp_path / "runs"
    with pytest.raises(RunNotFound, match="No saved runs"):
        load_run("latest", runs)
    runs.mkdir()
    for name in ("20250101T000000Z", "20250102T000000Z"):
        (runs / f"{name}.json").write_text(json.dumps(make_run([item("q1")], id=name)))
    run, path = load_run("latest", runs)
    assert run["id"] == "20250102T000000Z"
    assert load_run("latest", runs, exclude=path)[0]["id"] == "20250101T000000Z"
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(RunNotFound, match="not a run file"):
        load_run(tmp_path / "x.json", runs)
    with pytest.raises(RunNotFound, match="No run file at"):
        load_run(tmp_path / "nope.json", runs)


def test_changed_and_disappeared_documents():
    expected = {"docs/a.txt": "id-a", "docs/b.txt": "id-b", "docs/c.txt": "id-c"}
    items = [item("q1", docs={"docs/a.txt": "docs/a.txt"}), item("q2", docs={"docs/b.txt": "docs/b.txt"}),
             item("q3", docs={"docs/c.txt": "docs/c.txt"})]
    base = make_run(items, expected=expected)
    doc = lambda source, id: SimpleNamespace(source=source, id=id)  # noqa: E731
    now = {"id-a": doc("docs/a.txt", "id-a"), "id-b2": doc("docs/b.txt", "id-b2")}
    changed = changed_documents(base, now)
    assert changed == [{"id": "q2", "document": "docs/b.txt", "status": "changed", "was": "id-b", "now": "id-b2"},
                       {"id": "q3", "document": "docs/c.txt", "status": "disappeared"}]
    cmp = compare(base, base, Tolerances.load(), documents=now)
    assert {x["id"] for x in cmp.items if x["documents_changed"]} == {"q2", "q3"}


@pytest.mark.parametrize("baseline", sorted(p.name for p in (ROOT / "eval" / "baselines").glob("*.json")))
def test_committed_baselines_were_recorded_under_the_default_settings(baseline, monkeypatch):
    """A default changed without re-recording the baselines makes the CI gate refuse every comparison
    (it did once, for hnsw_ef_search, and cost an hour-long CI run): caught here in a second instead."""
    from eval.compare import _unfair
    from eval.runner import settings_info
    from rag.settings import Settings

    for name in [k for k in os.environ if k.startswith("RAG_")]:
        monkeypatch.delenv(name)
    recorded = json.loads((ROOT / "eval" / "baselines" / baseline).read_text())
    assert _unfair({"settings": settings_info(Settings())}, {"settings": recorded["settings"]}) == [], (
        f"re-record eval/baselines/{baseline} under the new defaults (rag eval run ... --out)")


@pytest.mark.parametrize("baseline", sorted(p.name for p in (ROOT / "eval" / "baselines").glob("*.json")))
def test_committed_baselines_ask_what_the_ci_gate_asks(baseline):
    """Each baseline holds the items its gate asks, as the suite now words them (quote: every item;
    embedded: the test half; shard: half of it, tests/test_eval_ci.py): a suite edited without
    re-recording makes the gate refuse the comparison, caught here in a second instead."""
    from eval.registry import load_registry
    from eval.suite import load_suite

    name, _, kind = baseline.removesuffix(".json").partition("-")
    suite = load_suite(load_registry()[name].items)
    selected = {"quote": suite, "embedded": suite.select(half="test")}.get(
        kind, suite.select(half="test", shard=(1, 2)))
    recorded = json.loads((ROOT / "eval" / "baselines" / baseline).read_text())
    assert recorded["suite"]["hash"] == selected.hash and len(recorded["items"]) == len(selected.items), (
        f"re-record eval/baselines/{baseline} (docs/evaluation.md, 'The gate')")
