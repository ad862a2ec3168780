"""Collections with access control over the real HTTP API (uvicorn on loopback), on the directory
store and on a real PostgreSQL (tests/pg_fixture.py).

Two collections hold different facts; alice may read and write `trafficking`, bob `science`.
Every route is tried by each against the other's collection and against one that does not exist:
the two responses must be byte for byte the same 404, and nothing of the other collection may
come back. Then hostile input (tokens and names: the table in docs/collections.md is checked
against what the server answers), eight concurrent clients with a writer, and the audit log
surviving kill -9 of a real server process. Quote mode and the hash embedder: these tests are
about access, not answer quality.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from conftest import DOCS_RAW, HashEmbedder, free_port
from rag.access import audit
from rag.access.principals import open_access, token_hash
from rag.index import open_store
from rag.index.collections import open_catalog
from rag.ingest import ingest
from rag.settings import Settings
from test_server import multipart, running, sse_events

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "collections.md"

SCIENCE = {
    "zorbase.txt": "Zorbase enzyme\n\nThe enzyme Zorbase was isolated from Arctic moss in 2011 by a team of 14 "
                   "researchers in Tromso. It breaks down cellulose at four degrees Celsius.\n",
    "vellani.md": "# Comet Vellani-3\n\nComet Vellani-3 returns to the inner solar system every 71 years. Its "
                  "nucleus is 4.2 kilometres wide and made mostly of water ice.\n",
}
# questions each collection answers, and words only the other collection holds
ASK = {"trafficking": "In what year did Sweden criminalize the purchase of sexual services?",
       "science": "How many researchers isolated the enzyme Zorbase?"}
MARKERS = {"trafficking": ["Sweden", "States Parties", "Protocol", "1999"],
           "science": ["Zorbase", "Vellani", "Tromso", "Arctic"]}
OWNER = {"alice": "trafficking", "bob": "science"}


@pytest.fixture(scope="module")
def pg():
    from pg_fixture import PgCluster

    cluster = PgCluster().init().start()
    yield cluster
    cluster.destroy()


def build(home: Path, store_url: str | None = None) -> SimpleNamespace:
    """A deployment with the two collections indexed, alice and bob with tokens, and a base Settings."""
    base = Settings(home=home, store_url=store_url, mode="quote", quote_threshold=0.05)
    embedder = HashEmbedder()
    catalog = open_catalog(base)
    for name in OWNER.values():
        catalog.create(name)
    docs = home.parent / "sources"
    shutil.copytree(DOCS_RAW, docs / "trafficking")
    (docs / "science").mkdir(parents=True)
    for name, text in SCIENCE.items():
        (docs / "science" / name).write_text(text)
    doc_ids = {}
    for name in OWNER.values():
        s = base.for_collection(name)
        report = ingest([docs / name], s, embedder=embedder, progress=False)
        assert report.added and not report.failed
        doc_ids[name] = set(open_store(s).load().documents)
    access = open_access(base)
    tokens = {}
    for who, coll in OWNER.items():
        access.grant(who, coll, "write")
        tokens[who] = access.issue_token(who)
    return SimpleNamespace(settings=base, embedder=embedder, doc_ids=doc_ids, tokens=tokens, home=home)


@pytest.fixture(scope="module", params=["directory", "postgresql"])
def deployment(request, tmp_path_factory):
    """The two-collection deployment on each store, served for the module."""
    if request.param == "postgresql":
        request.applymarker(pytest.mark.slow)
        cluster = request.getfixturevalue("pg")
        url = cluster.create_database(f"acc{os.getpid()}{secrets.token_hex(3)}")
    else:
        url = None
    d = build(tmp_path_factory.mktemp(f"acc-{request.param}") / "home", url)
    d.store = request.param
    with running(d.settings, d.embedder) as base_url:
        d.url = base_url
        yield d


def client(d, who: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {d.tokens[who]}"} if who else {}
    return httpx.Client(base_url=d.url, timeout=60, trust_env=False, headers=headers)


def call(c: httpx.Client, route: str, collection: str | None, *, answer: dict | None = None,
         doc_id: str = "x") -> httpx.Response:
    """One request of `route` against `collection` (None: no header)."""
    h = {"X-Rag-Collection": collection} if collection is not None else {}
    question = ASK["science"] if collection == "science" else ASK["trafficking"]
    chat = {"model": "rag-quote", "messages": [{"role": "user", "content": question}]}
    if route == "status":
        return c.get("/status", headers=h)
    if route == "documents":
        return c.get("/documents", headers=h)
    if route == "upload":
        body, mh = multipart("probe.txt", b"A probe file that must never be indexed anywhere.\n")
        mh.pop("Authorization")
        return c.post("/documents", content=body, headers={**mh, **h})
    if route == "delete":
        return c.delete(f"/documents/{doc_id}", headers=h)
    if route == "search":
        return c.post("/search", json={"query": question}, headers=h)
    if route == "ask":
        return c.post("/ask", json={"question": question}, headers=h)
    if route == "ask/stream":
        return c.post("/ask/stream", json={"question": question}, headers=h)
    if route in ("chat", "chat/stream"):  # the collection in the model name
        model = "rag-quote" + (f":{collection}" if collection else "")
        return c.post("/v1/chat/completions", json={**chat, "model": model, "stream": route == "chat/stream"})
    if route == "chat+header":
        return c.post("/v1/chat/completions", json=chat, headers=h)
    if route == "feedback":
        return c.post("/feedback", json={"answer": answer, "rating": "down", "comment": "probe"}, headers=h)
    if route == "export":
        return c.post("/export", json={"answers": [answer], "title": "Probe"}, headers=h)
    raise AssertionError(route)


ROUTES = ["status", "documents", "upload", "delete", "search", "ask", "ask/stream", "chat", "chat/stream",
          "chat+header", "feedback", "export"]


def same(a: httpx.Response, b: httpx.Response) -> bool:
    """The same status, headers (but the date) and body bytes."""
    def headers(r):
        return {k: v for k, v in r.headers.items() if k.lower() != "date"}
    return (a.status_code, headers(a), a.content) == (b.status_code, headers(b), b.content)


def test_each_principal_reads_its_collection_and_cites_only_it(deployment):
    d = deployment
    for who, own in OWNER.items():
        other = "science" if own == "trafficking" else "trafficking"
        with client(d, who) as c:
            ans = call(c, "ask", own).json()
            assert not ans["refused"] and ans["citations"], ans
            assert {x["doc_id"] for x in ans["citations"]} <= d.doc_ids[own]
            hits = call(c, "search", own).json()["hits"]
            assert hits and {h["doc_id"] for h in hits} <= d.doc_ids[own]
            docs = call(c, "documents", own).json()["documents"]
            assert {x["doc_id"] for x in docs} == d.doc_ids[own]
            listed = c.get("/collections").json()["collections"]
            assert [x["name"] for x in listed] == [own] and listed[0]["write"]
            models = {m["id"] for m in c.get("/v1/models").json()["data"]}
            assert models == {f"rag:{own}", f"rag-quote:{own}", f"rag-generate:{own}"}
            # the other collection's question gets nothing of the other collection from here
            wrong = c.post("/ask", json={"question": ASK[other]}, headers={"X-Rag-Collection": own}).json()
            assert {x["doc_id"] for x in wrong["citations"]} <= d.doc_ids[own]
            given = json.dumps(wrong["citations"]) + wrong["answer"]
            assert not any(m in given for m in MARKERS[other])


def test_every_route_answers_another_collection_exactly_as_a_missing_one(deployment):
    """The cross-collection matrix: 0 leaks, and no difference from a collection that does not exist."""
    d = deployment
    before = {n: sorted(d.doc_ids[n]) for n in OWNER.values()}
    rows = []
    for who, own in OWNER.items():
        other = "science" if own == "trafficking" else "trafficking"
        victim = sorted(d.doc_ids[other])[0]
        with client(d, who) as c:
            answer = call(c, "ask", own).json()  # an answer of its own to send back
            for route in ROUTES:
                theirs = call(c, route, other, answer=answer, doc_id=victim)
                missing = call(c, route, "nowhere", answer=answer, doc_id=victim)
                rows.append((who, route, theirs.status_code))
                assert theirs.status_code == 404, (who, route, theirs.status_code, theirs.text[:300])
                assert same(theirs, missing), (who, route, theirs.text, missing.text)
                assert theirs.json()["error"]["type"] == "collection_not_found"
                text = theirs.text
                assert not any(m.lower() in text.lower() for m in MARKERS[other]), (who, route, text)
                assert not any(i in text for i in d.doc_ids[other])
            # its own collection, same routes: they work (the matrix could fail)
            for route in ROUTES:
                ok = call(c, route, own, answer=answer, doc_id="0" * 64)
                expected = 404 if route == "delete" else 200  # no such document in its own collection
                assert ok.status_code == expected, (who, route, ok.status_code, ok.text[:300])
                if route == "delete":
                    assert ok.json()["error"]["type"] == "http_error"
    # nothing was written into or removed from the other collection: documents, uploads
    for name in OWNER.values():
        now = sorted(open_store(d.settings.for_collection(name)).load().documents)
        probe = [i for i in now if i not in before[name]]
        assert set(before[name]) <= set(now) and len(probe) <= 1  # its owner's own probe upload only
        uploads = d.settings.for_collection(name).uploads_dir
        assert sorted(p.name for p in uploads.iterdir()) == ["probe.txt"]  # the owner's upload, nobody else's
    assert len(rows) == 2 * len(ROUTES)


def test_anonymous_callers_and_the_audit_log(deployment):
    d = deployment
    with client(d) as anon:
        for coll in ("trafficking", "science", "nowhere", None):
            r = call(anon, "ask", coll)
            assert r.status_code == 401 and r.json()["error"]["type"] == "missing_token"
        assert same(call(anon, "search", "science"), call(anon, "search", "nowhere"))
        assert anon.get("/v1/models").status_code == 401
        assert anon.get("/collections").json()["collections"] == []
        assert anon.get("/health").status_code in (200, 503)  # liveness needs no token
    # every answer given is in the audit log with its principal and collection; refusals are not
    entries = list(audit.read(d.settings))
    assert entries and all(e.principal in OWNER and e.collection == OWNER[e.principal] for e in entries)
    now = {name: _uploaded(d, name) for name in OWNER.values()}
    for e in entries:
        assert set(e.cited) <= d.doc_ids[e.collection] | now[e.collection]
        assert len(e.question_sha256) == 64 and ASK["science"] not in json.dumps(e.to_dict())
    assert {e.route for e in entries} >= {"/ask", "/ask/stream", "/v1/chat/completions"}


def _uploaded(d, collection: str) -> set[str]:
    return set(open_store(d.settings.for_collection(collection)).load().documents)


def test_refusal_timing_does_not_tell_a_forbidden_collection_from_a_missing_one(deployment):
    """Interleaved requests: the median time of a refusal for another principal's collection and for
    one that does not exist differ by no more than noise."""
    d = deployment
    times = {"other": [], "missing": []}
    with client(d, "alice") as c:
        for _ in range(25):
            for key, coll in (("other", "science"), ("missing", "nowhere")):
                t = time.perf_counter()
                r = c.post("/ask", json={"question": ASK["science"]}, headers={"X-Rag-Collection": coll})
                times[key].append((time.perf_counter() - t) * 1000)
                assert r.status_code == 404
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\nrefusal medians on {d.store}: other {med['other']:.2f} ms, missing {med['missing']:.2f} ms")
    assert abs(med["other"] - med["missing"]) < max(5.0, 0.5 * max(med.values())), med


# --- hostile input ------------------------------------------------------------------------------

NON_UTF8 = "\udcff\udcfe"  # bytes 0xff 0xfe, which are not UTF-8 (surrogate-escaped)
HOSTILE_NAMES = {
    "path separator `a/b`": "a/b",
    "`..`": "..",
    "`../default`": "../default",
    "absolute path `/etc`": "/etc",
    "SQL `x'; DROP TABLE rag.chunks; --`": "x'; DROP TABLE rag.chunks; --",
    "SQL `science' OR '1'='1`": "science' OR '1'='1",
    "shell `$(touch /tmp/rag-pwned)`": "$(touch /tmp/rag-pwned)",
    "shell `` `id` ``": "`id`",
    "upper case `Science`": "Science",
    "empty name": "",
    "over-long (64 characters)": "a" * 64,
    "non-UTF-8 bytes `\\xff\\xfe`": NON_UTF8,
}


def hostile_table(d) -> dict[str, tuple[str, str]]:
    """Each hostile input and what the server answered: ('STATUS type', message)."""
    out = {}
    alice, old = d.tokens["alice"], None
    access = open_access(d.settings)

    def got(r: httpx.Response) -> tuple[str, str]:
        return f"{r.status_code} {r.json()['error']['type']}", r.json()["error"]["message"]

    with client(d) as c:
        ask = {"question": ASK["trafficking"]}

        def with_auth(value: str | bytes) -> httpx.Response:
            return c.post("/ask", json=ask, headers={"Authorization": value, "X-Rag-Collection": "trafficking"})

        out["no token"] = got(c.post("/ask", json=ask, headers={"X-Rag-Collection": "trafficking"}))
        out["`Basic` instead of `Bearer`"] = got(with_auth("Basic YWxpY2U6c2VjcmV0"))
        out["`Bearer` with no token"] = got(with_auth("Bearer"))
        out["two words after `Bearer`"] = got(with_auth(f"Bearer {alice} extra"))
        out["guessed token (random, right shape)"] = got(with_auth("Bearer rag_" + secrets.token_urlsafe(32)))
        out["the token's stored sha256 sent as the token"] = got(with_auth("Bearer " + token_hash(alice)))
        out["token with one character changed"] = got(with_auth("Bearer " + alice[:-1] + ("A" if alice[-1] != "A" else "B")))
        out["over-long token (8 KB)"] = got(with_auth("Bearer " + "x" * 8192))
        out["non-ASCII token bytes"] = got(with_auth(b"Bearer \xff\xfe\xfd"))
        old = alice
        d.tokens["alice"] = access.issue_token("alice")  # alice's token replaced: the old one is revoked
        out["replaced (revoked) token"] = got(with_auth(f"Bearer {old}"))
        assert with_auth(f"Bearer {d.tokens['alice']}").status_code == 200  # the new one works
        access.grant("carol", "science", "read")
        carol = access.issue_token("carol")
        access.revoke("carol")
        out["token of a removed principal"] = got(with_auth(f"Bearer {carol}"))
        for label, name in HOSTILE_NAMES.items():
            value = name.encode("utf-8", "surrogateescape") if name == NON_UTF8 else name
            r = c.post("/search", json={"query": "x"},
                       headers={"Authorization": f"Bearer {d.tokens['alice']}", "X-Rag-Collection": value})
            out[f"collection {label}"] = got(r)
        r = c.post("/v1/chat/completions", headers={"Authorization": f"Bearer {d.tokens['alice']}"},
                   json={"model": "rag:../science", "messages": [{"role": "user", "content": "x"}]})
        out["chat model `rag:../science`"] = got(r)
    return out


def docs_table(tag: str = "hostile") -> dict[str, str]:
    """A table of docs/collections.md between <!-- TAG:start --> and <!-- TAG:end -->: first column ->
    second column (backticks dropped)."""
    text = DOCS.read_text(encoding="utf-8").split(f"<!-- {tag}:start -->", 1)[1].split(f"<!-- {tag}:end -->")[0]
    rows = {}
    for line in text.strip().splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        rows[cells[0]] = cells[1].replace("`", "")
    return rows


def write_table(name: str, rows: dict[str, tuple[str, str]]) -> None:
    """The observed table in test-artifacts/, ready to paste into the docs."""
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    (ROOT / "test-artifacts" / name).write_text(
        "\n".join(f"| {k} | `{v}` | {m.replace('|', '/')} |" for k, (v, m) in rows.items()) + "\n")


def test_hostile_tokens_and_names_get_clear_errors_and_touch_nothing(deployment, tmp_path):
    d = deployment
    outside = d.home.parent.parent
    before = set(outside.rglob("*"))
    catalog_before = open_catalog(d.settings).names()
    table = hostile_table(d)
    write_table(f"hostile-{d.store}.md", table)
    assert {k: v for k, (v, _) in table.items()} == docs_table(), \
        "docs/collections.md's hostile-input table differs from what the server answers (test-artifacts/hostile-*.md)"
    # nothing created anywhere: no folder, file, collection or table; the shell never ran
    # (the one answer given, with the new token, was logged: the data directory and its audit log)
    assert set(outside.rglob("*")) - before <= {d.home, audit.path(d.settings)}
    assert open_catalog(d.settings).names() == catalog_before
    assert not Path("/tmp/rag-pwned").exists()
    if d.store == "postgresql":
        store = open_store(d.settings)
        tables = {r[0] for r in store.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'rag'")}
        assert {"chunks", "documents", "collections"} <= tables
        assert store.fetch("SELECT count(*) FROM pg_namespace WHERE nspname LIKE '%drop%'")[0][0] == 0


# --- concurrency --------------------------------------------------------------------------------

CONCURRENT_SECONDS = 8


@pytest.mark.slow
def test_eight_clients_and_a_writer_never_cross_collections(deployment):
    """4 clients of alice and 4 of bob ask for a bounded time while alice uploads into her collection:
    0 errors, and every citation's document belongs to the asker's collection."""
    d = deployment
    stop = threading.Event()
    errors: list[str] = []
    counts = {"answers": 0, "citations": 0, "uploads": 0}
    latencies: list[float] = []
    uploaded: set[str] = set()
    cited_by: dict[str, set[str]] = {who: set() for who in OWNER}
    lock = threading.Lock()

    def asker(who: str, n: int):
        own = OWNER[who]
        questions = [ASK["trafficking"], ASK["science"], "What was isolated from Arctic moss?",
                     "How many States Parties does the Protocol have?"]
        with client(d, who) as c:
            i = n
            while not stop.is_set():
                i += 1
                t = time.perf_counter()
                r = c.post("/ask", json={"question": questions[i % len(questions)]},
                           headers={"X-Rag-Collection": own})
                with lock:
                    latencies.append(time.perf_counter() - t)
                    if r.status_code != 200:
                        errors.append(f"{who} {r.status_code} {r.text[:200]}")
                        continue
                    cited = {x["doc_id"] for x in r.json()["citations"]}
                    cited_by[who] |= cited  # checked at the end, against everything each collection held
                    counts["answers"] += 1
                    counts["citations"] += len(cited)

    def writer():
        with client(d, "alice") as c:
            i = 0
            while not stop.is_set():
                i += 1
                body, h = multipart(f"memo-{i}.txt", f"Memo {i}: the Lighthouse Fund met in round {i}.\n".encode())
                h.pop("Authorization")
                r = c.post("/documents", content=body, headers={**h, "X-Rag-Collection": "trafficking"})
                with lock:
                    if r.status_code != 200:
                        errors.append(f"writer {r.status_code} {r.text[:200]}")
                    else:
                        uploaded.add(r.json()["files"][0]["doc_id"])
                        counts["uploads"] += 1

    threads = [threading.Thread(target=asker, args=(who, n)) for who in OWNER for n in range(4)]
    threads.append(threading.Thread(target=writer))
    t0 = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(CONCURRENT_SECONDS)
    stop.set()
    for t in threads:
        t.join(60)
    elapsed = time.monotonic() - t0
    assert not any(t.is_alive() for t in threads) and elapsed < CONCURRENT_SECONDS + 60
    # what each collection held: its documents at the start, the owners' uploads of earlier tests
    # (in its index now) and the writer's memos
    held = {name: d.doc_ids[name] | _uploaded(d, name) for name in OWNER.values()}
    held["trafficking"] |= uploaded
    for who, cited in cited_by.items():
        own = OWNER[who]
        other = "science" if own == "trafficking" else "trafficking"
        # (a document id is its content's hash: a file both owners uploaded is in both collections)
        if not cited <= held[own] or cited & (held[other] - held[own]):
            errors.append(f"{who} cited {sorted(cited - held[own])} outside {own}")
    lat = sorted(latencies)
    print(f"\nconcurrency on {d.store}: {counts['answers']} answers ({counts['citations']} citations) and "
          f"{counts['uploads']} uploads in {elapsed:.1f} s; p50 {lat[len(lat) // 2] * 1000:.0f} ms, "
          f"p95 {lat[int(len(lat) * 0.95)] * 1000:.0f} ms; {len(errors)} errors")
    assert not errors, errors[:5]
    assert counts["answers"] >= 16 and counts["uploads"] >= 2 and counts["citations"] > 0


# --- the audit log survives kill -9 ---------------------------------------------------------------

_SERVER = textwrap.dedent("""
    import sys
    sys.path[:0] = [{tests!r}, {root!r}]
    import uvicorn
    from conftest import HashEmbedder
    from rag.server import create_app
    from rag.settings import Settings

    settings = Settings(home={home!r}, mode="quote", quote_threshold=0.05)
    uvicorn.run(create_app(settings, embedder=HashEmbedder()), host="127.0.0.1", port={port}, log_level="warning")
""")


@pytest.mark.integration
def test_audit_log_survives_kill9_of_the_server(tmp_path):
    d = build(tmp_path / "home")
    port = free_port()
    script = tmp_path / "server.py"
    script.write_text(_SERVER.format(tests=str(ROOT / "tests"), root=str(ROOT), home=str(d.home), port=port))

    @contextmanager
    def server():
        proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", trust_env=False)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
                time.sleep(0.1)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)

    answered: list[str] = []
    stop = threading.Event()

    def asker(n: int):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10, trust_env=False,
                          headers={"Authorization": f"Bearer {d.tokens['alice']}",
                                   "X-Rag-Collection": "trafficking"}) as c:
            i = 0
            while not stop.is_set():
                i += 1
                q = f"{ASK['trafficking']} (client {n}, question {i})"
                try:
                    r = c.post("/ask", json={"question": q})
                except httpx.TransportError:
                    return  # the server died under this request: no answer was received
                if r.status_code == 200:
                    answered.append(q)

    with server() as proc:
        threads = [threading.Thread(target=asker, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while len(answered) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)  # mid-traffic: some requests are in flight
        proc.wait(10)
        stop.set()
        for t in threads:
            t.join(20)
    logged = {e.question_sha256: e for e in audit.read(d.settings)}
    assert len(answered) >= 20
    missing = [q for q in answered if audit.question_hash(q) not in logged]
    assert not missing, f"{len(missing)} answers received but not in the audit log"
    assert all(e.principal == "alice" and e.collection == "trafficking" and e.cited for e in logged.values())
    # every line is whole but perhaps the last, which a kill in the middle of its write would tear
    lines = audit.path(d.settings).read_bytes().split(b"\n")
    assert all(json.loads(line) for line in lines[:-1])
    with server():
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False) as c:
            r = c.post("/ask", json={"question": "After the restart?"},
                       headers={"Authorization": f"Bearer {d.tokens['bob']}", "X-Rag-Collection": "science"})
            assert r.status_code == 200
    after = list(audit.read(d.settings))
    assert after[-1].principal == "bob" and after[-1].question_sha256 == audit.question_hash("After the restart?")
    assert len(after) == len(logged) + 1
    # `rag access log` shows it
    env = {**os.environ, "RAG_HOME": str(d.home), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "rag.cli", "access", "log", "--collection", "science", "--json"],
                         env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    shown = [json.loads(line) for line in out.stdout.splitlines()]
    assert [e["principal"] for e in shown] == ["bob"] and shown[0]["collection"] == "science"
