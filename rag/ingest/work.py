"""One part of an ingest, done wherever it is sent: this process, a worker process, a Ray task.

A part is a list of files (or of documents already in memory). Each file is loaded, cleaned and
chunked exactly as the single-process ingest does it (`load_file`, `chunk_document`,
`index_text`), so chunk ids are the same wherever the part runs; then the part's chunks are
embedded together. A file that fails to load is an outcome of the part, not an error of it: the
part carries on with its other files. When the store can be written from anywhere (PostgreSQL),
the part writes its rows into the ingest's staging area and sends back only what happened;
otherwise the documents, chunks and vectors come back to the caller.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embeddings.base import count_tokens
from rag.errors import LoadError
from rag.ingest.chunk import chunk_document, index_text
from rag.ingest.load import load_file
from rag.types import Chunk, Document


@dataclass(frozen=True)
class FileTask:
    """A file the ingest decided to (re)load: where it is, its name in the index, its content hash."""

    path: str
    source: str
    sha256: str


@dataclass(frozen=True)
class Outcome:
    """What became of one item of a part: its document id and chunk count, or why it failed."""

    source: str
    doc_id: str | None = None
    chunks: int = 0
    error: str | None = None


@dataclass
class PartResult:
    """A part's outcomes (one per item, in order) and, unless staged, its rows in the same order."""

    outcomes: list[Outcome]
    documents: list[Document] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    vectors: np.ndarray | None = None
    staged: bool = False
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # CPU time of the process that ran the part, while it ran it
    worker: str = ""

    @property
    def chunk_count(self) -> int:
        return sum(o.chunks for o in self.outcomes)


@dataclass(frozen=True)
class Job:
    """What every part of one ingest shares: the settings, the embedder and where rows go.

    `embedder_key` names the embedder across parts, so a worker process that runs several parts
    loads the model once. `staging` is the store's staging area (None: rows go back to the caller).
    `threads` caps the BLAS/OpenMP threads of the process that runs a part.
    """

    settings: object
    embedder: object
    embedder_key: str = ""
    staging: str | None = None
    threads: int | None = None


def load_items(items: list, settings) -> tuple[list[Outcome], list[Document | None]]:
    """Load each file (documents pass through). Failures become outcomes naming the file."""
    max_bytes = int(settings.max_file_mb * 1024 * 1024)
    outcomes: list[Outcome] = []
    docs: list[Document | None] = []
    for item in items:
        if isinstance(item, Document):
            outcomes.append(Outcome(item.source, item.id))
            docs.append(item)
            continue
        try:
            doc = load_file(Path(item.path), item.source, max_bytes=max_bytes)
        except LoadError as e:
            outcomes.append(Outcome(item.source, error=e.reason + (f" ({e.fix})" if e.fix else "")))
            docs.append(None)
            continue
        except OSError as e:
            outcomes.append(Outcome(item.source, error=f"cannot read: {e.strerror or e}"))
            docs.append(None)
            continue
        outcomes.append(Outcome(item.source, doc.id))
        docs.append(doc)
    return outcomes, docs


def chunk_items(outcomes: list[Outcome], docs: list[Document | None], settings):
    """Chunks and index texts of the loaded documents, document by document; outcomes get chunk counts."""
    chunks: list[Chunk] = []
    texts: list[str] = []
    for i, doc in enumerate(docs):
        if doc is None:
            continue
        cs = chunk_document(doc, count_tokens, settings.chunk_tokens, settings.chunk_overlap_tokens)
        chunks.extend(cs)
        texts.extend(index_text(c, doc) for c in cs)
        outcomes[i] = Outcome(outcomes[i].source, doc.id, len(cs))
    return chunks, texts


_embedders: dict[str, object] = {}


def _worker_embedder(job: Job):
    """The job's embedder, kept per process so that the model is loaded once per worker."""
    if not job.embedder_key:
        return job.embedder
    emb = _embedders.get(job.embedder_key)
    if emb is None:
        _embedders.clear()  # one ingest's model at a time
        emb = _embedders[job.embedder_key] = job.embedder
    return emb


def run_part(index: int, items: list, job: Job) -> PartResult:
    """Load, clean, chunk and embed one part; stage its rows when the job has a staging area."""
    t0, c0 = time.perf_counter(), time.process_time()
    settings = job.settings
    outcomes, docs = load_items(items, settings)
    chunks, texts = chunk_items(outcomes, docs, settings)
    embedder = _worker_embedder(job)
    if texts:
        with _thread_limit(job.threads):
            vectors = embedder.embed(texts, batch_size=settings.embed_batch_size)
    else:
        vectors = np.zeros((0, embedder.dim), dtype=np.float32)
    loaded = [d for d in docs if d is not None]
    where = f"{socket.gethostname()}:{os.getpid()}"
    if job.staging is not None:
        from rag.index import open_store

        open_store(settings).stage(job.staging, index, loaded, chunks, vectors, texts)
        return PartResult(outcomes, staged=True, seconds=time.perf_counter() - t0,
                          cpu_seconds=time.process_time() - c0, worker=where)
    return PartResult(outcomes, loaded, chunks, texts, np.asarray(vectors, dtype=np.float32), False,
                      time.perf_counter() - t0, time.process_time() - c0, where)


def _thread_limit(n: int | None):
    """Cap BLAS and OpenMP threads for the duration (no cap for None)."""
    if not n:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with the environment
        return contextlib.nullcontext()
    return threadpool_limits(n)
