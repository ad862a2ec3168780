"""Incremental ingest: new files added, changed files replaced, deleted files removed.

Unchanged files (same size and mtime, or same content hash) keep their chunks and vectors, so
re-running ingest on the same folder embeds nothing and writes nothing. A file that fails to
load is reported and, if an earlier version of it was indexed, that version is kept: bad input
never loses what is already indexed. Settings that change the vectors force a full rebuild.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embeddings import Embedder, get_embedder
from embeddings.base import count_tokens
from rag.ingest.chunk import chunk_document, index_text
from rag.errors import IndexCorrupt, LoadError, RagError
from rag.index import Change, LoadedIndex, open_store
from rag.ingest.engines import PARALLEL_MIN_BYTES, Engine, LocalEngine, available_cores, item_size, split_parts
from rag.ingest.load import SUPPORTED, file_sha256
from rag.ingest.progress import Progress, ProgressCallback, terminal
from rag.ingest.work import FileTask, Job, Outcome, load_items
from rag.settings import Settings
from rag.types import Document


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (source, one-line reason)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source, why) e.g. unsupported type
    rebuild_reason: str | None = None
    version: str | None = None
    chunks_embedded: int = 0
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.rebuild_reason)

    def summary(self) -> str:
        parts = [
            f"{len(self.added)} added",
            f"{len(self.updated)} updated",
            f"{len(self.removed)} removed",
            f"{len(self.unchanged)} unchanged",
            f"{len(self.failed)} failed",
        ]
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        s = ", ".join(parts) + f" ({self.chunks_embedded} chunks embedded in {self.seconds:.1f}s)"
        return s if self.changed else s + "; index unchanged"

    def to_dict(self) -> dict:
        return {
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "failed": [{"source": s, "error": e} for s, e in self.failed],
            "skipped": [{"source": s, "reason": r} for s, r in self.skipped],
            "rebuild_reason": self.rebuild_reason,
            "version": self.version,
            "chunks_embedded": self.chunks_embedded,
            "seconds": round(self.seconds, 3),
        }


def discover(paths: list[str | Path], report: IngestReport) -> tuple[list[tuple[Path, str]], list[str]]:
    """Files to ingest as (path, source label), and the roots that own deletions.

    A named file of an unsupported type or a missing path is a failure; unsupported files found
    while walking a folder are skipped. Hidden files and folders are ignored.
    """
    files: list[tuple[Path, str]] = []
    roots: list[str] = []
    for raw in paths:
        p = Path(raw)
        label = os.path.normpath(str(raw))
        if p.is_dir():
            roots.append(label)
            for dirpath, dirnames, filenames in os.walk(p):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    if name.startswith("."):
                        continue
                    fp = Path(dirpath) / name
                    src = os.path.normpath(str(fp))
                    if fp.suffix.lower() in SUPPORTED:
                        files.append((fp, src))
                    else:
                        report.skipped.append((src, f"unsupported type {fp.suffix or '(none)'}"))
        elif p.exists() or p.is_symlink():
            roots.append(label)
            if p.suffix.lower() in SUPPORTED:
                files.append((p, label))
            else:
                report.failed.append(
                    (label, f"unsupported file type {p.suffix or '(none)'}; supported: {', '.join(sorted(SUPPORTED))}")
                )
        else:
            report.failed.append((label, "no such file or folder; check the path"))
    return files, roots


def _under(source: str, roots: list[str]) -> bool:
    return any(source == r or source.startswith(r.rstrip("/") + "/") for r in roots)


def _rebuild_reason(old: LoadedIndex, settings: Settings) -> str | None:
    if old.manifest.get("fingerprint") == settings.index_fingerprint():
        return None
    before = old.manifest.get("settings", {})
    now = settings.shaping()
    diffs = [f"{k} {before.get(k)!r} -> {v!r}" for k, v in now.items() if before.get(k) != v]
    return "settings changed (" + (", ".join(diffs) or "fingerprint") + "): rebuilding the index"


def ingest(
    paths: list[str | Path],
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    rebuild: bool = False,
    progress: bool | None = None,
    log=None,
    on_progress: ProgressCallback | None = None,
) -> IngestReport:
    """Bring the index up to date with `paths`. Returns what changed; writes a new version only if needed.

    Which files are new, changed or gone is decided here, once, before any file is loaded; the
    loading, chunking and embedding then run on this machine's cores or a Ray cluster
    (settings.ingest_engine), and the new version is written in one commit. `progress`: bars on
    stderr (default: when it is a terminal); `on_progress` receives the same counts.
    """
    t0 = time.perf_counter()
    show = terminal() if progress is None else progress
    log = log or (lambda msg: print(msg, file=sys.stderr))
    report = IngestReport()
    store = open_store(settings)
    with store.writer_lock(wait=30):
        old: LoadedIndex | None = None
        if not rebuild:
            try:
                old = store.load(check_settings=False) if store.current() else None
            except IndexCorrupt as e:
                raise IndexCorrupt(store.location, f"{e}; run with --rebuild to start over") from None
        if old is not None:
            reason = _rebuild_reason(old, settings)
            if reason:
                report.rebuild_reason = reason
                log(reason)
        elif rebuild and store.current():
            report.rebuild_reason = "rebuild requested"

        old_files: dict = old.manifest.get("files", {}) if old else {}
        if report.rebuild_reason and old is not None:
            # re-read every previously indexed file as well as the ones named now
            extra = [info["path"] for src, info in old_files.items() if Path(info["path"]).exists()]
            paths = list(paths) + [p for p in extra if p not in paths]
        files, roots = discover(paths, report)
        reuse = old is not None and not report.rebuild_reason

        keep_docs: dict[str, Document] = {}
        file_meta: dict[str, dict] = {}
        seen_ids: dict[str, str] = {}
        to_load: list[tuple[FileTask, dict, dict | None]] = []  # (task, its file facts, previous entry)
        seen_sources = set()
        for path, source in files:
            if source in seen_sources:
                continue
            seen_sources.add(source)
            prev = old_files.get(source) if reuse else None
            try:
                st = path.stat()
                if prev and prev["size"] == st.st_size and prev["mtime_ns"] == st.st_mtime_ns:
                    sha = prev["sha256"]
                else:
                    sha = file_sha256(path)
            except (LoadError, OSError) as e:
                why = (e.reason + (f" ({e.fix})" if e.fix else "") if isinstance(e, LoadError)
                       else f"cannot read: {e.strerror or e}")
                report.failed.append((source, why))
                if prev and prev["sha256"] in old.documents:  # keep what was indexed before
                    keep_docs[prev["sha256"]] = old.documents[prev["sha256"]]
                    file_meta[source] = prev
                continue
            if prev and prev["sha256"] == sha and sha in old.documents:
                keep_docs[sha] = old.documents[sha]
                file_meta[source] = {**prev, "mtime_ns": st.st_mtime_ns}
                report.unchanged.append(source)
                seen_ids[sha] = source
                continue
            if sha in seen_ids:
                report.skipped.append((source, f"same content as {seen_ids[sha]}"))
                continue
            seen_ids[sha] = source
            to_load.append((FileTask(str(path), source, sha),
                            {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "path": str(path.resolve())}, prev))

        embedder = embedder or get_embedder(settings.embedding_model)
        new_docs: list[Document] = []
        staged: dict[str, int] = {}
        produced = None
        if to_load:
            produced = _produce([t for t, _, _ in to_load], settings, embedder, store, show, on_progress,
                                desc="Indexing")
            for task, facts, prev in to_load:
                out = produced.outcomes[task.source]
                error = out.error
                if error is None and out.doc_id != task.sha256:
                    error = "changed while it was being indexed; run the ingest again"
                if error is not None:
                    report.failed.append((task.source, error))
                    if prev and prev["sha256"] in old.documents:  # keep what was indexed before
                        keep_docs[prev["sha256"]] = old.documents[prev["sha256"]]
                        file_meta[task.source] = prev
                    continue
                if produced.staging is not None:
                    staged[out.doc_id] = produced.parts[task.source]
                else:
                    new_docs.append(produced.documents[task.source])
                (report.updated if prev or (old_files.get(task.source) and report.rebuild_reason)
                 else report.added).append(task.source)
                file_meta[task.source] = {"doc_id": out.doc_id, "sha256": out.doc_id, **facts, "chunks": out.chunks}

        # documents indexed before but not seen now: removed if under a root given now, else kept
        if old is not None:
            for source, info in old_files.items():
                if source in file_meta:
                    continue
                if _under(source, roots) or report.rebuild_reason:
                    if not any(s == source for s, _ in report.failed):
                        report.removed.append(source)
                elif reuse and info["sha256"] in old.documents:
                    keep_docs[info["sha256"]] = old.documents[info["sha256"]]
                    file_meta[source] = info

        if not report.changed:
            if produced is not None and produced.staging is not None:
                store.drop_staging(produced.staging)
            report.version = old.version if old else None
            report.seconds = time.perf_counter() - t0
            return report

        all_docs = {**keep_docs, **{d.id: d for d in new_docs}}
        keep = set(keep_docs) if reuse else set()
        if produced is not None and produced.staging is not None:
            change = Change(model=embedder.name, keep=keep, documents=[], chunks=[],
                            vectors=np.zeros((0, embedder.dim), dtype=np.float32), texts=[], files=file_meta,
                            all_documents=all_docs, staged=produced.staging, staged_docs=staged)
            report.chunks_embedded = sum(produced.outcomes[s].chunks for s in report.added + report.updated)
        else:
            new_chunks, new_texts, new_vecs = _rows(new_docs, produced, embedder, settings, show, on_progress)
            change = Change(model=embedder.name, keep=keep, documents=new_docs, chunks=new_chunks,
                            vectors=new_vecs, texts=new_texts, files=file_meta, all_documents=all_docs)
            report.chunks_embedded = len(new_chunks)
        try:
            report.version = store.commit(change, old if reuse else None, settings)
        except BaseException:
            if change.staged:
                store.drop_staging(change.staged)
            raise
        report.seconds = time.perf_counter() - t0
        return report


@dataclass
class _Produced:
    """What the loading, chunking and embedding of a list of items gave, by source."""

    outcomes: dict[str, Outcome]
    documents: dict[str, Document]  # loaded documents (not when staged)
    rows: dict[str, tuple[list, list, np.ndarray]] | None  # source -> chunks, texts, vectors (parallel, not staged)
    parts: dict[str, int]  # source -> the part that staged its rows
    staging: str | None = None


def _produce(items: list, settings: Settings, embedder: Embedder, store, show: bool,
             on_progress: ProgressCallback | None, desc: str) -> _Produced:
    """Load (files), clean and chunk the items, and embed them unless that is left to `_rows`.

    In this process when there is one worker or little to do (then the chunks are embedded all
    together by `_rows`, as they always were); else in worker processes or Ray tasks, part by part.
    """
    engine = _engine_for(settings, items)
    if engine is None:
        prog = Progress("Reading", len(items), show=show, callback=on_progress, count_chunks=False)
        outcomes, documents = {}, {}
        try:
            for item in items:
                (out,), (doc,) = load_items([item], settings)
                outcomes[out.source] = out
                if doc is not None:
                    documents[out.source] = doc
                prog.update(files=1)
        finally:
            prog.close()
        return _Produced(outcomes, documents, None, {})
    try:
        staging = store.open_staging(embedder.dim)
        job = Job(settings, embedder, _embedder_key(embedder), staging)
        prog = Progress(desc, len(items), show=show, callback=on_progress)
        produced = _Produced({}, {}, None if staging else {}, {}, staging)
        try:
            parts = split_parts(items, engine.slots())
            retry = _collect(engine, parts, 0, job, produced, prog, split=True)
            if retry:  # each file of a part that failed on its own, to find the one that fails
                _collect(engine, [[item] for item in retry], len(parts), job, produced, prog, split=False)
        except BaseException:
            if staging is not None:
                store.drop_staging(staging)
            raise
        finally:
            prog.close()
        return produced
    finally:
        engine.close()


def _collect(engine, parts: list[list], first: int, job: Job, produced: _Produced, prog: Progress,
             split: bool) -> list:
    """Run parts numbered from `first`; record their outcomes and rows. Returns the items of failed
    parts to run again one by one (when `split`), else records each failure against its file."""
    retry: list = []
    for i, res in engine.run(parts, job, first=first):
        part = parts[i - first]
        if isinstance(res, BaseException):
            if isinstance(res, RagError) and not isinstance(res, LoadError):
                raise res  # the store or the cluster, not a file: nothing would succeed
            if split and len(part) > 1:
                retry.extend(part)
                continue
            reason = " ".join(str(res).split())[:300] or type(res).__name__
            for item in part:
                produced.outcomes[item.source] = Outcome(
                    item.source, error=f"the worker indexing it failed ({type(res).__name__}: {reason})")
            prog.update(files=len(part))
            continue
        offset = 0
        loaded = iter(res.documents)
        for item, out in zip(part, res.outcomes):
            produced.outcomes[out.source] = out
            produced.parts[out.source] = i
            if out.error is None and not res.staged:
                produced.documents[out.source] = next(loaded)
                n = out.chunks
                produced.rows[out.source] = (res.chunks[offset:offset + n], res.texts[offset:offset + n],
                                             res.vectors[offset:offset + n])
                offset += n
        prog.update(files=len(part), chunks=res.chunk_count)
    return retry


def _rows(new_docs: list[Document], produced: _Produced | None, embedder: Embedder, settings: Settings,
          show: bool, on_progress: ProgressCallback | None):
    """Chunks, index texts and vectors of the new documents, in their order: from the workers, or
    chunked and embedded here (all chunks in one call, so batches are formed across documents)."""
    if produced is not None and produced.rows is not None:
        chunks, texts, vecs = [], [], []
        for d in new_docs:
            c, t, v = produced.rows[d.source]
            chunks += c
            texts += t
            vecs.append(v)
        vectors = np.vstack(vecs) if vecs else np.zeros((0, embedder.dim), dtype=np.float32)
        return chunks, texts, vectors.astype(np.float32, copy=False)
    chunks = []
    texts = []
    for doc in new_docs:
        cs = chunk_document(doc, count_tokens, settings.chunk_tokens, settings.chunk_overlap_tokens)
        chunks.extend(cs)
        texts.extend(index_text(c, doc) for c in cs)
    return chunks, texts, _embed(embedder, texts, settings, show, on_progress)


def _engine_for(settings: Settings, items: list) -> Engine | None:
    """The engine that runs this ingest's parts, or None to do it all in this process."""
    if len({i.source for i in items}) < len(items):  # results are matched to items by source
        return None
    if settings.ingest_engine == "ray":
        from rag.ingest.ray_engine import RayEngine

        return RayEngine(settings.ray_address, max_retries=settings.ray_max_retries).start()
    workers = settings.ingest_workers or available_cores()
    if workers <= 1 or len(items) < 2 or sum(item_size(i) for i in items) < PARALLEL_MIN_BYTES:
        return None
    return LocalEngine(workers)


def _embedder_key(embedder: Embedder) -> str:
    """Names an embedder's configuration, so worker processes keep one loaded copy per ingest."""
    import hashlib
    import pickle

    try:
        return hashlib.sha256(pickle.dumps(embedder)).hexdigest()[:16]
    except Exception:  # noqa: BLE001 - an embedder that cannot be pickled fails where it is sent
        return ""


def _embed(embedder: Embedder, texts: list[str], settings: Settings, show: bool,
           on_progress: ProgressCallback | None = None) -> np.ndarray:
    if not texts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    prog = Progress("Embedding", len(texts), unit="chunk", show=show, callback=on_progress)
    try:
        return embedder.embed(texts, batch_size=settings.embed_batch_size,
                              progress=(lambda n: prog.update(chunks=n)) if show or on_progress else None)
    finally:
        prog.close()


def index_documents(docs: list[Document], settings: Settings, *, embedder: Embedder | None = None,
                    progress: bool = False, on_progress: ProgressCallback | None = None) -> Path | str:
    """Build a fresh index version from documents already in memory (benchmarks, tests, `rag eval beir`).

    Same chunking, embedding and writing as `ingest` (on every core, or the Ray cluster, likewise),
    without the file bookkeeping. Returns the version directory (directory store) or the version
    name (PostgreSQL store).
    """
    embedder = embedder or get_embedder(settings.embedding_model)
    by_id = {d.id: d for d in docs}
    store = open_store(settings)
    with store.writer_lock(wait=30):
        produced = _produce(list(docs), settings, embedder, store, progress, on_progress, desc="Indexing")
        bad = [(s, o.error) for s, o in produced.outcomes.items() if o.error]
        if bad:
            if produced.staging is not None:
                store.drop_staging(produced.staging)
            raise RagError(f"Could not index {len(bad)} documents, e.g. {bad[0][0]}: {bad[0][1]}")
        if produced.staging is not None:
            change = Change(model=embedder.name, keep=set(), documents=[], chunks=[],
                            vectors=np.zeros((0, embedder.dim), dtype=np.float32), texts=[], files={},
                            all_documents=by_id, staged=produced.staging,
                            staged_docs={d.id: produced.parts[d.source] for d in docs})
        else:
            chunks, texts, vectors = _rows(list(docs), produced if produced.rows is not None else None,
                                           embedder, settings, progress, on_progress)
            change = Change(model=embedder.name, keep=set(), documents=list(docs), chunks=chunks,
                            vectors=vectors, texts=texts, files={}, all_documents=by_id)
        name = store.commit(change, None, settings)
    return settings.index_dir / name if store.kind == "directory" else name


def remove_documents(sources: list[str], settings: Settings) -> list[str]:
    """Remove documents from the index by source path (as listed by `rag status`) or document id.

    Writes a new version without them (their files on disk are not touched). Returns the sources
    removed; unknown names raise a ConfigError listing what is indexed.
    """
    from rag.errors import ConfigError

    store = open_store(settings)
    with store.writer_lock(wait=30):
        old = store.load(check_settings=False)
        files = dict(old.manifest.get("files", {}))
        by_name = {d.source: d.id for d in old.documents.values()} | {d.id: d.id for d in old.documents.values()}
        unknown = [s for s in sources if os.path.normpath(s) not in by_name and s not in by_name]
        if unknown:
            raise ConfigError(f"Not in the index: {', '.join(unknown)}. See the indexed sources with: rag status")
        drop = {by_name.get(os.path.normpath(s), by_name.get(s)) for s in sources}
        keep = {d.id: d for d in old.documents.values() if d.id not in drop}
        removed = [d.source for d in old.documents.values() if d.id in drop]
        files = {src: info for src, info in files.items() if info.get("doc_id", info.get("sha256")) not in drop}
        dim = old.manifest["dimension"]
        store.commit(Change(model=old.manifest["model"], keep=set(keep), documents=[], chunks=[],
                            vectors=np.zeros((0, dim), dtype=np.float32), texts=[], files=files,
                            all_documents=keep), old, settings)
        return removed
