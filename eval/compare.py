"""A run against a baseline: metric deltas, per-item changes, the gate, and corpus drift.

The gate fails when a metric gets worse than its tolerance (eval/tolerances.yaml) or more items
newly fail than allowed. Differences that make the comparison unfair (another suite, corpus,
model, mode or index settings) are reported as warnings beside the verdict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from eval import TOLERANCES
from eval.metrics import BY_NAME, METRICS
from eval.suite import Suite, document_matches
from rag.errors import RagError


class RunNotFound(RagError):
    exit_code = 2


@dataclass(frozen=True)
class Tolerances:
    metrics: dict  # name -> float | {"ratio": float} | None
    newly_failing_items: int | None

    @classmethod
    def load(cls, path: Path = TOLERANCES) -> "Tolerances":
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            raise RagError(f"Cannot read tolerances {path}: {' '.join(str(e).split())}") from None
        metrics = data.get("metrics") or {}
        unknown = sorted(set(metrics) - set(BY_NAME))
        if unknown:
            raise RagError(f"{path}: unknown metric {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
        for name, tol in metrics.items():
            ok = tol is None or isinstance(tol, (int, float)) or (
                isinstance(tol, dict) and set(tol) == {"ratio"} and isinstance(tol["ratio"], (int, float)))
            if not ok:
                raise RagError(f"{path}: {name}: expected a number, {{ratio: R}} or null, got {tol!r}")
        return cls(metrics, data.get("newly_failing_items"))

    def describe(self, name: str) -> str:
        tol = self.metrics.get(name)
        if tol is None:
            return "-"
        if isinstance(tol, dict):
            return f"×{tol['ratio']:g}"
        return f"{tol:g}"


def load_run(spec: str | Path, runs_dir: Path, exclude: Path | None = None) -> tuple[dict, Path]:
    """A saved run: a path, or "latest" (the newest run in runs_dir other than `exclude`)."""
    if str(spec) == "latest":
        runs = sorted(p for p in runs_dir.glob("*.json") if p != exclude) if runs_dir.is_dir() else []
        if not runs:
            raise RunNotFound(f"No saved runs in {runs_dir} yet. Run `rag eval` once without --baseline, "
                              f"or give a run file (e.g. eval/baselines/default-embedded.json).")
        path = runs[-1]
    else:
        path = Path(spec)
        if not path.exists():
            raise RunNotFound(f"No run file at {spec}. Give a path to a run JSON or 'latest' (runs: {runs_dir}).")
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise RunNotFound(f"{path} is not a readable run file ({e}).") from None
    if not isinstance(run, dict) or "metrics" not in run or "items" not in run:
        raise RunNotFound(f"{path} is not a run file written by `rag eval` (no metrics/items).")
    return run, path


def worse_by(name: str, baseline: float, current: float) -> float:
    """How much worse `current` is than `baseline` (positive = worse), in the metric's direction."""
    return (baseline - current) if BY_NAME[name].higher_is_better else (current - baseline)


def _breaks(name: str, tol, baseline, current) -> bool:
    if tol is None or baseline is None:
        return False
    if current is None:
        return True  # the metric disappeared (e.g. every item errored)
    if isinstance(tol, dict):
        return baseline > 0 and current / baseline > tol["ratio"]
    return worse_by(name, baseline, current) > tol + 1e-9


def _status(b: dict | None, c: dict) -> str:
    if b is None:
        return "new item"
    if b["passed"] and not c["passed"]:
        return "newly failing"
    if not b["passed"] and c["passed"]:
        return "newly passing"
    return "still failing" if not c["passed"] else "passing"


_ORDER = {"newly failing": 0, "still failing": 1, "new item": 2, "newly passing": 3, "passing": 4}
ITEM_FIELDS = ("facts", "documents_cited", "citation_recall", "citation_precision", "faithfulness", "latency_ms")


@dataclass
class Comparison:
    baseline_path: str
    rows: list[dict]  # one per metric
    items: list[dict]  # one per item, newly failing first
    warnings: list[str]
    changed_documents: list[dict]
    failures: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.failures)


def changed_documents(baseline: dict, documents: dict, suite: Suite | None = None) -> list[dict]:
    """Items whose expected documents changed content (another id) or left the index since the baseline."""
    recorded = baseline.get("expected_documents") or {}
    items = suite.items if suite is not None else []
    pairs = [(i.id, list(i.documents)) for i in items] or [
        (r["id"], list((r.get("documents_expected") or {}).keys())) for r in baseline["items"]]
    out = []
    for item_id, expected in pairs:
        for e in expected:
            if e not in recorded:
                continue
            now = next((d for d in documents.values() if document_matches(e, d.source)), None)
            if now is None:
                out.append({"id": item_id, "document": e, "status": "disappeared"})
            elif recorded[e] and now.id != recorded[e]:
                out.append({"id": item_id, "document": e, "status": "changed",
                            "was": recorded[e][:12], "now": now.id[:12]})
    return out


def compare(current: dict, baseline: dict, tolerances: Tolerances, *, baseline_path: str = "",
            documents: dict | None = None, suite: Suite | None = None) -> Comparison:
    """Deltas per metric and per item, and the gate's verdict."""
    rows, failures = [], []
    for m in METRICS:
        b, c = baseline["metrics"].get(m.name), current["metrics"].get(m.name)
        tol = tolerances.metrics.get(m.name)
        broke = _breaks(m.name, tol, b, c)
        rows.append({"metric": m.name, "label": m.label, "baseline": b, "current": c,
                     "delta": (c - b) if b is not None and c is not None else None,
                     "tolerance": tolerances.describe(m.name), "failed": broke})
        if broke:
            failures.append(f"{m.label} {_fmt(m.name, b)} -> {_fmt(m.name, c)} (tolerance {tolerances.describe(m.name)})")
    base_items = {r["id"]: r for r in baseline["items"]}
    changed = changed_documents(baseline, documents, suite) if documents is not None else []
    changed_ids = {x["id"] for x in changed}
    items = []
    for r in current["items"]:
        b = base_items.get(r["id"])
        deltas = {f: (r.get(f) - b.get(f)) for f in ITEM_FIELDS
                  if b and r.get(f) is not None and b.get(f) is not None and r.get(f) != b.get(f)}
        items.append({"id": r["id"], "status": _status(b, r), "deltas": deltas, "error": r.get("error"),
                      "answer": r.get("answer"), "baseline_answer": b.get("answer") if b else None,
                      "documents_changed": r["id"] in changed_ids, "tags": r.get("tags", [])})
    items.sort(key=lambda x: (_ORDER[x["status"]], x["id"]))
    newly = [x for x in items if x["status"] == "newly failing"]
    limit = tolerances.newly_failing_items
    if limit is not None and len(newly) > limit:
        failures.append(f"{len(newly)} items newly failing (tolerance {limit}): "
                        + ", ".join(x["id"] for x in newly[:12]) + (" ..." if len(newly) > 12 else ""))
    return Comparison(baseline_path, rows, items, _unfair(current, baseline), changed, failures)


# settings that change how fast or where, not what is answered
_NOT_ANSWER_SHAPING = {"llm_port", "llm_timeout", "llm_threads", "llm_start_timeout", "llm_cache_mb", "llm_idle_minutes",
                       "embed_batch_size", "max_file_mb", "keep_versions", "llm_api_key"}


def _unfair(current: dict, baseline: dict) -> list[str]:
    out = []
    checks = [("suite", lambda r: r["suite"]["hash"]), ("corpus", lambda r: r["corpus"]["hash"]),
              ("model", lambda r: r.get("model")), ("mode", lambda r: r.get("mode")),
              ("index settings", lambda r: r["settings"]["index_fingerprint"]), ("k", lambda r: r.get("k"))]
    for what, get in checks:
        try:
            b, c = get(baseline), get(current)
        except (KeyError, TypeError):
            continue
        if b != c:
            out.append(f"{what} differs from the baseline ({b} -> {c}): deltas mix that change with the code's")
    bv = (baseline.get("settings") or {}).get("values") or {}
    cv = (current.get("settings") or {}).get("values") or {}
    changed = sorted(k for k in bv.keys() & cv.keys() if bv[k] != cv[k] and k not in _NOT_ANSWER_SHAPING)
    if changed:  # settings added or removed since the baseline are not differences in value
        out.append("settings differ from the baseline (" + ", ".join(f"{k} {bv[k]!r} -> {cv[k]!r}" for k in changed)
                   + "): deltas mix that change with the code's")
    return out


def _fmt(name: str, v) -> str:
    if v is None:
        return "n/a"
    return f"{v:.0f} ms" if BY_NAME[name].kind == "ms" else f"{v:.3f}"
