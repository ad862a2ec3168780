"""Evaluation harness: QA suites run through the real pipeline, baselines, reports, benchmarks.

`rag eval` (eval/cli.py) is the entry point; the modules follow the data:
suite.py (load and validate items) -> runner.py (ask, re-verify, score) -> metrics.py (the
formulas) -> compare.py (baseline deltas and the gate) -> report.py (Markdown and HTML).
drafts.py writes new items for review, beir.py runs retrieval benchmarks, verifier_eval.py
measures the evidence verifier on labelled pairs.
"""

from pathlib import Path

EVAL_DIR = Path(__file__).resolve().parent
SUITES_DIR = EVAL_DIR / "suites"
DEFAULT_SUITE = SUITES_DIR / "default.yaml"
TOLERANCES = EVAL_DIR / "tolerances.yaml"
VERIFIER_LABELS = EVAL_DIR / "verifier_labels.jsonl"
