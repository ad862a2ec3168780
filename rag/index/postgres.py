"""The PostgreSQL store: one index shared by every process that has the URL (RAG_STORE_URL).

Tables in schema `settings.store_schema` (default `rag`):

    meta         one row: the last version number given out, the vector dimension, the table format
    collections  one row per collection: its name and live version (format 3)
    versions     every kept version's manifest (model, fingerprint, settings, counts, files) and collection
    documents    one row per document and version range: collection, id, source, title, date, symbol,
                 the Document
    chunks       one row per chunk and version range: collection, offsets, paragraph, text, the text the
                 lexical side indexes (`body`, with its tsvector `tsv`), and the embedding (pgvector)
    terms        per collection, how many live chunks hold each lexeme (the IDF of the lexical ranking)
    postings     (lexeme, chunk row, its document, term frequency) for every chunk row: the lexical side's
                 inverted list, so a query reads only its own terms' rows (format 2; a format-1 database is
                 filled in from the chunks' tsvectors the first time a writer opens it)

Collections (format 3): every documents, chunks, versions and terms row belongs to one, and every
read names it inside its SQL (`collection = %(c)s`), so a search, a chunk fetched by row id or a
document list of one collection can never return another's rows, and one collection's term
statistics never weigh on another's scores. Version numbers are given out across collections
(`meta.current` is the last one), so rows a collection adds later are never visible to a version
of another. A format-2 database is read as the collection 'default' until a writer opens it,
which adds the collection columns in one transaction and says so; nothing is re-read or re-embedded.

Rows are versioned like MVCC: a row is part of version V when `added_in <= V` and it was not
removed by V (`removed_in IS NULL OR removed_in > V`). An ingest writes version V+1 in ONE
transaction (rows added, rows marked removed, the manifest, then `meta.current`): readers keep
seeing V until it commits, a crash or `kill -9` rolls all of it back, and a reader that loaded
V keeps a consistent view while V+1 goes live. Rows no kept version can see are deleted after
the commit (`keep_versions`). One writer at a time: a session advisory lock, released by the
server when the writer's connection ends, however it ends.

Dense search: pgvector HNSW (inner product on unit vectors = cosine), exact below
`approx_threshold` chunks like the directory store. Lexical search: PostgreSQL full text (the
`english` configuration: Snowball stemming and stopwords) ranked by BM25 computed
in SQL from `postings` and `terms`. Reads go to RAG_STORE_READ_URL
(a streaming standby) when it is set, writes always to RAG_STORE_URL.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import secrets
import struct
import threading
import time
from collections import OrderedDict
from typing import Iterator, Sequence

import numpy as np

from rag.errors import IndexBusy, IndexCorrupt, IndexMissing, RagError
from rag.index.base import Change
from rag.index.lexical import _WORD, _stopwords, tokenize
from rag.settings import Settings
from rag.types import Chunk, Document, SearchFilter

FORMAT = 3  # 2: the postings table; 3: collections
_BM25_K1, _BM25_B = 1.2, 0.75  # the same constants as the directory store's bm25s
_BULK_ROWS = 5_000  # a first build of at least this many chunks builds the HNSW graph after loading
_CHUNK_CACHE = 20_000
_DEFAULT = "default"
_connections: dict[str, threading.local] = {}  # per read URL: each thread's connection, shared by collections
_connections_lock = threading.Lock()
log = logging.getLogger("rag.index")


class StoreUnavailable(RagError):
    """The database cannot be reached or lacks what the index needs."""


class IndexStale(RagError):
    """The index in the database was built with settings that change the vectors."""


def redact(url: str) -> str:
    """The URL without its password, for messages and manifests."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def _plain(value) -> str | None:
    """A URL setting's text (it is a secret: it may hold a password)."""
    return value.get_secret_value() if hasattr(value, "get_secret_value") else value


def _psycopg():
    try:
        import psycopg
    except ImportError as e:  # pragma: no cover
        raise RagError("RAG_STORE_URL needs the PostgreSQL driver: pip install -r requirements.txt "
                       "(psycopg[binary])") from e
    return psycopg


def _vector_literal(vec: np.ndarray) -> str:
    return "[" + ",".join(repr(float(x)) for x in np.asarray(vec, dtype=np.float32).ravel()) + "]"


class PostgresStore:
    """The `Store` (rag/index/base.py) in a PostgreSQL database with pgvector."""

    kind = "postgresql"

    def __init__(self, settings: Settings):
        if not settings.store_url:
            raise RagError("PostgresStore needs RAG_STORE_URL=postgresql://...")
        self.settings = settings
        self.url = _plain(settings.store_url)
        self.read_url = _plain(settings.store_read_url) or self.url
        self.schema = settings.store_schema
        self.location = redact(self.url) + (f" (schema {self.schema})" if self.schema != "rag" else "")
        self.collection = settings.collection
        with _connections_lock:
            self._local = _connections.setdefault(self.read_url, threading.local())
        self._writer = None  # the connection holding the writer lock, during an ingest
        self._iterative: bool | None = None  # pgvector >= 0.8 on the read server: iterative index scans

    # --- connections ---
    def connect(self, url: str | None = None, *, autocommit: bool = True):
        """A new connection; StoreUnavailable naming the URL and the next step when it fails."""
        psycopg = _psycopg()
        url = url or self.url
        try:
            return psycopg.connect(url, autocommit=autocommit,
                                   connect_timeout=max(1, int(round(self.settings.store_connect_timeout))),
                                   application_name="rag")
        except psycopg.OperationalError as e:
            reason = " ".join(str(e).split()) or type(e).__name__
            which = "RAG_STORE_READ_URL" if url == self.read_url and url != self.url else "RAG_STORE_URL"
            raise StoreUnavailable(
                f"Cannot reach the index database at {redact(url)} ({reason}). Start PostgreSQL there "
                f"or correct {which}, then run the command again.") from None

    def _reader(self):
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._local.conn = self.connect(self.read_url)
        return conn

    def fetch(self, sql: str, params=None, *, setup: Sequence[str] = ()) -> list[tuple]:
        """Run one read (after `setup` statements such as SET LOCAL) in one transaction; all rows.

        Reads go to the read URL. A connection broken since its last use (the server restarted,
        a standby was promoted) is replaced once before the error is reported.
        """
        psycopg = _psycopg()
        for attempt in (0, 1):
            conn = self._reader()
            try:
                with conn.transaction(), conn.cursor() as cur:
                    for stmt in setup:
                        cur.execute(stmt)
                    cur.execute(sql, params)
                    return cur.fetchall()
            except psycopg.errors.UndefinedTable:
                raise IndexMissing(self.location) from None
            except psycopg.OperationalError as e:
                self._local.conn = None
                with contextlib.suppress(Exception):
                    conn.close()
                if attempt:
                    raise StoreUnavailable(
                        f"Lost the index database at {redact(self.read_url)} ({' '.join(str(e).split())}). "
                        "Check that PostgreSQL runs there, then try again.") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def iterative_scans(self) -> bool:
        """Whether the read server's pgvector (>= 0.8) can continue an HNSW scan past filtered rows."""
        if self._iterative is None:
            rows = self.fetch("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            parts = tuple(int(x) for x in re.findall(r"\d+", rows[0][0])[:2]) if rows else (0, 0)
            self._iterative = parts >= (0, 8)
        return self._iterative

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _t(self, name: str) -> str:
        return f"{self.schema}.{name}"

    # --- versions ---
    def current(self) -> str | None:
        """The live version of this store's collection (a format-2 database holds 'default' only)."""
        try:
            rows = self.fetch(f"SELECT current FROM {self._t('collections')} WHERE name = %s", (self.collection,))
        except IndexMissing:  # no collections table: a format-2 database, or none at all
            if self.collection != _DEFAULT:
                return None
            try:
                rows = self.fetch(f"SELECT current FROM {self._t('meta')}")
            except IndexMissing:
                return None
        return _name(rows[0][0]) if rows and rows[0][0] else None

    def require_current(self) -> str:
        name = self.current()
        if name is None:
            raise IndexMissing(self.location, self.collection)
        return name

    def scoped(self) -> bool:
        """Whether the database has collection columns (format 3), read afresh: a writer may have
        just upgraded it."""
        try:
            rows = self.fetch(f"SELECT format FROM {self._t('meta')}")
        except IndexMissing:
            return True
        return bool(rows) and rows[0][0] >= 3

    def manifest(self, version: str | None = None) -> dict:
        number = _number(version or self.require_current())
        if self.scoped():
            rows = self.fetch(f"SELECT manifest FROM {self._t('versions')} WHERE version = %s AND collection = %s",
                              (number, self.collection))
        elif self.collection == _DEFAULT:
            rows = self.fetch(f"SELECT manifest FROM {self._t('versions')} WHERE version = %s", (number,))
        else:
            rows = []
        row = rows[0] if rows else None
        if row is None:
            raise IndexCorrupt(f"{self.location} version {version}", "its manifest row is missing")
        return row[0]

    def load(self, version: str | None = None, *, verify_all: bool = False,
             check_settings: bool = True) -> "PgIndex":
        name = version or self.require_current()
        manifest = self.manifest(name)
        if check_settings and manifest.get("fingerprint") != self.settings.index_fingerprint():
            before = manifest.get("settings", {})
            diffs = [f"{k} {before.get(k)!r} -> {v!r}" for k, v in self.settings.shaping().items() if before.get(k) != v]
            raise IndexStale(
                f"The index at {self.location} was built with other settings ({', '.join(diffs) or 'fingerprint'}). "
                "Rebuild it with these settings: rag ingest --rebuild PATH... (or set them back).")
        v = _number(name)
        fmt = self.fetch(f"SELECT format FROM {self._t('meta')}")[0][0]
        where = _visible() + (" AND collection = %(c)s" if fmt >= 3 else "")
        documents = {}
        for (data,) in self.fetch(f"SELECT data FROM {self._t('documents')} WHERE {where} ORDER BY source, id",
                                  {"v": v, "c": self.collection}):
            d = Document.from_dict(data)
            documents[d.id] = d
        index = PgIndex(self, name, manifest, documents, postings=fmt >= 2, scoped=fmt >= 3)
        if verify_all:
            self.check(name)
        return index

    def check(self, version: str, full: bool = False) -> None:
        """The version's visible rows match its manifest's counts."""
        manifest = self.manifest(version)
        v = _number(version)
        where = _visible() + (" AND collection = %(c)s" if self.scoped() else "")
        docs, chunks = self.fetch(f"SELECT (SELECT count(*) FROM {self._t('documents')} WHERE {where}),"
                                  f" (SELECT count(*) FROM {self._t('chunks')} WHERE {where})",
                                  {"v": v, "c": self.collection})[0]
        want = manifest.get("counts", {})
        if (docs, chunks) != (want.get("documents"), want.get("chunks")):
            raise IndexCorrupt(f"{self.location} version {version}",
                               f"{docs} documents and {chunks} chunks, the manifest says "
                               f"{want.get('documents')} and {want.get('chunks')}")

    # --- writing ---
    @contextlib.contextmanager
    def writer_lock(self, wait: float = 0.0):
        """A session advisory lock on the primary: released when this connection ends, even by kill -9."""
        conn = self.connect(self.url)
        try:
            deadline = time.monotonic() + wait
            while True:
                got = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (self._lock_key(),)).fetchone()[0]
                if got:
                    break
                if time.monotonic() >= deadline:
                    where = "" if self.collection == _DEFAULT else f" (collection {self.collection!r})"
                    raise IndexBusy(f"Another ingest is writing the index at {self.location}{where}. Wait for it "
                                    "to finish, then run the command again.")
                time.sleep(0.2)
            self._upgrade(conn)
            self._writer = conn
            yield
        finally:
            self._writer = None
            conn.close()

    def _lock_key(self) -> str:
        """The writer's advisory lock: one writer per collection (commits of several collections are
        serialised by the `meta` row they all update)."""
        base = f"rag-writer:{self.schema}"
        return base if self.collection == _DEFAULT else f"{base}:{self.collection}"

    def _ensure_schema(self, conn, dim: int) -> None:
        psycopg = _psycopg()
        row = conn.execute("SELECT installed_version, default_version FROM pg_available_extensions "
                           "WHERE name = 'vector'").fetchone()
        if row is None:
            raise StoreUnavailable(
                f"The database at {self.location} lacks the vector extension (pgvector): it is not installed on "
                "that server. Install pgvector (>= 0.8 for filtered HNSW searches) there, then run the command again.")
        if row[0] is None:
            try:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except psycopg.errors.InsufficientPrivilege:
                raise StoreUnavailable(
                    f"The database at {self.location} lacks the vector extension, and this user may not create it. "
                    "Ask its administrator to run: CREATE EXTENSION vector; then run the command again.") from None
        s = self.schema
        self._upgrade(conn)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"rag-schema:{s}",))
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
            conn.execute(f"""
                CREATE TABLE IF NOT EXISTS {s}.meta (
                    one boolean PRIMARY KEY DEFAULT true CHECK (one),
                    format int NOT NULL, current bigint, dimension int NOT NULL);
                CREATE TABLE IF NOT EXISTS {s}.versions (
                    version bigint PRIMARY KEY, manifest jsonb NOT NULL, created_at timestamptz DEFAULT now(),
                    collection text NOT NULL);
                CREATE TABLE IF NOT EXISTS {s}.documents (
                    id text NOT NULL, added_in bigint NOT NULL, removed_in bigint,
                    source text NOT NULL, title text, date text, symbol text, data jsonb NOT NULL,
                    collection text NOT NULL,
                    PRIMARY KEY (id, added_in));
                CREATE INDEX IF NOT EXISTS documents_collection ON {s}.documents (collection, removed_in);
                CREATE TABLE IF NOT EXISTS {s}.terms (
                    collection text NOT NULL, term text NOT NULL, ndoc bigint NOT NULL,
                    PRIMARY KEY (collection, term));
            """ + _postings_ddl(s) + _collections_ddl(s))
            conn.execute(f"INSERT INTO {s}.meta (format, current, dimension) VALUES (%s, NULL, %s) "
                         "ON CONFLICT (one) DO NOTHING", (FORMAT, dim))
            conn.execute(self._chunks_ddl(dim, if_not_exists=True))

    def ensure_collections(self, conn) -> None:
        """The collections table (with 'default'), on a database of any age: a format-2 one is upgraded
        first. Needs no vector dimension, so collections can be created before anything is indexed."""
        s = self.schema
        self._upgrade(conn)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"rag-schema:{s}",))
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
            conn.execute(_collections_ddl(s))

    def _upgrade(self, conn) -> list[str]:
        """Bring a database written by an earlier format up to this one, in one transaction (readers
        keep reading it the old way until it commits). Returns what was done, as sentences (also logged).

        Format 1 had no postings table: it is filled from every chunk row's tsvector, all kept
        versions. Format 2 had no collections: its rows become the collection 'default', whose live
        version is republished under a new number, so that every reader loads it again and from then
        on names the collection in its queries."""
        s = self.schema
        if conn.execute("SELECT to_regclass(%s)", (f"{s}.meta",)).fetchone()[0] is None:
            return []  # a new database: _ensure_schema creates it at this format
        done: list[str] = []
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"rag-schema:{s}",))
            row = conn.execute(f"SELECT format FROM {s}.meta").fetchone()
            if row is None or row[0] >= FORMAT:
                return []
            if row[0] < 2:
                conn.execute(_postings_ddl(s))
                conn.execute(f"INSERT INTO {s}.postings (term, rid, doc_id, tf) {_postings_of(s, 'true')} "
                             "ON CONFLICT DO NOTHING")
                conn.execute(f"DROP INDEX IF EXISTS {s}.chunks_tsv")  # format 1's full-text index: postings replace it
                done.append("filled in the lexical postings from the chunks' tsvectors")
            if row[0] < 3:
                done.append(self._add_collections(conn))
            conn.execute(f"UPDATE {s}.meta SET format = %s", (FORMAT,))
        done = [f"Upgraded the index database at {self.location} to format {FORMAT}: " + "; ".join(done) + "."]
        for line in done:
            log.warning(line)
        return done

    def _add_collections(self, conn) -> str:
        """Format 2 -> 3, inside _upgrade's transaction: every row becomes the collection 'default'."""
        s = self.schema
        for table in ("documents", "chunks", "versions", "terms"):
            # a constant default is stored once in the catalogue (no table rewrite); dropped afterwards,
            # so that a row can never again be written without naming its collection
            conn.execute(f"ALTER TABLE {s}.{table} ADD COLUMN IF NOT EXISTS collection text NOT NULL "
                         f"DEFAULT '{_DEFAULT}'")
            conn.execute(f"ALTER TABLE {s}.{table} ALTER COLUMN collection DROP DEFAULT")
        conn.execute(f"ALTER TABLE {s}.terms DROP CONSTRAINT IF EXISTS terms_pkey, ADD PRIMARY KEY (collection, term)")
        conn.execute(f"CREATE INDEX IF NOT EXISTS documents_collection ON {s}.documents (collection, removed_in)")
        conn.execute(f"CREATE INDEX IF NOT EXISTS chunks_collection ON {s}.chunks (collection, removed_in)")
        conn.execute(_collections_ddl(s))
        cur = conn.execute(f"SELECT current FROM {s}.meta").fetchone()[0]
        if cur is None:
            return f"its (empty) index is now the collection {_DEFAULT!r}"
        # the live version again under a new number: readers see the number change and reload
        last = conn.execute(f"SELECT coalesce(max(version), 0) FROM {s}.versions").fetchone()[0]
        v = max(int(cur), int(last)) + 1
        manifest = conn.execute(f"SELECT manifest FROM {s}.versions WHERE version = %s", (cur,)).fetchone()[0]
        manifest = {**manifest, "version": _name(v), "collection": _DEFAULT, "republished_from": _name(cur)}
        from psycopg.types.json import Jsonb

        # the rows visible in version `cur` are those visible in `v`: no row was added or removed after `cur`
        conn.execute(f"INSERT INTO {s}.versions (version, manifest, collection) VALUES (%s, %s, %s)",
                     (v, Jsonb(manifest), _DEFAULT))
        conn.execute(f"UPDATE {s}.meta SET current = %s", (v,))
        conn.execute(f"UPDATE {s}.collections SET current = %s WHERE name = %s", (v, _DEFAULT))
        docs = manifest.get("counts", {}).get("documents", "?")
        return (f"its index is now the collection {_DEFAULT!r} ({docs} documents; live version {_name(cur)} "
                f"republished as {_name(v)}); no document was re-read or re-embedded")

    def _chunks_ddl(self, dim: int, if_not_exists: bool) -> str:
        s, ine = self.schema, "IF NOT EXISTS " if if_not_exists else ""
        return f"""
            CREATE TABLE {ine}{s}.chunks (
                rid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                collection text NOT NULL,
                chunk_id text NOT NULL, doc_id text NOT NULL, source text NOT NULL,
                added_in bigint NOT NULL, removed_in bigint,
                start_off int NOT NULL, end_off int NOT NULL, ordinal int NOT NULL,
                section text, paragraph int, paragraph_end int,
                text text NOT NULL, body text NOT NULL, nterms int NOT NULL,
                tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', body)) STORED,
                embedding vector({int(dim)}) NOT NULL);
            CREATE INDEX {ine}chunks_doc ON {s}.chunks (doc_id);
            CREATE INDEX {ine}chunks_live ON {s}.chunks (removed_in);
            CREATE INDEX {ine}chunks_collection ON {s}.chunks (collection, removed_in);
            CREATE INDEX {ine}chunks_hnsw ON {s}.chunks USING hnsw (embedding vector_ip_ops)
                WITH (m = {int(self.settings.hnsw_m)}, ef_construction = {int(self.settings.hnsw_ef_construction)});
        """

    def commit(self, change: Change, base, settings: Settings) -> str:
        """Write version V+1 in one transaction and make it live; then drop rows no kept version sees."""
        from rag.index.directory import library_versions

        psycopg = _psycopg()
        conn = getattr(self, "_writer", None)
        own = conn is None
        if own:  # callers normally hold writer_lock; a bare commit takes a connection of its own
            conn = self.connect(self.url)
        try:
            dim = int(change.vectors.shape[1]) if len(change.vectors) or change.staged else int(
                (base.manifest["dimension"] if base is not None else 384))
            self._ensure_schema(conn, dim)
            s = self.schema
            c = self.collection
            with conn.transaction():
                cur_v, table_dim = conn.execute(f"SELECT current, dimension FROM {s}.meta FOR UPDATE").fetchone()
                if conn.execute(f"SELECT 1 FROM {s}.collections WHERE name = %s", (c,)).fetchone() is None:
                    from rag.errors import CollectionMissing

                    raise CollectionMissing(c)
                if table_dim != dim:
                    if change.keep:
                        raise IndexStale(f"The index at {self.location} holds {table_dim}-dimensional vectors, "
                                         f"these are {dim}. Run: rag ingest --rebuild PATH...")
                    others = [r[0] for r in conn.execute(
                        f"SELECT DISTINCT collection FROM {s}.documents WHERE removed_in IS NULL AND collection <> %s",
                        (c,)).fetchall()]
                    if others:
                        raise IndexStale(f"The database at {self.location} holds {table_dim}-dimensional vectors for "
                                         f"the collections {', '.join(sorted(others))}, and these are {dim}: all "
                                         "collections of one database share one embedding model. Use the same "
                                         "RAG_EMBEDDING_MODEL, or another RAG_STORE_SCHEMA for this collection.")
                    # another embedding size: new tables, in this same transaction (readers wait for it)
                    conn.execute(f"DROP TABLE {s}.chunks")
                    conn.execute(f"TRUNCATE {s}.documents, {s}.terms, {s}.postings")
                    conn.execute(f"UPDATE {s}.meta SET dimension = %s", (dim,))
                    conn.execute(self._chunks_ddl(dim, if_not_exists=False))
                last = conn.execute(f"SELECT coalesce(max(version), 0) FROM {s}.versions").fetchone()[0]
                v = max(int(cur_v or 0), int(last)) + 1
                keep = sorted(change.keep)
                conn.execute(f"UPDATE {s}.documents SET removed_in = %s WHERE collection = %s AND removed_in IS NULL "
                             "AND NOT (id = ANY(%s))", (v, c, keep))
                conn.execute(f"UPDATE {s}.chunks SET removed_in = %s WHERE collection = %s AND removed_in IS NULL "
                             "AND NOT (doc_id = ANY(%s))", (v, c, keep))
                from psycopg.types.json import Jsonb

                with conn.cursor() as cur:
                    cur.executemany(
                        f"INSERT INTO {s}.documents (collection, id, added_in, source, title, date, symbol, data) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                        [(c, d.id, v, d.source, d.title, d.date, d.symbol, Jsonb(d.to_dict()))
                         for d in change.documents])
                taken = sorted(change.staged_docs.items())
                staged = {"run": change.staged, "ids": [d for d, _ in taken], "parts": [p for _, p in taken]}
                pick = "JOIN unnest(%(parts)s::int[], %(ids)s::text[]) AS k(part, id) ON x.part = k.part AND "
                if change.staged:  # each document's rows from the one part they are taken from (retries may repeat them)
                    conn.execute(f"INSERT INTO {s}.documents (collection, id, added_in, source, title, date, symbol, data) "
                                 f"SELECT x.collection, x.id, {v}, x.source, x.title, x.date, x.symbol, x.data "
                                 f"FROM {s}.staged_documents x {pick} x.id = k.id WHERE x.run = %(run)s "
                                 "ORDER BY x.part, x.ord", staged)
                    new_chunks = conn.execute(f"SELECT count(*) FROM {s}.staged_chunks x {pick} x.doc_id = k.id "
                                              "WHERE x.run = %(run)s", staged).fetchone()[0]
                else:
                    new_chunks = len(change.chunks)
                live = conn.execute(f"SELECT count(*) FROM {s}.chunks WHERE removed_in IS NULL").fetchone()[0]
                bulk = live == 0 and new_chunks >= _BULK_ROWS
                if bulk:  # pgvector builds a graph far faster from a full table than row by row
                    conn.execute(f"DROP INDEX IF EXISTS {s}.chunks_hnsw")
                if change.staged:  # rows the workers wrote, in the order of the parts
                    cols = ", ".join("x." + col.strip() for col in _STAGED_COLS.split(","))
                    conn.execute(f"INSERT INTO {s}.chunks (collection, {_STAGED_COLS}, added_in) "
                                 f"SELECT x.collection, {cols}, {v} "
                                 f"FROM {s}.staged_chunks x {pick} x.doc_id = k.id WHERE x.run = %(run)s "
                                 "ORDER BY x.part, x.ord", staged)
                    conn.execute(f"DELETE FROM {s}.staged_chunks WHERE run = %(run)s", staged)
                    conn.execute(f"DELETE FROM {s}.staged_documents WHERE run = %(run)s", staged)
                else:
                    self._copy_chunks(conn, v, change)
                if bulk:  # the graph built in memory (pgvector slows down sharply once it spills)
                    mb = new_chunks * (4 * dim + 16 * self.settings.hnsw_m + 64) * 1.2 / 2**20
                    conn.execute(f"SET LOCAL maintenance_work_mem = '{int(min(max(mb, 64), 4096))}MB'")
                    conn.execute(f"CREATE INDEX chunks_hnsw ON {s}.chunks USING hnsw (embedding vector_ip_ops) "
                                 f"WITH (m = {int(self.settings.hnsw_m)}, "
                                 f"ef_construction = {int(self.settings.hnsw_ef_construction)})")
                conn.execute(f"INSERT INTO {s}.postings (term, rid, doc_id, tf) {_postings_of(s, f'c.added_in = {v}')}")
                # lexeme document frequencies of the live version (the lexical side's IDF)
                # (version numbers are given out across collections: rows added or removed in v are this one's)
                conn.execute(f"INSERT INTO {s}.terms (collection, term, ndoc) SELECT %s, word, ndoc FROM "
                             f"ts_stat('SELECT tsv FROM {s}.chunks WHERE added_in = {v}') "
                             "ON CONFLICT (collection, term) DO UPDATE SET ndoc = terms.ndoc + excluded.ndoc", (c,))
                conn.execute(f"UPDATE {s}.terms t SET ndoc = t.ndoc - r.ndoc FROM "
                             f"ts_stat('SELECT tsv FROM {s}.chunks WHERE removed_in = {v}') r "
                             "WHERE t.collection = %s AND t.term = r.word", (c,))
                conn.execute(f"DELETE FROM {s}.terms WHERE collection = %s AND ndoc <= 0", (c,))
                n_chunks, avg_len = conn.execute(
                    f"SELECT count(*), coalesce(avg(nterms), 0) FROM {s}.chunks WHERE collection = %s "
                    "AND removed_in IS NULL", (c,)).fetchone()
                n_docs = conn.execute(f"SELECT count(*) FROM {s}.documents WHERE collection = %s AND removed_in IS NULL",
                                      (c,)).fetchone()[0]
                server = conn.execute("SELECT current_setting('server_version'), "
                                      "(SELECT extversion FROM pg_extension WHERE extname = 'vector')").fetchone()
                manifest = {
                    "format": FORMAT,
                    "version": _name(v),
                    "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "store": "postgresql",
                    "location": self.location,
                    "collection": c,
                    "model": change.model,
                    "dimension": dim,
                    "fingerprint": settings.index_fingerprint(),
                    "settings": {**settings.shaping(), "hnsw_ef_search": settings.hnsw_ef_search},
                    "index_kind": "hnsw" if n_chunks > settings.approx_threshold else "flat",
                    "hnsw": {"m": settings.hnsw_m, "ef_construction": settings.hnsw_ef_construction},
                    "counts": {"documents": int(n_docs), "chunks": int(n_chunks)},
                    "lexical": {"avg_terms": float(avg_len)},
                    "versions": {**library_versions(), "postgresql": server[0], "pgvector": server[1],
                                 "psycopg": psycopg.__version__},
                    "files": change.files,
                }
                conn.execute(f"INSERT INTO {s}.versions (version, manifest, collection) VALUES (%s, %s, %s)",
                             (v, Jsonb(manifest), c))
                conn.execute(f"UPDATE {s}.meta SET current = %s", (v,))  # the last number given out
                conn.execute(f"UPDATE {s}.collections SET current = %s WHERE name = %s", (v, c))
            self._collect_garbage(conn, v)
            return _name(v)
        finally:
            if own:
                conn.close()

    def _copy_chunks(self, conn, v: int, change: Change) -> None:
        """Binary COPY of the new chunks (pgvector's binary form: int16 dim, int16 0, float4 big-endian)."""
        s = self.schema
        cols = ("collection, chunk_id, doc_id, source, added_in, start_off, end_off, ordinal, section, paragraph, "
                "paragraph_end, text, body, nterms, embedding")
        vecs = np.ascontiguousarray(change.vectors, dtype=">f4")
        dim = vecs.shape[1] if vecs.ndim == 2 else 0
        head = struct.pack(">hh", dim, 0)
        with conn.cursor() as cur, cur.copy(f"COPY {s}.chunks ({cols}) FROM STDIN WITH (FORMAT binary)") as cp:
            cp.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0))
            buf = bytearray()
            for i, (c, body) in enumerate(zip(change.chunks, change.texts)):
                buf += struct.pack(">h", 15)
                for text in (self.collection, c.id, c.doc_id, c.source):
                    _text(buf, text)
                buf += struct.pack(">iq", 8, v)
                for n in (c.start, c.end, c.ordinal):
                    _int(buf, n)
                _text(buf, c.section)
                _int(buf, c.paragraph)
                _int(buf, c.paragraph_end)
                _text(buf, c.text)
                _text(buf, body)
                _int(buf, len(tokenize(body)))
                vb = vecs[i].tobytes()
                buf += struct.pack(">i", 4 + len(vb)) + head + vb
                if len(buf) > 1 << 20:
                    cp.write(bytes(buf))
                    buf.clear()
            buf += struct.pack(">h", -1)
            cp.write(bytes(buf))

    # --- staging: rows written from anywhere, made live by one commit ---
    def open_staging(self, dim: int) -> str:
        """A new staging area (its name) that workers on any machine fill with `stage`; a commit
        whose Change names it makes its rows live. Readers never see staged rows. Called by the
        holder of the writer lock, so rows left by an earlier ingest that never committed are
        deleted here."""
        conn = self._writer
        own = conn is None
        if own:
            conn = self.connect(self.url)
        try:
            self._ensure_schema(conn, dim)
            s = self.schema
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"rag-schema:{s}",))
                # UNLOGGED: staged rows need no WAL (nor a standby's copy); a crash only loses an ingest
                conn.execute(f"""
                    CREATE UNLOGGED TABLE IF NOT EXISTS {s}.staged_documents (
                        run text NOT NULL, collection text NOT NULL, part int NOT NULL, ord int NOT NULL, id text NOT NULL,
                        source text NOT NULL, title text, date text, symbol text, data jsonb NOT NULL);
                    CREATE UNLOGGED TABLE IF NOT EXISTS {s}.staged_chunks (
                        run text NOT NULL, collection text NOT NULL, part int NOT NULL, ord int NOT NULL,
                        chunk_id text NOT NULL, doc_id text NOT NULL, source text NOT NULL,
                        start_off int NOT NULL, end_off int NOT NULL, ordinal int NOT NULL,
                        section text, paragraph int, paragraph_end int,
                        text text NOT NULL, body text NOT NULL, nterms int NOT NULL, embedding vector NOT NULL);
                    CREATE INDEX IF NOT EXISTS staged_chunks_run ON {s}.staged_chunks (run, part);
                    CREATE INDEX IF NOT EXISTS staged_documents_run ON {s}.staged_documents (run, part);""")
                # rows of this collection's earlier ingests that never committed (one writer per collection)
                for table in ("staged_documents", "staged_chunks"):
                    conn.execute(f"DELETE FROM {s}.{table} WHERE collection = %s", (self.collection,))
            return "run-" + secrets.token_hex(8)
        finally:
            if own:
                conn.close()

    def stage(self, staging: str, part: int, documents: list[Document], chunks: list[Chunk], vectors: np.ndarray,
              texts: list[str]) -> None:
        """Write one part's documents and chunks (aligned with `vectors` and `texts`) into a staging
        area, in one transaction; writing the same part again replaces it (a retried task)."""
        s = self.schema
        from psycopg.types.json import Jsonb

        with self.connect(self.url) as conn, conn.transaction():
            conn.execute(f"DELETE FROM {s}.staged_documents WHERE run = %s AND part = %s", (staging, part))
            conn.execute(f"DELETE FROM {s}.staged_chunks WHERE run = %s AND part = %s", (staging, part))
            with conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO {s}.staged_documents (run, collection, part, ord, id, source, title, date, symbol, "
                    "data) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [(staging, self.collection, part, n, d.id, d.source, d.title, d.date, d.symbol, Jsonb(d.to_dict()))
                     for n, d in enumerate(documents)])
            vecs = np.ascontiguousarray(vectors, dtype=">f4")
            head = struct.pack(">hh", vecs.shape[1] if vecs.ndim == 2 else 0, 0)
            with conn.cursor() as cur, cur.copy(f"COPY {s}.staged_chunks (run, collection, part, ord, {_STAGED_COLS}) "
                                                "FROM STDIN WITH (FORMAT binary)") as cp:
                cp.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0))
                buf = bytearray()
                for i, (c, body) in enumerate(zip(chunks, texts)):
                    buf += struct.pack(">h", 17)
                    _text(buf, staging)
                    _text(buf, self.collection)
                    _int(buf, part)
                    _int(buf, i)
                    for text in (c.id, c.doc_id, c.source):
                        _text(buf, text)
                    for n in (c.start, c.end, c.ordinal):
                        _int(buf, n)
                    _text(buf, c.section)
                    _int(buf, c.paragraph)
                    _int(buf, c.paragraph_end)
                    _text(buf, c.text)
                    _text(buf, body)
                    _int(buf, len(tokenize(body)))
                    vb = vecs[i].tobytes()
                    buf += struct.pack(">i", 4 + len(vb)) + head + vb
                    if len(buf) > 1 << 20:
                        cp.write(bytes(buf))
                        buf.clear()
                buf += struct.pack(">h", -1)
                cp.write(bytes(buf))

    def drop_staging(self, staging: str) -> None:
        """Delete a staging area's rows (an ingest that will not commit them)."""
        s = self.schema
        with self.connect(self.url) as conn:
            if conn.execute("SELECT to_regclass(%s)", (f"{s}.staged_chunks",)).fetchone()[0] is None:
                return
            with conn.transaction():
                conn.execute(f"DELETE FROM {s}.staged_documents WHERE run = %s", (staging,))
                conn.execute(f"DELETE FROM {s}.staged_chunks WHERE run = %s", (staging,))

    def _collect_garbage(self, conn, v: int) -> None:
        """Delete this collection's rows and manifests that none of its kept versions (its last
        keep_versions) can see."""
        s, c = self.schema, self.collection
        row = conn.execute(f"SELECT version FROM {s}.versions WHERE collection = %s ORDER BY version DESC "
                           "OFFSET %s LIMIT 1", (c, self.settings.keep_versions - 1)).fetchone()
        if row is None:
            return
        oldest = int(row[0])
        with conn.transaction():
            conn.execute(f"DELETE FROM {s}.postings p USING {s}.chunks c WHERE p.rid = c.rid AND p.doc_id = c.doc_id "
                         "AND c.collection = %s AND c.removed_in IS NOT NULL AND c.removed_in <= %s", (c, oldest))
            conn.execute(f"DELETE FROM {s}.chunks WHERE collection = %s AND removed_in IS NOT NULL AND removed_in <= %s",
                         (c, oldest))
            conn.execute(f"DELETE FROM {s}.documents WHERE collection = %s AND removed_in IS NOT NULL "
                         "AND removed_in <= %s", (c, oldest))
            conn.execute(f"DELETE FROM {s}.versions WHERE collection = %s AND version < %s", (c, oldest))

    def drop_collection(self, conn) -> dict:
        """Delete every row of this collection, in one transaction; the counts of what went."""
        s, c = self.schema, self.collection
        with conn.transaction():
            counts = {}
            if conn.execute("SELECT to_regclass(%s)", (f"{s}.chunks",)).fetchone()[0] is not None:
                counts["documents"] = conn.execute(f"SELECT count(*) FROM {s}.documents WHERE collection = %s "
                                                   "AND removed_in IS NULL", (c,)).fetchone()[0]
                conn.execute(f"DELETE FROM {s}.postings p USING {s}.chunks c WHERE p.rid = c.rid "
                             "AND p.doc_id = c.doc_id AND c.collection = %s", (c,))
                for table in ("chunks", "documents", "terms", "versions"):
                    conn.execute(f"DELETE FROM {s}.{table} WHERE collection = %s", (c,))
            conn.execute(f"DELETE FROM {s}.collections WHERE name = %s", (c,))
        return counts


def _collections_ddl(s: str) -> str:
    return f"""
        CREATE TABLE IF NOT EXISTS {s}.collections (
            name text PRIMARY KEY, current bigint, created_at timestamptz NOT NULL DEFAULT now());
        INSERT INTO {s}.collections (name) VALUES ('{_DEFAULT}') ON CONFLICT (name) DO NOTHING;"""


def _postings_ddl(s: str) -> str:
    return f"""
        CREATE TABLE IF NOT EXISTS {s}.postings (
            term text NOT NULL, rid bigint NOT NULL, doc_id text NOT NULL, tf int NOT NULL,
            PRIMARY KEY (term, rid));
        CREATE INDEX IF NOT EXISTS postings_rid ON {s}.postings (rid);"""


def _postings_of(schema: str, where: str) -> str:
    """SELECT (term, rid, doc_id, tf) for the chunk rows `c` matching `where`, from their tsvectors
    (tf: the lexeme's positions, as PostgreSQL counts them). `doc_id` lets a sharded database keep a
    chunk's postings on its shard (README, "Past one machine")."""
    return (f"SELECT u.lexeme, c.rid, c.doc_id, cardinality(u.positions) FROM {schema}.chunks c, unnest(c.tsv) u "
            f"WHERE {where}")


def _name(v: int) -> str:
    return f"pg-{int(v):08d}"


def _number(name: str) -> int:
    try:
        return int(str(name).removeprefix("pg-"))
    except ValueError:
        raise IndexCorrupt(str(name), "not a PostgreSQL index version name") from None


def _visible(alias: str = "") -> str:
    p = f"{alias}." if alias else ""
    return f"{p}added_in <= %(v)s AND ({p}removed_in IS NULL OR {p}removed_in > %(v)s)"


def _text(buf: bytearray, value: str | None) -> None:
    if value is None:
        buf += b"\xff\xff\xff\xff"
    else:
        b = value.encode()
        buf += struct.pack(">i", len(b)) + b


def _int(buf: bytearray, value: int | None) -> None:
    buf += b"\xff\xff\xff\xff" if value is None else struct.pack(">ii", 4, int(value))


_STAGED_COLS = ("chunk_id, doc_id, source, start_off, end_off, ordinal, section, paragraph, paragraph_end, text, body, "
                "nterms, embedding")
_CHUNK_COLS = "rid, chunk_id, doc_id, source, text, start_off, end_off, ordinal, section, paragraph, paragraph_end"


def _chunk(row) -> Chunk:
    return Chunk(id=row[1], doc_id=row[2], source=row[3], text=row[4], start=row[5], end=row[6], ordinal=row[7],
                 section=row[8], paragraph=row[9], paragraph_end=row[10])


class _Chunks(Sequence):
    """A version's chunks, fetched from the database when asked for (row id -> Chunk)."""

    def __init__(self, index: "PgIndex"):
        self._index = index

    def __len__(self) -> int:
        return int(self._index.manifest["counts"]["chunks"])

    def __getitem__(self, rid):
        found = self._index.chunk_map([int(rid)])
        if int(rid) not in found:
            raise KeyError(f"chunk row {rid} is not in version {self._index.version}")
        return found[int(rid)]

    def __iter__(self) -> Iterator[Chunk]:
        ix = self._index
        where, params = ix._where(None)
        rows = ix.store.fetch(f"SELECT {_CHUNK_COLS} FROM {ix.store._t('chunks')} WHERE {where} ORDER BY rid", params)
        return iter([_chunk(r) for r in rows])


class PgIndex:
    """One version of the PostgreSQL index: documents in memory, chunks and vectors in the database."""

    def __init__(self, store: PostgresStore, version: str, manifest: dict, documents: dict[str, Document],
                 postings: bool = True, scoped: bool = True):
        self.store = store
        self.collection = store.collection
        self.scoped = scoped  # False on a format-2 database (no collection columns: all its rows are 'default')
        self.version = version
        self.number = _number(version)
        self.manifest = manifest
        self.documents = documents
        self.chunks = _Chunks(self)
        self._cache: OrderedDict[int, Chunk] = OrderedDict()
        self._lock = threading.Lock()
        self.postings = postings  # False on a format-1 database no writer has opened since (no postings yet)

    @property
    def path(self):
        """The version name as a path-like (the UI shows `index.path.name`)."""
        from pathlib import PurePosixPath

        return PurePosixPath(self.version)

    def allowed_mask(self, flt: SearchFilter | None):
        """The admitted document ids, or None when the filter admits everything."""
        if flt is None or flt.is_empty():
            return None
        return sorted(d for d, doc in self.documents.items() if flt.admits(doc))

    def _where(self, mask) -> tuple[str, dict]:
        """The rows of this version of this collection (within `mask`): every read's WHERE clause."""
        params = {"v": self.number, "c": self.collection}
        where = _visible() + (" AND collection = %(c)s" if self.scoped else "")
        if mask is not None:
            where += " AND doc_id = ANY(%(docs)s)"
            params["docs"] = list(mask)
        return where, params

    def dense(self, qvec: np.ndarray, k: int, mask=None) -> tuple[np.ndarray, np.ndarray]:
        if mask is not None and len(mask) == 0:
            return np.array([], dtype=np.int64), np.array([], dtype=np.float32)
        where, params = self._where(mask)
        params |= {"q": _vector_literal(qvec), "k": int(k)}
        exact = self.manifest["counts"]["chunks"] <= self.store.settings.approx_threshold
        if exact:  # like the directory store: exact search below the threshold
            setup = ["SET LOCAL enable_indexscan = off"]
        else:  # iterative scans keep going until k rows pass the version and document filters
            ef = min(max(self.store.settings.hnsw_ef_search, int(k)), 1000)
            setup = [f"SET LOCAL hnsw.ef_search = {ef}"]
            if self.store.iterative_scans():
                setup.append("SET LOCAL hnsw.iterative_scan = strict_order")
        rows = self.store.fetch(f"SELECT rid, -(embedding <#> %(q)s::vector) FROM {self.store._t('chunks')} "
                                f"WHERE {where} ORDER BY embedding <#> %(q)s::vector LIMIT %(k)s", params, setup=setup)
        return (np.array([r[0] for r in rows], dtype=np.int64), np.array([r[1] for r in rows], dtype=np.float32))

    def lexical(self, query: str, k: int, mask=None) -> tuple[np.ndarray, np.ndarray]:
        """BM25 over PostgreSQL full text: idf from `terms`, term frequency from `postings` (or, on a
        format-1 database, from each matching chunk's tsvector), length from the chunk row."""
        stop = _stopwords()
        words = sorted({w for w in _WORD.findall(query.lower()) if w not in stop})
        if not words or (mask is not None and len(mask) == 0):
            return np.array([], dtype=np.int64), np.array([], dtype=np.float32)
        where, params = self._where(mask)
        where = where.replace("added_in", "c.added_in").replace("removed_in", "c.removed_in").replace(
            "doc_id", "c.doc_id").replace("collection =", "c.collection =")
        n = max(1, int(self.manifest["counts"]["chunks"]))
        avgdl = float(self.manifest.get("lexical", {}).get("avg_terms") or 1.0)
        params |= {"tsq": " | ".join(words), "words": " ".join(words), "n": n, "avgdl": avgdl, "k": int(k),
                   "k1": _BM25_K1, "b": _BM25_B}
        s = self.store.schema
        if self.postings:  # read only the query terms' postings
            matches = f"""
            m AS (
                SELECT p.rid, p.tf, c.nterms, q.idf FROM q
                JOIN {s}.postings p ON p.term = q.term
                JOIN {s}.chunks c ON c.rid = p.rid AND c.doc_id = p.doc_id
                WHERE {where})"""
        else:  # every lexeme of every chunk that holds a query term
            matches = f"""
            m AS (
                SELECT c.rid, u.tf, c.nterms, q.idf FROM {s}.chunks c
                CROSS JOIN LATERAL (SELECT lexeme, cardinality(positions) AS tf FROM unnest(c.tsv)) u
                JOIN q ON q.term = u.lexeme
                WHERE c.tsv @@ to_tsquery('english', %(tsq)s) AND {where})"""
        sql = f"""
            WITH q AS (
                SELECT t.term, ln(1 + (%(n)s - t.ndoc + 0.5) / (t.ndoc + 0.5)) AS idf
                FROM {s}.terms t
                WHERE {"t.collection = %(c)s AND " if self.scoped else ""}t.term = ANY(tsvector_to_array(to_tsvector('english', %(words)s)))),{matches}
            SELECT m.rid, sum(m.idf * m.tf * (%(k1)s + 1)
                              / (m.tf + %(k1)s * (1 - %(b)s + %(b)s * m.nterms / %(avgdl)s))) AS score
            FROM m
            GROUP BY m.rid
            ORDER BY score DESC, m.rid
            LIMIT %(k)s"""
        rows = self.store.fetch(sql, params)
        return (np.array([r[0] for r in rows], dtype=np.int64), np.array([r[1] for r in rows], dtype=np.float32))

    def chunk_map(self, rows: Sequence[int]) -> dict[int, Chunk]:
        want = [int(r) for r in rows]
        with self._lock:
            out = {r: self._cache[r] for r in want if r in self._cache}
        missing = [r for r in want if r not in out]
        if missing:
            scope = " AND collection = %(c)s" if self.scoped else ""
            fetched = {r[0]: _chunk(r) for r in self.store.fetch(
                f"SELECT {_CHUNK_COLS} FROM {self.store._t('chunks')} WHERE rid = ANY(%(ids)s){scope}",
                {"ids": missing, "c": self.collection})}
            with self._lock:
                for rid, c in fetched.items():
                    self._cache[rid] = c
                while len(self._cache) > _CHUNK_CACHE:
                    self._cache.popitem(last=False)
            out |= fetched
        return out

    def vectors_of(self, rows: Sequence[int]) -> np.ndarray:
        """The stored embeddings of these row ids (benchmarks, tests)."""
        got = {r[0]: np.array(json.loads(r[1]), dtype=np.float32) for r in self.store.fetch(
            f"SELECT rid, embedding::text FROM {self.store._t('chunks')} WHERE rid = ANY(%(ids)s)"
            + (" AND collection = %(c)s" if self.scoped else ""), {"ids": [int(r) for r in rows], "c": self.collection})}
        return np.stack([got[int(r)] for r in rows]) if rows else np.zeros((0, self.manifest["dimension"]), np.float32)
