"""Collections: named corpora in one deployment, each with its own documents, index versions,
ingest history, uploads and feedback. The `Catalog` lists, creates and deletes them.

    directory store   'default' is HOME/index/ (the layout an existing data directory already has);
                      another collection NAME is HOME/collections/NAME/ (index/, uploads/,
                      feedback.jsonl), marked as created by HOME/collections/NAME/collection.json
    PostgreSQL store  the `collections` table; every row of the index tables names its collection
                      (rag/index/postgres.py)

Names follow rag/names.py, so a collection's folder is always inside the data directory. A store
is opened for one collection: `open_store(settings.for_collection(name))`.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from typing import Protocol

from rag.errors import CollectionExists, CollectionMissing, ConfigError, IndexMissing, RagError
from rag.index import open_store
from rag.index.versions import IndexDir, write_atomic
from rag.names import DEFAULT_COLLECTION, check_collection, valid
from rag.settings import Settings

MARKER = "collection.json"


class Catalog(Protocol):
    """The collections of one deployment."""

    def names(self) -> list[str]:
        """Every collection, 'default' first, then by name."""
        ...

    def exists(self, name: str) -> bool:
        ...

    def create(self, name: str) -> None:
        """A new, empty collection; CollectionExists if there is one of that name."""
        ...

    def delete(self, name: str) -> dict:
        """Remove a collection with its documents, index versions, uploads and feedback; returns what
        went ({"documents": n}). 'default' cannot be deleted."""
        ...

    def migrate(self) -> list[str]:
        """Take over an index written before collections existed, as 'default'; sentences saying what
        was done (none when there was nothing to do)."""
        ...


def open_catalog(settings: Settings) -> Catalog:
    """The catalog of the configured store: PostgreSQL when RAG_STORE_URL is set, else HOME/collections/."""
    return PostgresCatalog(settings) if settings.store_url else DirectoryCatalog(settings)


def require(settings: Settings) -> Settings:
    """`settings` when its collection exists; CollectionMissing (with the command that creates it) if not."""
    if settings.collection != DEFAULT_COLLECTION and not open_catalog(settings).exists(settings.collection):
        raise CollectionMissing(settings.collection)
    return settings


def _refuse_default(name: str) -> None:
    if name == DEFAULT_COLLECTION:
        raise ConfigError("The default collection cannot be deleted. Remove its documents instead: "
                          "rag ingest --rebuild on an empty folder, or DELETE /documents/{doc_id}.")


def _remove_folder(settings: Settings, name: str) -> None:
    """Remove HOME/collections/NAME/ (uploads, feedback, a directory index): renamed aside first, so a
    crash never leaves a half-deleted collection that still looks created."""
    folder = settings.for_collection(name).collection_home
    if not folder.is_dir():
        return
    aside = folder.parent / f".deleted-{name}-{secrets.token_hex(4)}"
    os.rename(folder, aside)
    shutil.rmtree(aside, ignore_errors=True)


class DirectoryCatalog:
    """Collections as folders of the data directory."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.root = settings.home / "collections"

    def names(self) -> list[str]:
        found = []
        if self.root.is_dir():
            found = sorted(p.name for p in self.root.iterdir()
                           if valid(p.name) and p.name != DEFAULT_COLLECTION and (p / MARKER).is_file())
        return [DEFAULT_COLLECTION, *found]

    def exists(self, name: str) -> bool:
        if name == DEFAULT_COLLECTION:
            return True
        return valid(name) and (self.root / name / MARKER).is_file()

    def create(self, name: str) -> None:
        check_collection(name)
        if self.exists(name):
            raise CollectionExists(f"A collection named {name!r} exists already (see them: rag collections).")
        folder = self.settings.for_collection(name).collection_home
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(folder / MARKER, json.dumps({"name": name, "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}))

    def delete(self, name: str) -> dict:
        check_collection(name)
        _refuse_default(name)
        if not self.exists(name):
            raise CollectionMissing(name)
        s = self.settings.for_collection(name)
        store = open_store(s)
        with store.writer_lock(wait=30):  # not while an ingest writes it
            try:
                documents = store.manifest()["counts"]["documents"] if store.current() else 0
            except RagError:  # a damaged index is deleted all the same
                documents = None
            (s.collection_home / MARKER).unlink()  # from here on it no longer exists for anyone
        _remove_folder(self.settings, name)
        return {"documents": documents}

    def migrate(self) -> list[str]:
        return []  # HOME/index/ is the default collection as it is: nothing moves


class PostgresCatalog:
    """Collections as rows of the `collections` table of the PostgreSQL store."""

    def __init__(self, settings: Settings):
        self.settings = settings.for_collection(DEFAULT_COLLECTION)

    def _store(self, name: str = DEFAULT_COLLECTION):
        return open_store(self.settings.for_collection(name))

    def names(self) -> list[str]:
        store = self._store()
        try:
            rows = store.fetch(f"SELECT name FROM {store._t('collections')} ORDER BY name")
        except IndexMissing:  # a format-2 database, or none yet: only the default collection
            return [DEFAULT_COLLECTION]
        names = [r[0] for r in rows if r[0] != DEFAULT_COLLECTION and valid(r[0])]
        return [DEFAULT_COLLECTION, *names]

    def exists(self, name: str) -> bool:
        return name == DEFAULT_COLLECTION or (valid(name) and name in self.names())

    def create(self, name: str) -> None:
        check_collection(name)
        store = self._store()
        conn = store.connect(store.url)
        try:
            store.ensure_collections(conn)
            with conn.transaction():
                added = conn.execute(f"INSERT INTO {store._t('collections')} (name) VALUES (%s) "
                                     "ON CONFLICT (name) DO NOTHING RETURNING name", (name,)).fetchone()
        finally:
            conn.close()
        if added is None:
            raise CollectionExists(f"A collection named {name!r} exists already (see them: rag collections).")

    def delete(self, name: str) -> dict:
        check_collection(name)
        _refuse_default(name)
        if not self.exists(name):
            raise CollectionMissing(name)
        store = self._store(name)
        with store.writer_lock(wait=30):
            conn = store.connect(store.url)
            try:
                counts = store.drop_collection(conn)
            finally:
                conn.close()
        _remove_folder(self.settings, name)
        return {"documents": counts.get("documents", 0)}

    def migrate(self) -> list[str]:
        store = self._store()
        conn = store.connect(store.url)
        try:
            done = store._upgrade(conn)
            store.ensure_collections(conn)
        finally:
            conn.close()
        return done
