"""Vectors of texts seen before, kept: the answer stage embeds the same sentences many times.

One question embeds the sentences of its retrieved passages several times over: to pull in the
passage holding the best sentence, to rank the sentences the model reads, to rank the judge's
candidates and to check each written sentence against its passage. The next question about the
same documents (a follow-up, the same subject) meets most of those sentences again. `Memoized`
wraps an embedder and computes each distinct text once (texts that differ only in spacing are one
text: the model's tokens are the same); the vectors it returns are the wrapped embedder's own, so
what is ranked, shown and cited does not change, only how often it is computed.

Bounded (least recently used texts are dropped first; unbounded for a measurement that asks the
same questions again and again) and safe to share between threads: the HTTP server answers
several questions at once with one embedder.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Sequence

import numpy as np

from embeddings.base import Embedder


class Memoized:
    """An Embedder that keeps the vectors of up to `max_texts` texts (about 1.5 KB each; None: all)."""

    def __init__(self, inner: Embedder, max_texts: int | None = 20_000):
        self.inner = inner
        self.name, self.dim, self.max_tokens = inner.name, inner.dim, inner.max_tokens
        self.max_texts = max_texts
        self._vectors: OrderedDict[str | tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress=None) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        todo: dict[str, list[int]] = {}  # text not kept yet -> its rows (a text repeated is computed once)
        with self._lock:
            for i, text in enumerate(texts):
                t = " ".join(text.split())  # the model's tokens do not depend on how words are spaced
                v = self._vectors.get(t)
                if v is None:
                    todo.setdefault(t, []).append(i)
                else:
                    self._vectors.move_to_end(t)
                    out[i] = v
            self.hits += len(texts) - sum(len(rows) for rows in todo.values())
            self.misses += len(todo)
        if todo:
            new = list(todo)
            vecs = self.inner.embed(new, batch_size=batch_size, progress=progress)
            with self._lock:
                for t, v in zip(new, vecs):
                    out[todo[t]] = v
                    self._keep(t, v)
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """The wrapped embedder's own query vector, kept apart from passage vectors: a model may
        embed a query differently from a passage (an instruction prefix)."""
        t = " ".join(text.split())  # as in embed: spacing does not change the model's tokens
        key = ("query", t)  # a tuple: never a passage text's key
        with self._lock:
            v = self._vectors.get(key)
            if v is not None:
                self._vectors.move_to_end(key)
                self.hits += 1
                return v.copy()
            self.misses += 1
        v = np.asarray(self.inner.embed_query(t), dtype=np.float32)
        with self._lock:
            self._keep(key, v)
        return v.copy()

    def _keep(self, key, vector: np.ndarray) -> None:
        """Called with the lock held: keep `vector`, dropping the least recently used past the bound."""
        self._vectors[key] = vector.copy()  # a row of its own, not a view keeping the batch
        self._vectors.move_to_end(key)
        while self.max_texts is not None and len(self._vectors) > self.max_texts:
            self._vectors.popitem(last=False)


def memoized(embedder: Embedder) -> Memoized:
    """`embedder` with a memory of the vectors it made (itself when it already has one)."""
    return embedder if isinstance(embedder, Memoized) else Memoized(embedder)
