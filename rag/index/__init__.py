"""The index: the `Store` protocol and its backends (a directory, the default; PostgreSQL).

    open_store(settings)   the configured store: PostgreSQL when RAG_STORE_URL is set, else HOME/index/
    Index.load(settings)   the live version of that store, ready to search

`from rag.index import Index, write_version, ...` keeps working: the directory backend's names
are re-exported here.
"""

from __future__ import annotations

import threading

from rag.index.base import Change, LoadedIndex, Store
from rag.index.directory import (
    DirectoryStore,
    Index,
    build_vector_index,
    index_kind,
    library_versions,
    write_version,
)
from rag.settings import Settings

__all__ = ["Change", "DirectoryStore", "Index", "LoadedIndex", "Store", "build_vector_index", "index_kind",
           "library_versions", "open_store", "write_version"]


_stores: dict = {}
_stores_lock = threading.Lock()


def open_store(settings: Settings) -> Store:
    """The store the settings name: RAG_STORE_URL=postgresql://... or, unset, the directory store.

    PostgreSQL stores are shared per settings, so their connections are reused across calls.
    """
    if not settings.store_url:
        return DirectoryStore(settings)
    from rag.index.postgres import PostgresStore

    with _stores_lock:
        store = _stores.get(settings)
        if store is None:
            store = _stores[settings] = PostgresStore(settings)
        return store
