"""What the UI shares across pages and sessions: settings, cached models, the Assistant, ingest.

Heavy objects live in `st.cache_resource`: the embedding model (one per model name), the LLM
client (one per settings, built on first use, so the embedded server starts once), and the
Assistant (one per settings and index version). Anything that changes the index calls
`index_changed()`, which drops the cached Assistant so the next question loads the new version.

Collections: the UI acts as the principal of RAG_UI_TOKEN (rag/access/policy.py) and offers the
collections it may read; `current()` is the settings of the one chosen in this browser session
(its index, uploads and feedback), `may_write()` whether the Corpus page may change it.
"""

from __future__ import annotations

import threading
from pathlib import Path

import streamlit as st
from pydantic import ValidationError

from rag.access.policy import Policy, ui_caller
from rag.errors import LLMUnavailable, RagError
from rag.ingest import IngestReport, ingest
from rag.pipeline import Assistant
from rag.settings import Settings, get_settings
from rag.index import open_store

ROOT = Path(__file__).resolve().parent.parent


def settings() -> Settings:
    """The settings from the environment (RAG_*); a bad value stops the page with the fix."""
    try:
        return _settings()
    except ValidationError as e:
        err = e.errors()[0]
        name = "RAG_" + str(err["loc"][0]).upper() if err.get("loc") else "a RAG_ variable"
        st.error(f"Invalid setting {name}: {err['msg']}. Fix it in the environment and restart `rag ui`.")
        st.stop()


@st.cache_resource(show_spinner=False)
def _settings() -> Settings:
    return get_settings()


def key(s: Settings) -> str:
    return s.model_dump_json()


# --- collections ---------------------------------------------------------------------------------


def access(s: Settings) -> tuple[list[str], object, str | None]:
    """The collections the UI may read, who it acts as, and a warning about its token (or None)."""
    from rag.index.collections import open_catalog

    policy = Policy(s)
    caller, warning = ui_caller(s, policy)
    return policy.readable(caller, open_catalog(s).names()), caller, warning


def current(base: Settings | None = None) -> Settings:
    """The settings of the collection chosen in this browser session (the picker), or of the first
    one the UI may read; stops the page when it may read none."""
    s = base or settings()
    readable, _, warning = access(s)
    if not readable:
        st.error(((warning + " ") if warning else "") + "The web UI may read no collection. Set RAG_UI_TOKEN to "
                 "the token of a principal with a grant (rag access grant NAME COLLECTION; rag access token NAME), "
                 "then restart `rag ui`.")
        st.stop()
    chosen = st.session_state.get("collection")
    if chosen not in readable:
        chosen = s.collection if s.collection in readable else readable[0]
        st.session_state["collection"] = chosen
    return s.for_collection(chosen)


def may_write(s: Settings) -> bool:
    """Whether the UI's principal may change collection `s.collection` (upload, re-index, remove)."""
    policy = Policy(s)
    caller, _ = ui_caller(s, policy)
    return policy.may(caller, s.collection, "write")


# --- the corpus on disk ------------------------------------------------------------------------


def corpus_dir() -> Path | None:
    """docs_raw/ of the working directory (source paths stay relative, as with `rag ingest`),
    else the one next to this package."""
    for p in (Path("docs_raw"), ROOT / "docs_raw"):
        if p.is_dir():
            return p
    return None


def uploads_dir(s: Settings) -> Path:
    """The collection's uploads folder (HOME/uploads/ for the default collection)."""
    return s.uploads_dir


def corpus_roots(s: Settings) -> list[Path]:
    """The folders the UI indexes: for the default collection docs_raw/ and the uploads folder, for
    another the folders its documents were indexed from and its uploads folder (when they exist)."""
    if s.collection == "default":
        return [p for p in (corpus_dir(), uploads_dir(s)) if p is not None and p.is_dir()]
    roots: list[Path] = []
    try:
        store = open_store(s)
        version = store.current()
        files = store.manifest(version).get("files", {}) if version else {}
    except RagError:
        files = {}
    for info in files.values():
        folder = Path(info["path"]).parent
        if folder.is_dir() and folder not in roots and folder.resolve() != uploads_dir(s).resolve():
            roots.append(folder)
    return roots + ([uploads_dir(s)] if uploads_dir(s).is_dir() else [])


def index_state(s: Settings) -> tuple[str, dict | None]:
    """("missing" | "empty" | "stale" | "ok", manifest). Cheap: reads the manifest only."""
    store = open_store(s)
    version = store.current()
    if version is None:
        return "missing", None
    manifest = store.manifest(version)
    if not manifest.get("counts", {}).get("documents"):
        return "empty", manifest
    if manifest.get("fingerprint") != s.index_fingerprint():
        return "stale", manifest
    return "ok", manifest


def index_version(s: Settings) -> str:
    return open_store(s).current() or "none"


# --- cached heavy parts ------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def _embedder(name: str):
    from embeddings import get_embedder

    return get_embedder(name)


def embedder(s: Settings):
    return _embedder(s.embedding_model)


@st.cache_resource(show_spinner=False)
def _answer_embedder(name: str):
    from embeddings.memo import memoized

    return memoized(_embedder(name))


def answer_embedder(s: Settings):
    """The embedder answers use: keeps the vectors of sentences already embedded, across questions
    and index versions (embeddings/memo.py)."""
    return _answer_embedder(s.embedding_model)


class SharedGenerator:
    """The Generator, built on first use and kept across Assistant rebuilds.

    Failing to build it (embedded server cannot start, model not installed) is reported as
    LLMUnavailable, so the pipeline answers with quotes and says why. A generator that fails
    mid-answer is dropped, so the next question starts (or finds) the server again.
    """

    def __init__(self, s: Settings):
        self.settings = s
        self._gen = None
        self._lock = threading.Lock()
        self.error: str | None = None

    def get(self):
        with self._lock:
            if self._gen is None:
                from rag.llm.generate import make_generator

                try:
                    self._gen = make_generator(self.settings)
                    self.error = None
                except RagError as e:
                    self.error = str(e)
                    raise e if isinstance(e, LLMUnavailable) else LLMUnavailable(str(e)) from e
            return self._gen

    @property
    def model(self) -> str:
        return self.get().model

    @property
    def endpoint(self) -> str:
        return self.get().endpoint

    def stream(self, messages, **kw):
        gen = self.get()

        def deltas():
            try:
                yield from gen.stream(messages, **kw)
            except LLMUnavailable as e:
                with self._lock:
                    if self._gen is gen:
                        self._gen, self.error = None, str(e)
                raise

        return deltas()

    def complete(self, messages, **kw) -> str:
        return "".join(self.stream(messages, **kw))

    def warm_in_background(self) -> None:
        """Start the LLM (e.g. the embedded server) without making anyone wait for it."""
        if self._gen is None and not self._lock.locked():
            threading.Thread(target=self._warm, name="rag-llm-warmup", daemon=True).start()

    def _warm(self) -> None:
        try:
            self.get()
        except RagError:
            pass  # recorded in self.error; the sidebar shows it

    def describe(self) -> dict:
        """Model, endpoint and state for the sidebar, without network calls."""
        s = self.settings
        if s.llm_base_url:
            model = s.llm_model or getattr(self._gen, "_model", None) or "the endpoint's first model"
            state = "connected" if self._gen is not None else "connects on first question"
            return {"model": model, "endpoint": s.llm_base_url, "state": state, "error": self.error}
        from rag.llm.model import MODEL_NAME
        from rag.llm.server import EmbeddedServer

        info = EmbeddedServer(s).status()
        if info["healthy"]:
            state = "running"
        elif info["running"] or self._lock.locked():
            state = "starting…"
        else:
            state = "starts on first generated answer"
        return {"model": f"{MODEL_NAME} (embedded)", "endpoint": info["base_url"], "state": state,
                "error": self.error}


@st.cache_resource(show_spinner=False)
def _generator(settings_key: str, _s: Settings) -> SharedGenerator:
    return SharedGenerator(_s)


def generator(s: Settings) -> SharedGenerator:
    return _generator(key(s), s)


@st.cache_resource(show_spinner=False, max_entries=2)
def _assistant(settings_key: str, version: str, _s: Settings) -> Assistant:
    return Assistant(_s, embedder=answer_embedder(_s), generator=generator(_s))


def assistant(s: Settings) -> Assistant:
    """The Assistant for these settings and the current index version (reloaded when it changes)."""
    return _assistant(key(s), index_version(s), s)


def index_changed() -> None:
    """Forget the cached Assistant so the next use loads the index version just written."""
    _assistant.clear()


@st.cache_resource(show_spinner=False)
def _warmed(settings_key: str, version: str, _s: Settings) -> bool:
    a = assistant(_s)
    a.retriever.index  # noqa: B018 - loads the index
    a.embedder.embed_query("warm up")
    return True


def warm_up(s: Settings) -> None:
    """Load the index and the embedding model before the first question (once per process)."""
    _warmed(key(s), index_version(s), s)


# --- ingest with a progress bar ------------------------------------------------------------------


def run_ingest(paths: list[Path], s: Settings, *, rebuild: bool = False, label: str = "Indexing") -> IngestReport:
    """Ingest with a Streamlit progress bar; the cached Assistant is dropped afterwards."""
    bar = st.progress(0.0, text=f"{label}: reading and splitting files…")
    notes: list[str] = []

    def on_progress(p: dict) -> None:
        """Files done (parts on every core) or chunks embedded (one process), with the time left."""
        left = f", about {p['seconds_left']:.0f} s left" if p.get("seconds_left") is not None else ""
        rate = f" ({p['chunks_per_second']:.1f} chunks/s{left})" if p["chunks_done"] else ""
        if p["files_total"] is not None and p["stage"] != "Reading":
            bar.progress(0.05 + 0.9 * p["files_done"] / max(p["files_total"], 1),
                         text=f"{label}: {p['files_done']}/{p['files_total']} files, {p['chunks_done']} passages{rate}")
        elif p["chunks_total"]:
            bar.progress(0.05 + 0.9 * p["chunks_done"] / max(p["chunks_total"], 1),
                         text=f"{label}: embedding passages {p['chunks_done']}/{p['chunks_total']}{rate}")

    try:
        report = ingest(list(paths), s, embedder=embedder(s), rebuild=rebuild, progress=False, log=notes.append,
                        on_progress=on_progress)
    finally:
        index_changed()
    bar.progress(1.0, text=f"{label}: done. {report.summary()}")
    return report
