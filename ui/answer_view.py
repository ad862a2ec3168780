"""One answer in the chat: the cited text, its sources with highlighted spans, checks, feedback.

A message is a dict kept in st.session_state: {"id", "answer": Answer, "passages": {n: ...}}
or {"id", "error": str}. Passages are cut from the indexed document when the answer arrives,
so an answer stays checkable after its document is re-indexed or removed.
"""

from __future__ import annotations

import streamlit as st

from rag import feedback
from rag.llm.prompt import REFUSAL
from rag.settings import Settings
from rag.types import Answer
from ui.render import answer_html, citation_label, citation_meta, esc, md_escape, passage, passage_html, source_line

MODE_NAMES = {"generate": "Generated answer", "quote": "Quotes only"}


def make_message(answer: Answer, documents: dict, msg_id: str) -> dict:
    """The chat message for an answer, with the passage around every citation."""
    passages = {c.n: passage(documents.get(c.doc_id), c) for c in answer.citations}
    return {"role": "assistant", "id": msg_id, "answer": answer, "passages": passages, "feedback": None}


def show(m: dict, s: Settings, turn: int, *, latest: bool, selectable: bool) -> None:
    """Render an assistant message (answer or error) in the current chat bubble."""
    if "error" in m:
        st.error(md_escape(m["error"]), icon=":material/error:")
        if m.get("hint"):
            st.caption(m["hint"])
        return
    a: Answer = m["answer"]
    if a.notice:
        st.warning(md_escape(a.notice), icon=":material/warning:")
    if a.refused:
        st.info(REFUSAL, icon=":material/info:")
        st.caption("No passage in the indexed documents supports an answer. Rephrase the question, "
                   "widen the filters in the sidebar, or add documents on the Corpus page.")
    else:
        st.markdown(answer_html(a, turn), unsafe_allow_html=True)
        _flagged(a)
    _removed(a)
    for c in a.citations:
        with st.expander(citation_label(c), expanded=latest):
            p = m["passages"].get(c.n) or passage(None, c)
            meta = citation_meta(c)
            st.markdown(
                f'<div class="rag-meta"><b>{esc(c.title)}</b><br>{esc(meta)}{" · " if meta else ""}'
                f"<code>{esc(source_line(c))}</code></div>{passage_html(p, c.n)}",
                unsafe_allow_html=True,
            )
            if not p["found"]:
                st.caption("The document is no longer in the index; the cited span is shown alone.")
    _footer(a)
    _feedback(m, s)
    if selectable:
        m["selected"] = st.checkbox("Include in briefing", value=m.get("selected", False), key=f"sel-{m['id']}")


def _flagged(a: Answer) -> None:
    flagged = [x for x in a.sentences if not x.supported]
    if not flagged:
        return
    n = len(flagged)
    lines = "\n".join(f"- “{md_escape(x.text)}”: {md_escape(x.reason or 'no source supports it')}" for x in flagged)
    st.warning(f"{n} sentence{'s' if n > 1 else ''} not supported by the sources, kept and marked "
               f"[unverified] (RAG_UNSUPPORTED=flag):\n{lines}", icon=":material/warning:")


def _removed(a: Answer) -> None:
    if not a.removed:
        return
    n = len(a.removed)
    reasons = "; ".join(dict.fromkeys(r.reason or "no source supports it" for r in a.removed))
    label = f"{n} sentence{'s' if n > 1 else ''} removed: {reasons}"
    if len(label) > 140:
        label = label[:139] + "…"
    with st.expander(md_escape(label), icon=":material/content_cut:"):
        st.caption("The model wrote these, but no cited source supports them, so they were left out.")
        for r in a.removed:
            st.markdown(f'<div class="rag-removed">{esc(r.text)}</div>'
                        f'<div class="rag-meta">{esc(r.reason)}</div>', unsafe_allow_html=True)


def _footer(a: Answer) -> None:
    bits = [MODE_NAMES.get(a.mode, a.mode)]
    if a.model:
        bits.append(a.model)
    if a.timings.get("total"):
        bits.append(f"{a.timings['total'] / 1000:.1f} s")
    if a.standalone_question:
        bits.append(f"searched for: {a.standalone_question}")
    st.caption(md_escape(" · ".join(bits)))


def _feedback(m: dict, s: Settings) -> None:
    """Thumbs up/down, then an optional comment; saved to HOME/feedback.jsonl on Send."""
    saved = m.get("feedback")
    default = {"up": 1, "down": 0}.get(saved)
    rating = st.feedback("thumbs", key=f"fb-{m['id']}", default=default, disabled=saved is not None)
    if saved:
        st.caption("Feedback saved. Thank you.")
        return
    if rating is None:
        return
    with st.form(key=f"fbform-{m['id']}", border=False):
        comment = st.text_input("Comment (optional)", key=f"fbc-{m['id']}",
                                placeholder="What was right or wrong with this answer?")
        if st.form_submit_button("Send feedback"):
            choice = "up" if rating == 1 else "down"
            try:
                feedback.record(s, m["answer"], choice, comment)
            except OSError as e:
                st.error(f"Could not save the feedback to {feedback.path(s)} ({e.strerror or e}). "
                         "Check that the data directory is writable.")
                return
            m["feedback"] = choice
            st.rerun()
