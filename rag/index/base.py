"""The index's role: a `Store` holds versions of the index; a loaded version answers searches.

Two backends implement it: the directory store (rag/index/directory.py, the embedded default)
and the PostgreSQL store (rag/index/postgres.py, selected by RAG_STORE_URL). Ingest, retrieval,
the server, the UI and the eval harness talk to these two protocols only.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np

from rag.types import Chunk, Document, SearchFilter


class LoadedIndex(Protocol):
    """One immutable index version as readers see it.

    Chunks are addressed by integer row ids: `dense` and `lexical` return them and `chunk_map`
    turns them into chunks. `chunks` iterates the version's chunks and has a length.
    """

    version: str
    manifest: dict
    documents: dict[str, Document]
    chunks: Sequence[Chunk]

    def allowed_mask(self, flt: SearchFilter | None):
        """An opaque restriction for `dense` and `lexical` (None: everything)."""
        ...

    def dense(self, qvec: np.ndarray, k: int, mask=None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (row ids, cosine scores) by vector similarity."""
        ...

    def lexical(self, query: str, k: int, mask=None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (row ids, scores) by term match, positive scores only."""
        ...

    def chunk_map(self, rows: Sequence[int]) -> dict[int, Chunk]:
        """The chunks at these row ids (fetched together where that is cheaper)."""
        ...


@dataclass
class Change:
    """What one write does: the base version's documents in `keep` stay, the new ones are added.

    Everything else in the base version is removed. `chunks`, `vectors` and `texts` (the text
    the lexical index sees) belong to `documents` and align row by row.
    """

    model: str
    keep: set[str]
    documents: list[Document]
    chunks: list[Chunk]
    vectors: np.ndarray
    texts: list[str]
    files: dict
    all_documents: dict[str, Document] = field(default_factory=dict)  # keep + new, by id
    # A staging area (Store.open_staging) that workers wrote the new documents' rows into, used
    # instead of `documents`/`chunks`/`vectors`/`texts`: document id -> the part whose rows are taken.
    staged: str | None = None
    staged_docs: dict[str, int] = field(default_factory=dict)


class Store(Protocol):
    """Where index versions live, which one is live, and the one writer at a time."""

    kind: str  # "directory" or "postgresql"
    collection: str  # the collection whose versions this store holds (rag/index/collections.py)
    location: str  # a path, or the database URL without its password: for messages

    def current(self) -> str | None:
        """The live version's name, or None when nothing has been indexed."""
        ...

    def require_current(self) -> str:
        """The live version's name; IndexMissing (with the next step) when there is none."""
        ...

    def manifest(self, version: str | None = None) -> dict:
        """A version's manifest (the live one by default): model, fingerprint, counts, files."""
        ...

    def load(self, version: str | None = None, *, verify_all: bool = False,
             check_settings: bool = True) -> LoadedIndex:
        """Load a version (the live one by default) for searching."""
        ...

    def check(self, version: str, full: bool = False) -> None:
        """Raise IndexCorrupt when the stored version does not match its manifest (`full`: however large)."""
        ...

    def writer_lock(self, wait: float = 0.0) -> contextlib.AbstractContextManager:
        """Held by the one writer; IndexBusy when another holds it longer than `wait` seconds."""
        ...

    def commit(self, change: Change, base: LoadedIndex | None, settings) -> str:
        """Write a new version from `base` and `change` and make it live at once. Returns its name."""
        ...

    def open_staging(self, dim: int) -> str | None:
        """A staging area that workers on any machine can write a change's rows into (its name), or
        None when this store cannot be written from elsewhere (rows then come back to the writer).
        Called by the holder of the writer lock."""
        ...

    def stage(self, staging: str, part: int, documents: list[Document], chunks: list[Chunk],
              vectors: np.ndarray, texts: list[str]) -> None:
        """Write one part of a change into a staging area; writing a part again replaces it."""
        ...

    def drop_staging(self, staging: str) -> None:
        """Forget a staging area's rows (an ingest that will not commit them)."""
        ...
