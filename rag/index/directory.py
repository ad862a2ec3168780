"""The directory store (the embedded default): FAISS vectors, bm25s and JSONL in versioned folders.

`Index` is one loaded version (documents, chunks, FAISS vectors, BM25); `DirectoryStore` is the
`Store` (rag/index/base.py) over HOME/index/ (layout in rag/index/versions.py). Exact inner-product search (IndexFlatIP) below `settings.approx_threshold` chunks; above it an
HNSW graph, chosen automatically. Vectors are unit length, so inner product is cosine.
"""

from __future__ import annotations

import contextlib
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from rag import __version__
from rag.errors import IndexCorrupt
from rag.index.base import Change
from rag.index.lexical import BM25Index
from rag.settings import Settings
from rag.index.versions import FORMAT, IndexDir, checksums, read_manifest, verify, write_atomic
from rag.types import Chunk, Document

_EXACT_FILTER_LIMIT = 20_000  # filtered searches over fewer chunks than this are brute-forced


def _faiss():
    try:
        import faiss
    except ImportError as e:  # pragma: no cover
        from rag.errors import RagError

        raise RagError("FAISS is not available: install faiss-cpu (pip install -r requirements.txt)") from e
    return faiss


def library_versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version(), "rag": __version__}
    for pkg in ("faiss-cpu", "numpy", "bm25s", "sentence-transformers", "onnxruntime", "torch"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def build_vector_index(vectors: np.ndarray, settings: Settings):
    """Exact index for small collections, HNSW above the threshold."""
    faiss = _faiss()
    n, dim = vectors.shape
    if n > settings.approx_threshold:
        index = faiss.IndexHNSWFlat(dim, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = settings.hnsw_ef_construction
    else:
        index = faiss.IndexFlatIP(dim)
    if n:
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def index_kind(index) -> str:
    return "hnsw" if "HNSW" in type(index).__name__ else "flat"


@dataclass
class Index:
    """One immutable index version, loaded into memory."""

    path: Path
    manifest: dict
    documents: dict[str, Document]
    chunks: list[Chunk]
    vectors: object  # faiss index
    bm25: BM25Index

    @property
    def version(self) -> str:
        return self.path.name

    @classmethod
    def load(cls, settings: Settings, verify_all: bool = False):
        """The live version of the configured store (a PostgreSQL one when RAG_STORE_URL is set)."""
        if settings.store_url:
            from rag.index import open_store

            return open_store(settings).load(verify_all=verify_all)
        version = IndexDir(settings.index_dir, settings.collection).require_current()
        return cls.load_version(version, verify_all=verify_all, ef_search=settings.hnsw_ef_search)

    @classmethod
    def load_version(cls, version: Path, verify_all: bool = False, ef_search: int | None = None) -> "Index":
        """One version of a directory store; `ef_search` is the HNSW search breadth (the settings'
        `hnsw_ef_search`; None: the one recorded when the version was built)."""
        manifest = read_manifest(version)
        verify(version, manifest, full=verify_all)
        try:
            documents = {}
            with open(version / "documents.jsonl") as f:
                for line in f:
                    d = Document.from_dict(json.loads(line))
                    documents[d.id] = d
            with open(version / "chunks.jsonl") as f:
                chunks = [Chunk.from_dict(json.loads(line)) for line in f]
        except (json.JSONDecodeError, TypeError, KeyError) as e:
            raise IndexCorrupt(str(version), f"unreadable chunk or document store: {e}") from None
        faiss = _faiss()
        try:
            vectors = faiss.read_index(str(version / "vectors.faiss"))
        except RuntimeError as e:
            raise IndexCorrupt(str(version / "vectors.faiss"), str(e).splitlines()[0]) from None
        if vectors.ntotal != len(chunks):
            raise IndexCorrupt(str(version), f"{vectors.ntotal} vectors for {len(chunks)} chunks")
        if hasattr(vectors, "hnsw"):
            vectors.hnsw.efSearch = ef_search or manifest.get("settings", {}).get("hnsw_ef_search", 128)
        bm25 = BM25Index.load(version / "bm25")
        return cls(version, manifest, documents, chunks, vectors, bm25)

    # --- search ---
    def allowed_mask(self, flt) -> np.ndarray | None:
        """Boolean mask of chunks admitted by a SearchFilter (None: everything)."""
        if flt is None or flt.is_empty():
            return None
        ok_docs = {d for d, doc in self.documents.items() if flt.admits(doc)}
        return np.fromiter((c.doc_id in ok_docs for c in self.chunks), dtype=bool, count=len(self.chunks))

    def dense(self, qvec: np.ndarray, k: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (ids, cosine scores) by vector similarity, within `mask`."""
        q = np.ascontiguousarray(qvec.reshape(1, -1), dtype=np.float32)
        n = len(self.chunks)
        if n == 0:
            return np.array([], dtype=np.int64), np.array([], dtype=np.float32)
        if mask is None:
            scores, ids = self.vectors.search(q, min(k, n))
        else:
            allowed = np.flatnonzero(mask)
            if len(allowed) == 0:
                return np.array([], dtype=np.int64), np.array([], dtype=np.float32)
            if len(allowed) <= _EXACT_FILTER_LIMIT:
                vecs = self.vectors.reconstruct_batch(allowed.astype(np.int64))
                s = vecs @ q[0]
                top = np.argsort(-s)[:k]
                return allowed[top], s[top]
            faiss = _faiss()
            sel = faiss.IDSelectorBatch(allowed.astype(np.int64))
            params = (
                faiss.SearchParametersHNSW(sel=sel, efSearch=max(self.vectors.hnsw.efSearch, k))
                if hasattr(self.vectors, "hnsw")
                else faiss.SearchParameters(sel=sel)
            )
            scores, ids = self.vectors.search(q, min(k, len(allowed)), params=params)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def chunk_map(self, rows: Sequence[int]) -> dict[int, Chunk]:
        return {int(i): self.chunks[int(i)] for i in rows}

    def lexical(self, query: str, k: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (ids, BM25 scores) with a positive score, within `mask`."""
        s = self.bm25.scores(query, mask)[: len(self.chunks)]
        if len(s) == 0:
            return np.array([], dtype=np.int64), s
        k = min(k, len(s))
        top = np.argpartition(-s, k - 1)[:k]
        top = top[np.argsort(-s[top])]
        top = top[s[top] > 0]
        return top, s[top]


def write_version(
    index_dir: IndexDir,
    settings: Settings,
    model_name: str,
    documents: list[Document],
    chunks: list[Chunk],
    vectors: np.ndarray,
    index_texts: list[str],
    files: dict,
) -> Path:
    """Write a complete new version and switch CURRENT to it. Returns the version directory."""
    if len(chunks) != len(vectors) or len(chunks) != len(index_texts):
        raise ValueError("chunks, vectors and index texts must align")
    faiss = _faiss()
    dim = int(vectors.shape[1]) if len(vectors) else 384
    vindex = build_vector_index(vectors.reshape(-1, dim), settings)
    with index_dir.new_version() as tmp:
        with open(tmp / "documents.jsonl", "w") as f:
            for d in documents:
                f.write(json.dumps(d.to_dict(), ensure_ascii=False) + "\n")
        with open(tmp / "chunks.jsonl", "w") as f:
            for c in chunks:
                f.write(json.dumps(c.to_dict(), ensure_ascii=False) + "\n")
        faiss.write_index(vindex, str(tmp / "vectors.faiss"))
        # bm25s cannot index an empty corpus; an empty index keeps one blank row that no query matches
        BM25Index.build(index_texts or [""]).save(tmp / "bm25")
        manifest = {
            "format": FORMAT,
            "version": tmp.name.removeprefix(".tmp-"),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "model": model_name,
            "dimension": dim,
            "fingerprint": settings.index_fingerprint(),
            "settings": {**settings.shaping(), "hnsw_ef_search": settings.hnsw_ef_search},
            "index_kind": index_kind(vindex),
            "counts": {"documents": len(documents), "chunks": len(chunks)},
            "versions": library_versions(),
            "files": files,
            "checksums": checksums(tmp),
        }
        write_atomic(tmp / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
    index_dir.collect_garbage(settings.keep_versions)
    return index_dir.require_current()


class DirectoryStore:
    """The `Store` over HOME/index/: immutable version folders and an atomically switched pointer."""

    kind = "directory"

    def __init__(self, settings: Settings):
        self.settings = settings
        self.collection = settings.collection
        self.dir = IndexDir(settings.index_dir, settings.collection)
        self.location = str(settings.index_dir)
        self._verified: tuple | None = None  # (version, file stats) last found intact

    def current(self) -> str | None:
        path = self.dir.current()
        return path.name if path else None

    def require_current(self) -> str:
        return self.dir.require_current().name

    def manifest(self, version: str | None = None) -> dict:
        return read_manifest(self.dir.root / version if version else self.dir.require_current())

    def load(self, version: str | None = None, *, verify_all: bool = False, check_settings: bool = True) -> Index:
        return Index.load_version(self.dir.root / version if version else self.dir.require_current(),
                                  verify_all=verify_all, ef_search=self.settings.hnsw_ef_search)

    def check(self, version: str, full: bool = False) -> None:
        """Every file against the manifest's checksums; hashes are recomputed only when a file's
        size or modification time changed since the last check."""
        path = self.dir.root / version
        manifest = read_manifest(path)
        if full:
            verify(path, manifest, full=True)
            return
        stats = tuple(sorted((str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns)
                             for p in path.rglob("*") if p.is_file()))
        if self._verified != (version, stats):
            verify(path, manifest)
            self._verified = (version, stats)

    @contextlib.contextmanager
    def writer_lock(self, wait: float = 0.0):
        with self.dir.writer_lock(wait=wait):
            yield

    def open_staging(self, dim: int) -> None:
        """None: a directory is written by the one process that holds its lock."""
        return None

    def stage(self, staging, part, documents, chunks, vectors, texts) -> None:
        raise NotImplementedError("the directory store has no staging area: open_staging returns None")

    def drop_staging(self, staging: str) -> None:
        return None

    def commit(self, change: Change, base: Index | None, settings: Settings) -> str:
        """Write a whole new version: the kept chunks (vectors read back from `base`), then the new."""
        from rag.ingest.chunk import index_text

        docs = change.all_documents or {**{d: base.documents[d] for d in change.keep}, **{d.id: d for d in change.documents}}
        kept_rows = [row for row, c in enumerate(base.chunks) if c.doc_id in change.keep] if base is not None else []
        kept_chunks = [base.chunks[r] for r in kept_rows]
        if kept_rows:
            old_vecs = base.vectors.reconstruct_batch(np.array(kept_rows, dtype=np.int64))
            vectors = np.vstack([old_vecs, change.vectors]) if len(change.vectors) else old_vecs
        elif len(change.vectors):
            vectors = change.vectors
        else:
            dim = base.manifest["dimension"] if base is not None else 384
            vectors = np.zeros((0, dim), dtype=np.float32)
        texts = [index_text(c, docs[c.doc_id]) for c in kept_chunks] + list(change.texts)
        path = write_version(self.dir, settings, change.model, list(docs.values()), kept_chunks + list(change.chunks),
                             vectors, texts, change.files)
        return path.name
