"""The PostgreSQL store against a real PostgreSQL 18 + pgvector started here (tests/pg_fixture.py).

One server for the module, one database per test; the replication test has its own primary and
streaming standby because it kills the primary.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rag.errors import IndexBusy, RagError
from rag.index import Index, open_store
from rag.index.postgres import IndexStale, StoreUnavailable
from rag.ingest import ingest, remove_documents
from rag.index.retrieve import HybridRetriever
from rag.settings import Settings


from pg_fixture import PgCluster  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "How many States Parties does the Trafficking in Persons Protocol have?"
_ids = itertools.count()


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster().init().start()
    yield cluster
    cluster.destroy()


@pytest.fixture
def db_url(pg) -> str:
    return pg.create_database(f"t{os.getpid()}_{next(_ids)}")


def test_ingest_and_ask_on_postgres(db_url, corpus_copy, real_embedder):
    """The whole path on PostgreSQL: incremental ingest, deletions, exact offsets, a cited answer."""
    from rag.pipeline import Assistant

    s = Settings(store_url=db_url)
    first = ingest([corpus_copy], s, embedder=real_embedder, progress=False)
    assert len(first.added) == 5 and not first.failed and first.version == "pg-00000001"
    idx = Index.load(s)
    assert len(idx.documents) == 5 and idx.manifest["counts"]["chunks"] == len(list(idx.chunks)) > 5
    for c in idx.chunks:  # offsets survive the round trip through the tables
        assert idx.documents[c.doc_id].text[c.start : c.end] == c.text

    again = ingest([corpus_copy], s, embedder=real_embedder, progress=False)
    assert not again.changed and again.version == first.version and again.chunks_embedded == 0

    target = corpus_copy / "SG-SM-22926-secretary-general-remarks.txt"
    target.write_text(target.read_text() + "\n\nA closing paragraph about maritime trafficking routes in 2026.\n")
    (corpus_copy / "hearing-summary-2025-06-30.txt").unlink()
    changed = ingest([corpus_copy], s, embedder=real_embedder, progress=False)
    assert changed.updated == [os.path.normpath(str(target))]
    assert [Path(p).name for p in changed.removed] == ["hearing-summary-2025-06-30.txt"]
    assert changed.version == "pg-00000002"
    idx2 = Index.load(s)
    assert len(idx2.documents) == 4
    assert not any(c.source.endswith("hearing-summary-2025-06-30.txt") for c in idx2.chunks)
    assert changed.chunks_embedded < idx2.manifest["counts"]["chunks"]  # unchanged files were not re-embedded
    open_store(s).check(idx2.version)

    answer = Assistant(s, embedder=real_embedder).ask(QUESTION, mode="quote")
    assert not answer.refused and "185" in answer.answer
    cited = {c.source for c in answer.citations}
    assert any(src.endswith("SG-SM-22926-secretary-general-remarks.txt") for src in cited)
    for c in answer.citations:  # every citation resolves to the exact span of its file
        assert Path(c.source).read_text()[c.start : c.end] == c.quote

    # the same question on the directory store finds the same passage first
    d = Settings(home=s.home / "dir")
    ingest([corpus_copy], d, embedder=real_embedder, progress=False)
    top_pg = HybridRetriever(s, embedder=real_embedder).search(QUESTION, 3)
    top_dir = HybridRetriever(d, embedder=real_embedder).search(QUESTION, 3)
    assert top_pg[0].chunk.id == top_dir[0].chunk.id

    assert remove_documents([str(target)], s) == [os.path.normpath(str(target))]
    assert len(Index.load(s).documents) == 3


def test_settings_change_forces_rebuild_with_message(db_url, corpus_copy, hash_embedder):
    s = Settings(store_url=db_url)
    ingest([corpus_copy], s, embedder=hash_embedder, progress=False)
    other = Settings(store_url=db_url, chunk_tokens=96)
    with pytest.raises(IndexStale) as err:
        HybridRetriever(other, embedder=hash_embedder).search("trafficking")
    msg = str(err.value)
    assert "127.0.0.1" in msg and "chunk_tokens 200 -> 96" in msg and "rag ingest --rebuild" in msg
    logged = []
    report = ingest([corpus_copy], other, embedder=hash_embedder, progress=False, log=logged.append)
    assert report.rebuild_reason and "chunk_tokens 200 -> 96" in report.rebuild_reason and logged
    assert len(report.updated) == 5
    idx = Index.load(other)
    assert idx.manifest["fingerprint"] == other.index_fingerprint() and len(idx.documents) == 5


def test_clear_errors_name_the_url_and_the_next_step(pg, hash_embedder, corpus_copy):
    from conftest import free_port

    down = f"postgresql://alice:s3cret@127.0.0.1:{free_port()}/rag"
    with pytest.raises(StoreUnavailable) as err:
        Index.load(Settings(store_url=down))
    msg = str(err.value)
    assert "postgresql://alice:***@127.0.0.1" in msg and "s3cret" not in msg and "Start PostgreSQL" in msg

    # a database without the vector extension, and a user who may not create it
    pg.psql("CREATE ROLE app LOGIN")
    pg.psql("CREATE DATABASE appdb OWNER app")
    with pytest.raises(StoreUnavailable) as err:
        ingest([corpus_copy], Settings(store_url=pg.url("appdb", "app")), embedder=hash_embedder, progress=False)
    assert "lacks the vector extension" in str(err.value) and "CREATE EXTENSION vector" in str(err.value)
    assert "appdb" in str(err.value)

    # nothing indexed yet: the usual next step, naming the database
    empty = pg.create_database(f"empty{os.getpid()}")
    with pytest.raises(RagError, match="No index in postgresql://postgres@127.0.0.1.*Run: rag ingest"):
        Index.load(Settings(store_url=empty))

    # the CLI turns it into one line and a non-zero exit
    env = {**os.environ, "RAG_STORE_URL": down, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-m", "rag.cli", "search", "trafficking"], env=env,
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert res.returncode != 0 and "Cannot reach the index database at postgresql://alice:***@" in res.stderr
    assert "Traceback" not in res.stderr


_KILLED_INGEST = textwrap.dedent("""
    import sys, time
    sys.path[:0] = [{tests!r}, {root!r}]
    from conftest import HashEmbedder
    from rag.index.postgres import PostgresStore
    from rag.ingest import ingest
    from rag.settings import Settings

    copy = PostgresStore._copy_chunks
    def copy_then_wait(self, conn, v, change):
        copy(self, conn, v, change)
        print("IN_TRANSACTION", flush=True)  # rows written, nothing committed yet
        time.sleep(120)
    PostgresStore._copy_chunks = copy_then_wait
    ingest([{docs!r}], Settings(store_url={url!r}), embedder=HashEmbedder(), progress=False)
""")


def test_kill9_during_ingest_leaves_previous_version_whole(db_url, corpus_copy, hash_embedder, tmp_path):
    s = Settings(store_url=db_url)
    first = ingest([corpus_copy], s, embedder=hash_embedder, progress=False)
    before = Index.load(s)
    before_chunks = [c.id for c in before.chunks]
    hits_before = [h.chunk.id for h in HybridRetriever(s, embedder=hash_embedder).search(QUESTION, 5)]

    (corpus_copy / "new-note.txt").write_text("A note about cyber-enabled trafficking and online recruitment.\n")
    (corpus_copy / "hearing-summary-2025-06-30.txt").unlink()
    script = tmp_path / "killed_ingest.py"
    script.write_text(_KILLED_INGEST.format(tests=str(ROOT / "tests"), root=str(ROOT), docs=str(corpus_copy), url=db_url))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "IN_TRANSACTION"
        # mid-transaction: readers still see the previous version, whole
        store = open_store(s)
        assert store.current() == first.version
        # nothing the dead writer wrote is visible to anyone: not its rows, not its removal marks
        assert store.fetch("SELECT count(*) FROM rag.chunks WHERE added_in > 1 OR removed_in IS NOT NULL")[0][0] == 0
        assert store.fetch("SELECT count(*) FROM rag.documents WHERE added_in > 1")[0][0] == 0
        with pytest.raises(IndexBusy):  # and a second writer is refused
            with store.writer_lock(wait=0):
                pass
        proc.kill()  # SIGKILL
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    after = Index.load(s)
    assert after.version == first.version
    assert [c.id for c in after.chunks] == before_chunks and len(after.documents) == 5
    open_store(s).check(after.version)
    assert [h.chunk.id for h in HybridRetriever(s, index=after, embedder=hash_embedder).search(QUESTION, 5)] == hits_before
    # the server noticed the dead client and released its lock: the next ingest goes through
    deadline = time.monotonic() + 20
    while True:
        try:
            report = ingest([corpus_copy], s, embedder=hash_embedder, progress=False)
            break
        except IndexBusy:
            assert time.monotonic() < deadline, "the killed writer's lock was never released"
            time.sleep(0.5)
    assert report.added == [os.path.normpath(str(corpus_copy / "new-note.txt"))] and len(report.removed) == 1
    assert len(Index.load(s).documents) == 5


def test_workers_see_a_new_version_on_their_next_request(db_url, corpus_copy, hash_embedder):
    """Two `rag serve` workers' states on one database: an ingest elsewhere reaches both."""
    from rag.server.state import ServerState

    s = Settings(store_url=db_url)
    ingest([corpus_copy], s, embedder=hash_embedder, progress=False)
    workers = [ServerState(s, embedder=hash_embedder), ServerState(s, embedder=hash_embedder)]
    assert {w.snapshot().version for w in workers} == {"pg-00000001"}
    assert all(w.health()["status"] == "ok" for w in workers)
    (corpus_copy / "new-note.txt").write_text("Sweden criminalised the purchase of sexual services in 1999.\n")
    ingest([corpus_copy], s, embedder=hash_embedder, progress=False)
    for w in workers:
        snap = w.snapshot()
        assert snap.version == "pg-00000002" and len(snap.index.documents) == 6


def test_standby_serves_reads_and_outlives_the_primary(corpus_copy, hash_embedder):
    primary = PgCluster().init().start()
    standby = None
    try:
        primary.psql("CREATE DATABASE rag")
        standby = primary.standby()
        s = Settings(store_url=primary.url("rag"), store_read_url=standby.url("rag"))
        report = ingest([corpus_copy], s, embedder=hash_embedder, progress=False)
        store = open_store(s)
        deadline = time.monotonic() + 30
        while store.current() != report.version:  # replication is asynchronous
            assert time.monotonic() < deadline, "the standby never caught up"
            time.sleep(0.2)
        assert store.fetch("SELECT pg_is_in_recovery()")[0][0] is True  # reads really go to the standby
        hits = HybridRetriever(s, embedder=hash_embedder).search(QUESTION, 3)
        assert hits and all(h.chunk.text for h in hits)

        primary.kill9()
        # a new reader (as a new request or process would make) still answers from the standby
        fresh = Settings(store_url=primary.url("rag"), store_read_url=standby.url("rag"), k=4)
        again = HybridRetriever(fresh, embedder=hash_embedder).search(QUESTION, 3)
        assert [h.chunk.id for h in again] == [h.chunk.id for h in hits]
        assert HybridRetriever(s, embedder=hash_embedder).search("forced criminality", 2)  # the open connection too
        # writes need the primary, and say so
        (corpus_copy / "new-note.txt").write_text("A new note.\n")
        with pytest.raises(StoreUnavailable, match=rf"127.0.0.1:{primary.port}/rag"):
            ingest([corpus_copy], s, embedder=hash_embedder, progress=False)
    finally:
        if standby is not None:
            standby.destroy()
        primary.destroy()
        shutil.rmtree(primary.root, ignore_errors=True)


def test_hnsw_search_with_filters_matches_exact(db_url, corpus_copy, hash_embedder):
    """Above approx_threshold the store searches pgvector's HNSW graph; filters still return k rows."""
    from rag.types import SearchFilter

    exact = Settings(store_url=db_url)
    ingest([corpus_copy], exact, embedder=hash_embedder, progress=False)
    graph = Settings(store_url=db_url, approx_threshold=10, hnsw_ef_search=8)
    store = open_store(graph)
    # a corpus this small is cheaper to scan than to search by graph: make the planner take the graph,
    # as it does by itself on a large table
    store.fetch("SELECT 1")
    store._reader().execute("SET enable_seqscan = off; SET enable_bitmapscan = off")
    store._reader().execute("DROP INDEX rag.chunks_doc; DROP INDEX rag.chunks_live; "
                            "DROP INDEX rag.chunks_collection")  # this database only
    plan = "\n".join(r[0] for r in store.fetch(
        "EXPLAIN SELECT rid FROM rag.chunks WHERE collection = 'default' AND doc_id = 'x' "
        "ORDER BY embedding <#> (SELECT embedding FROM rag.chunks LIMIT 1) LIMIT 5"))
    assert "chunks_hnsw" in plan, plan
    q = hash_embedder.embed_query(QUESTION)
    e_ids, _ = Index.load(exact).dense(q, 5)
    g_index = store.load()
    g_ids, g_scores = g_index.dense(q, 5)
    assert list(g_ids)[:3] == list(e_ids)[:3] and list(g_scores) == sorted(g_scores, reverse=True)
    # efSearch 8 visits 8 candidates; 2 of the 57 chunks pass this filter, yet both come back
    flt = SearchFilter(documents=("cross-regional",))
    mask = g_index.allowed_mask(flt)
    ids, _ = g_index.dense(q, 8, mask)
    assert len(ids) == 2  # the graph scan went on past the other documents' rows
    assert {g_index.chunks[int(i)].source.rsplit("/", 1)[-1] for i in ids} == {
        "cross-regional-statement-technology-trafficking.txt"}


def test_lexical_postings_rank_like_the_tsvectors_and_follow_deletions(db_url, corpus_copy, hash_embedder):
    """BM25 from the postings table equals BM25 from each chunk's tsvector (the format-1 way), through
    an update, a deletion and garbage collection; a format-1 database is read the old way until a
    writer opens it, which fills its postings in."""
    s = Settings(store_url=db_url, keep_versions=1)
    ingest([corpus_copy], s, embedder=hash_embedder, progress=False)
    target = corpus_copy / "SG-SM-22926-secretary-general-remarks.txt"
    target.write_text(target.read_text() + "\n\nA closing paragraph about maritime trafficking routes in 2026.\n")
    (corpus_copy / "hearing-summary-2025-06-30.txt").unlink()
    ingest([corpus_copy], s, embedder=hash_embedder, progress=False)
    store = open_store(s)
    queries = [QUESTION, "maritime trafficking routes", "forced criminality online scam compounds",
               "Sweden purchase of sexual services", "political declaration co-facilitators"]

    def rankings(index):
        out = []
        for q in queries:
            ids, scores = index.lexical(q, 20)
            out.append((list(ids), [round(float(x), 4) for x in scores]))
        return out

    index = store.load()
    assert index.postings
    by_postings = rankings(index)
    index.postings = False
    assert rankings(index) == by_postings and all(ids for ids, _ in by_postings)
    assert store.load().lexical("maritime", 5)[0].size  # the new paragraph is found
    # garbage collection left no postings of deleted chunk rows, and every row has its postings
    orphans, missing = store.fetch(
        "SELECT (SELECT count(*) FROM rag.postings p WHERE NOT EXISTS "
        "        (SELECT 1 FROM rag.chunks c WHERE c.rid = p.rid)),"
        "       (SELECT count(*) FROM rag.chunks c WHERE NOT EXISTS "
        "        (SELECT 1 FROM rag.postings p WHERE p.rid = c.rid))")[0]
    assert (orphans, missing) == (0, 0)

    # a database written before the postings table existed
    store._reader().execute("TRUNCATE rag.postings; UPDATE rag.meta SET format = 1")
    old = open_store(s).load()
    assert not old.postings and rankings(old) == by_postings
    ingest([corpus_copy], s, embedder=hash_embedder, progress=False)  # a writer opens it: filled in
    upgraded = open_store(s).load()
    assert upgraded.postings and rankings(upgraded) == by_postings
