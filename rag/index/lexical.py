"""BM25 over chunks with bm25s: English stemming and stopwords, numbers kept as terms."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def tokenize(text: str) -> list[str]:
    """Lower-cased, stopword-free, stemmed terms."""
    stop = _stopwords()
    words = [w for w in _WORD.findall(text.lower()) if w not in stop]
    return _stemmer().stemWords(words)


class BM25Index:
    """A bm25s index whose row i is chunk i. Saved as numpy arrays and JSON: no pickle."""

    def __init__(self, model):
        self._model = model

    @classmethod
    def build(cls, texts: Sequence[str]) -> "BM25Index":
        import bm25s

        model = bm25s.BM25(k1=1.2, b=0.75)
        corpus = [tokenize(t) or [""] for t in texts]
        model.index(corpus, show_progress=False)
        return cls(model)

    def save(self, path: Path) -> None:
        self._model.save(str(path), show_progress=False)

    @classmethod
    def load(cls, path: Path) -> "BM25Index":
        import bm25s

        return cls(bm25s.BM25.load(str(path), allow_pickle=False, show_progress=False))

    def scores(self, query: str, mask: np.ndarray | None = None) -> np.ndarray:
        """BM25 score of every chunk; chunks outside `mask` score 0."""
        vocab = self._model.vocab_dict
        terms = [t for t in tokenize(query) if t in vocab]
        n = self._model.scores["num_docs"]
        if not terms:
            return np.zeros(n, dtype=np.float32)
        weight = None if mask is None else mask.astype(np.float32)
        return np.asarray(self._model.get_scores(terms, weight_mask=weight), dtype=np.float32)


_FUNCTION_WORDS = frozenset(_stem for _stem in (
    "what did do does done doing how many much which who whom whose when where why would could should can may "
    "might must shall has have had been being were am i you he she we us our your his her its them those from "
    "about also any some all each other than so very just only over under again further once here there "
    "tell say says said according state stated mention mentioned"
).split())


def content_terms(text: str) -> set[str]:
    """Stemmed terms that carry meaning: BM25 terms minus question words and auxiliaries.

    Used to measure how much of a question or claim a sentence covers.
    """
    stop = _stopwords() | _FUNCTION_WORDS
    words = [w for w in _WORD.findall(text.lower()) if w not in stop]
    return set(_stemmer().stemWords(words))
