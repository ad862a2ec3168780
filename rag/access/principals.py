"""Principals and their grants, stored where the index is: HOME/access.json (directory store) or the
`principals` and `grants` tables of the PostgreSQL store's schema.

A token is 32 random bytes (URL-safe base64, prefixed "rag_"); only its sha256 is stored, so the
store never holds anything that lets a reader of it in. `rag access token NAME` issues a new token
and prints it once; the one it replaces stops working at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import secrets
import time
from pathlib import Path
from typing import Protocol

from rag.errors import ConfigError, IndexMissing
from rag.index.versions import write_atomic
from rag.names import ANYONE, check_collection, check_principal
from rag.settings import Settings
from rag.types import READ, WRITE, Principal

FILENAME = "access.json"
FORMAT = 1


def new_token() -> str:
    """A fresh secret: 32 random bytes."""
    return "rag_" + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """The sha256 (hex) a token is stored and compared as."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class AccessStore(Protocol):
    """Where principals and grants are kept."""

    location: str

    def principals(self) -> dict[str, Principal]:
        """Every principal by name ('anyone' among them when something was granted to it)."""
        ...

    def grant(self, name: str, collection: str, action: str) -> Principal:
        """Allow `name` to read (or read and write) `collection`; creates the principal if new."""
        ...

    def revoke(self, name: str, collection: str | None = None, *, write_only: bool = False) -> Principal | None:
        """Take away `name`'s grant on `collection` (only writing, with write_only), or with no
        collection the principal itself, its token and every grant. The principal left, or None."""
        ...

    def issue_token(self, name: str) -> str:
        """A new token for `name` (created if new), replacing any earlier one; returned once."""
        ...

    def forget_collection(self, collection: str) -> None:
        """Drop every grant on a deleted collection."""
        ...


def open_access(settings: Settings) -> AccessStore:
    return PostgresAccess(settings) if settings.store_url else FileAccess(settings)


def _checked(name: str, collection: str | None, action: str | None) -> None:
    check_principal(name)
    if collection is not None:
        check_collection(collection)
    if action is not None and action not in (READ, WRITE):
        raise ConfigError(f"Access is 'read' or 'write', not {action!r}.")
    if name == ANYONE and action == WRITE:
        raise ConfigError("'anyone' (requests without a token) may only be granted reading. Grant writing to a "
                          "named principal: rag access grant NAME COLLECTION --write")


def _no_principal(name: str) -> ConfigError:
    return ConfigError(f"No principal named {name!r}. See them with: rag access list")


class FileAccess:
    """HOME/access.json, rewritten atomically under a lock (HOME/.access.lock); readers never see a
    partly written file. `principals()` re-reads it only when it changed on disk."""

    def __init__(self, settings: Settings):
        self.path = Path(settings.home) / FILENAME
        self.location = str(self.path)
        self._seen: tuple | None = None
        self._cache: dict[str, Principal] = {}

    def principals(self) -> dict[str, Principal]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._seen, self._cache = None, {}
            return {}
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        if stamp != self._seen:
            self._cache = self._read()
            self._seen = stamp
        return self._cache

    def _read(self) -> dict[str, Principal]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return {n: Principal.from_dict({**p, "name": n}) for n, p in data.get("principals", {}).items()}
        except FileNotFoundError:
            return {}
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise ConfigError(f"{self.path} is not a valid access file ({e}). Restore it from a backup, or "
                              "delete it and grant access again with: rag access grant ...") from None

    @contextlib.contextmanager
    def _editing(self):
        """The principals to change, written back atomically on success; one editor at a time."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.parent / ".access.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            principals = dict(self._read())
            yield principals
            data = {"format": FORMAT, "principals": {n: {k: v for k, v in p.to_dict().items() if k != "name"}
                                                     for n, p in sorted(principals.items())}}
            write_atomic(self.path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
            self.path.chmod(0o600)

    def grant(self, name: str, collection: str, action: str) -> Principal:
        _checked(name, collection, action)
        with self._editing() as ps:
            p = ps.get(name) or Principal(name, created_at=_now())
            grants = dict(p.grants)
            grants[collection] = action
            ps[name] = _with(p, grants=tuple(sorted(grants.items())))
            return ps[name]

    def revoke(self, name: str, collection: str | None = None, *, write_only: bool = False) -> Principal | None:
        _checked(name, collection, None)
        with self._editing() as ps:
            if name not in ps:
                raise _no_principal(name)
            if collection is None:
                del ps[name]
                return None
            ps[name] = _revoked(ps[name], collection, write_only)
            return ps[name]

    def issue_token(self, name: str) -> str:
        _checked(name, None, None)
        if name == ANYONE:
            raise ConfigError("'anyone' stands for requests without a token: it cannot have one.")
        token = new_token()
        with self._editing() as ps:
            p = ps.get(name) or Principal(name, created_at=_now())
            ps[name] = _with(p, token_sha256=token_hash(token), token_issued_at=_now())
        return token

    def forget_collection(self, collection: str) -> None:
        if not any(c == collection for p in self.principals().values() for c, _ in p.grants):
            return  # nothing to forget: the file is not written (nor created)
        with self._editing() as ps:
            for n, p in list(ps.items()):
                if any(c == collection for c, _ in p.grants):
                    ps[n] = _revoked(p, collection, False)


def _with(p: Principal, **changes) -> Principal:
    from dataclasses import replace

    return replace(p, **changes)


def _revoked(p: Principal, collection: str, write_only: bool) -> Principal:
    grants = dict(p.grants)
    if write_only and grants.get(collection) == WRITE:
        grants[collection] = READ
    elif not write_only:
        grants.pop(collection, None)
    return _with(p, grants=tuple(sorted(grants.items())))


class PostgresAccess:
    """The `principals` and `grants` tables in the PostgreSQL store's schema. Reads go where the
    index's reads go (RAG_STORE_READ_URL when set: a revocation reaches a standby with its
    replication delay); changes go to the primary, one transaction each."""

    def __init__(self, settings: Settings):
        from rag.index import open_store

        self.store = open_store(settings.for_collection("default"))
        self.schema = settings.store_schema
        self.location = f"{self.store.location} (tables {self.schema}.principals, {self.schema}.grants)"

    def principals(self) -> dict[str, Principal]:
        s = self.schema
        try:
            rows = self.store.fetch(
                f"SELECT p.name, p.token_sha256, to_char(p.created_at, 'YYYY-MM-DD\"T\"HH24:MI:SSOF'), "
                f"to_char(p.token_issued_at, 'YYYY-MM-DD\"T\"HH24:MI:SSOF'), g.collection, g.access "
                f"FROM {s}.principals p LEFT JOIN {s}.grants g ON g.principal = p.name ORDER BY p.name")
        except IndexMissing:  # no table yet: nothing configured
            return {}
        out: dict[str, dict] = {}
        for name, sha, created, issued, collection, access in rows:
            d = out.setdefault(name, {"name": name, "token_sha256": sha, "created_at": created,
                                      "token_issued_at": issued, "grants": {}})
            if collection is not None:
                d["grants"][collection] = access
        return {n: Principal.from_dict(d) for n, d in out.items()}

    @contextlib.contextmanager
    def _tx(self):
        conn = self.store.connect(self.store.url)
        try:
            s = self.schema
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"rag-schema:{s}",))
                conn.execute(f"""
                    CREATE SCHEMA IF NOT EXISTS {s};
                    CREATE TABLE IF NOT EXISTS {s}.principals (
                        name text PRIMARY KEY, token_sha256 text UNIQUE, token_issued_at timestamptz,
                        created_at timestamptz NOT NULL DEFAULT now());
                    CREATE TABLE IF NOT EXISTS {s}.grants (
                        principal text NOT NULL REFERENCES {s}.principals (name) ON DELETE CASCADE,
                        collection text NOT NULL, access text NOT NULL CHECK (access IN ('read', 'write')),
                        PRIMARY KEY (principal, collection));""")
            with conn.transaction():
                yield conn
        finally:
            conn.close()

    def grant(self, name: str, collection: str, action: str) -> Principal:
        _checked(name, collection, action)
        s = self.schema
        with self._tx() as conn:
            conn.execute(f"INSERT INTO {s}.principals (name) VALUES (%s) ON CONFLICT DO NOTHING", (name,))
            conn.execute(f"INSERT INTO {s}.grants (principal, collection, access) VALUES (%s, %s, %s) "
                         "ON CONFLICT (principal, collection) DO UPDATE SET access = excluded.access",
                         (name, collection, action))
        return self._fresh(name)

    def revoke(self, name: str, collection: str | None = None, *, write_only: bool = False) -> Principal | None:
        _checked(name, collection, None)
        s = self.schema
        with self._tx() as conn:
            if conn.execute(f"SELECT 1 FROM {s}.principals WHERE name = %s", (name,)).fetchone() is None:
                raise _no_principal(name)
            if collection is None:
                conn.execute(f"DELETE FROM {s}.principals WHERE name = %s", (name,))
            elif write_only:
                conn.execute(f"UPDATE {s}.grants SET access = 'read' WHERE principal = %s AND collection = %s",
                             (name, collection))
            else:
                conn.execute(f"DELETE FROM {s}.grants WHERE principal = %s AND collection = %s", (name, collection))
        return None if collection is None else self._fresh(name)

    def issue_token(self, name: str) -> str:
        _checked(name, None, None)
        if name == ANYONE:
            raise ConfigError("'anyone' stands for requests without a token: it cannot have one.")
        token = new_token()
        s = self.schema
        with self._tx() as conn:
            conn.execute(f"INSERT INTO {s}.principals (name, token_sha256, token_issued_at) VALUES (%s, %s, now()) "
                         "ON CONFLICT (name) DO UPDATE SET token_sha256 = excluded.token_sha256, "
                         "token_issued_at = excluded.token_issued_at", (name, token_hash(token)))
        return token

    def forget_collection(self, collection: str) -> None:
        with self._tx() as conn:
            conn.execute(f"DELETE FROM {self.schema}.grants WHERE collection = %s", (collection,))

    def _fresh(self, name: str) -> Principal:
        """The principal as just written (read from the primary: a standby may lag)."""
        conn = self.store.connect(self.store.url)
        try:
            s = self.schema
            rows = conn.execute(f"SELECT g.collection, g.access FROM {s}.grants g WHERE g.principal = %s",
                                (name,)).fetchall()
            p = conn.execute(f"SELECT token_sha256 FROM {s}.principals WHERE name = %s", (name,)).fetchone()
        finally:
            conn.close()
        return Principal(name, token_sha256=p[0] if p else None, grants=tuple(sorted((c, a) for c, a in rows)))
