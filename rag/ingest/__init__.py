"""Ingest: files in, an index version out.

    load -> clean -> chunk (sentences) -> embed -> write a version of the store

`ingest(paths, settings)` is the incremental entry point (rag/ingest/incremental.py): new files
added, changed files replaced, deleted files removed, a failed file kept at its previous version.
"""

from rag.ingest.incremental import IngestReport, discover, index_documents, ingest, remove_documents

__all__ = ["IngestReport", "discover", "index_documents", "ingest", "remove_documents"]
