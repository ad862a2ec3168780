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
from rag.errors import IndexCorrupt, LoadError
from rag.index import Change, LoadedIndex, open_store
from rag.ingest.load import SUPPORTED, file_sha256, load_file
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
) -> IngestReport:
    """Bring the index up to date with `paths`. Returns what changed; writes a new version only if needed."""
    t0 = time.perf_counter()
    show = sys.stderr.isatty() if progress is None else progress
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
        new_docs: list[Document] = []
        file_meta: dict[str, dict] = {}
        seen_ids: dict[str, str] = {}
        seen_sources = set()
        it = files
        if show:
            from tqdm import tqdm

            it = tqdm(files, desc="Reading", unit="file", file=sys.stderr)
        for path, source in it:
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
                if prev and prev["sha256"] == sha and sha in old.documents:
                    keep_docs[sha] = old.documents[sha]
                    file_meta[source] = {**prev, "mtime_ns": st.st_mtime_ns}
                    report.unchanged.append(source)
                    seen_ids[sha] = source
                    continue
                if sha in seen_ids:
                    report.skipped.append((source, f"same content as {seen_ids[sha]}"))
                    continue
                doc = load_file(path, source, max_bytes=int(settings.max_file_mb * 1024 * 1024))
            except (LoadError, OSError) as e:
                why = (e.reason + (f" ({e.fix})" if e.fix else "") if isinstance(e, LoadError)
                       else f"cannot read: {e.strerror or e}")
                report.failed.append((source, why))
                if prev and prev["sha256"] in old.documents:  # keep what was indexed before
                    keep_docs[prev["sha256"]] = old.documents[prev["sha256"]]
                    file_meta[source] = prev
                continue
            seen_ids[doc.id] = source
            new_docs.append(doc)
            (report.updated if prev or (old_files.get(source) and report.rebuild_reason) else report.added).append(source)
            file_meta[source] = {
                "doc_id": doc.id,
                "sha256": doc.id,
                "size": st.st_size,
                "mtime_ns": st.st_mtime_ns,
                "path": str(path.resolve()),
            }

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
            report.version = old.version if old else None
            report.seconds = time.perf_counter() - t0
            return report

        embedder = embedder or get_embedder(settings.embedding_model)
        new_chunks = []
        for doc in new_docs:
            chunks = chunk_document(doc, count_tokens, settings.chunk_tokens, settings.chunk_overlap_tokens)
            new_chunks.extend(chunks)
            file_meta[doc.source]["chunks"] = len(chunks)
        all_docs = {**keep_docs, **{d.id: d for d in new_docs}}
        new_texts = [index_text(c, all_docs[c.doc_id]) for c in new_chunks]
        new_vecs = _embed(embedder, new_texts, settings, show)
        change = Change(model=embedder.name, keep=set(keep_docs) if reuse else set(), documents=new_docs,
                        chunks=new_chunks, vectors=new_vecs, texts=new_texts, files=file_meta,
                        all_documents=all_docs)
        report.version = store.commit(change, old if reuse else None, settings)
        report.chunks_embedded = len(new_chunks)
        report.seconds = time.perf_counter() - t0
        return report


def _embed(embedder: Embedder, texts: list[str], settings: Settings, show: bool) -> np.ndarray:
    if not texts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    bar = None
    if show:
        from tqdm import tqdm

        bar = tqdm(total=len(texts), desc="Embedding", unit="chunk", file=sys.stderr)
    try:
        return embedder.embed(texts, batch_size=settings.embed_batch_size, progress=bar.update if bar else None)
    finally:
        if bar:
            bar.close()


def index_documents(docs: list[Document], settings: Settings, *, embedder: Embedder | None = None,
                    progress: bool = False) -> Path | str:
    """Build a fresh index version from documents already in memory (benchmarks, tests).

    Same chunking, embedding and writing as `ingest`, without the file bookkeeping. Returns the
    version directory (directory store) or the version name (PostgreSQL store).
    """
    embedder = embedder or get_embedder(settings.embedding_model)
    by_id = {d.id: d for d in docs}
    chunks = [c for d in docs for c in chunk_document(d, count_tokens, settings.chunk_tokens,
                                                      settings.chunk_overlap_tokens)]
    texts = [index_text(c, by_id[c.doc_id]) for c in chunks]
    vectors = _embed(embedder, texts, settings, progress)
    store = open_store(settings)
    with store.writer_lock(wait=30):
        name = store.commit(Change(model=embedder.name, keep=set(), documents=list(docs), chunks=chunks,
                                   vectors=vectors, texts=texts, files={}, all_documents=by_id), None, settings)
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
