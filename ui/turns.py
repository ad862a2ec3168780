"""The questions of one browser session, answered one at a time, in the order they were asked.

Streamlit stops a script run whenever the page reruns (a question sent, any widget touched), so
an answer produced inside a run dies with it, and its question would be lost. Here a worker
thread per session answers the questions, and each run only draws what the worker has so far:
a question sent while another is being answered waits its turn (shown as waiting), and is then
answered with the earlier answers as its history. Every question ends in the conversation with
an answer or an error message; none is dropped. "New conversation" stops the answer being
written (the worker closes the pipeline's generator between tokens, which stops the LLM) and
forgets the waiting ones.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field

from rag.errors import RagError
from rag.types import SearchFilter
from ui import answer_view

log = logging.getLogger("rag.ui")


@dataclass(eq=False)
class Turn:
    """A question waiting for its answer, with the controls it was asked with.

    `events` is what the pipeline reported so far (status and token events), appended by the
    worker and read by the page while it draws the answer being written.
    """

    question: str
    mode: str
    k: int
    flt: SearchFilter
    assistant: object | None  # the Assistant to ask, or None when it could not be loaded
    error: RagError | None = None  # why the Assistant could not be loaded
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    events: list = field(default_factory=list)
    cancelled: bool = False


def history(messages: list[dict]) -> list[dict]:
    """Earlier answered turns as chat messages for the follow-up rewriter."""
    out = []
    for m in messages:
        if "answer" in m:
            a = m["answer"]
            out += [{"role": "user", "content": a.question}, {"role": "assistant", "content": a.answer}]
    return out


class Answerer:
    """Owns one session's conversation (`messages`) and the questions waiting to join it."""

    def __init__(self, messages: list[dict]):
        self.messages = messages
        self.version = 0  # bumped whenever `messages` changes: the page redraws
        self._waiting: list[Turn] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def snapshot(self) -> tuple[int, list[dict], list[Turn]]:
        """(version, the conversation, the questions waiting: the one being answered first),
        taken together so that a page draws every question exactly once."""
        with self._lock:
            return self.version, list(self.messages), list(self._waiting)

    def submit(self, turn: Turn) -> None:
        with self._lock:
            self._waiting.append(turn)
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="rag-ui-answers", daemon=True)
                self._thread.start()

    def clear(self) -> None:
        """Start a new conversation: stop the answer being written and forget the waiting questions."""
        with self._lock:
            for t in self._waiting:
                t.cancelled = True
            self._waiting.clear()
            del self.messages[:]
            self.version += 1

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._waiting:
                    self._thread = None
                    return
                turn = self._waiting[0]
                earlier = history(self.messages)
            reply = _answer(turn, earlier)
            with self._lock:
                if turn.cancelled:
                    continue
                self.messages += [{"role": "user", "content": turn.question}, reply]
                self._waiting.remove(turn)
                self.version += 1


def _answer(turn: Turn, earlier: list[dict]) -> dict:
    """The assistant message answering `turn`: the answer, or an error a person can act on."""
    if turn.assistant is None:
        return _error_message(turn.id, turn.error)
    events = turn.assistant.events(turn.question, history=earlier or None, mode=turn.mode, k=turn.k, flt=turn.flt)
    answer = None
    try:
        for ev in events:
            if turn.cancelled:
                break  # closing the generator (below) closes the LLM's stream: generation stops
            if ev["event"] == "answer":
                answer = ev["answer"]
            else:
                turn.events.append(ev)
        if answer is None:
            return {"role": "assistant", "id": turn.id, "error": "The answer was stopped."}
        return answer_view.make_message(answer, turn.assistant.documents(), turn.id)
    except RagError as e:
        return _error_message(turn.id, e)
    except Exception as e:  # never a traceback on the page; the terminal has it
        log.exception("answering %r failed", turn.question)
        return {"role": "assistant", "id": turn.id,
                "error": f"Something went wrong while answering ({type(e).__name__}: {_one_line(e)}).",
                "hint": "Try again, or switch to “Quotes only”. The details are in the terminal running `rag ui`."}
    finally:
        events.close()


def _error_message(msg_id: str, e: RagError) -> dict:
    from rag.errors import IndexCorrupt, IndexMissing

    stale = isinstance(e, (IndexMissing, IndexCorrupt))
    hint = "In the UI: open the Corpus page and press Re-index." if stale else None
    return {"role": "assistant", "id": msg_id, "error": str(e), "hint": hint}


def _one_line(e: Exception, limit: int = 200) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
