"""Answer quality on every registered eval suite, per half, and what each answer step adds.

    .venv/bin/python bench/answer_quality.py                     # generate mode -> results/answer_quality.json
    .venv/bin/python bench/answer_quality.py --mode quote        # -> results/answer_quality_quote.json
    .venv/bin/python bench/answer_quality.py --ablate [--half dev]  # -> results/ablation.json
    .venv/bin/python bench/answer_quality.py --from-runs eval/baselines/*-embedded.json

--from-runs takes `rag eval run` files (one per suite, e.g. the committed baselines, which CI
compares every change with) instead of asking the questions again.

The figures are `rag eval suites` and `rag eval ablate` (eval/multi.py, eval/ablation.py): each
suite asked on its own corpus (eval/suites.yaml), items split into a fixed dev half (what rules
and thresholds are fitted on) and test half (what is reported). Written with the run's date,
commit, machine and load, for docs/measurements.md and the README.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["generate", "quote"], default="generate")
    ap.add_argument("--half", choices=["dev", "test", "all"], default="all")
    ap.add_argument("--ablate", action="store_true", help="switch each answer step off in turn (generate mode)")
    ap.add_argument("--from-runs", nargs="+", metavar="RUN", type=Path,
                    help="rag eval run files, one per registered suite: their figures, not a new run")
    ap.add_argument("--home", default=str(c.RESULTS / "cache" / "answer-quality"), help="RAG_HOME to use")
    args = ap.parse_args()

    from eval.cli import _results_payload, _suite_table
    from eval.registry import select
    from rag.settings import Settings

    settings = Settings(home=Path(args.home))
    if args.ablate:
        from eval.ablation import ablate, format_table
        from eval.llmcache import ReplyCache
        from rag.answer.steps import STEPS

        result = ablate(select(), settings, list(STEPS), ReplyCache(Path(args.home) / "eval" / "llm-cache.jsonl"),
                        log=lambda m: print(m, file=sys.stderr), half=args.half)
        print(format_table(result))
        print(f"wrote {c.write_results('ablation', result)}", file=sys.stderr)
        return
    from eval.multi import Models, run_suites

    if args.from_runs:
        result = _from_runs(args.from_runs)
        args.mode = result["mode"]
    else:
        result = run_suites(select(), settings, mode=args.mode, half=args.half,
                            models=Models(settings, args.mode), log=lambda m: print(m, file=sys.stderr))
    print(_suite_table(result))
    name = "answer_quality" if args.mode == "generate" else "answer_quality_quote"
    print(f"wrote {c.write_results(name, _results_payload(result))}", file=sys.stderr)


def _from_runs(paths: list[Path]) -> dict:
    """The multi-suite result (eval/multi.py's shape) of saved `rag eval run` files, each named to
    its registered suite by its items file."""
    import json

    from eval.multi import macro, suite_halves
    from eval.registry import load_registry
    from eval.suite import load_suite

    registry = load_registry()
    by_items = {spec.items.resolve(): name for name, spec in registry.items()}
    runs, suites, modes, halves = {}, {}, set(), set()
    for path in paths:
        run = json.loads(path.read_text(encoding="utf-8"))
        items_file = (c.ROOT / run["suite"]["path"]).resolve()
        name = by_items.get(items_file)
        if name is None:
            raise SystemExit(f"{path}: its suite {run['suite']['path']} is not in eval/suites.yaml")
        runs[name], suites[name] = run, suite_halves(run, load_suite(registry[name].items))
        modes.add(run.get("mode") or run.get("settings", {}).get("mode"))
        halves.add(run.get("half") or "all")
    if len(modes) != 1:
        raise SystemExit(f"the runs mix answer modes: {sorted(map(str, modes))}")
    return {"mode": modes.pop(), "half": halves.pop() if len(halves) == 1 else "mixed", "off": "",
            "suites": suites, "macro": macro(suites), "runs": runs}


if __name__ == "__main__":
    main()
