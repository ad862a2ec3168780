"""The chat page: sidebar controls, the conversation, streamed answers and briefing export.

The conversation lives in st.session_state["messages"]; each question is sent with the earlier
questions and answers as history, so follow-ups ("and in 2021?") are understood. While an
answer is produced the page shows the stage (Retrieving… / Writing… / Checking citations…)
and the model's draft as it streams; the verified answer replaces the draft when it is ready.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass
from datetime import date

import streamlit as st

from rag.briefing import to_docx, to_markdown
from rag.errors import RagError
from rag.settings import Settings
from rag.types import SearchFilter
from ui import answer_view, state
from ui.render import STAGES, draft_html, esc, md_escape

log = logging.getLogger("rag.ui")

CONTROL_KEYS = ("mode", "k", "f_docs", "f_from", "f_to", "brief_scope", "brief_title")
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
K_MAX = 20


def keep_controls(s: Settings) -> None:
    """Give the sidebar controls their defaults, and keep their values while another page is shown
    (Streamlit forgets the state of widgets that a run does not draw)."""
    defaults = {"mode": s.mode, "k": min(s.k, K_MAX), "brief_scope": "Whole conversation", "brief_title": "Briefing"}
    for name in CONTROL_KEYS:
        if name in st.session_state:
            st.session_state[name] = st.session_state[name]
        elif name in defaults:
            st.session_state[name] = defaults[name]


@dataclass(frozen=True)
class Controls:
    mode: str
    k: int
    flt: SearchFilter
    documents: int  # how many documents are indexed


def page() -> None:
    s = state.settings()
    msgs: list[dict] = st.session_state.setdefault("messages", [])
    controls = _sidebar(s)
    # Read first (it is drawn at the bottom anyway): the intro must not be drawn on the run that
    # asks the first question, or the answer's rerun would leave its bubble a stale copy below.
    question = st.chat_input("Ask a question about the documents…", key="question")
    question = question.strip() if question else ""
    if not controls.documents:
        st.warning("No documents are indexed yet: add some on the Corpus page (upload, or Re-index docs_raw/).")
    if not msgs and not question:
        st.markdown("#### Ask about the indexed documents")
        st.caption("Every sentence of an answer cites the passage that states it; open a source to see the "
                   "cited words highlighted in their paragraph. Follow-up questions are understood.")
    answered = [i for i, m in enumerate(msgs) if "answer" in m]
    selectable = st.session_state.get("brief_scope") == "Selected answers"
    for i, m in enumerate(msgs):
        with st.chat_message(m["role"]):
            if m["role"] == "user":
                st.markdown(md_escape(m["content"]))
            else:
                answer_view.show(m, s, i, latest=bool(answered) and i == answered[-1],
                                 selectable=selectable and "answer" in m)
    _briefing(msgs)
    if question:
        _ask(question, s, controls, msgs)


# --- sidebar -----------------------------------------------------------------------------------


def _sidebar(s: Settings) -> Controls:
    sb = st.sidebar
    sb.subheader("Answering")
    mode = sb.radio("Answer mode", ["generate", "quote"], key="mode", format_func=answer_view.MODE_NAMES.get,
                    on_change=_mode_changed, args=(s,),
                    help="Generated: the model writes a short answer, every sentence checked against its source. "
                    "Quotes only: the best matching sentences, quoted verbatim, without a language model.")
    k = sb.slider("Number of sources (k)", 1, K_MAX, key="k",
                  help="Passages retrieved and given to the model.")
    documents = _documents(s)
    titles = {d.id: " ".join(d.title.split()) for d in documents}
    if "f_docs" in st.session_state:  # a removed document cannot stay selected
        st.session_state.f_docs = [d for d in st.session_state.f_docs if d in titles]
    sb.subheader("Filters")
    docs = sb.multiselect("Documents", list(titles), key="f_docs", placeholder="All documents",
                          format_func=lambda i: titles[i][:70] + ("…" if len(titles[i]) > 70 else ""))
    dates = sorted(d.date for d in documents if d.date)
    lo = date.fromisoformat(dates[0]) if dates else date(1945, 1, 1)
    hi = date.fromisoformat(dates[-1]) if dates else date.today()
    c1, c2 = sb.columns(2)
    d_from = c1.date_input("From", value=None, key="f_from", min_value=date(1945, 1, 1), max_value=date(2100, 1, 1),
                           help=f"Indexed documents are dated {lo.isoformat()} to {hi.isoformat()}.")
    d_to = c2.date_input("To", value=None, key="f_to", min_value=date(1945, 1, 1), max_value=date(2100, 1, 1))
    if d_from or d_to:
        sb.caption("Documents without a date are left out when a date is set.")
    if d_from and d_to and d_from > d_to:
        sb.warning("“From” is after “To”: no document can match.")
    flt = SearchFilter(documents=tuple(docs), date_from=d_from.isoformat() if d_from else None,
                       date_to=d_to.isoformat() if d_to else None)
    sb.button("New conversation", on_click=_clear, icon=":material/restart_alt:", width="stretch")
    return Controls(mode=mode, k=k, flt=flt, documents=len(documents))


def _documents(s: Settings) -> list:
    try:
        return sorted(state.assistant(s).documents().values(), key=lambda d: d.title.lower())
    except RagError:
        return []


def _mode_changed(s: Settings) -> None:
    if st.session_state.get("mode") == "generate":
        state.generator(s).warm_in_background()


def _clear() -> None:
    st.session_state["messages"] = []


# --- asking ------------------------------------------------------------------------------------


def _history(msgs: list[dict]) -> list[dict]:
    """Earlier answered turns as chat messages for the follow-up rewriter."""
    out = []
    for m in msgs:
        if "answer" in m:
            a = m["answer"]
            out += [{"role": "user", "content": a.question}, {"role": "assistant", "content": a.answer}]
    return out


def _ask(question: str, s: Settings, c: Controls, msgs: list[dict]) -> None:
    history = _history(msgs)
    msgs.append({"role": "user", "content": question})
    with st.chat_message("user"):
        st.markdown(md_escape(question))
    turn = len(msgs)
    msg_id = uuid.uuid4().hex[:12]
    with st.chat_message("assistant"):
        stage = st.empty()
        draft = st.empty()
        text, shown = "", 0.0
        answer = None
        try:
            assistant = state.assistant(s)
            for ev in assistant.events(question, history=history, mode=c.mode, k=c.k, flt=c.flt):
                kind = ev["event"]
                if kind == "status":
                    label = STAGES.get(ev["stage"], ev["stage"])
                    stage.markdown(f'<div class="rag-stage" data-stage="{esc(ev["stage"])}">'
                                   f'<span class="rag-spinner"></span>{esc(label)}</div>', unsafe_allow_html=True)
                elif kind == "token":
                    text += ev["text"]
                    now = time.monotonic()
                    if now - shown > 0.05 or not shown:  # at most ~20 redraws a second
                        draft.markdown(draft_html(text, turn), unsafe_allow_html=True)
                        shown = now
                elif kind == "answer":
                    answer = ev["answer"]
            msgs.append(answer_view.make_message(answer, assistant.documents(), msg_id))
        except RagError as e:
            msgs.append({"role": "assistant", "id": msg_id, "error": str(e), "hint": _hint(e)})
        except Exception as e:  # never a traceback on the page; the terminal has it
            log.exception("answering %r failed", question)
            msgs.append({"role": "assistant", "id": msg_id,
                         "error": f"Something went wrong while answering ({type(e).__name__}: {_one_line(e)}).",
                         "hint": "Try again, or switch to “Quotes only”. The details are in the terminal "
                         "running `rag ui`."})
        stage.empty()
        draft.empty()
    st.rerun()


def _hint(e: RagError) -> str | None:
    from rag.errors import IndexCorrupt, IndexMissing

    if isinstance(e, (IndexMissing, IndexCorrupt)):
        return "In the UI: open the Corpus page and press Re-index."
    return None


def _one_line(e: Exception, limit: int = 200) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- briefing export -----------------------------------------------------------------------------


def _briefing(msgs: list[dict]) -> None:
    sb = st.sidebar
    sb.subheader("Briefing")
    answered = [m for m in msgs if "answer" in m]
    if not answered:
        sb.caption("Ask questions, then download them with their sources as a Markdown or Word briefing.")
        return
    scope = sb.radio("Include", ["Whole conversation", "Selected answers"], key="brief_scope", horizontal=True)
    chosen = answered if scope == "Whole conversation" else [m for m in answered if m.get("selected")]
    title = sb.text_input("Title", key="brief_title").strip() or "Briefing"
    if not chosen:
        sb.caption("Tick “Include in briefing” under the answers to export.")
        return
    answers = [m["answer"] for m in chosen]
    name = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-").lower() or "briefing"
    sb.caption(f"{len(answers)} answer{'s' if len(answers) > 1 else ''}, citations renumbered across the briefing.")
    c1, c2 = sb.columns(2)
    c1.download_button(".md", to_markdown(answers, title=title), file_name=f"{name}.md", mime="text/markdown",
                       on_click="ignore", key="dl_md", width="stretch", icon=":material/download:")
    c2.download_button(".docx", to_docx(answers, title=title), file_name=f"{name}.docx", mime=DOCX_MIME,
                       on_click="ignore", key="dl_docx", width="stretch", icon=":material/download:")
