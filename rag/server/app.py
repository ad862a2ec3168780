"""The FastAPI application: routes, bearer-token checks and error responses.

Every error body is {"error": {"message", "type"}} (the OpenAI shape, so chat clients show it);
messages say what happened and what to do, like the CLI's. Blocking work (retrieval, ingest,
status) runs in worker threads; answers stream from the pipeline as it works.
"""

from __future__ import annotations

import hmac
import json
import logging
from contextlib import aclosing

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from rag import __version__
from rag.errors import ConfigError, IndexBusy, IndexCorrupt, IndexMissing, LLMUnavailable, RagError
from rag.server import openai_compat as oa
from rag.server import writes
from rag.server.answers import answer_events
from rag.server.state import ServerState
from rag.server.uploads import UploadRejected, receive
from rag.types import SearchFilter

log = logging.getLogger("rag.server")
_bearer = HTTPBearer(auto_error=False, description="RAG_API_TOKEN (writes) or RAG_API_READ_TOKEN (reads)")
PING_SECONDS = 15


class Filters(BaseModel):
    documents: list[str] = Field([], description="Document id prefix, or part of its source path or title.")
    symbol: str | None = Field(None, description="The document's own UN symbol or one it references.")
    date_from: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="Inclusive, YYYY-MM-DD.")
    date_to: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="Inclusive, YYYY-MM-DD.")

    def to_filter(self) -> SearchFilter:
        return SearchFilter(tuple(self.documents), self.symbol, self.date_from, self.date_to)


class SearchRequest(BaseModel):
    query: str = Field(min_length=1, max_length=2000)
    k: int | None = Field(None, ge=1, le=100, description="Passages returned (default RAG_K), and the passage holding the best-matching sentence of the next ones, marked \"sentence\": 1 in its ranks (RAG_SENTENCE_POOL).")
    filters: Filters | None = None


class Turn(BaseModel):
    role: str
    content: str


class AskRequest(BaseModel):
    question: str = Field(min_length=1, max_length=2000)
    mode: str | None = Field(None, pattern="^(generate|quote)$", description="Default RAG_MODE.")
    k: int | None = Field(None, ge=1, le=20, description="Passages retrieved (default RAG_K).")
    filters: Filters | None = None
    history: list[Turn] = Field([], description="Earlier turns, oldest first, for follow-up questions.")


def _flt(f: Filters | None) -> SearchFilter | None:
    return f.to_filter() if f else None


def _error(status: int, message: str, kind: str, headers: dict | None = None, **extra) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, **extra}}, status_code=status,
                        headers=headers)


def _status_of(err: RagError) -> tuple[int, str]:
    if isinstance(err, (IndexMissing, IndexCorrupt)):
        return 503, "index_unavailable"
    if isinstance(err, IndexBusy):
        return 503, "index_busy"
    if isinstance(err, LLMUnavailable):
        return 502, "llm_unavailable"
    if isinstance(err, ConfigError):
        return 400, "invalid_request"
    return 500, "server_error"


def create_app(state: ServerState) -> FastAPI:
    """The HTTP API over one data directory; `state` holds the index snapshot and shared models."""
    s = state.settings
    app = FastAPI(
        title="rag",
        version=__version__,
        description="Answers from your documents, every sentence cited and checked. Writes need "
        "`Authorization: Bearer $RAG_API_TOKEN`; reads need RAG_API_READ_TOKEN when it is set.",
    )
    app.state.rag = state

    # --- errors ---
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return _error(exc.status_code, str(exc.detail), "http_error", headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        return _error(422, f"Invalid request: {where}: {first.get('msg', 'invalid')}", "invalid_request",
                      details=json.loads(json.dumps(exc.errors(), default=str)))

    @app.exception_handler(RagError)
    async def rag_error(request: Request, exc: RagError):
        status, kind = _status_of(exc)
        extra = {"fix": state.rebuild_command()} if isinstance(exc, IndexCorrupt) else {}
        headers = {"Retry-After": "5"} if isinstance(exc, IndexBusy) else None
        return _error(status, str(exc), kind, headers=headers, **extra)

    @app.exception_handler(UploadRejected)
    async def rejected(request: Request, exc: UploadRejected):
        return _error(exc.status, str(exc), "upload_rejected")

    @app.exception_handler(ValueError)
    async def bad_value(request: Request, exc: ValueError):
        return _error(400, str(exc), "invalid_request")

    # --- auth ---
    def _matches(creds: HTTPAuthorizationCredentials | None, *tokens) -> bool:
        if creds is None:
            raise HTTPException(401, "This endpoint needs a bearer token: send Authorization: Bearer <token>.",
                                headers={"WWW-Authenticate": "Bearer"})
        given = creds.credentials.encode()
        return any(t is not None and hmac.compare_digest(given, t.get_secret_value().encode()) for t in tokens)

    def require_read(creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
        if s.api_read_token is None:
            return
        if not _matches(creds, s.api_read_token, s.api_token):
            raise HTTPException(401, "The bearer token is wrong (expected RAG_API_READ_TOKEN or RAG_API_TOKEN).",
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})

    def require_write(creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
        if s.api_token is None:
            raise HTTPException(403, "Writes are switched off because no token is configured. Set RAG_API_TOKEN "
                                     "to a secret, restart `rag serve`, and send Authorization: Bearer <secret>.")
        if not _matches(creds, s.api_token):
            raise HTTPException(401, "The bearer token is wrong (expected RAG_API_TOKEN).",
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})

    read = [Depends(require_read)]
    write = [Depends(require_write)]

    # --- index ---
    @app.get("/health", tags=["index"], summary="Liveness and index integrity (no token needed)")
    def health():
        """200 when the index loads and every file matches its checksum; 503 with the error and the
        `rag ingest --rebuild ...` command otherwise."""
        info = state.health()
        return JSONResponse(info, status_code=200 if info["status"] == "ok" else 503)

    @app.get("/status", tags=["index"], dependencies=read, summary="What is indexed, with which model and settings")
    def status(verify: bool = Query(False, description="Hash every index file, however large.")):
        from rag.status import index_status

        return index_status(s, verify=verify)

    @app.get("/documents", tags=["documents"], dependencies=read, summary="The indexed documents")
    def documents():
        snap = state.snapshot()
        idx = snap.index
        per_doc: dict[str, int] = {}
        for c in idx.chunks:
            per_doc[c.doc_id] = per_doc.get(c.doc_id, 0) + 1
        docs = sorted(idx.documents.values(), key=lambda d: d.source)
        return {"version": snap.version,
                "documents": [{**d.meta(), "chunks": per_doc.get(d.id, 0)} for d in docs]}

    @app.post("/documents", tags=["documents"], dependencies=write, summary="Upload and index files",
              openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                  "type": "object", "properties": {"file": {"type": "array", "items": {
                      "type": "string", "format": "binary"}}}}}}}})
    async def upload(request: Request):
        """Upload up to 10 files (.txt .md .html .htm .pdf .docx; RAG_UPLOAD_MAX_MB each) as
        multipart/form-data. Saved under RAG_HOME/uploads/ with sanitised names and indexed.
        415: wrong type; 413: too large; 422: no file could be loaded (reasons given)."""
        files = await receive(request, s.uploads_dir, s.upload_max_mb)
        code, body = await run_in_threadpool(writes.add_uploads, state, files)
        return JSONResponse(body, status_code=code)

    @app.delete("/documents/{doc_id}", tags=["documents"], dependencies=write, summary="Remove a document")
    def remove(doc_id: str):
        """Remove a document (by the doc_id from GET /documents). An uploaded file is deleted too;
        a file from another folder stays on disk (the next `rag ingest` of that folder adds it back)."""
        try:
            return writes.remove(state, doc_id)
        except KeyError:
            raise HTTPException(404, f"No document with id {doc_id!r}. List them with GET /documents.") from None

    # --- retrieval and answers ---
    @app.post("/search", tags=["answers"], dependencies=read, summary="Passages that match a query (no LLM)")
    def search(req: SearchRequest):
        snap = state.snapshot()
        hits = snap.assistant.retriever.search(req.query, req.k or s.k, _flt(req.filters))
        return {"version": snap.version, "hits": [h.to_dict() for h in hits]}

    @app.post("/ask", tags=["answers"], dependencies=read, summary="A cited, verified answer")
    async def ask(req: AskRequest):
        assistant = (await run_in_threadpool(state.snapshot)).assistant
        answer = None
        async for ev in answer_events(assistant, req.question, timeout=s.api_answer_timeout, mode=req.mode,
                                      k=req.k, flt=_flt(req.filters), history=_history(req.history)):
            if ev["event"] == "answer":
                answer = ev["answer"]
        return answer.to_dict()

    @app.post("/ask/stream", tags=["answers"], dependencies=read, summary="The answer as server-sent events",
              response_class=EventSourceResponse)
    async def ask_stream(req: AskRequest):
        """Events: `status` {"stage"}, `token` {"text"} (the model's unverified draft), and finally
        `answer` (the verified answer, as POST /ask returns it), or `error` {"message"}."""
        assistant = (await run_in_threadpool(state.snapshot)).assistant

        async def events():
            # closed when the client goes away (the response closes or cancels this generator):
            # aclosing closes the answer's events too, which stops the generation
            try:
                async with aclosing(answer_events(assistant, req.question, timeout=s.api_answer_timeout,
                                                  mode=req.mode, k=req.k, flt=_flt(req.filters),
                                                  history=_history(req.history))) as answer:
                    async for ev in answer:
                        kind = ev["event"]
                        data = (ev["answer"].to_dict() if kind == "answer"
                                else {k: v for k, v in ev.items() if k != "event"})
                        yield {"event": kind, "data": json.dumps(data, ensure_ascii=False)}
            except (RagError, ValueError) as e:
                yield {"event": "error", "data": json.dumps({"message": str(e)})}

        return EventSourceResponse(events(), ping=PING_SECONDS)

    # --- OpenAI-compatible ---
    @app.get("/v1/models", tags=["openai"], dependencies=read, summary="Models for OpenAI clients")
    def models():
        return {"object": "list", "data": [{"id": m, "object": "model", "created": 0, "owned_by": "rag"}
                                           for m in oa.MODELS]}

    @app.post("/v1/chat/completions", tags=["openai"], dependencies=read, summary="OpenAI chat completions")
    async def chat(req: oa.ChatRequest):
        """The last user message is answered from the documents; `citations` carries the sources."""
        question, history = oa.split_messages(req.messages)
        assistant = (await run_in_threadpool(state.snapshot)).assistant
        events = answer_events(assistant, question, timeout=s.api_answer_timeout, mode=oa.mode_for(req.model),
                               history=history or None)
        if not req.stream:
            answer = None
            async for ev in events:
                if ev["event"] == "answer":
                    answer = ev["answer"]
            return oa.completion(answer, req.model)
        chunks = oa.ChunkStream(req.model)

        async def stream():
            yield {"data": chunks.role()}
            try:
                async with aclosing(events):  # a client going away stops the generation
                    shown = False
                    async for ev in events:
                        if ev["event"] == "evidence" and not shown and ev.get("quotes"):
                            shown = True  # the first evidence only: the answer follows with its own citations
                            yield {"data": chunks.evidence(ev["quotes"])}
                        elif ev["event"] == "answer":
                            for c in chunks.answer(ev["answer"]):
                                yield {"data": c}
            except (RagError, ValueError) as e:
                yield {"data": json.dumps({"error": {"message": str(e), "type": _status_of(e)[1]
                                                     if isinstance(e, RagError) else "invalid_request"}})}
            yield {"data": "[DONE]"}

        return EventSourceResponse(stream(), ping=PING_SECONDS)

    return app


def _history(turns: list[Turn]) -> list[dict] | None:
    return [t.model_dump() for t in turns] or None
