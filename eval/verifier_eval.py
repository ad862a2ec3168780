"""How well the evidence verifier tells supported claims from unsupported ones.

Runs `EvidenceVerifier` on labelled (claim, passage, supported, kind) pairs, once without and
once with the LLM judge for borderline scores, and reports accuracy and precision / recall of
the "unsupported" verdict (the one that removes a sentence), overall and per kind of pair.
The passage's document title is given to the verifier as at answer time, when the labelled
source file can be read.
"""

from __future__ import annotations

import json
from pathlib import Path

from eval.metrics import binary_report
from rag.errors import RagError
from rag.answer.verify import EvidenceVerifier, Passage, llm_judge

FIELDS = {"id": str, "claim": str, "passage": str, "supported": bool, "kind": str}


def load_labels(path: Path) -> list[dict]:
    """Labelled pairs; every bad line is reported with its line number."""
    rows, errors = [], []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"line {n}: not valid JSON ({e.msg})")
            continue
        bad = [k for k, t in FIELDS.items() if not isinstance(r.get(k), t)]
        if bad:
            errors.append(f"line {n} ({r.get('id', '?')}): missing or wrong type: {', '.join(bad)}")
            continue
        rows.append(r)
    if errors:
        raise RagError(f"{path} has {len(errors)} bad line(s):\n  " + "\n  ".join(errors[:20]))
    return rows


def _titles(labels: list[dict], root: Path) -> dict[str, str]:
    from rag.errors import LoadError
    from rag.ingest.load import load_file

    out = {}
    for src in {r.get("source") for r in labels if r.get("source")}:
        try:
            out[src] = load_file(root / src, src).title
        except (LoadError, OSError):
            out[src] = ""
    return out


def score(labels: list[dict], verifier: EvidenceVerifier, titles: dict[str, str]) -> dict:
    """Verdicts and the report for one verifier configuration."""
    verdicts = []
    for r in labels:
        p = Passage(r["passage"], 0, len(r["passage"]), titles.get(r.get("source"), ""))
        verdicts.append(verifier.resolve(r["claim"], p, verifier.assess([r["claim"]], [p])[0][0]))
    gold = [not r["supported"] for r in labels]  # positive class: unsupported
    pred = [not v.supported for v in verdicts]
    kinds = sorted({r["kind"] for r in labels})
    per_kind = {}
    for k in kinds:
        idx = [i for i, r in enumerate(labels) if r["kind"] == k]
        per_kind[k] = {"n": len(idx), "supported": labels[idx[0]]["supported"],
                       "accuracy": sum(gold[i] == pred[i] for i in idx) / len(idx)}
    wrong = [{"id": r["id"], "kind": r["kind"], "gold": r["supported"], "score": round(v.score, 3),
              "reasons": list(v.reasons), "judged": v.judged, "claim": r["claim"]}
             for r, v, g, p in zip(labels, verdicts, gold, pred) if g != p]
    return {"unsupported": binary_report(gold, pred), "per_kind": per_kind, "judged": sum(v.judged for v in verdicts),
            "errors": wrong}


def evaluate_verifier(labels: list[dict], settings, *, with_judge: bool = True, embedder=None, generator=None,
                      root: Path | None = None, judge=None) -> dict:
    """Both configurations on the same pairs (the judge one only when `with_judge`). The judge is
    `judge` (a rag.answer.judge.Judge) when given, else the generator's own. The hard checks
    switched off in `settings.answer_off` (verify_figures, verify_names, ...) are off here too."""
    from embeddings import get_embedder

    from eval import EVAL_DIR
    from rag.answer.verify import ProbabilityJudge

    embedder = embedder or get_embedder(settings.embedding_model)
    titles = _titles(labels, root or EVAL_DIR.parent)
    off = frozenset(x for x in settings.answer_off.split(",") if x)
    out = {"pairs": len(labels), "off": sorted(off),
           "configs": {"no judge": score(labels, EvidenceVerifier(embedder, off=off), titles)}}
    if with_judge:
        if judge is None:
            if generator is None:
                from rag.llm.generate import make_generator

                generator = make_generator(settings)
            verdicts = llm_judge(settings, generator)
            out["judge_model"] = generator.model
        else:
            verdicts = ProbabilityJudge(judge)
        out["configs"]["LLM judge"] = score(labels, EvidenceVerifier(embedder, verdicts, off=off), titles)
    return out


def format_report(result: dict) -> str:
    """Markdown tables: overall per configuration, then accuracy per kind."""
    f = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    lines = [f"Verifier on {result['pairs']} labelled pairs" + (f" (judge: {result['judge_model']})"
                                                                  if result.get("judge_model") else ""), "",
             "| Config | Accuracy | Unsupported precision | Unsupported recall | F1 | Judged |", "|---|---|---|---|---|---|"]
    for name, c in result["configs"].items():
        u = c["unsupported"]
        lines.append(f"| {name} | {f(u['accuracy'])} | {f(u['precision'])} | {f(u['recall'])} | {f(u['f1'])} | {c['judged']} |")
    names = list(result["configs"])
    lines += ["", "| Kind | Label | N | " + " | ".join(f"Accuracy ({n})" for n in names) + " |",
              "|---|---|---|" + "---|" * len(names)]
    first = result["configs"][names[0]]["per_kind"]
    for kind, row in first.items():
        accs = " | ".join(f(result["configs"][n]["per_kind"][kind]["accuracy"]) for n in names)
        lines.append(f"| {kind} | {'supported' if row['supported'] else 'unsupported'} | {row['n']} | {accs} |")
    for name, c in result["configs"].items():
        if c["errors"]:
            lines += ["", f"Misjudged ({name}): " + ", ".join(f"{e['id']} ({e['kind']})" for e in c["errors"])]
    return "\n".join(lines)


def roc_auc(scores: list[float], positive: list[bool]) -> float | None:
    """Probability that a random positive scores above a random negative (ties count half)."""
    pos = [s for s, p in zip(scores, positive) if p]
    neg = [s for s, p in zip(scores, positive) if not p]
    if not pos or not neg:
        return None
    wins = sum((a > b) + 0.5 * (a == b) for a in pos for b in neg)
    return wins / (len(pos) * len(neg))


def best_threshold(scores: list[float], positive: list[bool]) -> float:
    """The cut (midpoint between neighbouring scores) that classifies the most pairs right."""
    cuts = sorted(set(scores))
    cands = [0.5] + [(a + b) / 2 for a, b in zip(cuts, cuts[1:])]
    return max(cands, key=lambda t: (sum((s >= t) == p for s, p in zip(scores, positive)), -abs(t - 0.5)))


def calibrate(labels: list[dict], judge) -> dict:
    """The judge's yes-probability on every pair (the passage as given), a threshold fitted on the
    odd-numbered pairs, and ROC AUC and accuracy on the even-numbered ones (held out)."""
    from rag.answer.judge import support_messages

    probs = [judge.p_yes(support_messages(r["claim"], r["passage"])) for r in labels]
    if any(p is None for p in probs):
        raise RagError("The judge did not answer for every pair; is the LLM reachable? (rag llm status)")
    gold = [bool(r["supported"]) for r in labels]
    fit = [i for i in range(len(labels)) if i % 2 == 0]  # 1st, 3rd, ... pair
    held = [i for i in range(len(labels)) if i % 2 == 1]
    t = best_threshold([probs[i] for i in fit], [gold[i] for i in fit])
    acc = lambda idx: sum((probs[i] >= t) == gold[i] for i in idx) / len(idx)  # noqa: E731
    kinds = sorted({r["kind"] for r in labels})
    return {
        "pairs": len(labels), "threshold": round(t, 4),
        "fit": {"n": len(fit), "accuracy": acc(fit), "roc_auc": roc_auc([probs[i] for i in fit], [gold[i] for i in fit])},
        "held_out": {"n": len(held), "accuracy": acc(held),
                     "roc_auc": roc_auc([probs[i] for i in held], [gold[i] for i in held])},
        "per_kind": {k: {"n": sum(r["kind"] == k for r in labels),
                         "accuracy": sum((p >= t) == g for p, g, r in zip(probs, gold, labels) if r["kind"] == k)
                         / sum(r["kind"] == k for r in labels)} for k in kinds},
        "probabilities": {r["id"]: round(p, 4) for r, p in zip(labels, probs)},
    }
