"""OpenAI-compatible chat completions, so existing chat clients can talk to the assistant.

The last user message is the question and the earlier turns are the history. The reply's
content is the verified answer with its [n] markers followed by a "Sources:" list, so a plain
chat client shows where each claim comes from; the structured citations travel alongside in a
`citations` field (on the message, or on the last streamed delta, and at the top level).

Streaming sends the role at once, then the evidence as soon as it is ranked (the best-matching
sentences, quoted with their documents, as a Markdown block quote headed "Evidence", so any chat
client shows it, and structured in `rag.evidence`), then the verified answer when it is ready,
never the model's unverified draft; SSE comments keep the connection alive meanwhile and
`data: [DONE]` ends it. An earlier assistant turn sent back as history loses that evidence block.
Model names: "rag" (the configured RAG_MODE), "rag-quote" and "rag-generate", each optionally
followed by ":COLLECTION" ("rag:science", "rag-quote:science") to answer from that collection.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rag.types import Answer

MODELS = {"rag": None, "rag-quote": "quote", "rag-generate": "generate"}


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str = Field(description="system, user, assistant (tool messages are ignored).")
    content: str | list[dict[str, Any]] | None = Field(None, description="Text, or a list of content parts.")


class ChatRequest(BaseModel):
    """The OpenAI request body; sampling parameters are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = Field("rag", description="rag (RAG_MODE), rag-quote or rag-generate; ':COLLECTION' after it "
                       "(rag:science) answers from that collection.")
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = Field(False, description="Stream chat.completion.chunk events ending with data: [DONE].")


def text_of(message: ChatMessage) -> str:
    if isinstance(message.content, str):
        return message.content
    parts = message.content or []
    return " ".join(p.get("text", "") for p in parts if p.get("type") == "text")


EVIDENCE_HEADING = "Evidence (the best-matching sentences; the checked answer follows):"


def evidence_block(quotes: list[dict]) -> str:
    """The evidence as streamed content: a heading, one block-quote line per sentence, a blank line."""
    lines = []
    for q in quotes:
        where = ", ".join(x for x in (q.get("symbol"), q.get("date")) if x)
        para = f" ¶{q['paragraph']}" if q.get("paragraph") else ""
        lines.append(f"> “{' '.join(q['text'].split())}” — {q['source']}{para}" + (f" ({where})" if where else ""))
    return EVIDENCE_HEADING + "\n" + "\n".join(lines) + "\n\n"


def _without_evidence(text: str) -> str:
    """An assistant turn as the history needs it: the streamed evidence block left out."""
    if not text.startswith(EVIDENCE_HEADING):
        return text
    end = text.find("\n\n")
    return text[end + 2 :] if end >= 0 else ""


def split_messages(messages: list[ChatMessage]) -> tuple[str, list[dict]]:
    """(question, history): the last user message, and the user/assistant turns before it."""
    turns = [{"role": m.role, "content": _without_evidence(text_of(m)) if m.role == "assistant" else text_of(m)}
             for m in messages if m.role in ("user", "assistant")]
    last = max((i for i, t in enumerate(turns) if t["role"] == "user"), default=None)
    if last is None or not turns[last]["content"].strip():
        raise ValueError("The messages contain no user question. Send at least one message with role 'user'.")
    return turns[last]["content"], turns[:last]


def mode_for(model: str) -> str | None:
    return MODELS.get(split_model(model)[0])


def split_model(model: str) -> tuple[str, str | None]:
    """("rag-quote", "science") for "rag-quote:science"; (model, None) without a collection."""
    base, sep, collection = model.partition(":")
    return (base, collection) if sep else (model, None)


def model_ids(collections: list[str], default: str) -> list[str]:
    """The model ids offered: the plain names (the default collection) and NAME:COLLECTION for each
    other collection in `collections`."""
    ids = list(MODELS) if default in collections else []
    return ids + [f"{m}:{c}" for c in collections if c != default for m in MODELS]


def content_of(answer: Answer) -> str:
    """The answer text, a notice if quote mode stood in for the LLM, and the numbered sources."""
    out = answer.answer
    if answer.notice:
        out += f"\n\n(Note: {answer.notice})"
    if answer.citations:
        out += "\n\nSources:"
        for c in answer.citations:
            meta = ", ".join(x for x in (c.symbol, c.date) if x)
            where = c.source + (f" ¶{c.paragraph}" if c.paragraph else "")
            quote = " ".join(c.quote.split())
            out += f"\n[{c.n}] {c.title}" + (f" ({meta})" if meta else "") + f" — {where}: “{quote}”"
    return out


def completion(answer: Answer, model: str) -> dict:
    """A non-streamed chat.completion object."""
    citations = [c.to_dict() for c in answer.citations]
    return {
        "id": _id(), "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content_of(answer), "citations": citations},
            "finish_reason": "stop",
        }],
        "citations": citations,
        "rag": _extra(answer),
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


class ChunkStream:
    """Builds the chat.completion.chunk events of one streamed reply."""

    def __init__(self, model: str):
        self.id = _id()
        self.model = model
        self.created = int(time.time())

    def chunk(self, delta: dict, finish: str | None = None, **extra) -> str:
        body = {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return json.dumps(body, ensure_ascii=False)

    def role(self) -> str:
        return self.chunk({"role": "assistant", "content": ""})

    def evidence(self, quotes: list[dict]) -> str:
        """The evidence, as content any chat client shows and as `rag.evidence`."""
        return self.chunk({"content": evidence_block(quotes)}, rag={"evidence": quotes})

    def answer(self, answer: Answer) -> list[str]:
        """Content deltas of a few words each, then the finishing chunk carrying the citations."""
        pieces = re.findall(r"(?:\S+\s*){1,8}|\s+", content_of(answer))
        out = [self.chunk({"content": p}) for p in pieces]
        citations = [c.to_dict() for c in answer.citations]
        out.append(self.chunk({"citations": citations}, "stop", citations=citations, rag=_extra(answer)))
        return out


def _extra(answer: Answer) -> dict:
    return {"mode": answer.mode, "refused": answer.refused, "notice": answer.notice}


def _id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)
