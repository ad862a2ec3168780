"""The audit log: one JSON line per answer the HTTP API gave, in HOME/audit.jsonl.

    {"time", "principal", "collection", "route", "question_sha256", "cited", "refused", "mode"}

The question is kept as its sha256 only (the log says who asked what was asked, not the words);
`cited` holds the ids of the documents the answer cites. Each line is one write() on an O_APPEND
descriptor followed by fsync, before the answer is sent: an answer a client received is on disk,
whatever happens to the server afterwards (kill -9, power loss). A line torn by a crash in the
middle of its write is skipped when reading and never swallows the next one. Nothing rewrites or
truncates the file; rotating it is the operator's (move it away: the next answer starts a new one).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from rag.settings import Settings
from rag.types import Answer, AuditEntry

FILENAME = "audit.jsonl"


def path(settings: Settings) -> Path:
    return Path(settings.home) / FILENAME


def question_hash(question: str) -> str:
    return hashlib.sha256(" ".join(question.split()).encode("utf-8", "surrogateescape")).hexdigest()


def entry(principal: str, collection: str, route: str, question: str, answer: Answer) -> AuditEntry:
    cited = tuple(dict.fromkeys(c.doc_id for c in answer.citations))
    return AuditEntry(time=datetime.now(timezone.utc).isoformat(timespec="milliseconds"), principal=principal,
                      collection=collection, route=route, question_sha256=question_hash(question), cited=cited,
                      refused=answer.refused, mode=answer.mode)


class AuditLog:
    """Appends entries durably; one writer at a time in this process."""

    def __init__(self, settings: Settings):
        self.path = path(settings)
        self._lock = threading.Lock()

    def append(self, e: AuditEntry) -> None:
        line = (json.dumps(e.to_dict(), ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = b"\n" + line  # a torn last line (a crash mid-write) must not swallow this one
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)


def read(settings: Settings) -> Iterator[AuditEntry]:
    """Every entry, oldest first; torn or foreign lines are skipped."""
    p = path(settings)
    if not p.exists():
        return
    with open(p, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                data = json.loads(line)
                yield AuditEntry.from_dict({**data, "cited": tuple(data.get("cited", ()))})
            except (ValueError, TypeError, KeyError):
                continue
