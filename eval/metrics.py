"""The formulas, each a small pure function, and the table of suite metrics.

Retrieval is scored at the document level: a ranked list of chunks becomes the list of their
documents in order of first appearance. Graded-relevance metrics follow BEIR / trec_eval:
linear gain (the qrels grade), log2 discount, ideal DCG from the judged documents. The answer
sentence is also looked for at the passage level (`answer_in_context`): a document can be
retrieved through a passage that does not hold the answer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from rag.ingest.sentences import split_sentences


def dedupe(ranked: Iterable[str]) -> list[str]:
    """Items in order of first appearance (chunks -> documents)."""
    return list(dict.fromkeys(ranked))


# --- retrieval against expected documents (binary relevance) ---------------------------------

def hit_at_k(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    """1.0 when any relevant document is in the top k."""
    return 1.0 if any(d in relevant for d in ranked[:k]) else 0.0


def recall_at_k(ranked: Sequence[str], relevant: set[str] | dict, k: int) -> float:
    """Share of the relevant documents found in the top k (graded qrels: grade > 0 counts)."""
    rel = {d for d in relevant if (relevant[d] > 0 if isinstance(relevant, dict) else True)}
    if not rel:
        return 0.0
    return len(rel & set(ranked[:k])) / len(rel)


def reciprocal_rank(ranked: Sequence[str], relevant: set[str]) -> float:
    """1 / rank of the first relevant document, 0 when none is ranked."""
    for i, d in enumerate(ranked, start=1):
        if d in relevant:
            return 1.0 / i
    return 0.0


def ndcg_at_k(ranked: Sequence[str], qrels: dict[str, int], k: int = 10) -> float:
    """nDCG@k with linear gains (BEIR / trec_eval)."""
    dcg = sum(qrels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted((g for g in qrels.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


# --- the answer sentence among the passages -----------------------------------------------

def answer_in_context(passages: Sequence[tuple[str, str]], patterns: Sequence[str],
                      relevant: set[str] | None = None) -> dict | None:
    """Whether the passages hold the answer: for each fact pattern, a sentence matching it.

    `passages` are (source, text) pairs in rank order (the k hits, or the text a model was
    shown); `relevant`, when given, limits the search to passages of those sources, so a
    figure that happens to recur in an unrelated document does not count. A sentence is cut
    at a passage's edges: half a sentence that still matches counts, as the reader sees it.

    Returns {"hit": 1.0 when every pattern matched (else 0.0), "rank": the 1-based passage rank
    by which all patterns had matched (None when one never did), "ranks": per pattern, the
    rank of the first passage with a matching sentence, "sentences": that sentence}; None for
    an item without patterns (undefined, not a miss).
    """
    if not patterns:
        return None
    ranks: list[int | None] = [None] * len(patterns)
    found: list[str | None] = [None] * len(patterns)
    for rank, (source, text) in enumerate(passages, start=1):
        if relevant is not None and source not in relevant:
            continue
        sentences = [text[a:b] for a, b in split_sentences(text)]
        for i, p in enumerate(patterns):
            if ranks[i] is None:
                hit = next((s for s in sentences if re.search(p, s, re.I)), None)
                if hit is not None:
                    ranks[i], found[i] = rank, " ".join(hit.split())
        if all(r is not None for r in ranks):
            break
    complete = all(r is not None for r in ranks)
    return {"hit": 1.0 if complete else 0.0, "rank": max(ranks) if complete else None,
            "ranks": ranks, "sentences": found}


# --- answers ----------------------------------------------------------------------------------

def facts_matched(answer: str, patterns: Sequence[str]) -> list[bool]:
    """For each fact pattern, whether the answer states it (case-insensitive regex search)."""
    return [re.search(p, answer, re.I) is not None for p in patterns]


def share(flags: Sequence[bool]) -> float | None:
    """Fraction of true flags; None for an empty list (undefined, not zero)."""
    return sum(flags) / len(flags) if flags else None


# --- summaries --------------------------------------------------------------------------------

def mean(xs: Iterable[float | None]) -> float | None:
    """Mean of the defined values; None when there are none."""
    vals = [x for x in xs if x is not None]
    return sum(vals) / len(vals) if vals else None


def std(xs: Iterable[float | None]) -> float | None:
    """Sample standard deviation of the defined values (0 for one value)."""
    vals = [x for x in xs if x is not None]
    if not vals:
        return None
    if len(vals) == 1:
        return 0.0
    m = sum(vals) / len(vals)
    return math.sqrt(sum((x - m) ** 2 for x in vals) / (len(vals) - 1))


def percentile(xs: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation between closest ranks (numpy default)."""
    if not xs:
        return None
    s = sorted(xs)
    pos = (len(s) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def binary_report(gold: Sequence[bool], pred: Sequence[bool]) -> dict:
    """Accuracy, and precision / recall / F1 of the positive class (True), with the counts."""
    tp = sum(g and p for g, p in zip(gold, pred))
    fp = sum((not g) and p for g, p in zip(gold, pred))
    fn = sum(g and (not p) for g, p in zip(gold, pred))
    tn = sum((not g) and (not p) for g, p in zip(gold, pred))
    n = tp + fp + fn + tn
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = (2 * precision * recall / (precision + recall)) if precision and recall else (
        0.0 if precision is not None and recall is not None else None)
    return {"n": n, "accuracy": (tp + tn) / n if n else None, "precision": precision, "recall": recall,
            "f1": f1, "tp": tp, "fp": fp, "fn": fn, "tn": tn}


# --- the suite metrics ------------------------------------------------------------------------

@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    higher_is_better: bool
    description: str
    kind: str = "share"  # "share" (0-1) or "ms"


METRICS: tuple[Metric, ...] = (
    Metric("retrieval_hit", "Retrieval hit@k", True,
           "answerable items with an expected document among the top-k retrieved"),
    Metric("retrieval_recall", "Retrieval recall@k", True, "share of expected documents among the top-k retrieved"),
    Metric("retrieval_mrr", "Retrieval MRR", True, "1/rank of the first expected document"),
    Metric("answer_in_context", "Answer in context", True,
           "answerable items whose fact patterns each match a sentence of an expected document "
           "among the top-k passages retrieved, each read after its section's headings (hit@k of the answer "
           "sentence)"),
    Metric("answer_in_shown", "Answer shown to the model", True,
           "answerable items whose fact patterns each match a sentence of what the model was shown, each "
           "source's label (with its headings) and text (n/a when the Answer does not expose it as `context`)"),
    Metric("facts", "Facts stated", True, "share of fact patterns matched in the answer (answerable items)"),
    Metric("accuracy", "Correct", True,
           "items answered correctly: every fact stated (answerable) or refused (unanswerable)"),
    Metric("documents_cited", "Right documents cited", True,
           "answerable items citing an expected document (all of them for multi-document items)"),
    Metric("citation_recall", "Citation recall", True,
           "answer sentences supported by their citations, by the project's verifier"),
    Metric("citation_precision", "Citation precision", True, "citations that support their sentence"),
    Metric("faithfulness", "Faithfulness", True,
           "generated sentences (kept and removed) that are supported by their citations"),
    Metric("refusal_accuracy", "Refusal accuracy", True, "unanswerable items that were refused"),
    Metric("false_refusals", "False refusals", False, "answerable items that were refused"),
    Metric("pass_rate", "Items passing", True,
           "items that are correct and, when answerable, cite the right documents"),
    Metric("latency_p50_ms", "Latency p50", False, "median time to a final answer", "ms"),
    Metric("latency_p95_ms", "Latency p95", False, "95th percentile time to a final answer", "ms"),
)
BY_NAME = {m.name: m for m in METRICS}


def summarize(items: Sequence[dict]) -> dict:
    """Suite metrics from per-item results (see runner.score_item for the fields)."""
    ans = [r for r in items if r["answerable"] and not r.get("error")]
    una = [r for r in items if not r["answerable"] and not r.get("error")]
    ok = [r for r in items if not r.get("error")]
    lat = [r["latency_ms"] for r in ok if r.get("latency_ms") is not None]
    with_docs = [r for r in ans if r.get("retrieval")]
    return {
        "retrieval_hit": mean(r["retrieval"]["hit"] for r in with_docs),
        "retrieval_recall": mean(r["retrieval"]["recall"] for r in with_docs),
        "retrieval_mrr": mean(r["retrieval"]["mrr"] for r in with_docs),
        "answer_in_context": mean((r.get("answer_in_context") or {}).get("hit") for r in ans),
        "answer_in_shown": mean((r.get("answer_in_shown") or {}).get("hit") for r in ans),
        "facts": mean(r["facts"] for r in ans),
        "accuracy": mean(float(r["correct"]) for r in items),
        "documents_cited": mean(r["documents_cited"] for r in ans),
        "citation_recall": mean(r["citation_recall"] for r in ok),
        "citation_precision": mean(r["citation_precision"] for r in ok),
        "faithfulness": mean(r["faithfulness"] for r in ok),
        "refusal_accuracy": mean(float(r["refused"]) for r in una),
        "false_refusals": mean(float(r["refused"]) for r in ans),
        "pass_rate": mean(float(r["passed"]) for r in items),
        "latency_p50_ms": percentile(lat, 50),
        "latency_p95_ms": percentile(lat, 95),
        "items": len(items),
        "errors": sum(1 for r in items if r.get("error")),
    }


def by_tag(items: Sequence[dict]) -> dict[str, dict]:
    """The suite metrics for the items carrying each tag."""
    tags = sorted({t for r in items for t in r.get("tags", [])})
    return {t: summarize([r for r in items if t in r.get("tags", [])]) for t in tags}
