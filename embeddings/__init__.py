"""Embedding models that run offline from packages on PyPI.

`get_embedder(name)` returns a lazily loaded model; nothing heavy happens until the first call.
"""

from embeddings.base import Embedder
from embeddings.registry import EMBEDDERS, get_embedder

__all__ = ["Embedder", "EMBEDDERS", "get_embedder"]
