"""Progress of a long step: files and chunks done, their rate and the time left.

A bar on stderr when it is a terminal (tqdm), nothing otherwise; a callback receives the same
counts (the web UI draws its own bar from them). Callers decide `show`: off for `--json`, off
when stderr is not a terminal.
"""

from __future__ import annotations

import sys
import time
from typing import Callable

ProgressCallback = Callable[[dict], None]


def terminal() -> bool:
    """Whether progress bars make sense: stderr is a terminal."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """Counts of one step; `update` after each finished unit of work.

    The bar advances in `unit`s (files, or chunks when only chunks are counted) and shows the
    other count with its rate beside it; tqdm adds the elapsed time, the rate and the time left.
    """

    def __init__(self, desc: str, total: int, *, unit: str = "file", show: bool = False,
                 callback: ProgressCallback | None = None, chunks_total: int | None = None,
                 count_chunks: bool = True):
        self.desc, self.total, self.unit = desc, total, unit
        self.files = 0
        self.chunks = 0
        self.chunks_total = chunks_total
        self.callback = callback
        self.count_chunks = count_chunks and unit == "file"
        self._t0 = time.perf_counter()
        self._bar = None
        if show and total:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True)

    def update(self, files: int = 0, chunks: int = 0) -> None:
        self.files += files
        self.chunks += chunks
        if self._bar is not None:
            self._bar.update(files if self.unit == "file" else chunks)
            if self.count_chunks:
                secs = max(time.perf_counter() - self._t0, 1e-9)
                self._bar.set_postfix_str(f"{self.chunks} chunks, {self.chunks / secs:.1f} chunks/s", refresh=False)
        if self.callback is not None:
            self.callback(self.state())

    def state(self) -> dict:
        """The counts, rates and estimated seconds left, for a caller's own display."""
        secs = time.perf_counter() - self._t0
        done = self.files if self.unit == "file" else self.chunks
        rate = done / secs if secs > 0 else 0.0
        return {"stage": self.desc, "files_done": self.files, "files_total": self.total if self.unit == "file" else None,
                "chunks_done": self.chunks,
                "chunks_total": self.total if self.unit != "file" else self.chunks_total,
                "chunks_per_second": self.chunks / secs if secs > 0 else 0.0,
                "seconds": secs, "seconds_left": (self.total - done) / rate if rate > 0 else None}

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
