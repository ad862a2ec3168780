"""The pipeline's events, pumped from a worker thread, with a deadline and a stop on disconnect.

`Assistant.events` is synchronous (embedding, FAISS, the LLM client), so one worker thread per
answer iterates it and hands each event to the event loop, which keeps serving other requests.
The worker checks between events (between tokens while the model writes) whether the answer is
still wanted; when it is not, it closes the events generator, which closes the LLM's HTTP
stream, and an OpenAI-compatible server (llama-cpp-python's included) stops generating.

An answer is no longer wanted when its client disconnects (the streaming response cancels this
generator, or closes it), or when the LLM keeps dripping tokens past `api_answer_timeout`
seconds: the answer is then made in quote mode, with a notice saying why. An LLM that fails
outright is already handled by the pipeline (quote fallback with a notice).
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from typing import AsyncIterator, Iterator

from rag.pipeline import Assistant
from rag.types import SearchFilter

_END = object()


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


class EventPump:
    """Iterates a synchronous events generator in a worker thread; `stop()` ends it between events.

    The generator is always closed by the thread that iterates it (a generator cannot be closed
    while another thread is inside it), right after the event it is producing, so a stopped
    answer costs at most one more token.
    """

    def __init__(self, events: Iterator[dict], name: str = "rag-answer"):
        self._events = events
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue = asyncio.Queue()
        self._stopped = threading.Event()
        self.finished = threading.Event()  # set once the generator is closed
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for ev in self._events:
                if self._stopped.is_set():
                    break
                self._put(ev)
        except BaseException as e:  # handed to the consumer, which raises it
            self._put(_Failed(e))
        finally:
            try:
                self._events.close()
            finally:
                self.finished.set()
                self._put(_END)

    def _put(self, item) -> None:
        if self._stopped.is_set():
            return
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the event loop is closed (server shutting down): nobody is waiting
            self._stopped.set()

    async def next(self):
        """The next event, or _END; raises what the pipeline raised."""
        item = await self._queue.get()
        if isinstance(item, _Failed):
            raise item.error
        return item

    def stop(self) -> None:
        """Ask the worker to close the generator after the event it is producing."""
        self._stopped.set()


async def answer_events(assistant: Assistant, question: str, *, timeout: float, history=None,
                        mode: str | None = None, k: int | None = None,
                        flt: SearchFilter | None = None) -> AsyncIterator[dict]:
    """Yield the pipeline's events; the last one is always {"event": "answer"}.

    Closing or cancelling this generator (a client that went away) stops the generation.
    """
    kw = {"history": history, "k": k, "flt": flt}
    deadline = time.monotonic() + timeout
    pump = EventPump(assistant.events(question, mode=mode, **kw))
    try:
        while True:
            try:
                ev = await asyncio.wait_for(pump.next(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                break
            if ev is _END:
                return
            yield ev
            if ev["event"] == "answer":
                return
    finally:
        pump.stop()
    notice = (f"The language model did not finish within {timeout:g} s (RAG_API_ANSWER_TIMEOUT); "
              "showing quoted passages instead.")
    yield {"event": "status", "stage": "fallback", "notice": notice}
    quote = EventPump(assistant.events(question, mode="quote", **kw), name="rag-answer-quote")
    try:
        while (ev := await quote.next()) is not _END:
            if ev["event"] == "answer":
                ev = {"event": "answer", "answer": dataclasses.replace(ev["answer"], notice=notice)}
            yield ev
    finally:
        quote.stop()
