"""Calibrate the answer judge: does a candidate sentence answer the question?

`ANSWER_THRESHOLD` (rag/answer/judge.py) decides which candidate sentences answer a question:
the rescue of a refused answer, the answer to a part of a two-part question, the evidence the
evidence-first flow chooses. The value in use is chosen on whole answers to the suites' dev halves
(rag/answer/judge.py); this module shows how well the judge separates on pairs made from eval
suites, and what a fit on each single decision would give:

- the pairs are what the answer stage gives the judge: for each item asking one question, the
  best `judge_candidates` candidate sentences of its retrieved passages that could be chosen
  (`Assistant.eligible`: a figure when one is asked for, a document naming what is asked about);
- a pair is labelled *answers* when the item is answerable, the sentence's document is one the
  item expects, and the sentence matches every one of the item's fact patterns; every candidate
  of an unanswerable item is labelled *does not answer*;
- the judge's probability for each pair is saved with it (JSONL), so suites indexed in
  different homes can be fitted together, and each suite's fit tried on the other suite.

Two-part questions and conversations are left out: their parts are asked as rewritten
questions, which the suites do not label.

The bar is fitted on the pairs per item (`fit_rescue`), on the decision it makes: quote an item's
best candidate or refuse. The answer check's bar (`CORRECT_THRESHOLD`) is fitted on written
answers per item (`fit_correct`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from eval.metrics import facts_matched
from eval.suite import Suite, document_matches
from eval.verifier_eval import best_threshold, roc_auc
from rag.answer import candidates, reader
from rag.answer.judge import ANSWER_THRESHOLD
from rag.answer.parts import question_parts
from rag.errors import RagError


def collect(suite: Suite, assistant, *, progress: Callable[[str], None] | None = None) -> list[dict]:
    """The labelled pairs of `suite` with the judge's probabilities (see the module docstring)."""
    s = assistant.settings
    judge = assistant._judge_for(assistant.generator)
    if judge is None:
        raise RagError("The answer judge is off (RAG_JUDGE=false) or the LLM gives no probabilities: "
                       "nothing to calibrate. Use the embedded LLM or an endpoint that returns logprobs.")
    documents = assistant.documents()
    pairs: list[dict] = []
    for item in suite.items:
        if progress:
            progress(item.id)
        if item.history or len(question_parts(item.question)) > 1:
            continue
        hits = assistant.retriever.search(item.question, s.k)
        ranked = candidates.rank(item.question, hits, documents, assistant.embedder)
        picked = reader.choose(item.question, assistant.eligible(item.question, ranked, hits, documents), judge,
                               top=s.judge_candidates)
        if picked is None:
            raise RagError("The judge did not answer; is the LLM reachable? (rag llm status)")
        for e in picked[1]:
            c = e.candidate
            doc = documents[hits[c.hit].chunk.doc_id]
            answers = (item.answerable and bool(item.facts) and all(facts_matched(c.text, item.facts))
                       and (not item.documents or any(document_matches(d, doc.source) for d in item.documents)))
            pairs.append({"suite": Path(suite.path).stem, "item": item.id, "answerable": item.answerable,
                          "question": item.question,
                          "sentence": c.text, "context": c.context, "source": doc.source, "title": doc.title,
                          "answers": answers, "p": round(e.p_answer, 4)})
    return pairs


def _accuracy(pairs: list[dict], t: float) -> float:
    return sum((r["p"] >= t) == r["answers"] for r in pairs) / len(pairs)


def _summary(pairs: list[dict], t: float) -> dict:
    """How a threshold `t` does on `pairs`: accuracy, and precision / recall of "answers"."""
    said = [r for r in pairs if r["p"] >= t]
    right = sum(r["answers"] for r in said)
    pos = sum(r["answers"] for r in pairs)
    return {"n": len(pairs), "answering": pos, "accuracy": round(_accuracy(pairs, t), 4),
            "precision": round(right / len(said), 4) if said else None,
            "recall": round(right / pos, 4) if pos else None,
            "all_no": round(1 - pos / len(pairs), 4)}


def fit(pairs: list[dict]) -> dict:
    """Per suite: ROC AUC and the threshold that classifies the most pairs right; each suite's
    threshold on the other suites' pairs; and the threshold fitted on all pairs together."""
    if not pairs:
        raise RagError("No pairs to fit: the suites have no single-question items the judge reads.")
    def fitted(rows: list[dict]) -> tuple[float, dict]:
        scores, gold = [r["p"] for r in rows], [r["answers"] for r in rows]
        t = best_threshold(scores, gold)
        return t, {"threshold": round(t, 4), "roc_auc": roc_auc(scores, gold), "fit": _summary(rows, t)}

    by = {n: [r for r in pairs if r["suite"] == n] for n in sorted({r["suite"] for r in pairs})}
    out: dict = {"suites": {}}
    for n, rows in by.items():
        t, out["suites"][n] = fitted(rows)
        others = [r for r in pairs if r["suite"] != n]
        out["suites"][n]["on_the_others"] = _summary(others, t) if others else None
    t, out["pooled"] = fitted(pairs)
    out["pooled"].update({f"on_{n}": _summary(rows, t) for n, rows in by.items()})
    out["rescue"] = fit_rescue(pairs, current=ANSWER_THRESHOLD)
    return out


# The judge's run-to-run spread on one pair (the same prompt, evaluated with other batch shapes by
# llama.cpp's prompt cache): up to 0.02 seen on a single candidate sentence judged twice.
JUDGE_SPREAD = 0.02


def fit_rescue(pairs: list[dict], spread: float = JUDGE_SPREAD, current: float | None = None) -> dict | None:
    """The judge's bar for quoting a candidate (ANSWER_THRESHOLD), fitted on its decision per item: quote the item's most
    probable candidate when it reaches the bar, else refuse. Right when it answers an answerable
    item, or refuses an unanswerable one. The bar lies halfway between two items' probabilities
    (as far from both as it can be), where it makes the most items right over all the pairs'
    suites together; among bars as good, the highest (a refusal is honest, a wrong quote is not).
    Per suite: items right at that bar and at `current`. None when the pairs do not say which
    items are answerable (saved before that was recorded)."""
    if not pairs or any("answerable" not in r for r in pairs):
        return None
    items: dict[tuple[str, str], dict] = {}
    for r in pairs:
        key = (r["suite"], r["item"])
        if key not in items or r["p"] > items[key]["p"]:
            items[key] = r
    highest = max((r["p"] for r in items.values() if not r["answerable"]), default=None)

    def count(rows, t: float) -> int:
        return sum((r["answers"] if r["p"] >= t else not r["answerable"]) for r in rows)

    def right(rows: list[dict], t: float) -> float:
        return round(count(rows, t) / len(rows), 4)

    rows_all = list(items.values())
    ps = sorted({r["p"] for r in rows_all})
    cuts = [(a + b) / 2 for a, b in zip(ps, ps[1:])] + [ps[-1] + spread]  # halfway between items' probabilities
    bar = round(max(cuts, key=lambda t: (count(rows_all, t), t)), 2)

    out: dict = {"threshold": bar, "highest_unanswerable": highest, "suites": {}}
    for n in sorted({k[0] for k in items}):
        rows = [r for k, r in items.items() if k[0] == n]
        out["suites"][n] = {"items": len(rows), "unanswerable": sum(not r["answerable"] for r in rows),
                            "right": right(rows, bar), "right_at_current": right(rows, current) if current else None}
    return out


def format_fit(result: dict, current: float) -> str:
    """Markdown: each fit and how it does, with the threshold in use for comparison."""
    f = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    lines = ["| Fitted on | Threshold | ROC AUC | Pairs (answering) | Accuracy there | Precision | Recall "
             "| Accuracy on the other suites |", "|---|---|---|---|---|---|---|---|"]
    for n, r in result["suites"].items():
        o = r["on_the_others"]
        lines.append(f"| {n} | {r['threshold']:.3f} | {f(r['roc_auc'])} | {r['fit']['n']} ({r['fit']['answering']}) "
                     f"| {f(r['fit']['accuracy'])} | {f(r['fit']['precision'])} | {f(r['fit']['recall'])} "
                     f"| {f(o['accuracy']) if o else 'n/a'} |")
    p = result["pooled"]
    lines.append(f"| all together | {p['threshold']:.3f} | {f(p['roc_auc'])} | {p['fit']['n']} ({p['fit']['answering']}) "
                 f"| {f(p['fit']['accuracy'])} | {f(p['fit']['precision'])} | {f(p['fit']['recall'])} | |")
    lines.append(f"\nIn use: ANSWER_THRESHOLD = {current} (rag/answer/judge.py); answering \"no\" to every pair "
                 f"would be right for {f(p['fit']['all_no'])} of them.")
    r = result.get("rescue")
    if r:
        lines += ["", f"Per item (quote an item's best candidate, or refuse): ANSWER_THRESHOLD fitted {r['threshold']:.2f}; "
                      f"the best candidate of an unanswerable item scored up to {f(r['highest_unanswerable'])}.",
                  "", f"| Suite | Items (unanswerable) | Right at {r['threshold']:.2f} | Right at {current} |", "|---|---|---|---|"]
        lines += [f"| {n} | {x['items']} ({x['unanswerable']}) | {f(x['right'])} | {f(x['right_at_current'])} |"
                  for n, x in r["suites"].items()]
    return "\n".join(lines)


def load_pairs(path: Path) -> list[dict]:
    """Pairs saved by an earlier `rag eval judge --out`; a bad line is reported with its number."""
    rows = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            if not isinstance(r["p"], (int, float)) or not isinstance(r["answers"], bool) or not r["suite"]:
                raise KeyError
        except (json.JSONDecodeError, KeyError, TypeError):
            raise RagError(f"{path} line {n}: not a judged pair (suite, answers, p); write it with "
                           "`rag eval judge SUITE --out FILE`.") from None
        rows.append(r)
    return rows


def written_answers(run: dict, judge) -> list[dict]:
    """For each one-part item of `run` that the written answer answered, the judge's probability
    that the answer is correct for the question (`reader.correct_probability`: its most probable
    sentence, read with the quotes it cites), with whether the item passed. The run should be one
    made with the answer check off (`RAG_ANSWER_OFF=answer_check`), so that every written answer
    that survived verification is there to be judged."""
    rows = []
    headings = "headings" not in (run.get("off") or "").split(",")  # as Settings.on reads RAG_ANSWER_OFF
    for item in run["items"]:
        if item.get("error") or item["refused"] or len(question_parts(item["question"])) > 1:
            continue
        quotes = {c["n"]: reader.cited_evidence(c["quote"], c.get("section"), headings)
                  for c in item["response"]["citations"]}
        answered = [(s["text"], [quotes[n] for n in s["citations"] if n in quotes])
                    for s in item["sentences"] if s["pipeline_supported"] and s["citations"]]
        p = reader.correct_probability(item["question"], answered, judge)
        if p is not None:
            rows.append({"suite": run["suite"].get("name") or Path(run["suite"]["path"]).stem, "item": item["id"],
                         "answerable": item["answerable"], "passed": item["passed"], "p": round(p, 4)})
    return rows


def fit_correct(rows: list[dict]) -> dict | None:
    """The answer check's bar (CORRECT_THRESHOLD), fitted on its decision per item: a written
    answer whose probability is below the bar is removed. Removing a right answer loses the item;
    removing the answer to an unanswerable question wins it; removing a wrong answer to an
    answerable one changes nothing (the item stays wrong unless the candidates answer it). The bar
    lies halfway between two answers' probabilities, where the items won minus lost is largest;
    among bars as good, the lowest (it removes least)."""
    if not rows:
        return None
    ps = sorted({r["p"] for r in rows})
    cuts = [0.0] + [(a + b) / 2 for a, b in zip(ps, ps[1:])]

    def net(t: float) -> int:
        return sum((not r["answerable"]) - r["passed"] for r in rows if r["p"] < t)

    bar = max(cuts, key=lambda t: (net(t), -t))
    return {"threshold": round(bar, 2), "answers": len(rows), "right": sum(r["passed"] for r in rows),
            "unanswerable": sum(not r["answerable"] for r in rows), "net_items": net(bar),
            "right_below": sorted(r["p"] for r in rows if r["passed"])[:3],
            "unanswerable_p": sorted(r["p"] for r in rows if not r["answerable"])}
