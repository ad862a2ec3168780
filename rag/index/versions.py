"""The index on disk: a directory of immutable versions and a pointer to the live one.

    HOME/index/
        CURRENT              name of the live version (replaced atomically)
        .lock                held by the one writer (ingest)
        v-<time>-<rand>/     one complete index version
            manifest.json    model, dimension, fingerprint, versions, build time, files, checksums
            documents.jsonl  one Document per line (text, paragraphs, metadata)
            chunks.jsonl     one Chunk per line, in vector order
            vectors.faiss    FAISS index (flat or HNSW), row i = chunk line i
            bm25/            bm25s sparse matrices (numpy, no pickle) and vocabulary (JSON)

A version is written in a temporary directory, fsynced, renamed into place, and only then is
CURRENT switched, so a crash at any point leaves the previous version loadable and readers
always see a whole index. No pickle is written or read anywhere.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import time
from pathlib import Path

from rag.errors import IndexBusy, IndexCorrupt, IndexMissing

FORMAT = 1
_CHECKSUM_LIMIT = 512 * 1024 * 1024  # larger files are size-checked only, unless verify=True


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write a file so that readers see the old content or the new, never a part."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(tmp, mode) as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class IndexDir:
    """Versions, the CURRENT pointer and the writer lock of one index directory."""

    def __init__(self, root: Path, collection: str | None = None):
        self.root = Path(root)
        self.collection = collection  # named in the "no index" message's next step

    @property
    def pointer(self) -> Path:
        return self.root / "CURRENT"

    def current(self) -> Path | None:
        """The live version directory, or None when no index has been built."""
        try:
            name = self.pointer.read_text().strip()
        except FileNotFoundError:
            return None
        path = self.root / name
        if not name or not path.is_dir():
            raise IndexCorrupt(str(self.pointer), f"it names {name!r}, which is missing")
        return path

    def require_current(self) -> Path:
        path = self.current()
        if path is None:
            raise IndexMissing(str(self.root.parent), self.collection)
        return path

    @contextlib.contextmanager
    def writer_lock(self, wait: float = 0.0):
        """Exclusive lock for the one process allowed to write a new version."""
        self.root.mkdir(parents=True, exist_ok=True)
        f = open(self.root / ".lock", "w")
        deadline = time.monotonic() + wait
        try:
            while True:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise IndexBusy(
                            f"Another ingest is writing {self.root}. Wait for it to finish, then run the command again."
                        ) from None
                    time.sleep(0.2)
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
            f.close()

    @contextlib.contextmanager
    def new_version(self):
        """Yield a temporary directory to fill; on success it becomes the live version."""
        self.root.mkdir(parents=True, exist_ok=True)
        name = f"v-{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
        tmp = self.root / f".tmp-{name}"
        tmp.mkdir()
        try:
            yield tmp
            for p in tmp.rglob("*"):
                if p.is_file():
                    with open(p, "rb") as f:
                        os.fsync(f.fileno())
            _fsync_dir(tmp)
            final = self.root / name
            os.rename(tmp, final)
            _fsync_dir(self.root)
            write_atomic(self.pointer, name + "\n")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def collect_garbage(self, keep: int) -> None:
        """Remove old versions beyond `keep` (the live one always stays) and stale temp dirs."""
        live = self.current()
        for p in self.root.glob(".tmp-*"):
            shutil.rmtree(p, ignore_errors=True)
        versions = sorted(p for p in self.root.glob("v-*") if p.is_dir())
        old = [p for p in versions if p != live]
        for p in old[: max(0, len(old) - (keep - 1))]:
            shutil.rmtree(p, ignore_errors=True)


def checksums(version: Path) -> dict[str, dict]:
    """sha256 and size of every file in a version directory except the manifest."""
    out = {}
    for p in sorted(version.rglob("*")):
        if p.is_file() and p.name != "manifest.json":
            out[str(p.relative_to(version))] = {"sha256": sha256_file(p), "size": p.stat().st_size}
    return out


def read_manifest(version: Path) -> dict:
    path = version / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise IndexCorrupt(str(path), "the manifest is missing") from None
    except json.JSONDecodeError as e:
        raise IndexCorrupt(str(path), f"invalid JSON: {e}") from None
    if manifest.get("format") != FORMAT:
        raise IndexCorrupt(str(path), f"unknown index format {manifest.get('format')!r}")
    return manifest


def verify(version: Path, manifest: dict, full: bool = False) -> None:
    """Check every file against the manifest's checksums; raise IndexCorrupt naming the first bad one."""
    for rel, want in manifest.get("checksums", {}).items():
        p = version / rel
        if not p.is_file():
            raise IndexCorrupt(str(p), "file missing")
        if p.stat().st_size != want["size"]:
            raise IndexCorrupt(str(p), f"size {p.stat().st_size} != {want['size']} bytes")
        if (full or want["size"] <= _CHECKSUM_LIMIT) and sha256_file(p) != want["sha256"]:
            raise IndexCorrupt(str(p), "checksum mismatch")
