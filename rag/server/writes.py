"""Changing the index from the server: uploads ingested, documents removed. One writer at a time.

Each upload is moved from its temporary file into HOME/uploads/ and ingested on its own paths, so
the rest of the index is untouched; a file that fails to load is taken out again (or the earlier
upload of the same name put back), exactly as the web UI does.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from rag.errors import ConfigError
from rag.ingest import ingest, remove_documents
from rag.server.state import ServerState
from rag.server.uploads import Received, UploadRejected

log = logging.getLogger("rag.server")


def add_uploads(state: ServerState, files: list[Received]) -> tuple[int, dict]:
    """Ingest received files. Returns (HTTP status, report): 200 if any file is indexed, else 422."""
    folder = state.settings.uploads_dir.resolve()
    names = [f.name for f in files]
    if len(set(names)) != len(names):
        for f in files:
            f.tmp.unlink(missing_ok=True)
        raise UploadRejected(400, f"Two files in one request have the same name after sanitising ({names}); "
                                  "rename one.")
    with state.write_lock:
        placed: list[tuple[Received, Path, Path | None]] = []
        try:
            for f in files:
                target = folder / f.name
                if target.parent != folder:
                    raise UploadRejected(400, f"Refusing to write {f.filename!r} outside the uploads folder.")
                backup = None
                if target.exists():
                    backup = folder / f".{f.name}.{secrets.token_hex(4)}.bak"
                    os.replace(target, backup)
                os.replace(f.tmp, target)
                placed.append((f, target, backup))
            report = ingest([t for _, t, _ in placed], state.settings, embedder=state.embedder,
                            progress=False, log=log.info)
        except BaseException:
            for _, target, backup in placed:
                _restore(target, backup)
            for f in files:
                f.tmp.unlink(missing_ok=True)
            raise
        bad = {s: why for s, why in report.failed + report.skipped}
        results = []
        for f, target, backup in placed:
            source = os.path.normpath(str(target))
            if source in bad:
                _restore(target, backup)
                results.append({"filename": f.filename, "name": f.name, "indexed": False, "error": bad[source]})
            else:
                if backup is not None:
                    backup.unlink(missing_ok=True)
                verb = ("added" if source in report.added else "updated" if source in report.updated
                        else "unchanged")
                results.append({"filename": f.filename, "name": f.name, "indexed": True, "result": verb,
                                "source": source})
        snap = state.snapshot()  # load the new version now, so the uploader's next request sees it
        by_source = {d.source: d.id for d in snap.index.documents.values()}
        for r in results:
            if r["indexed"]:
                r["doc_id"] = by_source.get(r["source"])
    ok = any(r["indexed"] for r in results)
    body = {"files": results, "version": snap.version, "chunks_embedded": report.chunks_embedded,
            "seconds": round(report.seconds, 3)}
    if not ok:
        body["error"] = {"message": "; ".join(f"{r['filename']}: {r['error']}" for r in results),
                         "type": "unprocessable_file"}
    return (200 if ok else 422), body


def remove(state: ServerState, doc_id: str) -> dict:
    """Remove one document by id; an uploaded file is deleted too. KeyError if it is not indexed."""
    uploads = state.settings.uploads_dir.resolve()
    with state.write_lock:
        doc = state.snapshot().index.documents.get(doc_id)
        if doc is None:
            raise KeyError(doc_id)
        try:
            removed = remove_documents([doc.id], state.settings)
        except ConfigError:  # removed by another process meanwhile
            raise KeyError(doc_id) from None
        path = Path(doc.source)
        deleted = False
        if path.resolve().parent == uploads:
            path.unlink(missing_ok=True)
            deleted = True
        snap = state.snapshot()
    return {"removed": removed, "doc_id": doc.id, "file_deleted": deleted, "version": snap.version}


def _restore(target: Path, backup: Path | None) -> None:
    if backup is None:
        target.unlink(missing_ok=True)
    else:
        os.replace(backup, target)
