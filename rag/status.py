"""A summary of the live index for `rag status`, the UI and the HTTP API."""

from __future__ import annotations

from rag.index import open_store
from rag.settings import Settings


def index_status(settings: Settings, verify: bool = False) -> dict:
    store = open_store(settings)
    version = store.require_current()
    manifest = store.manifest(version)
    store.check(version, full=verify)
    index = store.load(version, check_settings=False)
    per_doc: dict[str, int] = {}
    for c in index.chunks:
        per_doc[c.doc_id] = per_doc.get(c.doc_id, 0) + 1
    files = []
    for d in sorted(index.documents.values(), key=lambda d: d.source):
        files.append({**d.meta(), "chunks": per_doc.get(d.id, 0), "paragraphs": len(d.paragraphs)})
    return {
        "path": str(settings.index_dir / version) if store.kind == "directory" else store.location,
        "store": store.kind,
        "version": manifest["version"],
        "built_at": manifest["built_at"],
        "documents": manifest["counts"]["documents"],
        "chunks": manifest["counts"]["chunks"],
        "index_kind": manifest["index_kind"],
        "model": manifest["model"],
        "dimension": manifest["dimension"],
        "fingerprint": manifest["fingerprint"],
        "settings_fingerprint": settings.index_fingerprint(),
        "fingerprint_ok": manifest["fingerprint"] == settings.index_fingerprint(),
        "settings": manifest["settings"],
        "versions": manifest["versions"],
        "files": files,
    }
