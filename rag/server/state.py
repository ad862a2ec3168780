"""What the HTTP server holds between requests: an immutable index snapshot, swapped whole.

A request takes the current `Snapshot` once and uses only it, so it sees one complete index
version from start to end. When the CURRENT pointer names a new version (an upload through this
server, or `rag ingest` in another process), the next request loads it while the old snapshot
keeps serving; the pointer is only switched after a version is complete on disk (rag/index/versions.py).
Writes are serialised by a lock here and by the store's writer lock across processes. With a
PostgreSQL store (RAG_STORE_URL) every worker on the database sees a new version the same way.

One `ServerState` serves one collection; `collection(name)` gives the state of another, created
on first use and sharing the embedding model and the LLM client with this one. The HTTP layer
asks for it only after the caller was found to be allowed to read that collection.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from embeddings import Embedder, get_embedder
from embeddings.memo import memoized
from rag.errors import IndexCorrupt, RagError
from rag.index import LoadedIndex, open_store
from rag.pipeline import Assistant
from rag.index.retrieve import HybridRetriever
from rag.settings import Settings

_LOAD_ATTEMPTS = 3  # a version can be collected between reading CURRENT and loading it


@dataclass(frozen=True)
class Snapshot:
    """One loaded index version and the assistant answering from it."""

    version: str
    index: LoadedIndex
    assistant: Assistant


class ServerState:
    """Shared, thread-safe parts of the server: snapshot, embedder, generator, writer lock."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None, generator=None,
                 parent: "ServerState | None" = None):
        self.settings = settings
        self.store = open_store(settings)
        self._embedder = embedder
        self._answer_embedder: Embedder | None = None
        self._generator = generator
        self._parent = parent  # the state whose embedder and generator this one shares
        self._snapshot: Snapshot | None = None
        self._load_lock = threading.Lock()
        self._parts_lock = threading.Lock()
        self.write_lock = threading.Lock()  # one upload or removal at a time in this process (and collection)
        self._others: dict[str, ServerState] = {}

    @property
    def collection_name(self) -> str:
        return self.settings.collection

    def collection(self, name: str) -> "ServerState":
        """The state serving collection `name` (this one for its own collection)."""
        root = self._parent or self
        if name == root.settings.collection:
            return root
        with root._parts_lock:
            state = root._others.get(name)
            if state is None:
                state = root._others[name] = ServerState(root.settings.for_collection(name), parent=root)
            return state

    # --- lazily built, shared parts ---
    @property
    def embedder(self) -> Embedder:
        if self._parent is not None:
            return self._parent.embedder
        with self._parts_lock:
            if self._embedder is None:
                self._embedder = get_embedder(self.settings.embedding_model)
            return self._embedder

    @property
    def answer_embedder(self) -> Embedder:
        """The embedder answers use: the shared one, keeping the vectors of the sentences it has
        embedded (embeddings/memo.py) for every question and collection this process answers."""
        if self._parent is not None:
            return self._parent.answer_embedder
        embedder = self.embedder
        with self._parts_lock:
            if self._answer_embedder is None:
                self._answer_embedder = memoized(embedder)
            return self._answer_embedder

    def generator(self):
        """The one Generator shared by every snapshot (created on the first generate request)."""
        if self._parent is not None:
            return self._parent.generator()
        with self._parts_lock:
            if self._generator is None:
                from rag.llm.generate import make_generator

                self._generator = make_generator(self.settings)
            return self._generator

    # --- the snapshot ---
    def snapshot(self) -> Snapshot:
        """The live index version, loading it if CURRENT moved since the last request.

        Raises IndexMissing or IndexCorrupt (the previous snapshot is not served once the
        pointer names a version that cannot be loaded: the operator must see the damage).
        """
        for attempt in range(_LOAD_ATTEMPTS):
            version = self.store.require_current()
            snap = self._snapshot
            if snap is not None and snap.version == version:
                return snap
            with self._load_lock:
                snap = self._snapshot
                if snap is not None and snap.version == version:
                    return snap
                try:
                    index = self.store.load(version)
                except (IndexCorrupt, FileNotFoundError):
                    if attempt + 1 < _LOAD_ATTEMPTS and self.store.require_current() != version:
                        continue  # replaced and collected while we loaded: take the newer one
                    raise
                snap = self._make_snapshot(version, index)
                self._snapshot = snap
                return snap
        raise IndexCorrupt(self.store.location, "the index changed too often to load")

    def _make_snapshot(self, name: str, index: LoadedIndex) -> Snapshot:
        retriever = HybridRetriever(self.settings, index=index, embedder=self.answer_embedder)
        state = self

        class _Assistant(Assistant):
            @property
            def generator(self):
                return state.generator()

        return Snapshot(name, index, _Assistant(self.settings, retriever=retriever, embedder=self.answer_embedder))

    # --- health ---
    def health(self) -> dict:
        """Index state for /health: ok, missing or corrupt, with the command that fixes it.

        Every file is checked against the manifest's checksums; the hashes are recomputed only
        when a file's size or modification time changed since the last check.
        """
        try:
            self.store.check(self.store.require_current())
            snap = self.snapshot()
        except RagError as e:
            return {"status": "error", "index": "missing" if "No index" in str(e) else "corrupt",
                    "error": str(e), "fix": self.rebuild_command()}
        return {"status": "ok", "index": "ok", "version": snap.version,
                "documents": len(snap.index.documents), "chunks": len(snap.index.chunks),
                "checked_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}

    def rebuild_command(self) -> str:
        """The `rag ingest --rebuild ...` line that recreates the index from its source folders."""
        roots: list[str] = []
        version = None
        try:
            version = self.store.current()
            files = self.store.manifest(version).get("files", {}) if version else {}
        except RagError:
            files = {}
        for info in files.values():
            folder = _display(Path(info["path"]).parent)
            if folder not in roots:
                roots.append(folder)
        if not roots:
            roots = ["docs_raw/"]
            if self.settings.uploads_dir.is_dir():
                roots.append(_display(self.settings.uploads_dir))
        named = "" if self.settings.collection == "default" else f" --collection {self.settings.collection}"
        return "rag ingest --rebuild " + " ".join(roots) + named


def _display(folder: Path) -> str:
    """A folder relative to the working directory when it is inside it, with a trailing slash."""
    try:
        rel = folder.resolve().relative_to(Path.cwd().resolve())
        text = str(rel) if str(rel) != "." else "."
    except ValueError:
        text = str(folder)
    return text.rstrip("/") + "/"
