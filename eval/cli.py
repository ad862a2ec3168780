"""`rag eval`: run suites against the real pipeline, compare with a baseline, report, benchmark.

`run` is the default subcommand, so `rag eval`, `rag eval SUITE` and
`rag eval SUITE --baseline latest` all run a suite. Exit status of a run: 0 when it passes
the baseline gate (or has no baseline), 1 when a metric got worse than its tolerance.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from eval import DEFAULT_SUITE, TOLERANCES, VERIFIER_LABELS
from rag.settings import get_settings


class DefaultGroup(click.Group):
    """A group that runs `run` when the first argument is not a subcommand (a suite path or an option)."""

    default = "run"

    def parse_args(self, ctx, args):
        if not args or (args[0] not in self.commands and args[0] not in ctx.help_option_names):
            args = [self.default, *args]
        return super().parse_args(ctx, args)


@click.group("eval", cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
def eval_group():
    """Measure answer quality on a QA suite, and gate changes on a baseline.

    \b
      rag eval                                  run eval/suites/default.yaml
      rag eval SUITE --baseline latest          compare with the previous run; exit 1 on a regression
      rag eval --mode quote --repeat 3          quote mode, three runs, mean ± std
      rag eval report                           Markdown + HTML report of the latest run
      rag eval changes --baseline RUN           items whose expected documents changed since RUN
      rag eval generate --n 10                  draft new items from indexed passages (for review)
      rag eval feedback                         draft items from thumbs-down feedback
      rag eval beir /path/to/scifact            retrieval benchmark (nDCG@10, Recall@100)
      rag eval verifier                         accuracy of the evidence verifier on labelled pairs
      rag eval judge SUITE --out pairs.jsonl    fit the answer judge's threshold on the suite's candidates
      rag eval suites --half test               every registered suite on its own corpus, per half + macro
      rag eval ablate --half dev                each answer step switched off in turn: what it adds

    Runs are saved in RAG_HOME/eval/runs/, reports in RAG_HOME/eval/reports/.
    """


def _runs_dir(settings) -> Path:
    from eval.runner import runs_dir

    return runs_dir(settings)


def _baseline_spec(spec: str) -> str:
    """A baseline name in eval/baselines/ may be given without its folder and extension."""
    from eval import EVAL_DIR

    p = EVAL_DIR / "baselines" / f"{spec}.json"
    return str(p) if not Path(spec).exists() and spec != "latest" and p.exists() else spec


def _progress(total: int, quiet: bool):
    state = {"n": 0}

    def show(r: dict) -> None:
        state["n"] += 1
        if quiet:
            return
        mark = "pass" if r["passed"] else ("ERROR" if r.get("error") else "FAIL")
        lat = f"{r['latency_ms'] / 1000:.1f} s" if r.get("latency_ms") is not None else "-"
        facts = f"facts {r['facts']:.2f}" if r.get("facts") is not None else ("refused" if r["refused"] else "answered")
        click.echo(f"[{state['n']}/{total}] {r['id']:<10} {mark:<5} {facts:<12} {lat}"
                   + (f"  {r['error']}" if r.get("error") else ""), err=True)
    return show


def write_reports(run: dict, cmp, settings) -> tuple[Path, Path]:
    """Markdown and HTML reports of a run, beside the other runs' reports."""
    from eval.report import html, markdown
    from rag.index.versions import write_atomic

    out = Path(settings.home) / "eval" / "reports"
    out.mkdir(parents=True, exist_ok=True)
    history = []
    for p in sorted(_runs_dir(settings).glob("*.json"))[-30:]:
        try:
            r = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if r.get("suite", {}).get("hash") == run["suite"]["hash"] and r.get("mode") == run["mode"]:
            history.append(r)
    md, page = out / f"{run['id']}.md", out / f"{run['id']}.html"
    write_atomic(md, markdown(run, cmp))
    write_atomic(page, html(run, cmp, history))
    return md, page


def _summary(run: dict, cmp) -> str:
    from eval.report import _md_table, _metric_rows, _verdict

    head = ["Metric", "Value"] + (["Baseline", "Δ", "Tolerance", "Gate"] if cmp else [])
    lines = [_md_table(head, _metric_rows(run, cmp)), ""]
    failing = [x for x in cmp.items if x["status"] in ("newly failing", "still failing")] if cmp else [
        {"id": r["id"], "status": "failing"} for r in run["items"] if not r["passed"]]
    if failing:
        lines.append("Not passing: " + ", ".join(f"{x['id']} ({x['status']})" for x in failing))
    if cmp and cmp.changed_documents:
        lines.append("Expected documents changed since the baseline: " + ", ".join(
            f"{c['id']} ({c['document']} {c['status']})" for c in cmp.changed_documents))
    return "\n".join(lines + _verdict(cmp))


@eval_group.command("run")
@click.argument("suite", required=False)
@click.option("--baseline", metavar="RUN", help="Compare with a run file, 'latest', or a name in eval/baselines/.")
@click.option("--repeat", type=click.IntRange(1, 50), default=1, show_default=True,
              help="Run the suite N times; report mean and std.")
@click.option("--mode", type=click.Choice(["generate", "quote"]), default=None,
              help="Answer mode (default: RAG_MODE). quote needs no LLM.")
@click.option("--k", "k", type=click.IntRange(1, 20), default=None, help="Passages per question (RAG_K).")
@click.option("--only", multiple=True, metavar="ID", help="Run only these item ids (repeatable).")
@click.option("--tag", multiple=True, help="Run only items with this tag (repeatable).")
@click.option("--limit", type=click.IntRange(1), default=None, help="Run only the first N items.")
@click.option("--half", type=click.Choice(["dev", "test", "all"]), default="all", show_default=True,
              help="Which half of the suite (fixed by a hash of each item id): fit rules and thresholds on "
              "dev, report test.")
@click.option("--shard", metavar="K/N", default=None,
              help="Ask only the K-th of N fixed parts of the items (by a hash of each id; with --half, of "
              "that half): to split a run over machines, or to fit a time budget (CI asks 1/2 of each test half).")
@click.option("--tolerances", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=TOLERANCES,
              show_default="eval/tolerances.yaml", help="Tolerances of the baseline gate.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the run JSON here (e.g. to commit it as a baseline).")
@click.option("--resume", is_flag=True, help="Reuse the items an interrupted run of the same suite and mode finished.")
@click.option("--json", "as_json", is_flag=True, help="Print the run (and comparison) as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No per-item progress.")
@click.option("--collection", metavar="NAME", default=None,
              help="The collection whose documents answer (default: RAG_COLLECTION, else 'default').")
def run_cmd(suite, baseline, repeat, mode, k, only, tag, limit, half, shard, tolerances, out, resume, as_json, quiet,
            collection):
    """Run SUITE (default eval/suites/default.yaml) through the pipeline and score it."""
    from eval.compare import Tolerances, compare, load_run
    from eval.runner import Checkpoint, run_suite, save_run
    from eval.suite import lint_against_corpus, load_suite, parse_shard
    from rag.pipeline import Assistant
    from rag.cli import collection_settings
    from rag.index.versions import write_atomic
    from rag.names import check_collection

    settings = collection_settings(check_collection(collection) if collection else None)
    tol = Tolerances.load(tolerances)
    suite = load_suite(suite or DEFAULT_SUITE).select(tuple(only), tuple(tag), limit, half,
                                                      parse_shard(shard) if shard else None)
    for w in suite.warnings:
        click.echo(f"warning: {w}", err=True)
    base, base_path = load_run(_baseline_spec(baseline), _runs_dir(settings)) if baseline else (None, None)
    assistant = Assistant(settings)
    documents = assistant.retriever.index.documents  # fails here, clearly, when nothing is indexed
    for w in lint_against_corpus(suite, documents):
        click.echo(f"warning: {w}", err=True)
    mode = mode or settings.mode
    if mode == "generate":
        _ = assistant.generator.model  # start (or reach) the LLM now, so a dead endpoint is one clear error
    checkpoint = Checkpoint(_runs_dir(settings), suite, mode)
    done = checkpoint.start(resume)
    if done:
        click.echo(f"resuming: {len(done)} item(s) already done in {checkpoint.path}", err=True)
    show = _progress(len(suite.items) * repeat, quiet or as_json)

    def progress(r: dict) -> None:
        checkpoint.add(r)
        show(r)

    run = run_suite(suite, assistant, mode=mode, k=k, repeat=repeat, progress=progress, done=done)
    path = save_run(run, _runs_dir(settings))
    checkpoint.finish()
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(out, json.dumps(run, indent=1, ensure_ascii=False))
    cmp = compare(run, base, tol, baseline_path=str(base_path), documents=documents, suite=suite) if base else None
    md, page = write_reports(run, cmp, settings)
    fallbacks = sum(1 for r in run["items"] if r.get("mode") and r["mode"] != mode)
    if as_json:
        click.echo(json.dumps({"run": str(path), "metrics": run["metrics"], "metrics_std": run["metrics_std"],
                               "gate": None if cmp is None else {"failed": cmp.failed, "failures": cmp.failures,
                                                                 "warnings": cmp.warnings, "rows": cmp.rows,
                                                                 "changed_documents": cmp.changed_documents}},
                              indent=2))
    else:
        click.echo(_summary(run, cmp))
        click.echo(f"\nRun: {path}\nReport: {md}\n        {page}")
    if fallbacks:
        click.echo(f"warning: {fallbacks} answers fell back to quote mode (the LLM did not answer)", err=True)
    sys.exit(1 if cmp is not None and cmp.failed else 0)


@eval_group.command("report")
@click.argument("run", required=False, default="latest")
@click.option("--baseline", metavar="RUN", help="Show deltas against this run.")
@click.option("--markdown", "print_md", is_flag=True, help="Print the Markdown report.")
def report_cmd(run, baseline, print_md):
    """Write the Markdown and HTML reports of RUN (a run file or 'latest')."""
    from eval.compare import Tolerances, compare, load_run

    settings = get_settings()
    current, path = load_run(_baseline_spec(run), _runs_dir(settings))
    cmp = None
    if baseline:
        base, base_path = load_run(_baseline_spec(baseline), _runs_dir(settings), exclude=path)
        cmp = compare(current, base, Tolerances.load(), baseline_path=str(base_path))
    md, page = write_reports(current, cmp, settings)
    if print_md:
        click.echo(md.read_text(encoding="utf-8"))
    click.echo(f"Report: {md}\n        {page}")


@eval_group.command("changes")
@click.argument("suite", required=False)
@click.option("--baseline", metavar="RUN", default="latest", show_default=True, help="The run to compare with.")
def changes_cmd(suite, baseline):
    """List items whose expected documents changed or disappeared since a baseline run (after re-ingest)."""
    from eval.compare import changed_documents, load_run
    from eval.runner import corpus_hash
    from eval.suite import load_suite
    from rag.index import Index

    settings = get_settings()
    base, path = load_run(_baseline_spec(baseline), _runs_dir(settings))
    documents = Index.load(settings).documents
    changed = changed_documents(base, documents, load_suite(suite or base["suite"]["path"]))
    same = corpus_hash(documents) == base["corpus"]["hash"]
    click.echo(f"Corpus {'unchanged' if same else 'changed'} since {path}.")
    for c in changed:
        click.echo(f"{c['id']}: {c['document']} {c['status']}")
    if not changed:
        click.echo("No item's expected documents changed.")


@eval_group.command("generate")
@click.option("--n", "n", type=click.IntRange(1, 200), default=10, show_default=True, help="Items to draft.")
@click.option("--seed", type=int, default=0, show_default=True, help="Which passages are sampled.")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the drafts file goes (default eval/suites/).")
def generate_cmd(n, seed, out_dir):
    """Draft new suite items from indexed passages with the LLM, for a person to review.

    Writes eval/suites/drafts-<date>.yaml (never an existing file). Drafts whose answer is not
    found in their passage are discarded.
    """
    from eval.drafts import draft_from_chunks
    from eval.suite import write_drafts
    from rag.llm.generate import make_generator
    from rag.index import Index

    settings = get_settings()
    index = Index.load(settings)
    items = draft_from_chunks(index, make_generator(settings), n=n, seed=seed,
                              log=lambda m: click.echo(m, err=True))
    if not items:
        raise click.ClickException("The LLM produced no usable draft; try another --seed or a larger --n.")
    path = write_drafts(items, "drafts", **({"directory": out_dir} if out_dir else {}))
    click.echo(f"Wrote {len(items)} draft item(s) to {path}: review them before moving them into a suite.")


@eval_group.command("feedback")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the drafts file goes (default eval/suites/).")
def feedback_cmd(out_dir):
    """Turn thumbs-down feedback (RAG_HOME/feedback.jsonl) into draft items for review."""
    from eval.drafts import draft_from_feedback
    from eval.suite import load_suite, write_drafts

    settings = get_settings()
    items = draft_from_feedback(Path(settings.home) / "feedback.jsonl", load_suite(DEFAULT_SUITE))
    if not items:
        click.echo("No new thumbs-down feedback to turn into items.")
        return
    path = write_drafts(items, "drafts-feedback", **({"directory": out_dir} if out_dir else {}))
    click.echo(f"Wrote {len(items)} draft item(s) to {path}: set answerable, facts and documents for each.")


@eval_group.command("beir")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--split", default="train", show_default=True, help="qrels/<split>.tsv to use.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the first N queries (quick run).")
@click.option("--modes", default="bm25,dense,hybrid", show_default=True, help="Retrievers to compare.")
@click.option("--k-chunks", type=click.IntRange(10, 2000), default=300, show_default=True,
              help="Chunks retrieved per query (documents are ranked by their best chunk).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def beir_cmd(path, split, limit, modes, k_chunks, as_json):
    """Retrieval benchmark on a BEIR dataset (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv).

    The corpus is indexed once with the current settings (cached in RAG_HOME/eval/beir/); reports
    nDCG@10 and Recall@100 per retriever.
    """
    from eval.beir import run_beir
    from rag.ingest.progress import terminal

    settings = get_settings()
    result = run_beir(path, settings, split=split, limit=limit, modes=tuple(m.strip() for m in modes.split(",")),
                      k_chunks=k_chunks, log=lambda m: click.echo(m, err=True),
                      progress=not as_json and terminal())
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"{result['dataset']} ({split}): {result['queries']} queries, {result['documents']} documents, "
               f"{result['chunks']} chunks\n")
    click.echo("| Retriever | nDCG@10 | Recall@100 |\n|---|---|---|")
    for m, r in result["modes"].items():
        click.echo(f"| {m} | {r['ndcg@10']:.4f} | {r['recall@100']:.4f} |")
    click.echo(f"\nSaved: {result['path']}")


@eval_group.command("verifier")
@click.option("--labels", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=VERIFIER_LABELS,
              show_default="eval/verifier_labels.jsonl", help="Labelled (claim, passage, supported, kind) pairs, JSONL.")
@click.option("--judge/--no-judge", default=True, show_default=True,
              help="Also run with the LLM judge for borderline scores (starts the LLM).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--half", type=click.Choice(["dev", "test", "all"]), default="all", show_default=True,
              help="Which half of the pairs (fixed by a hash of each id): fit on dev, report test.")
@click.option("--off", default="", metavar="STEPS",
              help="Verifier checks to switch off, comma-separated (verify_figures, verify_names, ...), to measure them.")
@click.option("--llm-cache", "cache_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Reuse the model's earlier verdicts for the same prompts from this file.")
@click.option("--calibrate", is_flag=True,
              help="Fit the judge's threshold on the odd-numbered pairs and report ROC AUC and accuracy on the "
              "even-numbered ones: the judge deciding alone. The verifier's bar (rag/answer/judge.py "
              "SUPPORT_THRESHOLD) is chosen on whole answers, `rag eval suites --half dev`.")
def verifier_cmd(labels, judge, as_json, half, off, cache_path, calibrate):
    """Accuracy of the evidence verifier on labelled pairs, with and without the LLM judge."""
    from eval.suite import half_of
    from eval.verifier_eval import evaluate_verifier, format_report, load_labels

    settings = get_settings(answer_off=off or None)
    pairs = [r for r in load_labels(labels) if half in ("all", half_of(r["id"]))]
    if calibrate:
        from eval.verifier_eval import calibrate as fit
        from rag.answer.judge import make_judge
        from rag.llm.generate import make_generator

        result = fit(pairs, make_judge(settings, make_generator(settings)))
        if as_json:
            click.echo(json.dumps(result, indent=2))
        else:
            click.echo(f"threshold {result['threshold']} (fitted on {result['fit']['n']} pairs: accuracy "
                       f"{result['fit']['accuracy']:.3f}, ROC AUC {result['fit']['roc_auc']:.3f}); held out "
                       f"{result['held_out']['n']} pairs: accuracy {result['held_out']['accuracy']:.3f}, "
                       f"ROC AUC {result['held_out']['roc_auc']:.3f}")
            for k, v in result["per_kind"].items():
                click.echo(f"  {k:<22} n={v['n']:<3} accuracy {v['accuracy']:.3f}")
        return
    generator = None
    if judge and cache_path:
        from eval.llmcache import CachedGenerator, ReplyCache
        from rag.llm.generate import make_generator

        generator = CachedGenerator(make_generator(settings), ReplyCache(cache_path))
    result = evaluate_verifier(pairs, settings, with_judge=judge, generator=generator)
    click.echo(json.dumps(result, indent=2) if as_json else format_report(result))


@eval_group.command("judge")
@click.argument("suite", required=False)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Save the suite's judged pairs here (JSONL), to fit them later with other suites'.")
@click.option("--pairs", "pair_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Judged pairs saved earlier (repeatable): fitted together with SUITE's, or alone.")
@click.option("--registered", is_flag=True,
              help="Collect from every registered suite (eval/suites.yaml), each on its own corpus, instead of SUITE.")
@click.option("--half", type=click.Choice(["dev", "test", "all"]), default="all", show_default=True,
              help="Which half of the suites' items to collect from (fit thresholds on dev).")
@click.option("--llm-cache", "cache_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Reuse the judge's earlier probabilities for the same prompts from this file.")
@click.option("--json", "as_json", is_flag=True, help="Print the fit as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No per-item progress.")
def judge_cmd(suite, out, pair_files, registered, half, cache_path, as_json, quiet):
    """Fit the answer judge's thresholds on labelled candidate sentences and written answers.

    For each single-question item of SUITE, the judge reads the candidate sentences the answer
    stage would give it; a sentence "answers" when it is from an expected document and matches
    every fact pattern of an answerable item. Prints ROC AUC and the best pair threshold per
    suite, each suite's tried on the others, and one fitted on all; then ANSWER_THRESHOLD, fitted
    per item on the decision it makes (quote an item's best candidate, or refuse). With
    --registered, also CORRECT_THRESHOLD, fitted on the written answers of each suite's latest run
    made with the answer check off (rag eval ablate). A suite named alone is read from the index in
    RAG_HOME, so save each with --out and fit them together with --pairs:

    \b
      RAG_HOME=~/h/default rag eval judge eval/suites/default.yaml --out default.jsonl
      RAG_HOME=~/h/scifact rag eval judge eval/suites/scifact.yaml --out scifact.jsonl
      rag eval judge --pairs default.jsonl --pairs scifact.jsonl
      rag eval judge --registered --half dev   every registered suite's dev half, fitted together
    """
    from eval.answer_judge import collect, fit, format_fit, load_pairs
    from eval.suite import load_suite
    from rag.answer.judge import ANSWER_THRESHOLD, CORRECT_THRESHOLD
    from rag.index.versions import write_atomic

    pairs = [r for f in pair_files for r in load_pairs(f)]
    correct = None
    if registered:
        pairs += _judged_registered(half, cache_path, quiet or as_json)
        correct = _correct_registered(half, cache_path)
    elif suite or not pair_files:
        from rag.pipeline import Assistant

        s = load_suite(suite or DEFAULT_SUITE).select(half=half)
        assistant = Assistant(get_settings())
        _ = assistant.retriever.index.documents  # fails here, clearly, when nothing is indexed
        done = iter(range(1, len(s.items) + 1))
        show = None if quiet or as_json else (
            lambda item_id: click.echo(f"[{next(done)}/{len(s.items)}] {item_id}", err=True))
        pairs += collect(s, assistant, progress=show)
    if out and pairs:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in pairs))
        click.echo(f"Saved {len(pairs)} judged pairs: {out}", err=True)
    result = fit(pairs)
    result["correct"] = correct
    click.echo(json.dumps(result, indent=2) if as_json else format_fit(result, ANSWER_THRESHOLD))
    if correct and not as_json:
        click.echo(f"\nAnswer check (CORRECT_THRESHOLD, in use {CORRECT_THRESHOLD}): fitted {correct['threshold']} on "
                   f"{correct['answers']} written answers ({correct['right']} right, {correct['unanswerable']} to "
                   f"unanswerable questions); items won minus lost there: {correct['net_items']}; lowest right "
                   f"answers {correct['right_below']}, unanswerable {correct['unanswerable_p']}.")


def _suite_table(result: dict) -> str:
    """Markdown table: each suite's halves and the macro average."""
    rows = ["| Suite | Half | Items | Passing | Pass rate | Refusal accuracy | False refusals | Answer shown | p50 |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]

    def f(x, digits=3):
        return "-" if x is None else f"{x:.{digits}f}"

    for name, halves in result["suites"].items():
        for half, m in halves.items():
            p50 = "-" if m.get("latency_p50_ms") is None else f"{m['latency_p50_ms'] / 1000:.1f} s"
            rows.append(f"| {name} | {half} | {m['items']} | {m['passing']} | {f(m['pass_rate'])} | "
                        f"{f(m['refusal_accuracy'])} | {f(m['false_refusals'])} | {f(m['answer_in_shown'])} | {p50} |")
    for half, m in result["macro"].items():
        p50 = "-" if m.get("latency_p50_ms") is None else f"{m['latency_p50_ms'] / 1000:.1f} s"
        rows.append(f"| macro ({m['suites']} suites) | {half} | | | {f(m['pass_rate'])} | {f(m['refusal_accuracy'])} | "
                    f"{f(m['false_refusals'])} | {f(m['answer_in_shown'])} | {p50} |")
    return "\n".join(rows)


def _results_payload(result: dict) -> dict:
    """What a results file keeps of a multi-suite run: the figures, and where each run is saved."""
    from eval.runner import git_info

    return {"mode": result["mode"], "half": result["half"], "off": result["off"], "git": git_info(),
            "suites": result["suites"], "macro": result["macro"],
            "items": {n: {r["id"]: r["passed"] for r in run["items"]} for n, run in result["runs"].items()}}


@eval_group.command("suites")
@click.argument("names", nargs=-1)
@click.option("--mode", type=click.Choice(["generate", "quote"]), default=None,
              help="Answer mode (default: RAG_MODE). quote needs no LLM.")
@click.option("--half", type=click.Choice(["dev", "test", "all"]), default="all", show_default=True,
              help="Which half of each suite: dev (fit on it), test (report it), or all.")
@click.option("--off", default="", metavar="STEPS",
              help="Answer steps to switch off, comma-separated (rag/answer/steps.py), as RAG_ANSWER_OFF.")
@click.option("--llm-cache", "cache_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Reuse the model's earlier replies to the same requests from this file (measurements only).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the figures as JSON here (e.g. bench/results/answer_quality.json).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No per-item progress.")
def suites_cmd(names, mode, half, off, cache_path, out, as_json, quiet):
    """Run registered suites (eval/suites.yaml; all when none are named), each on its own corpus.

    Each suite's corpus is indexed in RAG_HOME/eval/homes/<suite>/ (incrementally: an unchanged
    corpus is not indexed again) and its items are asked there, with one model for all suites.
    Prints each suite's figures per half (dev, test) and their macro average over suites.

    \b
      rag eval suites --mode quote                  every suite, quote mode (no LLM)
      rag eval suites default scifact --half test   two suites' test halves, generate mode
    """
    from eval.multi import Models, run_suites
    from eval.registry import select
    from rag.index.versions import write_atomic
    from rag.settings import Settings

    settings = get_settings()
    Settings(answer_off=off)  # an unknown step name is one clear error, before any work
    mode = mode or settings.mode
    cache = None
    if cache_path:
        from eval.llmcache import ReplyCache

        cache = ReplyCache(cache_path)
    specs = select(tuple(names))
    counts = {}

    def item_progress(name: str, r: dict) -> None:
        counts[name] = counts.get(name, 0) + 1
        if not (quiet or as_json):
            mark = "pass" if r["passed"] else ("ERROR" if r.get("error") else "FAIL")
            lat = f"{r['latency_ms'] / 1000:.1f} s" if r.get("latency_ms") is not None else "-"
            click.echo(f"[{name} {counts[name]}] {r['id']:<8} {mark:<5} {lat}", err=True)

    result = run_suites(specs, settings, mode=mode, half=half, off=off, models=Models(settings, mode, cache),
                        item_progress=item_progress, log=lambda m: click.echo(m, err=True),
                        progress=not (quiet or as_json) and sys.stderr.isatty())
    payload = _results_payload(result)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(out, json.dumps(payload, indent=1, ensure_ascii=False))
    if as_json:
        click.echo(json.dumps(payload, indent=1))
    else:
        click.echo(_suite_table(result))
        if cache is not None:
            click.echo(f"\nModel replies: {cache.hits} from the cache, {cache.misses} asked.")


@eval_group.command("ablate")
@click.argument("names", nargs=-1)
@click.option("--steps", default="", metavar="STEPS",
              help="Steps to switch off one at a time, comma-separated (default: every step of rag/answer/steps.py).")
@click.option("--llm-cache", "cache_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The model's replies, kept between configurations (default: RAG_HOME/eval/llm-cache.jsonl).")
@click.option("--half", type=click.Choice(["dev", "test", "all"]), default="all", show_default=True,
              help="Which half of each suite (a step that changes what the model reads costs a full run: "
              "measure it on dev first).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the table as JSON here (e.g. bench/results/ablation.json).")
@click.option("--quiet", "-q", is_flag=True, help="No per-configuration progress.")
def ablate_cmd(names, steps, cache_path, half, out, quiet):
    """What each answer step adds: every registered suite (or NAMES) in generate mode, both halves,
    with nothing off, then with each step off in turn.

    Prints, per step, the change in items passing on each suite's dev and test half and on the
    dev halves pooled. A step earns its place when switching it off loses at least one item on
    the pooled dev halves and it costs no suite's test half an item. The model's replies are
    cached (--llm-cache) so that a configuration costs seconds per question and every
    configuration sees the same replies.
    """
    from eval.ablation import ablate, format_table
    from eval.llmcache import ReplyCache
    from eval.registry import select
    from rag.answer.steps import STEPS
    from rag.index.versions import write_atomic
    from rag.settings import Settings

    settings = get_settings()
    chosen = [x.strip() for x in steps.split(",") if x.strip()] or list(STEPS)
    Settings(answer_off=",".join(chosen))  # an unknown step name is one clear error, before any work
    cache = ReplyCache(cache_path or Path(settings.home) / "eval" / "llm-cache.jsonl")
    result = ablate(select(tuple(names)), settings, chosen, cache, half=half,
                    log=(lambda m: None) if quiet else (lambda m: click.echo(m, err=True)))
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(out, json.dumps(result, indent=1, ensure_ascii=False))
    click.echo(format_table(result))


def _judged_registered(half: str, cache_path: Path | None, quiet: bool) -> list[dict]:
    """`collect` over every registered suite's `half`, each suite on its own index, one model."""
    from eval.answer_judge import collect
    from eval.multi import Models, index_suite, suite_home
    from eval.registry import select
    from eval.suite import load_suite
    from rag.pipeline import Assistant

    settings = get_settings()
    cache = None
    if cache_path:
        from eval.llmcache import ReplyCache

        cache = ReplyCache(cache_path)
    models = Models(settings, "generate", cache)
    pairs = []
    for spec in select():
        s = settings.model_copy(update={"home": suite_home(settings, spec.name)})
        index_suite(spec, s, models, lambda m: click.echo(m, err=True), progress=False)
        generator, judge = models.parts()
        suite = load_suite(spec.items).select(half=half)
        show = None if quiet else (lambda item_id, n=spec.name: click.echo(f"[{n}] {item_id}", err=True))
        pairs += collect(suite, Assistant(s, generator=generator, embedder=models.embedder, judge=judge), progress=show)
    return pairs


def _correct_registered(half: str, cache_path: Path | None) -> dict | None:
    """`fit_correct` over every registered suite's latest run made with the answer check off (by
    `rag eval ablate`, in the suite's home), restricted to `half`."""
    from eval.answer_judge import fit_correct, written_answers
    from eval.multi import Models, suite_home
    from eval.registry import select

    settings = get_settings()
    cache = None
    if cache_path:
        from eval.llmcache import ReplyCache

        cache = ReplyCache(cache_path)
    _, judge = Models(settings, "generate", cache).parts()
    rows = []
    for spec in select():
        runs = sorted((suite_home(settings, spec.name) / "eval" / "runs").glob("*.json"))
        for path in reversed(runs):
            run = json.loads(path.read_text(encoding="utf-8"))
            if run.get("off") == "answer_check" and run.get("half") in (half, "all"):
                if run.get("half") == "all" and half != "all":
                    run["items"] = [r for r in run["items"] if r.get("half") == half]
                rows += written_answers(run, judge)
                break
    return fit_correct(rows)
