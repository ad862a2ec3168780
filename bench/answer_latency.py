"""Answer latency and verifier activity on the embedded model, per question of a fixed set.

For each question (from eval/suites/default.yaml: three quarters answerable, one quarter not):
as the caller of `Assistant.events` sees them, the time to the first evidence shown (the
best-ranked sentences, before the judge), to the evidence the judge chose, to the first token of
the written answer and to the whole verified answer; prompt tokens (by the server's tokenizer)
for the earlier 'context' flow; verification time; what the verifier did to the generated
sentences; and the share of the asked-for facts (the suite's regexes) present in what the model
reads: the chosen evidence (evidence flow) or the context sentences ('context' flow).

    .venv/bin/python bench/answer_latency.py [--n 24] [--home DIR]

Settings come from the environment as usual, e.g. RAG_LLM_CONTEXT_WORDS=120 to try a longer
context, or RAG_LLM_CONTEXT_MARGIN=2 to read every sentence that fits the word budget.

The index is built for docs_raw/ in a cache directory on first use. Goal on 2 cores: first
token under 3 s and a full answer under 10 s at p50. Run on a quiet machine: llama.cpp slows
down many times over when the cores are shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

import yaml  # noqa: E402


def pct(values, q):
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def prompt_tokens(base_url: str, messages: list[dict]) -> int | None:
    """Tokens of the prompt text, by the server's tokenizer (template tokens not included)."""
    import httpx

    try:
        text = "\n".join(m["content"] for m in messages)
        r = httpx.post(base_url.removesuffix("/v1") + "/extras/tokenize", json={"input": text}, timeout=30)
        return len(r.json()["tokens"])
    except Exception:
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=24, help="questions to ask (default 24)")
    ap.add_argument("--home", default=str(c.RESULTS / "cache" / "answer-home"), help="RAG_HOME to use")
    args = ap.parse_args()

    from rag.ingest import ingest
    from rag.pipeline import Assistant
    from rag.settings import Settings

    settings = Settings(home=Path(args.home))
    ingest([c.ROOT / "docs_raw"], settings, progress=False)
    items = [i for i in yaml.safe_load(open(c.ROOT / "eval" / "suites" / "default.yaml")) if not i.get("history")]
    answerable = [i for i in items if i.get("answerable", True)]
    unanswerable = [i for i in items if not i.get("answerable", True)]
    items = answerable[: args.n - args.n // 4] + unanswerable[: args.n // 4]
    assistant = Assistant(settings)
    assistant.generator  # start (or reuse) the embedded server before timing
    assistant.ask("warm-up: what is the Global Plan of Action?")
    rows = []
    for item in items:
        q = item["question"]
        t0 = time.perf_counter()
        first = ranked_at = chosen_at = None
        answer = None
        read = ""
        for ev in assistant.events(q):
            if ev["event"] == "token" and first is None:
                first = time.perf_counter() - t0
            elif ev["event"] == "evidence" and ev["stage"] == "ranked":
                ranked_at = time.perf_counter() - t0
            elif ev["event"] == "evidence" and ev["stage"] == "chosen":
                chosen_at = time.perf_counter() - t0
                read = " ".join(x["text"] for x in ev["quotes"])
            elif ev["event"] == "answer":
                answer = ev["answer"]
        total = time.perf_counter() - t0
        hits = assistant.retriever.search(q, settings.k)
        from rag.answer.quote import rank_sentences

        shown = hits[: settings.llm_sources]  # as the pipeline ranks them in generate mode
        msgs, _, _ = assistant.prompt(q, hits, rank_sentences(q, shown, assistant.documents(), assistant.embedder))
        if settings.answer_flow == "context":
            read = msgs[-1]["content"]
        import re

        facts = item.get("facts") or []
        facts_read = sum(bool(re.search(f, read, re.I)) for f in facts) / len(facts) if facts else None
        generated = len(answer.sentences) + len(answer.removed)
        repaired = sum(1 for s in answer.sentences if "repaired" in s.reason)
        rows.append({
            "id": item["id"], "answerable": item.get("answerable", True), "ttft_s": first, "total_s": total,
            "first_evidence_s": ranked_at, "chosen_evidence_s": chosen_at, "facts_read": facts_read,
            "retrieve_ms": answer.timings.get("retrieve"), "judge_ms": answer.timings.get("judge"),
            "prompt_tokens": prompt_tokens(assistant.generator.endpoint, msgs),
            # the last turn (sources and question) is what the server evaluates per question
            "question_turn_tokens": prompt_tokens(assistant.generator.endpoint, msgs[-1:]),
            "verify_ms": answer.timings.get("verify"), "generated": generated,
            "removed": len(answer.removed), "repaired": repaired, "refused": answer.refused, "mode": answer.mode,
        })
        print(f"{item['id']}: evidence {ranked_at or float('nan'):.2f}s, chosen {chosen_at or float('nan'):.2f}s, "
              f"first token {first or float('nan'):.2f}s, total {total:.2f}s, facts read {facts_read}, "
              f"refused={answer.refused}, removed {len(answer.removed)}/{generated}, repaired {repaired}",
              file=sys.stderr)

    ttft = [r["ttft_s"] for r in rows if r["ttft_s"] is not None]
    total = [r["total_s"] for r in rows]
    verify = [r["verify_ms"] for r in rows if r["verify_ms"] is not None]
    toks = [r["prompt_tokens"] for r in rows if r["prompt_tokens"]]
    turn = [r["question_turn_tokens"] for r in rows if r["question_turn_tokens"]]
    gen = sum(r["generated"] for r in rows)
    ev = [r["first_evidence_s"] for r in rows if r["first_evidence_s"] is not None]
    ev_after = [r["first_evidence_s"] - r["retrieve_ms"] / 1000 for r in rows
                if r["first_evidence_s"] is not None and r["retrieve_ms"] is not None]
    chosen = [r["chosen_evidence_s"] for r in rows if r["chosen_evidence_s"] is not None]
    fr = [r["facts_read"] for r in rows if r["facts_read"] is not None]
    summary = {
        "questions": len(rows),
        "answer_flow": settings.answer_flow,
        "first_evidence_p50_s": pct(ev, 0.5), "first_evidence_p95_s": pct(ev, 0.95),
        "first_evidence_after_retrieval_p50_s": pct(ev_after, 0.5),
        "first_evidence_after_retrieval_p95_s": pct(ev_after, 0.95),
        "chosen_evidence_p50_s": pct(chosen, 0.5), "chosen_evidence_p95_s": pct(chosen, 0.95),
        "facts_read_share": statistics.mean(fr) if fr else None,
        "ttft_p50_s": pct(ttft, 0.5), "ttft_p95_s": pct(ttft, 0.95),
        "total_p50_s": pct(total, 0.5), "total_p95_s": pct(total, 0.95),
        "verify_p50_ms": pct(verify, 0.5), "verify_p95_ms": pct(verify, 0.95),
        "prompt_tokens_mean": statistics.mean(toks) if toks else None,
        "question_turn_tokens_mean": statistics.mean(turn) if turn else None,
        "generated_sentences": gen,
        "removed_share": sum(r["removed"] for r in rows) / gen if gen else 0.0,
        "repaired_share": sum(r["repaired"] for r in rows) / gen if gen else 0.0,
        "llm_sources": settings.llm_sources, "llm_context_words": settings.llm_context_words,
        "llm_context_margin": settings.llm_context_margin,
        "load_average_at_start": os.getloadavg(),
    }
    print("| metric | value |\n| --- | --- |")
    for k, v in summary.items():
        print(f"| {k} | {v:.3f} |" if isinstance(v, float) else f"| {k} | {v} |")
    path = c.write_results("answer_latency", {"summary": summary, "rows": rows})
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
