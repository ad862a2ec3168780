"""Names the settings use for each embedder."""

from __future__ import annotations

from embeddings.base import Embedder
from rag.errors import ConfigError

EMBEDDERS = {
    "minilm": "embeddings.minilm:MiniLMEmbedder",
    "minilm-int8": "embeddings.onnx_int8:MiniLMInt8Embedder",
}

_cache: dict[str, Embedder] = {}


def get_embedder(name: str) -> Embedder:
    """A shared, lazily loaded embedder (one per process per name)."""
    if name not in EMBEDDERS:
        raise ConfigError(f"Unknown embedding model {name!r}. Set RAG_EMBEDDING_MODEL to one of: {', '.join(EMBEDDERS)}")
    if name not in _cache:
        import importlib

        mod, cls = EMBEDDERS[name].split(":")
        _cache[name] = getattr(importlib.import_module(mod), cls)()
    return _cache[name]
