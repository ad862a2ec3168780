"""Collections and access on the stores and the CLI: the default collection is the index a data
directory already has, named collections are apart from it on both stores (on PostgreSQL by the
collection named inside every query), an index database written before collections existed is
taken over without re-ingest, and `rag collections` / `rag access` behave and fail clearly.
"""

from __future__ import annotations

import gzip
import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import DOCS_RAW, HashEmbedder
from rag.access.policy import ADMIN, ANYONE_CALLER, Caller, Policy, ui_caller
from rag.access.principals import open_access, token_hash
from rag.cli import cli
from rag.errors import CollectionMissing, IndexMissing, RagError
from rag.index import open_store
from rag.index.collections import open_catalog
from rag.index.retrieve import HybridRetriever
from rag.ingest import ingest, remove_documents
from rag.pipeline import Assistant
from rag.settings import Settings
from test_access_server import NON_UTF8, SCIENCE, docs_table, write_table

ROOT = Path(__file__).resolve().parent.parent
FORMAT2 = ROOT / "tests" / "data" / "pg-format2.sql.gz"
SWEDEN = "In what year did Sweden criminalize the purchase of sexual services?"


@pytest.fixture(scope="module")
def pg():
    from pg_fixture import PgCluster

    cluster = PgCluster().init().start()
    yield cluster
    cluster.destroy()


@pytest.fixture(params=["directory", "postgresql"])
def base(request, rag_home) -> Settings:
    """Settings of an empty deployment on each store (quote mode)."""
    url = None
    if request.param == "postgresql":
        request.applymarker(pytest.mark.slow)
        request.applymarker(pytest.mark.integration)
        url = request.getfixturevalue("pg").create_database(f"c{os.getpid()}{secrets.token_hex(3)}")
    return Settings(home=rag_home, store_url=url, mode="quote", quote_threshold=0.05)


@pytest.fixture
def science_dir(tmp_path) -> Path:
    d = tmp_path / "science"
    d.mkdir()
    for name, text in SCIENCE.items():
        (d / name).write_text(text)
    return d


def run(*args: str, home: Path, **env) -> tuple[int, str]:
    """`rag ARGS` in-process; (exit code, output), a project error printed as `rag` prints it."""
    res = CliRunner().invoke(cli, list(args), env={"RAG_HOME": str(home), **env})
    if isinstance(res.exception, RagError):
        return res.exception.exit_code, res.output + f"error: {res.exception}\n"
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.output


# --- the default collection is the index a data directory already has ----------------------------


def test_default_collection_is_the_existing_index(corpus_copy, hash_embedder, rag_home):
    s = Settings()
    ingest([corpus_copy], s, embedder=hash_embedder, progress=False)  # no collection named: as always
    assert (rag_home / "index" / "CURRENT").is_file() and not (rag_home / "collections").exists()
    catalog = open_catalog(s)
    assert catalog.names() == ["default"] and catalog.migrate() == []
    code, out = run("collections", "list", "--json", home=rag_home)
    listed = json.loads(out)
    assert code == 0 and [(c["name"], c["documents"], c["version"]) for c in listed] == [
        ("default", 5, open_store(s).current())]
    code, out = run("collections", "migrate", home=rag_home)
    assert code == 0 and "Nothing to migrate" in out and "is the collection 'default' as it is" in out
    # the default collection named explicitly is the same index
    same = HybridRetriever(s.for_collection("default"), embedder=hash_embedder).search(SWEDEN, 3)
    assert [h.chunk.id for h in same] == [h.chunk.id for h in HybridRetriever(s, embedder=hash_embedder).search(SWEDEN, 3)]
    assert not (rag_home / "collections").exists()


def test_named_collection_lives_apart_and_answers_only_from_itself(base, corpus_copy, science_dir):
    embedder = HashEmbedder()
    ingest([corpus_copy], base, embedder=embedder, progress=False)  # default: the trafficking corpus
    catalog = open_catalog(base)
    with pytest.raises(CollectionMissing, match="rag collections create science"):
        from rag.index.collections import require

        require(base.for_collection("science"))
    catalog.create("science")
    assert catalog.names() == ["default", "science"]
    sci = base.for_collection("science")
    with pytest.raises(IndexMissing, match="--collection science"):
        open_store(sci).require_current()
    report = ingest([science_dir], sci, embedder=embedder, progress=False)
    assert len(report.added) == 2
    # each collection's index holds its own documents only; answers cite only their own
    default_docs = set(open_store(base).load().documents)
    science_docs = set(open_store(sci).load().documents)
    assert len(default_docs) == 5 and len(science_docs) == 2 and not default_docs & science_docs
    a = Assistant(sci, embedder=embedder).ask(SWEDEN)
    assert {c.doc_id for c in a.citations} <= science_docs
    b = Assistant(base, embedder=embedder).ask("How many researchers isolated the enzyme Zorbase?")
    assert {c.doc_id for c in b.citations} <= default_docs and "Zorbase" not in b.answer
    ok = Assistant(sci, embedder=embedder).ask("How many researchers isolated the enzyme Zorbase?")
    assert not ok.refused and "14 researchers" in ok.answer
    # a re-ingest of one collection removes nothing from the other (incremental, per collection)
    (science_dir / "vellani.md").unlink()
    again = ingest([science_dir], sci, embedder=embedder, progress=False)
    assert [Path(p).name for p in again.removed] == ["vellani.md"]
    assert set(open_store(base).load().documents) == default_docs
    remove_documents([str(science_dir / "zorbase.txt")], sci)
    assert set(open_store(base).load().documents) == default_docs
    # deleting it takes its documents, files and grants, and leaves the default collection whole
    open_access(base).grant("bob", "science", "write")
    assert catalog.delete("science")["documents"] == 0
    open_access(base).forget_collection("science")
    assert catalog.names() == ["default"] and not (base.home / "collections" / "science").exists()
    assert open_access(base).principals()["bob"].grants == ()
    assert set(open_store(base).load().documents) == default_docs
    assert HybridRetriever(base, embedder=embedder).search(SWEDEN, 3)


@pytest.mark.slow
@pytest.mark.integration
def test_postgres_reads_name_the_collection_inside_every_query(pg, rag_home, corpus_copy, science_dir):
    """On PostgreSQL the two collections share tables: each read path of one collection (documents,
    dense and lexical search, chunk rows by id, the chunk list) returns none of the other's rows, even
    when the other's row ids or best-matching terms are asked for directly."""
    base = Settings(home=rag_home, store_url=pg.create_database(f"q{os.getpid()}{secrets.token_hex(3)}"))
    embedder = HashEmbedder()
    ingest([corpus_copy], base, embedder=embedder, progress=False)
    alone = open_store(base).load().lexical(SWEDEN + " every year", 20)
    open_catalog(base).create("science")
    sci = base.for_collection("science")
    ingest([science_dir], sci, embedder=embedder, progress=False)  # shares words ("year") with the query
    store = open_store(base)
    beside = store.load().lexical(SWEDEN + " every year", 20)  # the other's term statistics weigh nothing
    assert beside[0].tolist() == alone[0].tolist() and np.allclose(beside[1], alone[1])
    theirs = {r[0] for r in store.fetch("SELECT rid FROM rag.chunks WHERE collection = 'science'")}
    mine = {r[0] for r in store.fetch("SELECT rid FROM rag.chunks WHERE collection = 'default'")}
    assert theirs and mine and not theirs & mine
    for name, own, other, text in (("default", mine, theirs, SCIENCE["zorbase.txt"]),
                                   ("science", theirs, mine, SWEDEN)):
        idx = open_store(base.for_collection(name)).load()
        ids, _ = idx.dense(embedder.embed_query(text), 200)
        assert set(ids.tolist()) <= own and ids.size
        lex, _ = idx.lexical(text, 200)
        assert set(lex.tolist()) <= own
        assert idx.chunk_map(sorted(other)) == {}  # another collection's rows, by id: nothing
        assert {c.doc_id for c in idx.chunks} == set(idx.documents)
        open_store(base.for_collection(name)).check(idx.version)
    # term statistics are per collection: science's words are unknown to the default collection
    assert store.fetch("SELECT count(*) FROM rag.terms WHERE collection = 'science' AND term LIKE 'zorba%'")[0][0] == 1
    assert store.fetch("SELECT count(*) FROM rag.terms WHERE collection = 'default' AND term LIKE 'zorba%'")[0][0] == 0


@pytest.mark.slow
@pytest.mark.integration
def test_postgres_database_from_before_collections_is_taken_over(pg, hash_embedder, science_dir, rag_home,
                                                                 monkeypatch):
    """A real format-2 database (tests/data/pg-format2.sql.gz: docs_raw/ indexed with the hash embedder
    by the code before collections, then one document removed) is read as 'default' at once, upgraded
    in one transaction by the first writer, which says what it did, and nothing is re-embedded."""
    url = pg.create_database(f"old{os.getpid()}")
    pg.psql("CREATE EXTENSION vector", db=url.rsplit("/", 1)[1])
    sql = gzip.decompress(FORMAT2.read_bytes()).decode()
    dump = rag_home.parent / "format2.sql"
    dump.write_text(sql)
    subprocess.run([str(pg.bin / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", str(dump)],
                   check=True, capture_output=True)
    s = Settings(home=rag_home, store_url=url, mode="quote", quote_threshold=0.05)
    store = open_store(s)
    assert store.fetch("SELECT format FROM rag.meta")[0][0] == 2
    # read before any writer: the old tables, as the default collection
    assert open_catalog(s).names() == ["default"] and store.current() == "pg-00000002"
    old = store.load()
    assert len(old.documents) == 4 and not old.scoped
    before = Assistant(s, embedder=hash_embedder).ask(SWEDEN)
    assert not before.refused and "1999" in before.answer
    assert open_store(s.for_collection("science")).current() is None
    # the migration, explicitly (`rag collections migrate`); any writer would do it the same way
    code, out = run("collections", "migrate", home=rag_home, RAG_STORE_URL=url)
    assert code == 0, out
    assert "Upgraded the index database" in out and "collection 'default' (4 documents" in out
    assert "republished as pg-00000003" in out and "no document was re-read or re-embedded" in out
    assert store.fetch("SELECT format FROM rag.meta")[0][0] == 3
    code, out = run("collections", "migrate", home=rag_home, RAG_STORE_URL=url)
    assert code == 0 and "Nothing to migrate" in out
    new = open_store(s).load()
    assert new.scoped and new.version == "pg-00000003" and set(new.documents) == set(old.documents)
    assert [c.id for c in new.chunks] == [c.id for c in old.chunks]
    after = Assistant(s, embedder=hash_embedder).ask(SWEDEN)
    assert after.answer == before.answer and after.citations == before.citations
    # the old documents are not embedded again (the removed one comes back); a new collection stays apart
    monkeypatch.chdir(ROOT)  # the dump's documents were ingested as docs_raw/...
    hash_embedder.embedded = 0
    report = ingest(["docs_raw"], s, embedder=hash_embedder, progress=False)
    assert len(report.unchanged) == 4 and report.added == ["docs_raw/hearing-summary-2025-06-30.txt"]
    assert hash_embedder.embedded == report.chunks_embedded > 0
    open_catalog(s).create("science")
    ingest([science_dir], s.for_collection("science"), embedder=hash_embedder, progress=False)
    a = Assistant(s, embedder=hash_embedder).ask("How many researchers isolated the enzyme Zorbase?")
    assert all("zorbase" not in c.source for c in a.citations)


# --- the CLI ------------------------------------------------------------------------------------


def test_cli_collections_and_access(rag_home, corpus_copy, science_dir, hash_embedder, monkeypatch):
    monkeypatch.setattr("rag.ingest.incremental.get_embedder", lambda name: hash_embedder)
    monkeypatch.setattr("rag.index.retrieve.get_embedder", lambda name: hash_embedder)
    monkeypatch.setattr("rag.pipeline.get_embedder", lambda name: hash_embedder)
    code, out = run("collections", "create", "science", home=rag_home)
    assert code == 0 and "rag ingest PATH... --collection science" in out
    code, out = run("collections", "create", "science", home=rag_home)
    assert code == 1 and "exists already" in out
    code, out = run("ingest", str(science_dir), "--collection", "science", "-q", home=rag_home)
    assert code == 0 and "2 added" in out
    code, out = run("ingest", str(science_dir), "--collection", "nope", home=rag_home)
    assert code == 1 and "No collection 'nope'. Create it with: rag collections create nope" in out
    code, out = run("ask", "How many researchers isolated the enzyme Zorbase?", "--collection", "science",
                    "--mode", "quote", "--json", home=rag_home, RAG_QUOTE_THRESHOLD="0.05")
    assert code == 0 and "14 researchers" in json.loads(out)["answer"]
    code, out = run("status", "--collection", "science", home=rag_home)
    assert code == 0 and out.startswith("Collection:  science\n") and "Documents:   2" in out
    code, out = run("collections", home=rag_home)
    assert code == 0 and "science  2 documents" in out
    # access: grant, token, list, revoke; the policy follows at once
    code, out = run("access", "grant", "alice", "science", home=rag_home)
    assert code == 0 and "alice may now read 'science'" in out and "rag access token alice" in out
    code, token = run("access", "token", "alice", home=rag_home)
    token = token.strip()
    assert code == 0 and token.startswith("rag_") and len(token) >= 40
    stored = (rag_home / "access.json").read_text()
    assert token not in stored and token_hash(token) in stored  # only the hash is kept
    assert oct((rag_home / "access.json").stat().st_mode & 0o777) == "0o600"
    policy = Policy(Settings())
    alice = policy.authenticate(token)
    assert alice.name == "alice" and policy.may(alice, "science", "read") and not policy.may(alice, "science", "write")
    assert not policy.may(alice, "default", "read")  # access is configured: the default is no longer open
    code, out = run("access", "grant", "anyone", "science", "--write", home=rag_home)
    assert code == 2 and "may only be granted reading" in out
    code, out = run("access", "grant", "alice", "nope", home=rag_home)
    assert code == 1 and "No collection 'nope'" in out
    code, out = run("access", "list", home=rag_home)
    assert "alice: science (read)  token issued" in out
    code, new = run("access", "token", "alice", home=rag_home)
    assert policy.authenticate(token) is None and policy.authenticate(new.strip()).name == "alice"
    code, out = run("access", "revoke", "alice", "science", home=rag_home)
    assert code == 0 and not policy.may(policy.authenticate(new.strip()), "science", "read")
    code, out = run("access", "revoke", "alice", home=rag_home)
    assert code == 0 and policy.authenticate(new.strip()) is None
    code, out = run("access", "revoke", "alice", home=rag_home)
    assert code == 2 and "No principal named 'alice'" in out
    # deleting asks first (at a terminal; elsewhere it needs --yes)
    code, out = run("collections", "delete", "science", home=rag_home)
    assert code == 2 and "without confirmation: add --yes" in out and open_catalog(Settings()).exists("science")
    code, out = run("collections", "delete", "science", "--yes", home=rag_home)
    assert code == 0 and "Deleted collection 'science' (2 documents)" in out
    assert not open_catalog(Settings()).exists("science")


def test_access_policy_keeps_todays_behaviour_until_configured(rag_home):
    s = Settings()
    p = Policy(s)
    assert p.may(ANYONE_CALLER, "default", "read") and not p.may(ANYONE_CALLER, "science", "read")
    assert not p.may(ANYONE_CALLER, "default", "write")
    assert ui_caller(s)[0].kind == ADMIN  # the UI is the operator's tool while nothing is configured
    closed = Policy(Settings(api_read_token="r"))
    assert not closed.may(ANYONE_CALLER, "default", "read")
    assert closed.authenticate("r").name == "RAG_API_READ_TOKEN"
    admin = Policy(Settings(api_token="w")).authenticate("w")
    assert admin.kind == ADMIN and Policy(s).may(admin, "anything", "write")
    open_catalog(s).create("handbook")
    open_access(s).grant("anyone", "handbook", "read")
    assert p.may(ANYONE_CALLER, "handbook", "read") and not p.may(ANYONE_CALLER, "default", "read")
    assert ui_caller(s)[0] == ANYONE_CALLER
    assert ui_caller(Settings(ui_token="rag_wrong"))[1].startswith("RAG_UI_TOKEN is not a valid token")
    assert p.may(Caller("x", "principal"), "handbook", "read")  # what anyone may read, everyone may


CLI_HOSTILE = {
    "`a/b`": "a/b", "`..`": "..", "`../default`": "../default", "`/etc`": "/etc",
    "`x'; DROP TABLE rag.chunks; --`": "x'; DROP TABLE rag.chunks; --", "`$(touch /tmp/rag-pwned)`": "$(touch /tmp/rag-pwned)",
    "`` `id` ``": "`id`", "empty name": "", "over-long (64 characters)": "a" * 64,
    "non-UTF-8 bytes `\\xff\\xfe`": NON_UTF8,
}


def test_cli_hostile_names_get_one_line_errors_and_create_nothing(rag_home, tmp_path):
    """Every command that takes a collection or principal name refuses a bad one before opening
    anything: exit status 2, one line naming the rule. The table is in docs/collections.md."""
    env = {**os.environ, "RAG_HOME": str(rag_home), "PYTHONPATH": str(ROOT)}
    before = set(tmp_path.rglob("*"))
    table = {}
    runs = [(label, [b"ask", b"question", b"--collection", os.fsencode(name)]) for label, name in CLI_HOSTILE.items()]
    runs += [(None, [b"collections", b"create", b"../x"]), (None, [b"access", b"grant", b"a/b", b"default"]),
             (None, [b"access", b"grant", b"alice", b"x;rm -rf ~"]), (None, [b"collections", b"delete", b"..", b"--yes"])]
    for label, argv in runs:  # argv as bytes: a shell passes non-UTF-8 names as they are
        res = subprocess.run([sys.executable.encode(), b"-m", b"rag.cli", *argv], env=env, capture_output=True,
                             cwd=ROOT, timeout=60)
        err = res.stderr.decode("utf-8", "replace").strip().splitlines()
        assert res.returncode == 2 and len(err) == 1 and err[0].startswith("error: "), (argv, err)
        assert "is not allowed: use 1-63 lower-case letters" in err[0], err
        if label:
            table[label] = (f"exit {res.returncode}", err[0])
    write_table("hostile-cli.md", table)
    assert {k: v for k, (v, _) in table.items()} == docs_table("hostile-cli")
    assert set(tmp_path.rglob("*")) == before and not (rag_home / "collections").exists()
    assert not Path("/tmp/rag-pwned").exists()
