"""Who is asking and for which collection: every route but /health passes here first.

The order is fixed, so that a refusal says nothing the caller may not know:

    1. the bearer token: missing (the caller is 'anyone'), malformed or not valid (401; while no
       access is configured, a read with a token that is not valid acts as 'anyone', as before)
    2. the collection name (the X-Rag-Collection header, or the chat model "rag:NAME"): 400 if it
       breaks the naming rule, which no collection can
    3. the decision (rag/access/policy.py), from the access list alone: 'anyone' refused gets 401
       (a token is needed, whether or not the collection exists); a caller refused gets 404, the
       very response a collection that does not exist gets
    4. only then: does the collection exist (404 if not), and its index is touched

A forbidden collection is never stat'ed, loaded or searched before the refusal, so neither the
response nor its timing differs from a collection that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from rag.access.policy import ANONYMOUS, ANYONE_CALLER, Caller, Policy
from rag.index.collections import open_catalog
from rag.names import NameInvalid, check_collection, shown
from rag.server.state import ServerState
from rag.types import READ, WRITE

COLLECTION_HEADER = "X-Rag-Collection"


class Refused(Exception):
    """A request refused before any work: HTTP status, message, error type, headers."""

    def __init__(self, status: int, message: str, kind: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.kind, self.headers = status, kind, headers


NOT_FOUND = (f"No such collection for this token: it does not exist, or this token may not read it. "
             f"See yours: GET /collections (choose one with the {COLLECTION_HEADER} header).")


def not_found(name: str) -> Refused:
    """The one response for a collection that does not exist and for one the caller may not read:
    the same bytes whatever the name (the caller knows what it asked for)."""
    return Refused(404, NOT_FOUND, "collection_not_found")


@dataclass(frozen=True)
class Admitted:
    caller: Caller
    state: ServerState

    @property
    def collection(self) -> str:
        return self.state.settings.collection


class Gate:
    """Access decisions for the HTTP API over one deployment (`state` serves its default collection)."""

    def __init__(self, state: ServerState, policy: Policy | None = None):
        self.state = state
        self.settings = state.settings
        self.policy = policy or Policy(state.settings)
        self.catalog = open_catalog(state.settings)

    # --- 1: the token ---
    @staticmethod
    def token(request: Request) -> str | None:
        """The bearer token; None without an Authorization header; Refused(401) when it is malformed."""
        raw = request.headers.get("authorization")
        if raw is None:
            return None
        scheme, _, token = raw.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            raise Refused(401, "The Authorization header is malformed: send Authorization: Bearer <token>.",
                          "invalid_token", {"WWW-Authenticate": 'Bearer error="invalid_request"'})
        return token

    def caller(self, request: Request, principals=None, *, reading: bool = True) -> Caller:
        """Who the request acts as; Refused(401) for a token that is not valid. While no access is
        configured, a read with such a token acts as one without (as before: OpenAI clients send
        some key whatever the server needs), so it gets what anyone gets."""
        principals = self.policy.principals() if principals is None else principals
        caller = self.policy.authenticate(self.token(request), principals)
        if caller is None and reading and not principals:
            return ANYONE_CALLER
        if caller is None:
            raise Refused(401, "The bearer token is not valid (mistyped, or replaced or revoked: rag access token "
                               "NAME issues a new one). Send a principal's token, RAG_API_TOKEN or "
                               "RAG_API_READ_TOKEN.", "invalid_token",
                          {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return caller

    # --- 2: the name ---
    def name(self, request: Request, given: str | None = None) -> str:
        """The collection asked for: `given` (from a model name), else the header, else the default."""
        header = request.headers.get(COLLECTION_HEADER)
        if given is not None and header is not None and header != given:
            raise Refused(400, f"The model names the collection {shown(given)} and the {COLLECTION_HEADER} header "
                               f"{shown(header)}: name one.", "invalid_request")
        name = given if given is not None else header if header is not None else self.settings.collection
        try:
            return check_collection(name)
        except NameInvalid as e:
            raise Refused(400, str(e), "invalid_collection") from None

    # --- 3 and 4 ---
    def admit(self, request: Request, action: str = READ, collection: str | None = None) -> Admitted:
        """The caller and the state of the collection it may `action`, or Refused."""
        principals = self.policy.principals()
        if action == WRITE and not self.policy.writes_configured(principals):
            raise Refused(403, "Writes are switched off because no token is configured. Set RAG_API_TOKEN to a "
                               "secret and restart `rag serve`, or grant writing: rag access grant NAME COLLECTION "
                               "--write; then send Authorization: Bearer <token>.", "writes_disabled")
        caller = self.caller(request, principals, reading=action == READ)
        name = self.name(request, collection)
        if not self.policy.may(caller, name, action, principals):
            if caller.kind == ANONYMOUS:
                raise Refused(401, "This needs a bearer token: send Authorization: Bearer <token>.",
                              "missing_token", {"WWW-Authenticate": "Bearer"})
            if action == WRITE and self.policy.may(caller, name, READ, principals) and self.catalog.exists(name):
                raise Refused(403, f"{caller.name} may read the collection {shown(name)} but not write it. "
                                   f"Grant it: rag access grant {caller.name} {name} --write", "write_forbidden")
            raise not_found(name)
        if not self.catalog.exists(name):
            raise not_found(name)
        return Admitted(caller, self.state.collection(name))

    def readable(self, caller: Caller) -> list[str]:
        """The collections `caller` may read."""
        return self.policy.readable(caller, self.catalog.names())

    def writable(self, caller: Caller, names: list[str]) -> set[str]:
        principals = self.policy.principals()
        return {n for n in names if self.policy.may(caller, n, WRITE, principals)}
