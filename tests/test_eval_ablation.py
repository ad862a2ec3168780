"""The ablation's verdicts: a step earns its place on the dev halves pooled, and a test half it was
not run on is never reported as costing nothing."""

from __future__ import annotations

from types import SimpleNamespace

import eval.ablation as ablation


def _fake_runs(monkeypatch, passing: dict):
    """run_suites answering from `passing`: {off step: {half: ids passing}} over items a1..a4 (dev)
    and b1..b4 (test) of one suite."""

    def run_suites(specs, settings, *, mode, half, off, models, log, rejudge):
        ids = {"dev": ["a1", "a2", "a3", "a4"], "test": ["b1", "b2", "b3", "b4"]}
        halves = ["dev", "test"] if half == "all" else [half]
        items = [{"id": i, "half": h, "passed": i in passing[off or "none"][h]} for h in halves for i in ids[h]]
        return {"runs": {"s": {"items": items}}, "suites": {"s": {h: {"items": 4} for h in halves}}}

    monkeypatch.setattr(ablation, "run_suites", run_suites)
    monkeypatch.setattr(ablation, "Models", lambda *a, **k: None)


PASSING = {"none": {"dev": {"a1", "a2"}, "test": {"b1"}},
           "repair": {"dev": {"a1"}, "test": {"b1"}},  # off: loses a dev item
           "rescue": {"dev": {"a1"}, "test": {"b1", "b2"}}}  # off: loses a dev item, gains a test item


def test_a_step_costing_a_test_item_does_not_earn_its_place(monkeypatch):
    _fake_runs(monkeypatch, PASSING)
    cache = SimpleNamespace(hits=0, misses=0)
    result = ablation.ablate([SimpleNamespace(name="s")], None, ["repair", "rescue"], cache, log=lambda m: None)
    assert result["steps"]["repair"]["costs_test"] == [] and result["steps"]["repair"]["earns"]
    assert result["steps"]["rescue"]["costs_test"] == ["s"] and not result["steps"]["rescue"]["earns"]
    assert "costs a test item" in ablation.format_table(result)


def test_with_the_dev_halves_only_the_test_verdict_is_not_run_rather_than_none_lost(monkeypatch):
    _fake_runs(monkeypatch, PASSING)
    cache = SimpleNamespace(hits=0, misses=0)
    result = ablation.ablate([SimpleNamespace(name="s")], None, ["repair"], cache, log=lambda m: None, half="dev")
    assert result["steps"]["repair"]["costs_test"] is None and result["steps"]["repair"]["earns"]
    assert "test halves not run" in ablation.format_table(result)
