"""Thumbs up/down on answers, kept locally as JSON lines in HOME/feedback.jsonl.

One line per rating, appended, never rewritten: {"ts", "question", "answer", "rating",
"comment", "mode", "model", "citations": [{"n", "source", "quote"}], "refused"}. The eval
harness turns these lines into suite items (a "down" on an answer marks a question worth a
regression case), so the fields stay plain and stable.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

from rag.settings import Settings
from rag.types import Answer

RATINGS = ("up", "down")
FILENAME = "feedback.jsonl"


def path(settings: Settings) -> Path:
    """HOME/feedback.jsonl for the default collection; each other collection keeps its own, in
    HOME/collections/NAME/, so a rating never travels outside its collection."""
    return Path(settings.collection_home) / FILENAME


def entry(answer: Answer, rating: str, comment: str = "") -> dict:
    """The record written for one rating (checked: rating must be "up" or "down")."""
    if rating not in RATINGS:
        raise ValueError(f"rating must be 'up' or 'down', not {rating!r}")
    return {
        "ts": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "question": answer.question,
        "answer": answer.answer,
        "rating": rating,
        "comment": " ".join((comment or "").split()),
        "mode": answer.mode,
        "model": answer.model,
        "citations": [{"n": c.n, "source": c.source, "quote": c.quote} for c in answer.citations],
        "refused": answer.refused,
    }


def record(settings: Settings, answer: Answer, rating: str, comment: str = "") -> dict:
    """Append one rating of `answer` to HOME/feedback.jsonl and return the record written."""
    rec = entry(answer, rating, comment)
    target = path(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8")
    # One write() on an O_APPEND descriptor: concurrent UI sessions never interleave lines.
    fd = os.open(target, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line  # a torn last line (a crash mid-write) must not swallow this one
        os.write(fd, line)
    finally:
        os.close(fd)
    return rec


def load(settings: Settings) -> list[dict]:
    """Every recorded rating, oldest first. A torn last line (a crash mid-write) is skipped."""
    target = path(settings)
    if not target.exists():
        return []
    out = []
    with open(target, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                out.append(rec)
    return out
