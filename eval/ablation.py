"""What each answer step adds: every suite run with nothing off, then with each step off in turn.

A step (rag/answer/steps.py) earns its place when switching it off loses at least one item on
the dev halves of all suites pooled, and switching it off gains no suite's test half an item (a
step that costs a held-out item somewhere is fitted to the items it was written for). The model's
replies come from one cache (eval/llmcache.py), so every configuration reads the same replies
and differs from the others only by the step.
"""

from __future__ import annotations

import time
from typing import Callable

from eval.multi import Models, run_suites
from eval.suite import HALVES

NONE = "(nothing off)"


def _passing(result: dict) -> dict:
    """{suite: {half: [item ids passing]}} of a multi-suite run."""
    out = {}
    for name, run in result["runs"].items():
        halves = {h: [] for h in result["suites"][name]}
        for r in run["items"]:
            if r["passed"]:
                halves[r["half"]].append(r["id"])
        out[name] = halves
    return out


def ablate(specs, settings, steps: list[str], cache, log: Callable[[str], None] = print, half: str = "all") -> dict:
    """Run `specs` (`half`: both halves, or one; generate mode) with nothing off, then each of
    `steps` off alone."""
    from eval.runner import git_info

    models = Models(settings, "generate", cache)
    configs: dict[str, dict] = {}
    counts: dict[str, dict] = {}
    for n, step in enumerate([NONE, *steps], start=1):
        t0 = time.perf_counter()
        result = run_suites(specs, settings, mode="generate", half=half, off="" if step == NONE else step,
                            models=models, log=lambda m: None, rejudge=False)  # items passing need no re-judging
        configs[step] = _passing(result)
        counts[step] = {name: {h: m["items"] for h, m in halves.items()} for name, halves in result["suites"].items()}
        log(f"[{n}/{len(steps) + 1}] {step}: " + ", ".join(
            f"{name} {'/'.join(str(len(configs[step][name][h])) for h in HALVES if h in configs[step][name])}"
            for name in configs[step]) + f" ({time.perf_counter() - t0:.0f} s; model replies cached "
            f"{cache.hits}, asked {cache.misses})")
    base = configs[NONE]
    tested = any("test" in halves for halves in base.values())
    rows = {}
    for step in steps:
        gain = {name: {h: len(base[name][h]) - len(configs[step][name][h]) for h in base[name]} for name in base}
        pooled_dev = sum(g.get("dev", 0) for g in gain.values())
        # None, not []: with the test halves not run, no step has been shown to cost nothing there
        costs_test = [name for name, g in gain.items() if g.get("test", 0) < 0] if tested else None
        rows[step] = {"gain": gain, "pooled_dev": pooled_dev, "costs_test": costs_test,
                      "earns": pooled_dev >= 1 and not costs_test,
                      "lost_without": {name: {h: sorted(set(base[name][h]) - set(configs[step][name][h]))
                                              for h in base[name]} for name in base},
                      "gained_without": {name: {h: sorted(set(configs[step][name][h]) - set(base[name][h]))
                                                for h in base[name]} for name in base}}
    return {"git": git_info(), "suites": [s.name for s in specs], "items": counts[NONE],
            "passing": {name: {h: len(v) for h, v in halves.items()} for name, halves in base.items()},
            "steps": rows}


def format_table(result: dict) -> str:
    """Markdown: per step, items it adds per suite half (base minus switched off), pooled dev, verdict."""
    from rag.answer.steps import STEPS

    names = result["suites"]
    test = any("test" in result["items"][n] for n in names)  # an ablation of the dev halves only has no test columns
    head = ["Step", *[f"{n} dev" for n in names], "pooled dev", *[f"{n} test" for n in names if test], "Verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    base = ["items passing", *[f"{result['passing'][n].get('dev', 0)}/{result['items'][n].get('dev', 0)}"
                               for n in names], "",
            *[f"{result['passing'][n].get('test', 0)}/{result['items'][n].get('test', 0)}" for n in names if test], ""]
    lines.append("| " + " | ".join(base) + " |")

    def signed(x: int) -> str:
        return f"{x:+d}" if x else "0"

    for step, row in result["steps"].items():
        verdict = ("earns its place" + (" on dev (test halves not run)" if row["costs_test"] is None else "")
                   if row["earns"] else "costs a test item" if row["costs_test"] else "adds nothing on dev")
        cells = [f"`{step}`", *[signed(row["gain"][n].get("dev", 0)) for n in names], signed(row["pooled_dev"]),
                 *[signed(row["gain"][n].get("test", 0)) for n in names if test], verdict]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Each cell: items passing with the step on, minus with it off (positive: the step adds items).")
    lines += [f"- `{s}`: {STEPS[s]}" for s in result["steps"]]
    return "\n".join(lines)
