"""A cache of the model's replies and judgements, for measuring the answer stage's steps.

Switching off one step of the answer stage (rag eval ablate) leaves most of what the model is
asked unchanged: the same prompts, the same yes/no questions. At temperature 0 the replies are
the same too, so they are read from this cache instead of asked again, and a configuration costs
seconds per question instead of the model's time. Every configuration then also sees the same
replies, so a difference between two runs is the step's, not the model's run-to-run noise.

The cache is one JSON-lines file, appended to (a reply per line, keyed by a hash of the model
name, the messages and the sampling parameters); a line cut short by a crash is skipped when read.
Use it only for measurements: a served answer always asks the model.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Iterator


class ReplyCache:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.hits = self.misses = 0
        self._lock = threading.Lock()
        self._data: dict[str, object] = {}
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                    self._data[row["k"]] = row["v"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue

    @staticmethod
    def key(*parts) -> str:
        return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def get(self, key: str):
        with self._lock:
            if key in self._data:
                self.hits += 1
                return True, self._data[key]
            self.misses += 1
            return False, None

    def put(self, key: str, value) -> None:
        with self._lock:
            self._data[key] = value
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"k": key, "v": value}, ensure_ascii=False) + "\n")
                f.flush()
                os.fsync(f.fileno())


class CachedGenerator:
    """A Generator whose replies come from `cache` when the same request was made before."""

    def __init__(self, generator, cache: ReplyCache):
        self._inner = generator
        self._cache = cache

    def __getattr__(self, name):  # model, endpoint, the client: the wrapped generator's
        return getattr(self._inner, name)

    def _key(self, kind: str, messages: list[dict], kw: dict) -> str:
        return self._cache.key(kind, self._inner.model, messages, {k: v for k, v in kw.items() if v is not None})

    def stream(self, messages: list[dict], **kw) -> Iterator[str]:
        key = self._key("chat", messages, kw)
        found, text = self._cache.get(key)
        if found:
            yield text
            return
        parts = []
        for delta in self._inner.stream(messages, **kw):
            parts.append(delta)
            yield delta
        self._cache.put(key, "".join(parts))

    def complete(self, messages: list[dict], **kw) -> str:
        key = self._key("chat", messages, kw)
        found, text = self._cache.get(key)
        if found:
            return text
        text = self._inner.complete(messages, **kw)
        self._cache.put(key, text)
        return text


class CachedJudge:
    """A Judge (rag/answer/judge.py) whose probabilities come from `cache` when asked before."""

    def __init__(self, judge, cache: ReplyCache, model: str):
        self._inner, self._cache, self._model = judge, cache, model

    def p_yes(self, messages: list[dict]) -> float | None:
        key = self._cache.key("judge", self._model, messages)
        found, p = self._cache.get(key)
        if found:
            return p
        p = self._inner.p_yes(messages)
        if p is not None:  # an endpoint that could not answer is asked again next time
            self._cache.put(key, p)
        return p
