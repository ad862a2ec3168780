"""Streamlit entry point (`rag ui` runs `streamlit run ui/app.py`): start-up, pages, model info.

On the first run of a session the app makes sure there is an index: when it is missing, empty
or built with other embedding settings, it indexes docs_raw/ (and earlier uploads) itself,
with a progress bar. Then it loads the index and the embedding model once per process and,
in generated-answer mode, starts the LLM in the background so the first answer is not slowed
by it. Every error a person can act on is shown as a message with the next step.

With more than one collection the UI may read (its principal's, RAG_UI_TOKEN), the sidebar's
collection picker chooses the one the chat, the Corpus page and the briefing work on; changing it
starts a new conversation.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:  # `streamlit run ui/app.py` without the project installed
    sys.path.insert(0, _ROOT)

import streamlit as st  # noqa: E402

from rag.errors import RagError  # noqa: E402
from ui import chat, corpus, state  # noqa: E402
from ui.render import CSS, md_escape  # noqa: E402

STARTING = {
    "missing": "No index yet: indexing {roots} (once; this takes a minute).",
    "empty": "The index is empty: indexing {roots}.",
    "stale": "The embedding settings changed since the index was built: rebuilding it from {roots}.",
}


def startup(s) -> None:
    """Index docs_raw/ if needed and warm the models; once per browser session."""
    if st.session_state.get("_ready"):
        return
    try:
        status, _ = state.index_state(s)
    except RagError as e:  # a damaged index: say so, offer the rebuild
        st.error(str(e))
        status = "corrupt"
    if status != "ok":
        roots = state.corpus_roots(s)
        if not roots:
            st.warning("There is no index and no docs_raw/ folder to build one from. "
                       "Add documents on the Corpus page.")
            st.session_state._ready = True
            return
        where = ", ".join(f"{r}/" for r in roots)
        if status == "corrupt" and not st.button("Rebuild the index now", type="primary"):
            st.stop()
        with st.status(STARTING.get(status, "Rebuilding the index from {roots}.").format(roots=where),
                       expanded=True) as box:
            try:
                # "stale" needs no flag: ingest itself rebuilds, re-reading every file indexed before
                report = state.run_ingest(roots, s, rebuild=status == "corrupt", label="Indexing")
            except RagError as e:
                box.update(label="Indexing failed", state="error")
                st.error(str(e))
                st.stop()
            for source, why in report.failed:
                st.warning(f"{source}: {why}")
            box.update(label=f"Indexed {where}: {report.summary()}", state="complete", expanded=False)
    try:
        with st.spinner("Loading the index and the embedding model…"):
            state.warm_up(s)
    except RagError as e:
        st.error(str(e))
    st.session_state._ready = True
    if st.session_state.get("mode", s.mode) == "generate":
        state.generator(s).warm_in_background()


def picker(s) -> None:
    """The collection picker, at the top of the sidebar, when the UI may read several collections."""
    readable, caller, warning = state.access(s)
    if warning:
        st.sidebar.warning(warning)
    state.current(s)  # a valid choice in st.session_state["collection"]
    if len(readable) > 1:
        st.sidebar.selectbox("Collection", readable, key="collection", on_change=chat.new_conversation,
                             help="The documents answers come from, and that the Corpus page shows and changes. "
                             "Changing it starts a new conversation.")


def model_info(s) -> None:
    sb = st.sidebar
    info = state.generator(s).describe()
    sb.divider()
    used = "" if st.session_state.get("mode") == "generate" else " (not used for quotes only)"
    sb.caption(f"**Model:** {md_escape(info['model'])}{used}  \n**Endpoint:** `{info['endpoint']}`  \n"
               f"**State:** {md_escape(info['state'])}  \n**Data:** `{s.home}`")
    if info["error"]:
        sb.warning(md_escape(info["error"]))


def main() -> None:
    st.set_page_config(page_title="Document assistant", page_icon=":material/description:", layout="centered")
    st.markdown(CSS, unsafe_allow_html=True)
    s = state.settings()
    chat.keep_controls(s)
    nav = st.navigation([
        st.Page(chat.page, title="Chat", icon=":material/chat:", url_path="chat", default=True),
        st.Page(corpus.page, title="Corpus", icon=":material/library_books:", url_path="corpus"),
    ])
    picker(s)
    if state.current(s).collection == "default":  # docs_raw/ is the default collection's corpus
        startup(s.for_collection("default"))
    nav.run()
    model_info(s)


main()
