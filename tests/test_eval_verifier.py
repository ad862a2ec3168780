"""`rag eval verifier`: the project's verifier scored on labelled pairs, with and without a judge."""

from __future__ import annotations

import json

import pytest

from eval import VERIFIER_LABELS
from eval.verifier_eval import evaluate_verifier, format_report, load_labels
from rag.errors import RagError
from rag.answer.judge import ScriptedJudge
from rag.settings import Settings

pytestmark = pytest.mark.slow


def _subset():
    """Two pairs of each kind, in file order."""
    out, seen = [], {}
    for r in load_labels(VERIFIER_LABELS):
        if seen.get(r["kind"], 0) < 2:
            out.append(r)
            seen[r["kind"]] = seen.get(r["kind"], 0) + 1
    return out


def test_labels_file_is_valid():
    rows = load_labels(VERIFIER_LABELS)
    assert len(rows) >= 240 and len({r["id"] for r in rows}) == len(rows)
    assert {r["kind"] for r in rows if r["supported"]} >= {"verbatim", "paraphrase", "partial", "attribution",
                                                           "right_role", "acronym", "number_form"}
    from eval.suite import half_of

    halves = [half_of(r["id"]) for r in rows]  # both halves hold supported and unsupported pairs
    assert {(h, r["supported"]) for h, r in zip(halves, rows)} == {(h, b) for h in ("dev", "test") for b in (True, False)}


def test_bad_label_lines_are_reported(tmp_path):
    p = tmp_path / "l.jsonl"
    p.write_text(json.dumps({"id": "a", "claim": "c", "passage": "p", "supported": "yes", "kind": "k"}) + "\n{oops\n")
    with pytest.raises(RagError, match=r"2 bad line\(s\)") as e:
        load_labels(p)
    assert "line 1 (a): missing or wrong type: supported" in str(e.value) and "line 2: not valid JSON" in str(e.value)


def test_with_and_without_judge(real_embedder):
    labels = _subset()
    judge = ScriptedJudge(lambda prompt: 0.02)  # a judge that never finds support
    result = evaluate_verifier(labels, Settings(), embedder=real_embedder, judge=judge)
    plain, judged = result["configs"]["no judge"], result["configs"]["LLM judge"]
    assert plain["unsupported"]["n"] == len(labels) == 2 * len({r["kind"] for r in labels}) and plain["judged"] == 0
    # unrelated passages and verbatim quotes are clear-cut for the verifier
    assert plain["per_kind"]["unrelated"]["accuracy"] == 1.0 and plain["per_kind"]["verbatim"]["accuracy"] == 1.0
    # the judge was consulted exactly for the borderline pairs, and only ever said no
    assert judged["judged"] == len(judge.calls)
    assert judged["unsupported"]["tp"] + judged["unsupported"]["fp"] >= plain["unsupported"]["tp"] + plain["unsupported"]["fp"]
    assert all(not e["gold"] or e["judged"] or e["reasons"] for e in judged["errors"])
    report = format_report(result)
    assert "| no judge |" in report and "| LLM judge |" in report and "| unrelated | unsupported | 2 |" in report
