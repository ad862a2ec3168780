"""Run a suite through the real pipeline and score every item.

Each item is asked through `Assistant.ask` exactly as a user would ask it (with its history for
follow-ups). Retrieval is scored on the query the pipeline actually searched (the rewritten
follow-up when there is one). Citations are judged again here, ALCE-style, by the project's
verifier: every final sentence against the chunk of each citation it carries; the pipeline's own
`supported` flags are recorded but not trusted.

A run is a JSON-serialisable dict: metadata (git commit, settings fingerprint, model, corpus and
suite hashes), the metrics, per-tag metrics and per-item results; `save_run` writes it atomically.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import subprocess
import time
from pathlib import Path
from typing import Callable

from eval import EVAL_DIR
from eval.metrics import (answer_in_context, by_tag, dedupe, facts_matched, hit_at_k, mean, recall_at_k,
                          reciprocal_rank, share, std, summarize)
from eval.suite import Item, Suite, document_matches
from rag.answer.cite import passage
from rag.types import Answer
from rag.answer.verify import EvidenceVerifier, Passage, llm_judge

SCHEMA = 1
ROOT = EVAL_DIR.parent


# --- metadata ---------------------------------------------------------------------------------

def git_info(cwd: Path = ROOT) -> dict:
    """Commit and whether the work tree has uncommitted changes (None outside a git checkout)."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    try:
        head = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    if head.returncode:
        return {"commit": None, "dirty": None}
    return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def corpus_hash(documents: dict) -> str:
    """Hash of the indexed documents' ids (content hashes): changes when any document does."""
    return hashlib.sha256("\n".join(sorted(documents)).encode()).hexdigest()[:16]


def settings_info(settings) -> dict:
    """The settings that shape answers (secrets left out) and their hash."""
    data = settings.model_dump(mode="json", exclude={"llm_api_key", "api_token", "api_read_token",
                                                          "home", "models_dir_override"})
    blob = json.dumps(data, sort_keys=True).encode()
    return {"index_fingerprint": settings.index_fingerprint(), "answer_fingerprint":
            hashlib.sha256(blob).hexdigest()[:16], "values": data}


def expected_sources(item: Item, documents: dict) -> dict[str, str | None]:
    """Each expected document -> the indexed source it names (None when it is not indexed)."""
    out = {}
    for e in item.documents:
        out[e] = next((d.source for d in documents.values() if document_matches(e, d.source)), None)
    return out


# --- judging one answer -----------------------------------------------------------------------

def _passage(citation, documents: dict, chunks: dict) -> Passage:
    doc = documents[citation.doc_id]
    chunk = chunks.get(citation.chunk_id)
    if chunk is None:  # the chunk is gone (index rebuilt): judge against the quoted span
        return passage(doc, citation.start, citation.end)
    return passage(doc, chunk.start, chunk.end)


def _joined(passages: list[Passage]) -> Passage:
    text = "\n\n".join(p.text[p.start:p.end] for p in passages)
    return Passage(text, 0, len(text), " ".join(dict.fromkeys(p.title for p in passages)))


def judge_citations(answer: Answer, documents: dict, chunks: dict, verifier: EvidenceVerifier) -> dict:
    """ALCE-style citation recall and precision, and faithfulness, for one answer.

    A sentence is supported when one of its cited chunks supports it, or (with several
    citations) their concatenation does; a citation is precise when it supports its sentence
    alone, or is part of a concatenation that is needed for the support.
    """
    by_n = {c.n: c for c in answer.citations}
    given = answer.standalone_question or answer.question  # its figures and names count as given, as in the pipeline
    rows, supported, precise, total_cites = [], 0, 0, 0
    for s in answer.sentences:
        cites = [by_n[n] for n in s.citations if n in by_n]
        passages = [_passage(c, documents, chunks) for c in cites]
        ok_each = [bool(verifier.resolve(s.text, p, sup).supported)
                   for p, sup in zip(passages, verifier.assess([s.text], passages, given)[0])] if passages else []
        ok = any(ok_each)
        joint = False
        if not ok and len(passages) > 1:
            both = _joined(passages)
            joint = ok = bool(verifier.resolve(s.text, both, verifier.assess([s.text], [both], given)[0][0]).supported)
        cite_ok = [True] * len(cites) if joint else ok_each
        supported += ok
        precise += sum(cite_ok)
        total_cites += len(cites)
        rows.append({"text": s.text, "citations": list(s.citations), "pipeline_supported": s.supported,
                     "verified": ok, "citation_ok": cite_ok, "sources": [c.source for c in cites]})
    generated = len(answer.sentences) + len(answer.removed)
    return {
        "sentences": rows,
        "removed": [{"text": r.text, "reason": r.reason} for r in answer.removed],
        "citation_recall": supported / len(answer.sentences) if answer.sentences else None,
        "citation_precision": precise / total_cites if total_cites else None,
        "faithfulness": supported / generated if generated else None,
    }


def shown_passages(answer: Answer) -> list[tuple[str, str]] | None:
    """The text the model was shown, as (source, text) pairs, when the Answer exposes it.

    Read from `answer.context` (passages as strings, objects with `.text` / `.source`, or dicts
    with "text" / "source"); None when the Answer has no such field or it is empty (quote mode
    shows no model anything). A passage's label, when given, is read as its first line: the model
    sees it above the text, and in a reference manual the name a passage describes ("-q" above
    "Suppresses the banner.") is often only in the label's headings.
    """
    context = getattr(answer, "context", None)
    if not context:
        return None
    out = []
    for c in context:
        if isinstance(c, str):
            out.append(("", c))
            continue
        get = c.get if isinstance(c, dict) else (lambda key, c=c: getattr(c, key, None))
        label, text = get("label"), get("text") or ""
        out.append((get("source") or "", headed(label, text)))
    return out


def headed(head: str | None, text: str) -> str:
    """A passage as a reader meets it: its label or headings on the first line, then its text."""
    return f"{head}\n{text}" if head else text


def score_item(item: Item, answer: Answer, ranked_sources: list[str], documents: dict, chunks: dict,
               verifier: EvidenceVerifier, passages: list[tuple[str, str]] | None = None) -> dict:
    """Every per-item measure; `summarize` turns a list of these into the suite metrics.

    `passages`: the k retrieved passages as (source, text), in rank order, for `answer_in_context`;
    a passage's text is read after its section's headings, as the model's labels show them.
    """
    expected = expected_sources(item, documents)
    relevant = {s for s in expected.values() if s}
    in_context = in_shown = None
    if item.answerable and item.facts:
        among = relevant if item.documents else None
        if passages is not None:
            in_context = answer_in_context(passages, item.facts, among)
        shown = shown_passages(answer)
        if shown is not None:  # sources unknown ("") cannot be checked against the expected ones
            in_shown = answer_in_context(shown, item.facts, among if all(s for s, _ in shown) else None)
    retrieval = None
    if item.answerable and item.documents:
        retrieval = {"ranked": ranked_sources, "hit": hit_at_k(ranked_sources, relevant, len(ranked_sources)),
                     "recall": recall_at_k(ranked_sources, relevant, len(ranked_sources)) if relevant else 0.0,
                     "mrr": reciprocal_rank(ranked_sources, relevant)}
    matched = facts_matched(answer.answer, item.facts) if not answer.refused else [False] * len(item.facts)
    cited = dedupe(c.source for c in answer.citations)
    docs_cited = None
    if item.answerable and item.documents:
        found = [bool(s) and s in cited for s in expected.values()]
        docs_cited = float(all(found) if item.multi_document else any(found))
    if item.answerable:
        correct = not answer.refused and all(matched)
    else:
        correct = answer.refused
    judged = judge_citations(answer, documents, chunks, verifier)
    return {
        "id": item.id, "question": item.question, "answerable": item.answerable, "tags": list(item.tags),
        "answer": answer.answer, "refused": answer.refused, "mode": answer.mode, "model": answer.model,
        "notice": answer.notice, "standalone_question": answer.standalone_question,
        "facts": share(matched) if item.answerable else None, "facts_matched": matched,
        "correct": correct, "documents_expected": expected, "cited_sources": cited,
        "documents_cited": docs_cited, "retrieval": retrieval, "answer_in_context": in_context,
        "answer_in_shown": in_shown, **judged,
        "passed": correct and docs_cited in (None, 1.0),
        "latency_ms": round(answer.timings.get("total", 0.0), 1),
        "timings": {k: round(v, 1) for k, v in answer.timings.items()},
        "error": None,
        "response": {k: v for k, v in answer.to_dict().items() if k not in ("question", "answer", "sentences")},
    }


def _failed(item: Item, err: Exception) -> dict:
    return {"id": item.id, "question": item.question, "answerable": item.answerable, "tags": list(item.tags),
            "answer": None, "refused": False, "facts": 0.0 if item.answerable else None, "correct": False,
            "documents_cited": 0.0 if item.answerable and item.documents else None, "retrieval": None,
            "answer_in_context": None, "answer_in_shown": None,
            "citation_recall": None, "citation_precision": None, "faithfulness": None, "passed": False,
            "latency_ms": None, "error": f"{type(err).__name__}: {err}"}


# --- a whole run ------------------------------------------------------------------------------

def _index_of(assistant):
    index = getattr(assistant.retriever, "index", None)
    if index is None:
        from rag.index import Index

        index = Index.load(assistant.settings)
    return index


def run_once(suite: Suite, assistant, *, mode: str, k: int, verifier: EvidenceVerifier, index,
             progress: Callable[[dict], None] | None = None, done: dict | None = None) -> list[dict]:
    """One pass over the suite; items already in `done` (id -> result, from a checkpoint) are reused."""
    chunks = {c.id: c for c in index.chunks}
    results = []
    for item in suite.items:
        if done and item.id in done:
            results.append(done[item.id])
            continue
        try:
            answer = assistant.ask(item.question, history=list(item.history) or None, mode=mode, k=k)
            hits = assistant.retriever.search(answer.standalone_question or item.question, k, None)
            ranked = dedupe(h.chunk.source for h in hits)
            r = score_item(item, answer, ranked, index.documents, chunks, verifier,
                           passages=[(h.chunk.source, headed(h.chunk.section, h.chunk.text)) for h in hits])
        except Exception as e:  # noqa: BLE001 - one broken item must not lose the run
            from rag.errors import IndexMissing, IndexCorrupt

            if isinstance(e, (IndexMissing, IndexCorrupt)):
                raise
            r = _failed(item, e)
        results.append(r)
        if progress:
            progress(r)
    return results


def run_suite(suite: Suite, assistant, *, mode: str | None = None, k: int | None = None, repeat: int = 1,
              judge: bool | None = None, progress: Callable[[dict], None] | None = None,
              done: dict | None = None) -> dict:
    """Run every item `repeat` times; returns the run record (not yet saved).

    `judge`: use the LLM judge for borderline citations (default: settings.judge, generate mode only).
    `done`: results of the first pass already computed (resuming an interrupted run).
    """
    settings = assistant.settings
    mode = mode or settings.mode
    k = k or settings.k
    index = _index_of(assistant)
    use_judge = (settings.judge if judge is None else judge) and mode == "generate"
    verifier = EvidenceVerifier(assistant.embedder, llm_judge(assistant.settings, assistant.generator) if use_judge else None)
    started = datetime.datetime.now(datetime.timezone.utc)
    git = git_info()  # the code being measured: taken before the run, not when it ends
    t0 = time.perf_counter()
    repeats = [run_once(suite, assistant, mode=mode, k=k, verifier=verifier, index=index, progress=progress,
                        done=done if n == 0 else None) for n in range(repeat)]
    items = repeats[0]
    if repeat > 1:
        for i, r in enumerate(items):
            r["passed_runs"] = sum(rep[i]["passed"] for rep in repeats)
    per_run = [summarize(rep) for rep in repeats]
    names = [n for n, v in per_run[0].items() if isinstance(v, (int, float)) or v is None]
    expected = {}
    for item in suite.items:
        for e, src in expected_sources(item, index.documents).items():
            expected[e] = next((d.id for d in index.documents.values() if d.source == src), None)
    models = dedupe(r.get("model") for rep in repeats for r in rep if r.get("model"))
    return {
        "schema": SCHEMA,
        "id": started.strftime("%Y%m%dT%H%M%SZ"),
        "created": started.isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - t0, 1),
        "suite": {"path": suite.path, "hash": suite.hash, "items": len(suite.items)},
        "git": git,
        "settings": settings_info(settings),
        "mode": mode,
        "k": k,
        "judge": bool(use_judge),
        "model": models[0] if models else None,
        "index": {"version": index.path.name, "embedding_model": index.manifest.get("model"),
                  "fingerprint": index.manifest.get("fingerprint")},
        "corpus": {"hash": corpus_hash(index.documents),
                   "documents": {d.source: d.id for d in index.documents.values()}},
        "expected_documents": expected,
        "repeat": repeat,
        "metrics": {n: mean(r[n] for r in per_run) for n in names},
        "metrics_std": {n: std(r[n] for r in per_run) for n in names} if repeat > 1 else None,
        "repeats": per_run if repeat > 1 else None,
        "by_tag": by_tag(items),
        "items": items,
    }


def save_run(run: dict, runs_dir: Path) -> Path:
    """Write the run as runs_dir/<id>.json (atomically; a second run in the same second gets -2)."""
    from rag.index.versions import write_atomic

    runs_dir.mkdir(parents=True, exist_ok=True)
    path, n = runs_dir / f"{run['id']}.json", 2
    while path.exists():
        path, n = runs_dir / f"{run['id']}-{n}.json", n + 1
    run["id"] = path.stem
    write_atomic(path, json.dumps(run, indent=1, ensure_ascii=False))
    return path


def runs_dir(settings) -> Path:
    return Path(settings.home) / "eval" / "runs"


class Checkpoint:
    """Item results appended as they come (RUNS/.partial-<suite>-<mode>.jsonl), so a long run that
    is interrupted can be resumed with the items it had finished."""

    def __init__(self, directory: Path, suite: Suite, mode: str):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f".partial-{suite.hash}-{mode}.jsonl"

    def load(self) -> dict:
        done = {}
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    r = json.loads(line)
                except json.JSONDecodeError:
                    continue  # the line being written when the run stopped
                if not r.get("error"):
                    done[r["id"]] = r
        return done

    def start(self, resume: bool) -> dict:
        done = self.load() if resume else {}
        if not resume:
            self.path.unlink(missing_ok=True)
        return done

    def add(self, result: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(result, ensure_ascii=False) + "\n")

    def finish(self) -> None:
        self.path.unlink(missing_ok=True)
