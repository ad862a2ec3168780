"""The chat page: sidebar controls, the conversation, streamed answers and briefing export.

The conversation lives in st.session_state["messages"]; each question is sent with the earlier
questions and answers as history, so follow-ups ("and in 2021?") are understood. Questions are
answered in the order sent, by a worker thread (ui/turns.py): one sent while an answer is being
written waits, shown as waiting, and is answered next. While an answer is produced the page
shows the stage (Retrieving… / Choosing the evidence… / Writing… / Checking citations…), the
evidence as soon as it is known (the best-matching sentences, then those the judge chose), and
the model's draft as it streams; the verified answer replaces them when it is ready.
"""

from __future__ import annotations

import re
import time
from datetime import date

import streamlit as st

from rag.briefing import to_docx, to_markdown
from rag.errors import RagError
from rag.settings import Settings
from rag.types import SearchFilter
from ui import answer_view, state, turns
from ui.render import STAGES, draft_html, esc, evidence_html, md_escape

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


def page() -> None:
    s = state.current()
    documents = _sidebar(s)
    # A question is queued by the callback, before this run starts: a run stopped by the next
    # rerun (another question, any widget) can never lose it.
    st.chat_input("Ask a question about the documents…", key="question", on_submit=_submitted, args=(s,))
    answerer = _answerer()
    version, msgs, waiting = answerer.snapshot()
    if not documents:
        st.warning("No documents are indexed yet: add some on the Corpus page (upload, or Re-index docs_raw/).")
    if not msgs and not waiting:
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
    _briefing(msgs, s)
    if waiting:
        _follow(answerer, version, waiting, len(msgs))


# --- sidebar -----------------------------------------------------------------------------------


def _sidebar(s: Settings) -> int:
    """Draw the answering controls, filters and "New conversation"; return how many documents are indexed."""
    sb = st.sidebar
    sb.subheader("Answering")
    sb.radio("Answer mode", ["generate", "quote"], key="mode", format_func=answer_view.MODE_NAMES.get,
             on_change=_mode_changed, args=(s,),
             help="Generated: the model writes a short answer, every sentence checked against its source. "
             "Quotes only: the best matching sentences, quoted verbatim, without a language model.")
    sb.slider("Number of sources (k)", 1, K_MAX, key="k", help="Passages retrieved and given to the model.")
    documents = _documents(s)
    titles = {d.id: " ".join(d.title.split()) for d in documents}
    if "f_docs" in st.session_state:  # a removed document cannot stay selected
        st.session_state.f_docs = [d for d in st.session_state.f_docs if d in titles]
    sb.subheader("Filters")
    sb.multiselect("Documents", list(titles), key="f_docs", placeholder="All documents",
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
    sb.button("New conversation", on_click=_clear, icon=":material/restart_alt:", width="stretch")
    return len(documents)


def _documents(s: Settings) -> list:
    try:
        return sorted(state.assistant(s).documents().values(), key=lambda d: d.title.lower())
    except RagError:
        return []


def _mode_changed(s: Settings) -> None:
    if st.session_state.get("mode") == "generate":
        state.generator(s).warm_in_background()


def _clear() -> None:
    _answerer().clear()


def new_conversation() -> None:
    """Start over (another collection was chosen: its answers must not follow the other's)."""
    _answerer().clear()
    st.session_state.pop("f_docs", None)


# --- asking ------------------------------------------------------------------------------------


def _answerer() -> turns.Answerer:
    """This session's conversation and the questions waiting to join it."""
    if "answerer" not in st.session_state:
        st.session_state["answerer"] = turns.Answerer(st.session_state.setdefault("messages", []))
    return st.session_state["answerer"]


def _submitted(s: Settings) -> None:
    """Queue the question just sent, with the sidebar's controls as they are now."""
    question = (st.session_state.get("question") or "").strip()
    if not question:
        return
    mode = st.session_state.get("mode", s.mode)
    k = st.session_state.get("k", min(s.k, K_MAX))
    try:
        assistant, error = state.assistant(s), None
    except RagError as e:
        assistant, error = None, e
    _answerer().submit(turns.Turn(question=question, mode=mode, k=k, flt=_filter(), assistant=assistant,
                                  error=error))


def _follow(answerer: turns.Answerer, version: int, waiting: list[turns.Turn], n_msgs: int) -> None:
    """Draw the question being answered with its stage and streaming draft, and the questions
    waiting behind it; redraw the page when an answer joins the conversation."""
    current = waiting[0]
    with st.chat_message("user"):
        st.markdown(md_escape(current.question))
    with st.chat_message("assistant"):
        stage = st.empty()
        evidence = st.empty()
        draft = st.empty()
    for t in waiting[1:]:
        with st.chat_message("user"):
            st.markdown(md_escape(t.question))
        with st.chat_message("assistant"):
            st.markdown('<div class="rag-stage" data-stage="waiting">Waiting: answered when the answer above '
                        "is written.</div>", unsafe_allow_html=True)
    turn = n_msgs + 1
    seen, text, label_html = 0, "", ""
    drawn_text, drawn_at = "", 0.0
    while answerer.version == version:
        new = current.events[seen:]
        seen += len(new)
        for ev in new:
            if ev["event"] == "status":
                label = STAGES.get(ev["stage"], ev["stage"])
                label_html = (f'<div class="rag-stage" data-stage="{esc(ev["stage"])}">'
                              f'<span class="rag-spinner"></span>{esc(label)}</div>')
                stage.markdown(label_html, unsafe_allow_html=True)
                drawn_at = time.monotonic()
            elif ev["event"] == "token":
                text += ev["text"]
            elif ev["event"] == "evidence" and ev["quotes"]:
                evidence.markdown(evidence_html(ev["quotes"], ev["stage"], turn), unsafe_allow_html=True)
                drawn_at = time.monotonic()
        now = time.monotonic()
        if text != drawn_text:
            draft.markdown(draft_html(text, turn), unsafe_allow_html=True)
            drawn_text, drawn_at = text, now
        elif now - drawn_at > 0.5:
            # Streamlit notices a rerun request (a question sent meanwhile, a widget touched) only
            # when the script draws something: redraw the stage now and then while nothing changes.
            stage.markdown(label_html or '<div class="rag-stage"></div>', unsafe_allow_html=True)
            drawn_at = now
        time.sleep(0.05)
    st.rerun()


def _filter() -> SearchFilter:
    """The sidebar's filters, from the widgets' values."""
    d_from, d_to = st.session_state.get("f_from"), st.session_state.get("f_to")
    return SearchFilter(documents=tuple(st.session_state.get("f_docs") or ()),
                        date_from=d_from.isoformat() if d_from else None,
                        date_to=d_to.isoformat() if d_to else None)


# --- briefing export -----------------------------------------------------------------------------


def _briefing(msgs: list[dict], s: Settings) -> None:
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
    # the briefing names its collection, unless the UI has only ever had the default one
    named = s.collection if s.collection != "default" or len(state.access(s)[0]) > 1 else None
    name = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-").lower() or "briefing"
    sb.caption(f"{len(answers)} answer{'s' if len(answers) > 1 else ''}, citations renumbered across the briefing.")
    c1, c2 = sb.columns(2)
    c1.download_button(".md", to_markdown(answers, title=title, collection=named), file_name=f"{name}.md",
                       mime="text/markdown", on_click="ignore", key="dl_md", width="stretch",
                       icon=":material/download:")
    c2.download_button(".docx", to_docx(answers, title=title, collection=named), file_name=f"{name}.docx",
                       mime=DOCX_MIME,
                       on_click="ignore", key="dl_docx", width="stretch", icon=":material/download:")
