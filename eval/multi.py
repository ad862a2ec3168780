"""Run several registered suites (eval/suites.yaml), each on its own corpus, with one model.

Each suite's corpus is indexed in its own data directory (RAG_HOME/eval/homes/<suite>/;
incremental, so an unchanged corpus costs nothing the second time) and its items are asked
there; the model, its judge and the embedder are shared by all suites. Results are reported per
suite and per half (dev: what rules and thresholds are fitted on; test: what is reported), and
as the macro average over suites, each suite counting once whatever its size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from eval.metrics import mean, summarize
from eval.registry import SuiteSpec
from eval.suite import HALVES, load_suite

HEADLINE = ("pass_rate", "refusal_accuracy", "false_refusals", "facts", "documents_cited", "answer_in_shown",
            "latency_p50_ms")


def suite_home(settings, name: str) -> Path:
    return Path(settings.home) / "eval" / "homes" / name


def suite_halves(run: dict, suite) -> dict[str, dict]:
    """A run's metrics per half: each of its items tagged with its half in `suite` (the items
    file it was asked from), then `halves_of`."""
    half_of = {i.id: i.half for i in suite.items}
    for r in run["items"]:
        r["half"] = half_of[r["id"]]
    return halves_of(run["items"])


def halves_of(items: list[dict]) -> dict[str, dict]:
    """Suite metrics for each half present in `items` (per-item results, each with its "half"),
    with their counts."""
    out = {}
    for half in HALVES:
        rows = [r for r in items if r["half"] == half]
        if rows:
            m = summarize(rows)
            m["passing"] = sum(1 for r in rows if r["passed"])
            m["answerable"] = sum(1 for r in rows if r["answerable"])
            out[half] = m
    return out


def macro(per_suite: dict[str, dict]) -> dict[str, dict]:
    """The mean over suites of each headline metric, per half (suites lacking a half left out)."""
    out = {}
    for half in HALVES:
        present = [s[half] for s in per_suite.values() if half in s]
        if present:
            out[half] = {k: mean(p.get(k) for p in present) for k in HEADLINE} | {"suites": len(present)}
    return out


class Models:
    """The embedder, generator and judge shared by every suite of one run (built on first use)."""

    def __init__(self, settings, mode: str, cache=None):
        self.settings, self.mode, self.cache = settings, mode, cache
        self._embedder = self._indexer = self._generator = self._judge = None

    @property
    def indexer(self):
        """The embedder ingest uses (it may hand it to worker processes)."""
        if self._indexer is None:
            from embeddings import get_embedder

            self._indexer = get_embedder(self.settings.embedding_model)
        return self._indexer

    @property
    def embedder(self):
        """The embedder answers use, keeping the vectors it made (embeddings/memo.py) for every
        suite of the run; when measuring configurations, which embed the same texts again and
        again, it keeps all of them."""
        if self._embedder is None:
            from embeddings.memo import Memoized, memoized

            self._embedder = memoized(self.indexer) if self.cache is None else Memoized(self.indexer, max_texts=None)
        return self._embedder

    def parts(self) -> tuple:
        """(generator, judge) for generate mode, (None, None) for quote mode."""
        if self.mode != "generate":
            return None, None
        if self._generator is None:
            from rag.answer.judge import make_judge
            from rag.llm.generate import make_generator

            gen = make_generator(self.settings)
            judge = make_judge(self.settings, gen)
            if self.cache is not None:
                from eval.llmcache import CachedGenerator, CachedJudge

                judge = CachedJudge(judge, self.cache, gen.model) if judge is not None else None
                gen = CachedGenerator(gen, self.cache)
            self._generator, self._judge = gen, judge
        return self._generator, self._judge


def index_suite(spec: SuiteSpec, settings, models: Models, log: Callable[[str], None], progress: bool) -> None:
    """Bring the suite's own index up to date with its corpus."""
    from rag.ingest import ingest

    report = ingest(list(spec.corpus), settings, embedder=models.indexer, progress=progress,
                    log=lambda m: log(f"[{spec.name}] {m}"))
    if report.failed:
        log(f"[{spec.name}] warning: {report.summary()}")


def run_suites(specs: list[SuiteSpec], settings, *, mode: str, half: str = "all", off: str = "",
               models: Models | None = None, item_progress: Callable[[str, dict], None] | None = None,
               log: Callable[[str], None] = print, progress: bool = False, rejudge: bool | None = None) -> dict:
    """Run each suite's `half` ("dev", "test" or "all") with the answer steps in `off` switched
    off. Returns {"mode", "half", "off", "suites": {name: {half: metrics}}, "macro": {half:
    metrics}, "runs": {name: run record}}. `rejudge`: whether the harness judges citations again with
    the model (default: as `run_suite` does); items passing do not depend on it."""
    from eval.runner import run_suite, save_run, runs_dir
    from rag.pipeline import Assistant

    models = models or Models(settings, mode)
    per_suite, runs = {}, {}
    for spec in specs:
        s = settings.model_copy(update={"home": suite_home(settings, spec.name), "answer_off": off})
        index_suite(spec, s, models, log, progress)
        suite = load_suite(spec.items).select(half=half)
        generator, judge = models.parts()
        assistant = Assistant(s, generator=generator, embedder=models.embedder, judge=judge)
        run = run_suite(suite, assistant, mode=mode, judge=rejudge,
                        progress=(lambda r, n=spec.name: item_progress(n, r)) if item_progress else None)
        run["suite"]["name"], run["half"], run["off"] = spec.name, half, off
        save_run(run, runs_dir(s))
        per_suite[spec.name] = suite_halves(run, suite)
        runs[spec.name] = run
    return {"mode": mode, "half": half, "off": off, "suites": per_suite, "macro": macro(per_suite), "runs": runs}

