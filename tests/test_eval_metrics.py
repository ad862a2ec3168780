"""The eval formulas on cases computed by hand."""

from __future__ import annotations

import math

import pytest

from eval.metrics import (binary_report, by_tag, dedupe, facts_matched, hit_at_k, mean, ndcg_at_k, percentile,
                          recall_at_k, reciprocal_rank, share, std, summarize)


def test_document_ranking_from_chunks():
    assert dedupe(["a", "b", "a", "c", "b"]) == ["a", "b", "c"]


def test_hit_recall_mrr():
    ranked = ["x", "a", "y", "b"]
    assert hit_at_k(ranked, {"a"}, 1) == 0.0
    assert hit_at_k(ranked, {"a"}, 2) == 1.0
    assert recall_at_k(ranked, {"a", "b"}, 2) == 0.5
    assert recall_at_k(ranked, {"a", "b"}, 4) == 1.0
    assert recall_at_k(ranked, {"a": 1, "z": 0}, 4) == 1.0  # grade 0 is not relevant
    assert reciprocal_rank(ranked, {"b", "a"}) == 0.5
    assert reciprocal_rank(ranked, {"q"}) == 0.0


def test_ndcg_by_hand():
    # gains 1 at ranks 1 and 3; ideal has both at ranks 1 and 2
    dcg = 1 / math.log2(2) + 1 / math.log2(4)
    idcg = 1 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at_k(["a", "x", "b"], {"a": 1, "b": 1}, 10) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(["b", "a"], {"a": 1, "b": 1}, 10) == pytest.approx(1.0)
    # graded: a=2 at rank 2, b=1 at rank 1 vs ideal a, b
    got = ndcg_at_k(["b", "a"], {"a": 2, "b": 1}, 10)
    assert got == pytest.approx((1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3)))
    assert ndcg_at_k(["x", "a"], {"a": 1}, 1) == 0.0  # cut at k
    assert ndcg_at_k(["a"], {}, 10) == 0.0


def test_facts_and_share():
    assert facts_matched("It has 185 States Parties [1].", [r"\b185\b", "forfeiture"]) == [True, False]
    assert facts_matched("FORTY-FOUR states", [r"forty[- ]four"]) == [True]
    assert share([True, False, True, True]) == 0.75
    assert share([]) is None


def test_mean_std_percentile():
    assert mean([1, None, 3]) == 2
    assert mean([None]) is None
    assert std([2, 4, 4, 4, 5, 5, 7, 9]) == pytest.approx(2.138, abs=1e-3)  # sample std
    assert std([5]) == 0.0
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10, 20, 30, 40, 50], 95) == pytest.approx(48.0)
    assert percentile([], 50) is None


def test_binary_report():
    gold = [True, True, False, False, True]
    pred = [True, False, False, True, True]
    r = binary_report(gold, pred)
    assert (r["tp"], r["fp"], r["fn"], r["tn"]) == (2, 1, 1, 1)
    assert r["accuracy"] == pytest.approx(3 / 5)
    assert r["precision"] == pytest.approx(2 / 3) and r["recall"] == pytest.approx(2 / 3)
    assert r["f1"] == pytest.approx(2 / 3)


def _item(id, answerable=True, facts=1.0, refused=False, cited=1.0, recall=1.0, precision=1.0, faith=1.0,
          latency=1000.0, tags=(), hit=1.0):
    correct = (not refused and facts == 1.0) if answerable else refused
    return {"id": id, "answerable": answerable, "tags": list(tags), "facts": facts if answerable else None,
            "refused": refused, "correct": correct, "documents_cited": cited if answerable else None,
            "retrieval": {"hit": hit, "recall": hit, "mrr": hit} if answerable else None,
            "citation_recall": recall, "citation_precision": precision, "faithfulness": faith,
            "passed": correct and (cited in (None, 1.0) or not answerable), "latency_ms": latency}


def test_summarize_by_hand():
    items = [
        _item("a", facts=1.0, latency=1000, tags=["x"]),
        _item("b", facts=0.5, cited=0.0, recall=0.5, precision=0.5, faith=0.25, latency=3000, tags=["x"], hit=0.0),
        _item("c", refused=True, facts=0.0, cited=0.0, recall=None, precision=None, faith=None, latency=2000),
        _item("d", answerable=False, refused=True, recall=None, precision=None, faith=None, latency=500),
        _item("e", answerable=False, refused=False, recall=1.0, precision=1.0, faith=1.0, latency=4000),
    ]
    m = summarize(items)
    assert m["facts"] == pytest.approx(0.5)  # (1 + 0.5 + 0) / 3
    assert m["accuracy"] == pytest.approx(2 / 5)  # a and d
    assert m["documents_cited"] == pytest.approx(1 / 3)
    assert m["citation_recall"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert m["faithfulness"] == pytest.approx((1 + 0.25 + 1) / 3)
    assert m["refusal_accuracy"] == 0.5
    assert m["false_refusals"] == pytest.approx(1 / 3)
    assert m["retrieval_hit"] == pytest.approx(2 / 3)
    assert m["latency_p50_ms"] == 2000
    assert m["pass_rate"] == pytest.approx(2 / 5)
    tags = by_tag(items)
    assert set(tags) == {"x"} and tags["x"]["items"] == 2 and tags["x"]["facts"] == pytest.approx(0.75)
