"""The FastAPI application: routes, bearer-token checks and error responses.

Every error body is {"error": {"message", "type"}} (the OpenAI shape, so chat clients show it);
messages say what happened and what to do, like the CLI's. Blocking work (retrieval, ingest,
status) runs in worker threads; answers stream from the pipeline as it works.
"""

from __future__ import annotations

import json
import logging
from contextlib import aclosing

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from rag import __version__
from rag.access.audit import AuditLog
from rag.access.audit import entry as audit_entry
from rag.access.policy import ANONYMOUS
from rag.errors import CollectionMissing, ConfigError, IndexBusy, IndexCorrupt, IndexMissing, LLMUnavailable, RagError
from rag.server import openai_compat as oa
from rag.server import writes
from rag.server.answers import answer_events
from rag.server.gate import COLLECTION_HEADER, Admitted, Gate, Refused
from rag.server.state import ServerState
from rag.server.uploads import UploadRejected, receive
from rag.types import READ, WRITE, Answer, SearchFilter

log = logging.getLogger("rag.server")
PING_SECONDS = 15
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


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


class FeedbackRequest(BaseModel):
    answer: dict = Field(description="The answer being rated, as POST /ask returned it.")
    rating: str = Field(pattern="^(up|down)$", description="up or down.")
    comment: str = Field("", max_length=2000, description="Optional: what was right or wrong.")


class ExportRequest(BaseModel):
    answers: list[dict] = Field(max_length=200, description="Answers as POST /ask returned them, in order.")
    title: str = Field("Briefing", min_length=1, max_length=200, description="The briefing's title.")
    format: str = Field("markdown", pattern="^(markdown|docx)$", description="markdown or docx.")


def _flt(f: Filters | None) -> SearchFilter | None:
    return f.to_filter() if f else None


def _error(status: int, message: str, kind: str, headers: dict | None = None, **extra) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, **extra}}, status_code=status,
                        headers=headers)


def _status_of(err: RagError) -> tuple[int, str]:
    if isinstance(err, CollectionMissing):  # deleted while the request ran
        return 404, "collection_not_found"
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
        description="Answers from your documents, every sentence cited and checked. The X-Rag-Collection "
        "header (or the chat model \"rag:NAME\") chooses the collection. Send `Authorization: Bearer TOKEN`: "
        "RAG_API_TOKEN (everything), RAG_API_READ_TOKEN (reads) or a principal's token (its grants); "
        "without one, only collections open to anyone can be read.",
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

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused):
        return _error(exc.status, str(exc), exc.kind, headers=exc.headers)

    # --- access: every route but /health names a collection the caller may use (rag/server/gate.py) ---
    gate = Gate(state)
    app.state.gate = gate
    audit = AuditLog(s)

    def read_access(request: Request) -> Admitted:
        return gate.admit(request, READ)

    def write_access(request: Request) -> Admitted:
        return gate.admit(request, WRITE)

    def record(who: Admitted, route: str, question: str, answer) -> None:
        """The answer in the audit log, on disk before the answer is sent."""
        audit.append(audit_entry(who.caller.name, who.collection, route, question, answer))

    collection_header = {"parameters": [{
        "name": COLLECTION_HEADER, "in": "header", "required": False, "schema": {"type": "string"},
        "description": "The collection to use (default: 'default'). One the token may not read answers 404, "
                       "as one that does not exist."}]}

    # --- index ---
    @app.get("/health", tags=["index"], summary="Liveness and index integrity (no token needed)")
    def health():
        """200 when the index loads and every file matches its checksum; 503 with the error and the
        `rag ingest --rebuild ...` command otherwise."""
        info = state.health()
        return JSONResponse(info, status_code=200 if info["status"] == "ok" else 503)

    @app.get("/status", tags=["index"], summary="What is indexed, with which model and settings",
             openapi_extra=collection_header)
    def status(who: Admitted = Depends(read_access),
               verify: bool = Query(False, description="Hash every index file, however large.")):
        from rag.status import index_status

        return {**index_status(who.state.settings, verify=verify), "collection": who.collection}

    @app.get("/collections", tags=["index"], summary="The collections this token may read")
    def collections(request: Request):
        """Each collection the caller may read, whether it may write it, and what it holds. Collections
        it may not read are not listed."""
        caller = gate.caller(request)
        names = gate.readable(caller)
        writable = gate.writable(caller, names)
        out = []
        for name in names:
            store = state.collection(name).store
            try:
                version = store.current()
                counts = store.manifest(version)["counts"] if version else {"documents": 0, "chunks": 0}
            except RagError:
                version, counts = None, {}
            out.append({"name": name, "write": name in writable, "version": version, **counts})
        return {"principal": caller.name, "collections": out}

    @app.get("/documents", tags=["documents"], summary="The indexed documents", openapi_extra=collection_header)
    def documents(who: Admitted = Depends(read_access)):
        snap = who.state.snapshot()
        idx = snap.index
        per_doc: dict[str, int] = {}
        for c in idx.chunks:
            per_doc[c.doc_id] = per_doc.get(c.doc_id, 0) + 1
        docs = sorted(idx.documents.values(), key=lambda d: d.source)
        return {"version": snap.version, "collection": who.collection,
                "documents": [{**d.meta(), "chunks": per_doc.get(d.id, 0)} for d in docs]}

    @app.post("/documents", tags=["documents"], summary="Upload and index files",
              openapi_extra={**collection_header, "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                  "type": "object", "properties": {"file": {"type": "array", "items": {
                      "type": "string", "format": "binary"}}}}}}}})
    async def upload(request: Request, who: Admitted = Depends(write_access)):
        """Upload up to 10 files (.txt .md .html .htm .pdf .docx; RAG_UPLOAD_MAX_MB each) as
        multipart/form-data. Saved under the collection's uploads/ folder with sanitised names and indexed.
        415: wrong type; 413: too large; 422: no file could be loaded (reasons given)."""
        files = await receive(request, who.state.settings.uploads_dir, s.upload_max_mb)
        code, body = await run_in_threadpool(writes.add_uploads, who.state, files)
        return JSONResponse({**body, "collection": who.collection}, status_code=code)

    @app.delete("/documents/{doc_id}", tags=["documents"], summary="Remove a document",
                openapi_extra=collection_header)
    def remove(doc_id: str, who: Admitted = Depends(write_access)):
        """Remove a document (by the doc_id from GET /documents). An uploaded file is deleted too;
        a file from another folder stays on disk (the next `rag ingest` of that folder adds it back)."""
        try:
            return {**writes.remove(who.state, doc_id), "collection": who.collection}
        except KeyError:
            raise HTTPException(404, f"No document with id {doc_id!r}. List them with GET /documents.") from None

    # --- retrieval and answers ---
    @app.post("/search", tags=["answers"], summary="Passages that match a query (no LLM)",
              openapi_extra=collection_header)
    def search(req: SearchRequest, who: Admitted = Depends(read_access)):
        snap = who.state.snapshot()
        hits = snap.assistant.retriever.search(req.query, req.k or s.k, _flt(req.filters))
        return {"version": snap.version, "collection": who.collection, "hits": [h.to_dict() for h in hits]}

    @app.post("/ask", tags=["answers"], summary="A cited, verified answer", openapi_extra=collection_header)
    async def ask(req: AskRequest, who: Admitted = Depends(read_access)):
        assistant = (await run_in_threadpool(who.state.snapshot)).assistant
        answer = None
        async for ev in answer_events(assistant, req.question, timeout=s.api_answer_timeout, mode=req.mode,
                                      k=req.k, flt=_flt(req.filters), history=_history(req.history)):
            if ev["event"] == "answer":
                answer = ev["answer"]
        await run_in_threadpool(record, who, "/ask", req.question, answer)
        return answer.to_dict()

    @app.post("/ask/stream", tags=["answers"], summary="The answer as server-sent events",
              response_class=EventSourceResponse, openapi_extra=collection_header)
    async def ask_stream(req: AskRequest, who: Admitted = Depends(read_access)):
        """Events: `status` {"stage"}, `token` {"text"} (the model's unverified draft), and finally
        `answer` (the verified answer, as POST /ask returns it), or `error` {"message"}."""
        assistant = (await run_in_threadpool(who.state.snapshot)).assistant

        async def events():
            # closed when the client goes away (the response closes or cancels this generator):
            # aclosing closes the answer's events too, which stops the generation
            try:
                async with aclosing(answer_events(assistant, req.question, timeout=s.api_answer_timeout,
                                                  mode=req.mode, k=req.k, flt=_flt(req.filters),
                                                  history=_history(req.history))) as answer:
                    async for ev in answer:
                        kind = ev["event"]
                        if kind == "answer":
                            await run_in_threadpool(record, who, "/ask/stream", req.question, ev["answer"])
                        data = (ev["answer"].to_dict() if kind == "answer"
                                else {k: v for k, v in ev.items() if k != "event"})
                        yield {"event": kind, "data": json.dumps(data, ensure_ascii=False)}
            except (RagError, ValueError) as e:
                yield {"event": "error", "data": json.dumps({"message": str(e)})}

        return EventSourceResponse(events(), ping=PING_SECONDS)

    @app.post("/feedback", tags=["answers"], summary="Rate an answer", openapi_extra=collection_header)
    def rate(req: FeedbackRequest, who: Admitted = Depends(read_access)):
        """Record a thumbs up or down on an answer this collection gave (the answer as POST /ask returned
        it). Kept in the collection's own feedback.jsonl; an answer citing documents that are not in the
        collection is refused (422)."""
        from rag import feedback

        answer = _answer_of(req.answer, who)
        rec = feedback.record(who.state.settings, answer, req.rating, req.comment)
        return {"recorded": True, "collection": who.collection, "ts": rec["ts"]}

    @app.post("/export", tags=["answers"], summary="Answers as a briefing (Markdown or DOCX)",
              openapi_extra=collection_header)
    def export(req: ExportRequest, who: Admitted = Depends(read_access)):
        """The answers (as POST /ask returned them) as one briefing with renumbered citations and one
        reference list, naming the collection it was written from. Answers citing documents that are
        not in the collection are refused (422)."""
        from fastapi.responses import Response

        from rag.briefing import to_docx, to_markdown

        answers = [_answer_of(a, who) for a in req.answers]
        if req.format == "docx":
            return Response(to_docx(answers, title=req.title, collection=who.collection), media_type=DOCX_MIME)
        return Response(to_markdown(answers, title=req.title, collection=who.collection),
                        media_type="text/markdown; charset=utf-8")

    # --- OpenAI-compatible ---
    @app.get("/v1/models", tags=["openai"], summary="Models for OpenAI clients")
    def models(request: Request):
        """rag, rag-quote and rag-generate answer from the default collection; NAME:COLLECTION from
        each other collection this token may read."""
        caller = gate.caller(request)
        ids = oa.model_ids(gate.readable(caller), s.collection)
        if not ids and caller.kind == ANONYMOUS:  # nothing is open: a token is needed, as for any read
            raise Refused(401, "This needs a bearer token: send Authorization: Bearer <token>.",
                          "missing_token", {"WWW-Authenticate": "Bearer"})
        return {"object": "list", "data": [{"id": m, "object": "model", "created": 0, "owned_by": "rag"}
                                           for m in ids]}

    @app.post("/v1/chat/completions", tags=["openai"], summary="OpenAI chat completions",
              openapi_extra=collection_header)
    async def chat(req: oa.ChatRequest, request: Request):
        """The last user message is answered from the documents; `citations` carries the sources."""
        who = await run_in_threadpool(gate.admit, request, READ, oa.split_model(req.model)[1])
        question, history = oa.split_messages(req.messages)
        assistant = (await run_in_threadpool(who.state.snapshot)).assistant
        events = answer_events(assistant, question, timeout=s.api_answer_timeout, mode=oa.mode_for(req.model),
                               history=history or None)
        if not req.stream:
            answer = None
            async for ev in events:
                if ev["event"] == "answer":
                    answer = ev["answer"]
            await run_in_threadpool(record, who, "/v1/chat/completions", question, answer)
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
                            await run_in_threadpool(record, who, "/v1/chat/completions", question, ev["answer"])
                            for c in chunks.answer(ev["answer"]):
                                yield {"data": c}
            except (RagError, ValueError) as e:
                yield {"data": json.dumps({"error": {"message": str(e), "type": _status_of(e)[1]
                                                     if isinstance(e, RagError) else "invalid_request"}})}
            yield {"data": "[DONE]"}

        return EventSourceResponse(stream(), ping=PING_SECONDS)

    return app


def _answer_of(data: dict, who: Admitted) -> Answer:
    """An answer a client sent back, refused (422) unless every document it cites is in `who`'s collection."""
    try:
        answer = Answer.from_dict(data)
    except (KeyError, TypeError, ValueError) as e:
        raise Refused(422, f"Invalid answer: {e}. Send an answer as POST /ask returned it.", "invalid_request") from None
    documents = who.state.snapshot().index.documents
    foreign = sorted({c.doc_id for c in answer.citations if c.doc_id not in documents})
    if foreign:
        raise Refused(422, f"The answer cites {len(foreign)} document(s) that are not in the collection "
                           f"{who.collection!r}. Send answers this collection gave.", "invalid_request")
    return answer


def _history(turns: list[Turn]) -> list[dict] | None:
    return [t.model_dump() for t in turns] or None
