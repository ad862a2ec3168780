"""Where the parts of an ingest run: the `Engine` role and the local one (all cores of this machine).

    LocalEngine   worker processes on this machine, one per core by default (RAG_INGEST_WORKERS)
    RayEngine     Ray tasks across a cluster's nodes (rag/ingest/ray_engine.py, `--engine ray`)

An engine runs `work.run_part` on each part and yields each part's result as it completes, or the
exception that ended it. Deciding what to load, and writing the version, stay with the caller:
an engine only maps parts to results.
"""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Iterator, Protocol

from rag.ingest.work import Job, PartResult, run_part

# The fewest bytes of input worth starting worker processes for. A worker process needs about a
# second of CPU to import NumPy, the tokenizer and the project and to map the model
# (bench/ingest_scaling.py prints the start-up time it measures); the single process embeds about
# 20 chunks/s, roughly 8 KB of text/s, so below ~64 KB the start-up costs more than it saves.
PARALLEL_MIN_BYTES = 64 * 1024
_PART_MIN_BYTES = 16 * 1024  # parts smaller than this spend more time on messages than on work
_PART_MAX_BYTES = 256 * 1024  # ... and larger ones make progress coarse and balance the cores worse


class Engine(Protocol):
    """Runs the parts of one ingest somewhere and yields (part number, result or exception)."""

    name: str

    def slots(self) -> int:
        """How many parts can run at once (cores of this machine, or CPUs of the cluster)."""
        ...

    def run(self, parts: list[list], job: Job, first: int = 0) -> Iterator[tuple[int, PartResult | BaseException]]:
        """Each part's result (or what ended it), in completion order; parts are numbered from `first`."""
        ...

    def close(self) -> None:
        ...


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def item_size(item) -> int:
    """Bytes of input an item stands for: a file's size, a document's text length."""
    text = getattr(item, "text", None)
    if text is not None:
        return len(text)
    try:
        return os.stat(item.path).st_size
    except OSError:
        return 0


def split_parts(items: list, slots: int, sizes: list[int] | None = None) -> list[list]:
    """Consecutive items grouped into parts of similar size, about four per slot (so a slow part
    does not leave the other cores idle at the end), each within _PART_MIN_BYTES.._PART_MAX_BYTES."""
    if not items:
        return []
    sizes = sizes if sizes is not None else [item_size(i) for i in items]
    target = min(max(sum(sizes) // max(1, 4 * slots), _PART_MIN_BYTES), _PART_MAX_BYTES)
    parts: list[list] = []
    cur: list = []
    used = 0
    for item, n in zip(items, sizes):
        if cur and used + n > target:
            parts.append(cur)
            cur, used = [], 0
        cur.append(item)
        used += n
    if cur:
        parts.append(cur)
    return parts


def _init_worker(threads: int) -> None:
    """A worker process: its share of the cores, and no thread pools of its own in the tokenizer."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    except ImportError:  # pragma: no cover
        pass


class LocalEngine:
    """Worker processes on this machine (started fresh, not forked: the caller may hold threads)."""

    name = "local"

    def __init__(self, workers: int):
        self.workers = max(1, int(workers))
        self._pool: ProcessPoolExecutor | None = None

    def slots(self) -> int:
        return self.workers

    def run(self, parts: list[list], job: Job, first: int = 0) -> Iterator[tuple[int, PartResult | BaseException]]:
        import multiprocessing

        n = min(self.workers, len(parts))
        if n <= 1:  # one part or one worker: no process to start
            for i, part in enumerate(parts, start=first):
                try:
                    yield i, run_part(i, part, job)
                except Exception as e:  # noqa: BLE001 - reported with the part's files
                    yield i, e
            return
        threads = max(1, available_cores() // n)
        job = Job(job.settings, job.embedder, job.embedder_key, job.staging, threads)
        self._pool = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_init_worker, initargs=(threads,))
        futures = {self._pool.submit(run_part, i, part, job): i for i, part in enumerate(parts, start=first)}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    err = f.exception()
                    yield futures[f], (err if err is not None else f.result())
        finally:
            for f in pending:
                f.cancel()
            self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
