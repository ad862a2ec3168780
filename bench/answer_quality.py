"""Answer quality on every registered eval suite, per half, and what each answer step adds.

    .venv/bin/python bench/answer_quality.py                     # generate mode -> results/answer_quality.json
    .venv/bin/python bench/answer_quality.py --mode quote        # -> results/answer_quality_quote.json
    .venv/bin/python bench/answer_quality.py --ablate            # -> results/ablation.json

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
                        log=lambda m: print(m, file=sys.stderr))
        print(format_table(result))
        print(f"wrote {c.write_results('ablation', result)}", file=sys.stderr)
        return
    from eval.multi import Models, run_suites

    result = run_suites(select(), settings, mode=args.mode, half=args.half, models=Models(settings, args.mode),
                        log=lambda m: print(m, file=sys.stderr))
    print(_suite_table(result))
    name = "answer_quality" if args.mode == "generate" else "answer_quality_quote"
    print(f"wrote {c.write_results(name, _results_payload(result))}", file=sys.stderr)


if __name__ == "__main__":
    main()
