"""Answer latency on the embedded model, two versions of the code side by side in one run.

Questions are taken from every registered eval suite (eval/suites.yaml), the first of each
suite's answerable and unanswerable items without a conversation. Each version of the code (a
git commit, checked out in a temporary worktree) answers in its own worker process, on its own
index of each suite's corpus, with an embedded LLM server of its own: the server keeps the states
of the prompts it has read, so a version asking second through a shared server would find the
other's prompts already read and answer in a fraction of the time. The versions take turns
question by question (which goes first alternates), so a busy moment of the machine hits both
alike; each server is warmed up before the first question.

For each answer, as the caller of `Assistant.events` sees it: the time to the first evidence
shown, to the first token of the written answer, and to the whole verified answer; whether it
passed its item (facts and expected document, as `rag eval` scores it, without re-judging
citations). The summary gives p50/p95 per version and their ratio.

    .venv/bin/python bench/answer_latency.py                      # the working tree against HEAD
    .venv/bin/python bench/answer_latency.py --base e438d18 --per-suite 6

Run on a quiet machine: llama.cpp slows down many times over when the cores are shared (the
load average is recorded with the results).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402


# --- the worker: runs inside one version of the code ---------------------------------------------

def worker(llm_home: str, cache: str) -> None:
    """Answer questions read from stdin (JSON lines: {suite, corpus, question}) with the code on
    sys.path; write one JSON line per answer. Each suite's corpus is indexed in `cache`/<suite>."""
    import re

    from rag.answer.judge import make_judge
    from rag.ingest import ingest
    from rag.llm.generate import make_generator
    from rag.pipeline import Assistant
    from rag.settings import Settings

    base = Settings(home=Path(llm_home))
    gen = make_generator(base)
    judge = make_judge(base, gen)
    assistants = {}
    for line in sys.stdin:
        job = json.loads(line)
        name = job["suite"]
        if name not in assistants:
            s = Settings(home=Path(cache) / name)
            ingest([c.ROOT / p for p in job["corpus"]], s, progress=False)
            a = Assistant(s, generator=gen, judge=judge)
            a.ask("warm-up: what is this collection about?")
            assistants[name] = a
        a = assistants[name]
        t0 = time.perf_counter()
        first = evidence = None
        answer = None
        for ev in a.events(job["question"]):
            if ev["event"] == "token" and first is None:
                first = time.perf_counter() - t0
            elif ev["event"] == "evidence" and evidence is None:
                evidence = time.perf_counter() - t0
            elif ev["event"] == "answer":
                answer = ev["answer"]
        total = time.perf_counter() - t0
        facts = job.get("facts") or []
        cited = {x.source for x in answer.citations}
        if job["answerable"]:
            passed = (not answer.refused and all(re.search(f, answer.answer, re.I) for f in facts)
                      and (not job["documents"] or any(any(s.endswith(d) or d.endswith(s) for s in cited)
                                                       for d in job["documents"])))
        else:
            passed = answer.refused
        print(json.dumps({"total_s": total, "ttft_s": first, "evidence_s": evidence, "refused": answer.refused,
                          "passed": passed, "timings": answer.timings}), flush=True)
    from rag.llm.server import EmbeddedServer  # no more questions (stdin closed): stop this version's server

    EmbeddedServer(base).stop()


# --- the driver ----------------------------------------------------------------------------------

def questions(per_suite: int) -> list[dict]:
    """The first answerable and unanswerable single-turn items of each suite (three to one)."""
    import yaml

    from eval.registry import load_registry

    out = []
    for name, spec in load_registry().items():
        items = [i for i in yaml.safe_load(spec.items.read_text()) if not i.get("history")]
        yes = [i for i in items if i["answerable"]][: per_suite - per_suite // 4]
        no = [i for i in items if not i["answerable"]][: per_suite // 4]
        corpus = [str(p.relative_to(c.ROOT)) for p in spec.corpus]
        out += [{"suite": name, "corpus": corpus, "id": i["id"], "question": i["question"],
                 "answerable": i["answerable"], "facts": i.get("facts") or [], "documents": i.get("documents") or []}
                for i in yes + no]
    return out


class Version:
    """One version of the code in a worker process."""

    def __init__(self, label: str, tree: Path, llm_home: Path, cache: Path, port: int):
        self.label, self.tree = label, tree
        env = dict(os.environ, PYTHONPATH=str(tree), HF_HUB_OFFLINE="1", RAG_LLM_PORT=str(port))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", f"import sys; sys.path[:0] = [{str(tree)!r}, {str(Path(__file__).parent)!r}];"
             f"import answer_latency as b; b.worker({str(llm_home)!r}, {str(cache)!r})"],
            cwd=tree, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, job: dict) -> dict:
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the {self.label} worker stopped (see its output above)")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()  # the worker stops its server and exits
        self.proc.wait(timeout=60)


def checkout(ref: str, where: Path) -> Path:
    """A worktree of `ref` at `where` (the working tree itself for "WORKTREE")."""
    if ref == "WORKTREE":
        return c.ROOT
    subprocess.run(["git", "worktree", "add", "--detach", "-f", str(where), ref], cwd=c.ROOT, check=True,
                   capture_output=True)
    return where


def summary(rows: list[dict]) -> dict:
    total = [r["total_s"] for r in rows]
    ttft = [r["ttft_s"] for r in rows if r["ttft_s"] is not None]
    ev = [r["evidence_s"] for r in rows if r["evidence_s"] is not None]
    return {"answers": len(rows), "passed": sum(r["passed"] for r in rows),
            "total_p50_s": c.percentile(total, 50), "total_p95_s": c.percentile(total, 95),
            "ttft_p50_s": c.percentile(ttft, 50), "first_evidence_p50_s": c.percentile(ev, 50)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="HEAD", help="the version compared against (a git ref; default HEAD)")
    ap.add_argument("--new", default="WORKTREE", help="the version measured (a git ref, or WORKTREE: the files "
                                                      "as they are; default)")
    ap.add_argument("--per-suite", type=int, default=8, help="questions per suite (default 8)")
    args = ap.parse_args()

    jobs = questions(args.per_suite)
    cache = c.RESULTS / "cache" / "answer-latency"
    tmp = Path(tempfile.mkdtemp(prefix="bench-versions-"))
    versions, trees = [], []
    try:
        for label, ref in (("base", args.base), ("new", args.new)):
            sha = ref if ref == "WORKTREE" else subprocess.run(
                ["git", "rev-parse", "--short", ref], cwd=c.ROOT, capture_output=True, text=True, check=True).stdout.strip()
            tree = checkout(ref, tmp / label)
            trees.append(tree)
            versions.append((Version(f"{label} ({sha})", tree, cache / f"llm-{label}", cache / f"{label}-{sha}",
                                     c.free_port()), sha))
        rows: dict[str, list[dict]] = {v.label: [] for v, _ in versions}
        for n, job in enumerate(jobs):
            order = versions if n % 2 == 0 else versions[::-1]
            for v, _ in order:
                r = v.ask(job) | {"id": job["id"], "suite": job["suite"], "answerable": job["answerable"]}
                rows[v.label].append(r)
                print(f"{job['suite']}/{job['id']} {v.label}: {r['total_s']:.1f} s, first token "
                      f"{r['ttft_s'] or float('nan'):.1f} s, {'pass' if r['passed'] else 'FAIL'}", file=sys.stderr)
        for v, _ in versions:
            v.close()
    finally:
        for tree in trees:
            if tree != c.ROOT:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=c.ROOT, capture_output=True)
    sums = {label: summary(r) for label, r in rows.items()}
    (base_label, base), (new_label, new) = sums.items()
    ratio = {k: (new[k] / base[k] if base[k] else None) for k in ("total_p50_s", "total_p95_s", "ttft_p50_s")}
    print("| version | answers | passed | verified answer p50 | p95 | first token p50 | first evidence p50 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for label, s in sums.items():
        print(f"| {label} | {s['answers']} | {s['passed']} | {s['total_p50_s']:.2f} s | {s['total_p95_s']:.2f} s | "
              f"{s['ttft_p50_s']:.2f} s | {s['first_evidence_p50_s']:.2f} s |")
    print(f"\nnew / base: verified answer p50 {ratio['total_p50_s']:.2f}x, p95 {ratio['total_p95_s']:.2f}x, "
          f"first token p50 {ratio['ttft_p50_s']:.2f}x")
    path = c.write_results("answer_latency", {"summary": sums, "ratio_new_to_base": ratio,
                                              "versions": {label: sha for (v, sha), label in zip(versions, sums)},
                                              "rows": rows, "per_suite": args.per_suite})
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
