"""The pipeline's events, pumped from worker threads with a deadline on the whole answer.

`Assistant.events` is synchronous (embedding, FAISS, the LLM client); each step runs in a worker
thread so the event loop keeps serving other requests. An LLM that fails is already handled by
the pipeline (quote fallback with a notice). One that keeps dripping tokens, or hangs just under
the client's silence timeout, is abandoned here after `api_answer_timeout` seconds: the answer
is then made in quote mode, with a notice saying why, and the abandoned generation is closed in
the background.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import AsyncIterator

from starlette.concurrency import run_in_threadpool

from rag.pipeline import Assistant
from rag.types import SearchFilter

_END = object()


async def answer_events(assistant: Assistant, question: str, *, timeout: float, history=None,
                        mode: str | None = None, k: int | None = None,
                        flt: SearchFilter | None = None) -> AsyncIterator[dict]:
    """Yield the pipeline's events; the last one is always {"event": "answer"}."""
    kw = {"history": history, "k": k, "flt": flt}
    it = assistant.events(question, mode=mode, **kw)
    deadline = time.monotonic() + timeout
    while True:
        step = asyncio.ensure_future(run_in_threadpool(next, it, _END))
        try:
            done, _ = await asyncio.wait({step}, timeout=max(0.0, deadline - time.monotonic()))
        except asyncio.CancelledError:  # the client went away: stop the work once the step returns
            step.add_done_callback(lambda _t: _close_soon(it))
            raise
        if not done:
            step.add_done_callback(lambda _t: _close_soon(it))
            break
        ev = step.result()
        if ev is _END:
            return
        yield ev
        if ev["event"] == "answer":
            await run_in_threadpool(it.close)
            return
    notice = (f"The language model did not finish within {timeout:g} s (RAG_API_ANSWER_TIMEOUT); "
              "showing quoted passages instead.")
    yield {"event": "status", "stage": "fallback", "notice": notice}
    quote = assistant.events(question, mode="quote", **kw)
    while (ev := await run_in_threadpool(next, quote, _END)) is not _END:
        if ev["event"] == "answer":
            ev = {"event": "answer", "answer": dataclasses.replace(ev["answer"], notice=notice)}
        yield ev


def _close_soon(it) -> None:
    """Close an abandoned events() generator from a worker thread (it may block briefly)."""
    def close():
        try:
            it.close()
        except (ValueError, RuntimeError):  # still executing: it ends by itself at the LLM timeout
            pass

    asyncio.get_running_loop().run_in_executor(None, close)
