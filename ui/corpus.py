"""The corpus page: what is indexed, uploading files, re-indexing, removing documents.

Uploads are checked (type, size) before anything is written, saved under HOME/uploads/ with a
sanitised name, and ingested on their own, so a bad file never touches the rest of the index:
if it fails to load, the saved file is removed (or the previous version put back).

The page shows and changes the collection chosen in the sidebar; when the UI's principal may only
read it, the page only shows it.
"""

from __future__ import annotations

import logging
import os
import re
import unicodedata
from pathlib import Path

import streamlit as st

from rag.errors import RagError
from rag.ingest import remove_documents
from rag.ingest.load import SUPPORTED
from rag.settings import Settings
from ui import state

_MB = 1024 * 1024
log = logging.getLogger("rag.ui")


def sanitise(name: str) -> str:
    """A safe file name: base name only, ASCII letters, digits, '.', '-', '_'; lower-case extension."""
    base = unicodedata.normalize("NFKD", Path(name.replace("\\", "/")).name)
    base = base.encode("ascii", "ignore").decode()
    stem, ext = os.path.splitext(base)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-")[:100] or "upload"
    return stem + ext.lower()


def check_upload(name: str, size: int, s: Settings) -> str | None:
    """Why an upload is refused (a sentence with the fix), or None when it may be saved."""
    ext = os.path.splitext(name)[1].lower()
    if ext not in SUPPORTED:
        return (f"“{name}” is not a supported type ({ext or 'no extension'}). "
                f"Upload one of: {', '.join(sorted(SUPPORTED))}.")
    if size == 0:
        return f"“{name}” is empty. Upload a file with text in it."
    if size > s.max_file_mb * _MB:
        return (f"“{name}” is {size / _MB:.1f} MB; the limit is {s.max_file_mb:g} MB. "
                "Split the file, or raise RAG_MAX_FILE_MB and restart `rag ui`.")
    return None


def page() -> None:
    st.set_page_config(layout="wide")  # the table needs the width; the chat reads better centred
    s = state.current()
    st.markdown("#### Corpus" + ("" if s.collection == "default" else f" · {s.collection}"))
    for kind, text in st.session_state.pop("corpus_flash", []):
        getattr(st, kind)(text)
    _table(s)
    if not state.may_write(s):
        st.caption(f"Read only: the UI's principal (RAG_UI_TOKEN) may read the collection “{s.collection}” but not "
                   f"change it. Grant it: rag access grant NAME {s.collection} --write")
        return
    st.divider()
    _upload(s)
    st.divider()
    c1, c2 = st.columns(2)
    with c1:
        _reindex(s)
    with c2:
        _remove(s)


def _flash(kind: str, text: str) -> None:
    st.session_state.setdefault("corpus_flash", []).append((kind, text))


def _table(s: Settings) -> None:
    try:
        index = state.assistant(s).retriever.index
    except RagError as e:
        st.warning(f"{e} Or press Re-index below.")
        return
    per_doc: dict[str, int] = {}
    for c in index.chunks:
        per_doc[c.doc_id] = per_doc.get(c.doc_id, 0) + 1
    rows = [{"Title": " ".join(d.title.split()), "Symbol": d.symbol or "", "Date": d.date or "", "Body": d.body or "",
             "Source": d.source, "Chunks": per_doc.get(d.id, 0), "Paragraphs": len(d.paragraphs)}
            for d in sorted(index.documents.values(), key=lambda d: d.source)]
    m = index.manifest
    st.caption(f"{len(rows)} documents, {len(index.chunks)} chunks · index version {index.path.name}, "
               f"built {m.get('built_at', '?')} · embeddings {m.get('model', '?')}")
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch",
                     column_config={"Title": st.column_config.TextColumn(width="large"),
                                    "Chunks": st.column_config.NumberColumn(width="small"),
                                    "Paragraphs": st.column_config.NumberColumn(width="small")})
    else:
        st.info("The index is empty. Upload documents below or press Re-index.")


def _upload(s: Settings) -> None:
    st.markdown("##### Add documents")
    n = st.session_state.setdefault("upload_round", 0)
    files = st.file_uploader(f"Files ({', '.join(sorted(SUPPORTED))}; up to {s.max_file_mb:g} MB each)",
                             type=[e.lstrip(".") for e in sorted(SUPPORTED)], accept_multiple_files=True,
                             key=f"upload-{n}")
    if not files or not st.button("Add to the index", type="primary", key="upload-go"):
        return
    for f in files:
        kind, text = _add_one(f.name, f.getvalue(), s)
        _flash(kind, text)
    st.session_state.upload_round = n + 1  # a fresh, empty uploader
    st.rerun()


def _add_one(name: str, data: bytes, s: Settings) -> tuple[str, str]:
    """Check, save and ingest one upload; returns (st function name, message)."""
    why = check_upload(name, len(data), s)
    if why:
        return "error", why
    folder = state.uploads_dir(s)
    target = folder / sanitise(name)
    previous = target.read_bytes() if target.exists() else None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.part")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    except OSError as e:
        return "error", (f"Could not save “{name}” to {folder} ({e.strerror or e}). "
                         "Check that the data directory is writable.")
    try:
        report = state.run_ingest([target], s, label=f"Indexing {target.name}")
    except RagError as e:
        _restore(target, previous)
        return "error", f"“{name}” was not added: {e}"
    except Exception as e:  # never a traceback on the page; the terminal has it
        log.exception("ingesting upload %s failed", target)
        _restore(target, previous)
        return "error", f"“{name}” was not added ({type(e).__name__}: {e}). Nothing else in the index changed."
    if report.failed:
        _restore(target, previous)
        reason = "; ".join(r for _, r in report.failed)
        return "error", f"“{name}” was not added: {reason}. Nothing else in the index changed."
    if report.skipped:
        _restore(target, previous)
        return "warning", f"“{name}” was not added: {'; '.join(r for _, r in report.skipped)}."
    verb = "Updated" if report.updated else "Added" if report.added else "Unchanged:"
    return "success", f"{verb} “{target.name}” ({report.chunks_embedded} passages indexed)."


def _restore(target: Path, previous: bytes | None) -> None:
    if previous is None:
        target.unlink(missing_ok=True)
    else:
        target.write_bytes(previous)


def _reindex(s: Settings) -> None:
    st.markdown("##### Re-index")
    roots = state.corpus_roots(s)
    st.caption("Re-reads " + (", ".join(f"`{r}`" for r in roots) or "nothing (no docs_raw/ folder)")
               + ": new and changed files are indexed, deleted ones removed, unchanged ones skipped.")
    rebuild = st.checkbox("Rebuild from scratch", key="rebuild",
                          help="Discard the index and re-read every file (after changing embedding settings).")
    if not st.button("Re-index", key="reindex", disabled=not roots):
        return
    try:
        report = state.run_ingest(roots, s, rebuild=rebuild, label="Re-indexing")
    except RagError as e:
        _flash("error", str(e))
        st.rerun()
    _flash("success" if not report.failed else "warning", "Re-index: " + report.summary())
    for source, why in report.failed:
        _flash("warning", f"{source}: {why}")
    st.rerun()


def _remove(s: Settings) -> None:
    st.markdown("##### Remove a document")
    try:
        docs = sorted(state.assistant(s).documents().values(), key=lambda d: d.source)
    except RagError:
        docs = []
    if not docs:
        st.caption("Nothing to remove.")
        return
    labels = {d.source: f"{' '.join(d.title.split())[:60]} ({d.source})" for d in docs}
    source = st.selectbox("Document", list(labels), format_func=labels.get, key="remove_which")
    uploads = state.uploads_dir(s).resolve()
    is_upload = Path(source).resolve().is_relative_to(uploads)
    st.caption("Its uploaded file is deleted too." if is_upload else
               "Its file stays on disk: the next Re-index adds it back unless you delete the file.")
    if not st.button("Remove from the index", key="remove-go"):
        return
    try:
        removed = remove_documents([source], s)
    except RagError as e:
        _flash("error", str(e))
    else:
        if is_upload:
            Path(source).unlink(missing_ok=True)
        _flash("success", f"Removed {', '.join(removed)}.")
    finally:
        state.index_changed()
    st.rerun()
