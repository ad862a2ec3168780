"""`rag serve`: the HTTP API (FastAPI on uvicorn) over the Python API in rag/pipeline.py.

    app.py            routes, bearer tokens, error bodies
    state.py          the immutable index snapshot, swapped whole when CURRENT moves; health
    answers.py        pipeline events pumped from threads, with a deadline and quote fallback
    openai_compat.py  /v1/chat/completions request and response shapes
    uploads.py        streamed, checked multipart uploads into HOME/uploads/
    writes.py         ingest and removal, one writer at a time
"""

from __future__ import annotations

import ipaddress
import logging

from rag.settings import Settings

log = logging.getLogger("rag.server")


def create_app(settings: Settings, *, embedder=None, generator=None):
    """The FastAPI app for `settings` (embedder/generator injectable for tests and benchmarks)."""
    from rag.server.app import create_app as _create
    from rag.server.state import ServerState

    return _create(ServerState(settings, embedder=embedder, generator=generator))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info") -> None:
    """Run the API until interrupted."""
    import uvicorn

    from rag.access.policy import Policy
    from rag.names import ANYONE

    logging.basicConfig(level=log_level.upper(), format="%(levelname)s:     %(message)s")
    policy = Policy(settings)
    principals = policy.principals()
    if principals:
        anyone = principals.get(ANYONE)
        open_to_all = anyone.readable() if anyone else []
        log.info("Access is configured (%d principals, %s): reads need a token%s.", len(principals),
                 policy.access.location,
                 f" except in {', '.join(open_to_all)} (granted to anyone)" if open_to_all else "")
    elif not is_loopback(host) and settings.api_read_token is None:
        log.warning("Listening on %s with RAG_API_READ_TOKEN unset and no access configured: anyone who can reach "
                    "this address can read the default collection (rag access grant ... closes it).", host)
    if not policy.writes_configured(principals):
        log.info("RAG_API_TOKEN is not set: uploads and removals are refused (reads work).")
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5)
