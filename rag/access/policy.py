"""Who may read or write which collection: one decision used by the HTTP API and the web UI.

    RAG_API_TOKEN        the operator's token: reads and writes every collection
    RAG_API_READ_TOKEN   reads every collection
    a principal's token  what its grants allow (`rag access grant NAME COLLECTION [--write]`)
    no token             'anyone': the collections granted to anyone (`rag access grant anyone NAME`)

Reads are open only where the deployment says so: by a grant to 'anyone', or, for a deployment
that has configured no access at all (an empty access list), on the default collection as before
collections existed (unless RAG_API_READ_TOKEN is set). Tokens are compared in constant time,
against every principal, whichever matches.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from rag.access.principals import AccessStore, open_access, token_hash
from rag.names import ANYONE, DEFAULT_COLLECTION
from rag.settings import Settings
from rag.types import READ, WRITE, Principal

ADMIN, READER, NAMED, ANONYMOUS = "admin", "reader", "principal", "anyone"


@dataclass(frozen=True)
class Caller:
    """Who a request acts as. `name` is what the audit log records."""

    name: str
    kind: str  # ADMIN, READER, NAMED or ANONYMOUS
    principal: Principal | None = None


ANYONE_CALLER = Caller(ANYONE, ANONYMOUS)


class Policy:
    """Access decisions over the deployment's access store, read afresh for every decision (a
    revoked token stops working on the next request)."""

    def __init__(self, settings: Settings, access: AccessStore | None = None):
        self.settings = settings
        self.access = access or open_access(settings)

    def principals(self) -> dict[str, Principal]:
        return self.access.principals()

    def authenticate(self, token: str | None, principals: dict[str, Principal] | None = None) -> Caller | None:
        """The caller a bearer token stands for (no token: anyone); None for a token that is not valid."""
        if token is None:
            return ANYONE_CALLER
        principals = self.principals() if principals is None else principals
        given = token.encode("utf-8", "surrogateescape")
        digest = token_hash(token).encode()
        s = self.settings
        admin = s.api_token is not None and hmac.compare_digest(given, s.api_token.get_secret_value().encode())
        reader = s.api_read_token is not None and hmac.compare_digest(
            given, s.api_read_token.get_secret_value().encode())
        match = None
        for p in principals.values():  # every one is compared: the time does not say which matched
            if p.token_sha256 is not None and hmac.compare_digest(digest, p.token_sha256.encode()) and match is None:
                match = p
        if admin:
            return Caller("RAG_API_TOKEN", ADMIN)
        if reader:
            return Caller("RAG_API_READ_TOKEN", READER)
        if match is not None:
            return Caller(match.name, NAMED, match)
        return None

    def may(self, caller: Caller, collection: str, action: str,
            principals: dict[str, Principal] | None = None) -> bool:
        """Whether `caller` may `action` ("read" or "write") `collection`. Needs no access to the
        collection itself: a refusal costs the same whether the collection exists or not."""
        if caller.kind == ADMIN:
            return True
        if caller.kind == READER:
            return action == READ
        principals = self.principals() if principals is None else principals
        if caller.kind == NAMED:
            # the grants as they are now (a grant revoked since the token was checked counts)
            current = principals.get(caller.name)
            if current is not None and current.may(collection, action):
                return True
        if action != READ:
            return False
        anyone = principals.get(ANYONE)
        if anyone is not None and anyone.may(collection, READ):
            return True
        return self.open_by_default(collection, principals)

    def open_by_default(self, collection: str, principals: dict[str, Principal]) -> bool:
        """Reads as before collections had access rules: the default collection, while nothing is
        configured and RAG_API_READ_TOKEN is unset."""
        return collection == DEFAULT_COLLECTION and not principals and self.settings.api_read_token is None

    def writes_configured(self, principals: dict[str, Principal] | None = None) -> bool:
        """Whether anyone at all could write: RAG_API_TOKEN is set or some principal has a write grant."""
        principals = self.principals() if principals is None else principals
        return self.settings.api_token is not None or any(
            a == WRITE for p in principals.values() for _, a in p.grants)

    def readable(self, caller: Caller, names: list[str]) -> list[str]:
        """The collections of `names` the caller may read."""
        principals = self.principals()
        return [n for n in names if self.may(caller, n, READ, principals)]


def ui_caller(settings: Settings, policy: Policy | None = None) -> tuple[Caller, str | None]:
    """Who the web UI acts as, and a warning to show (or None).

    RAG_UI_TOKEN names it; unset, the UI is the operator's tool while no access is configured
    (as it always was), and 'anyone' once some is."""
    policy = policy or Policy(settings)
    principals = policy.principals()
    if settings.ui_token is None:
        if not principals:
            return Caller("ui", ADMIN), None
        return ANYONE_CALLER, None
    caller = policy.authenticate(settings.ui_token.get_secret_value(), principals)
    if caller is None:
        return ANYONE_CALLER, ("RAG_UI_TOKEN is not a valid token (mistyped, or replaced by a newer one): the UI "
                               "shows only what anyone may read. Issue one with: rag access token NAME")
    return caller, None
