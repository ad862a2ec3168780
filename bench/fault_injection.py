"""Fault injection: SIGKILL `rag ingest` at random moments and check the index survives every time.

What it does: copies docs_raw/ to a temporary folder and indexes it (temporary RAG_HOME, the
real embedding model by default). It then times one unkilled ingest of a changed corpus (D).
Each run changes the corpus (adds a document, removes an added one, or appends a paragraph to
an existing file, so a new index version has to be written), starts `python -m rag.cli ingest`
and sends SIGKILL after a delay drawn uniformly from [0, 1.2 * D]: kills land in start-up,
reading and embedding, writing the new version, and some after the process already finished.

After each kill it checks:
  1. `Index.load(verify_all=True)` succeeds: every file matches its sha256 in the manifest;
  2. CURRENT names either the previous version (same documents as before) or a complete new
     one (exactly the documents of the changed corpus);
  3. every document indexed before and not meant to be removed is still there, every chunk is
     an exact span of its document, and a BM25 search for a passage of each document returns
     that document first;
  4. an unkilled ingest that follows exits 0, leaves no temporary directory, and gives an index
     that matches the corpus on disk (same documents, same content hashes, all retrievable).

Where the kill landed is read from the index folder afterwards (the process is frozen at the
kill): "startup" (the writer lock not yet taken: imports), "read/embed" (lock taken, no new
version directory yet), "write" (a .tmp- version directory exists), "renamed" (the new version
is in place but CURRENT not yet switched), "switched" (CURRENT switched, clean-up running),
"exited" (the ingest had already finished).

How to read it: `survived` must equal `runs`; the script exits 1 otherwise. `--embedder hash`
uses the tests' deterministic hash embedder instead of the real model (faster start-up).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import _common as C

_HASH_INGEST = """
import sys
sys.path.insert(0, {tests!r})
from conftest import HashEmbedder
from rag.ingest import ingest
from rag.settings import Settings
report = ingest([{docs!r}], Settings(), embedder=HashEmbedder(), progress=False)
print(__import__("json").dumps(report.to_dict()))
sys.exit(1 if report.failed else 0)
"""

_WORDS = ("inspection shelter fisheries recruitment corridor survivor hotline prosecution tribunal "
          "smuggling debt bondage remittance visa brokerage seafarer harvest vineyard quarry textile "
          "ledger audit subcontractor passport confiscation wage arbitration ombudsman helpline").split()
_SYLLABLES = "ka lo mi ren tas vo ple dru sen mar qui zol fen ath bre cor dun gel hix jor".split()


class Corpus:
    """The folder being ingested, and what each run changes in it."""

    def __init__(self, root: Path, rng: random.Random):
        self.root = root
        self.rng = rng
        self.added: list[Path] = []  # documents this script created (the ones it may remove)

    def sources(self) -> set[str]:
        return {os.path.normpath(str(p)) for p in self.root.iterdir() if p.is_file()}

    def _word(self) -> str:
        """A real word or a made-up one: generated documents must differ from each other for BM25."""
        if self.rng.random() < 0.3:
            return self.rng.choice(_WORDS)
        return "".join(self.rng.choice(_SYLLABLES) for _ in range(self.rng.randint(2, 4)))

    def change(self, run: int, kind: str | None = None) -> tuple[str, set[str], dict[str, str]]:
        """Apply one change. Returns (description, sources meant to be removed, source -> marker phrase)."""
        kind = kind or self.rng.choice(["add", "modify", "remove"] if self.added else ["add", "modify"])
        marker = f"zephyrquill{run}x"
        if kind == "add":
            path = self.root / f"extra-{run:02d}.md"
            paras = []
            for i in range(self.rng.randint(8, 20)):
                words = [self._word() for _ in range(self.rng.randint(40, 70))]
                paras.append(f"Paragraph {i + 1} of the field report {marker}: " + " ".join(words) + ".")
            path.write_text(f"# Field report {run}\n\n" + "\n\n".join(paras) + "\n")
            self.added.append(path)
            return f"add {path.name}", set(), {os.path.normpath(str(path)): marker}
        if kind == "remove":
            path = self.added.pop(self.rng.randrange(len(self.added)))
            path.unlink()
            return f"remove {path.name}", {os.path.normpath(str(path))}, {}
        path = self.rng.choice(sorted(p for p in self.root.iterdir() if p.is_file()))
        with open(path, "a") as f:
            f.write(f"\n\nA closing note {marker} on labour inspections in {self.rng.choice(_WORDS)} "
                    f"and {self.rng.choice(_WORDS)} was added by the fault injection run {run}.\n")
        return f"modify {path.name[:20]}", set(), {os.path.normpath(str(path)): marker}


def ingest_cmd(corpus: Path, embedder: str) -> list[str]:
    if embedder == "hash":
        return [sys.executable, "-c", _HASH_INGEST.format(tests=str(C.ROOT / "tests"), docs=str(corpus))]
    return [sys.executable, "-m", "rag.cli", "ingest", str(corpus), "--quiet", "--json"]


def run_ingest(cmd: list[str], env: dict, kill_after: float | None = None,
               watch: Path | None = None) -> tuple[int | None, float, str, dict]:
    """Run one ingest; with `kill_after`, SIGKILL it then. Raises RuntimeError if it exits with an error.

    Returns (exit code or None if killed, seconds, stdout, events). With `watch` (the index
    folder), events says when the temporary version appeared and when CURRENT was switched.
    """
    events: dict[str, float] = {}
    before = snapshot(watch) if watch else None
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=C.ROOT, stdout=out, stderr=err, text=True)
        deadline = None if kill_after is None else t0 + kill_after
        code = None
        while True:
            code = proc.poll()
            now = time.perf_counter()
            if code is not None:
                break
            if deadline is not None and now >= deadline:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                break
            if watch:
                snap = snapshot(watch)
                if snap["tmp"] - before["tmp"]:
                    events.setdefault("temp dir", now - t0)
                if snap["current"] != before["current"]:
                    events.setdefault("switched", now - t0)
            time.sleep(0.002 if watch else 0.01)
        secs = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if code not in (None, 0):
        raise RuntimeError(f"ingest exited {code}: {stderr.strip().splitlines()[-1:] or stdout}")
    return code, secs, stdout, events


def snapshot(index_dir: Path) -> dict:
    """What the index folder looks like: the live version, versions, temp dirs, lock mtime."""
    lock = index_dir / ".lock"
    try:
        current = (index_dir / "CURRENT").read_text().strip()
    except FileNotFoundError:
        current = None
    return {"current": current, "versions": {p.name for p in index_dir.glob("v-*")},
            "tmp": {p.name for p in index_dir.glob(".tmp-*")},
            "lock_mtime": lock.stat().st_mtime_ns if lock.exists() else None}


def stage(before: dict, after: dict, exited: bool) -> str:
    if exited:
        return "exited"
    if after["current"] != before["current"]:
        return "switched"
    if after["versions"] - before["versions"]:
        return "renamed"
    if after["tmp"] - before["tmp"]:
        return "write"
    if after["lock_mtime"] != before["lock_mtime"]:
        return "read/embed"
    return "startup"


def probe(idx, doc) -> str | None:
    """A BM25 search for one of the document's passages; None if it returns the document first."""
    chunks = [c for c in idx.chunks if c.doc_id == doc.id]
    if not chunks:
        return f"{doc.source}: no chunks"
    c = chunks[len(chunks) // 2]
    query = " ".join(c.text.split()[:40])
    ids, _ = idx.lexical(query, 5)
    if not len(ids) or idx.chunks[ids[0]].doc_id != doc.id:
        top = idx.chunks[ids[0]].source if len(ids) else "nothing"
        return f"{doc.source}: BM25 search for its passage returned {top}"
    return None


def check_index(settings, *, expect_sources: set[str] | None, keep: set[str], markers: dict[str, str],
                disk: dict[str, str] | None = None) -> tuple[object, list[str]]:
    """Load with full checksums and check it. Returns (index or None, problems)."""
    from rag.errors import RagError
    from rag.index import Index

    try:
        idx = Index.load(settings, verify_all=True)
    except RagError as e:
        return None, [f"Index.load failed: {e}"]
    problems = []
    by_source = {d.source: d for d in idx.documents.values()}
    if expect_sources is not None and set(by_source) != expect_sources:
        problems.append(f"documents differ: missing {sorted(expect_sources - set(by_source))}, "
                        f"unexpected {sorted(set(by_source) - expect_sources)}")
    if set(idx.manifest.get("files", {})) != set(by_source):
        problems.append("manifest files do not match the documents")
    for src in sorted(keep - set(by_source)):
        problems.append(f"{src}: indexed before, now missing")
    for c in idx.chunks:
        doc = idx.documents.get(c.doc_id)
        if doc is None or doc.text[c.start:c.end] != c.text:
            problems.append(f"chunk {c.id} is not a span of its document")
            break
    for src in sorted(keep & set(by_source)):
        if why := probe(idx, by_source[src]):
            problems.append(why)
    for src, marker in markers.items():
        doc = by_source.get(src)
        if doc is None or marker not in doc.text:
            problems.append(f"{src}: marker {marker} missing")
            continue
        ids, _ = idx.lexical(marker, 3)
        if not len(ids) or idx.chunks[ids[0]].doc_id != doc.id:
            problems.append(f"{src}: BM25 search for {marker} does not return it")
    if disk is not None:
        for src, sha in disk.items():
            doc = by_source.get(src)
            if doc is not None and doc.id != sha:
                problems.append(f"{src}: indexed content differs from the file on disk")
    return idx, problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=20, help="Kills to inject (default 20).")
    ap.add_argument("--seed", type=int, default=0, help="Random seed for corpus changes and kill delays.")
    ap.add_argument("--embedder", choices=["minilm-int8", "minilm", "hash"], default="minilm",
                    help="minilm (the project default) or minilm-int8: the real model through `rag ingest`; "
                         "hash: the tests' fake embedder (faster).")
    ap.add_argument("--duration", type=float, default=None,
                    help="Unkilled ingest duration in seconds (default: measured).")
    ap.add_argument("--focus-write", type=float, default=0.0, metavar="SHARE",
                    help="Share of kills aimed at the write window seen in the timed ingest (default 0: "
                         "every delay uniform over the whole ingest). The window is a few percent of an "
                         "ingest, so uniform kills rarely land in it.")
    ap.add_argument("--keep", action="store_true", help="Keep the temporary folder for inspection.")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="rag-fault-"))
    corpus_dir = tmp / "docs"
    shutil.copytree(C.ROOT / "docs_raw", corpus_dir)
    home = tmp / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_HOME=str(home), PYTHONPATH=str(C.ROOT))
    if args.embedder != "hash":
        env["RAG_EMBEDDING_MODEL"] = args.embedder
    os.environ.update(RAG_HOME=str(home))
    from rag.ingest.load import file_sha256
    from rag.settings import Settings

    settings = Settings(home=home, embedding_model=args.embedder if args.embedder != "hash" else "minilm-int8")
    rng = random.Random(args.seed)
    corpus = Corpus(corpus_dir, rng)
    cmd = ingest_cmd(corpus_dir, args.embedder)
    started = time.perf_counter()

    print(f"fault injection: {args.runs} kills, seed {args.seed}, embedder {args.embedder}, folder {tmp}")
    _, first_secs, _, _ = run_ingest(cmd, env)
    print(f"initial ingest of docs_raw/ ({len(corpus.sources())} files): {first_secs:.1f}s")
    desc, _, markers = corpus.change(0, "add")  # the slowest kind of change: most to embed
    _, secs, _, events = run_ingest(cmd, env, watch=settings.index_dir)
    duration = args.duration or secs
    window = (max(0.0, events.get("temp dir", secs) - 0.1), events.get("switched", secs) + 0.1)
    _, problems = check_index(settings, expect_sources=corpus.sources(), keep=corpus.sources(), markers=markers)
    if problems:
        print("the unkilled ingest is already inconsistent:\n  " + "\n  ".join(problems))
        return 1
    print(f"unkilled ingest after '{desc}': {secs:.1f}s (temporary version from {events.get('temp dir', float('nan')):.2f}s, "
          f"CURRENT switched at {events.get('switched', float('nan')):.2f}s); kill delays drawn from [0, {1.2 * duration:.1f}]s"
          + (f", {args.focus_write:.0%} from the write window [{window[0]:.2f}, {window[1]:.2f}]s" if args.focus_write else "")
          + "\n")

    rows, results = [], []
    for run in range(1, args.runs + 1):
        before_idx, broken = check_index(settings, expect_sources=None, keep=set(), markers={})
        if before_idx is None:  # the previous recovery already failed: nothing to compare against
            print(f"run {run:2d}: not started, the index is unusable: {'; '.join(broken)}")
            results.append({"run": run, "change": "-", "survived": False, "problems": broken})
            break
        prev_version, prev_sources = before_idx.path.name, {d.source for d in before_idx.documents.values()}
        prev_ids = {d.source: d.id for d in before_idx.documents.values()}
        desc, removed, markers = corpus.change(run)
        new_sources = corpus.sources()
        delay = rng.uniform(*window) if rng.random() < args.focus_write else rng.uniform(0, 1.2 * duration)
        before = snapshot(settings.index_dir)
        problems = []
        try:
            code, _, _, _ = run_ingest(cmd, env, kill_after=delay)
        except RuntimeError as e:  # finished before the kill, with an error
            code = 1
            problems.append(f"ingest before the kill: {e}")
        where = stage(before, snapshot(settings.index_dir), exited=code is not None)

        # after the kill: the previous version, or a complete new one
        live = (settings.index_dir / "CURRENT").read_text().strip()
        which = "previous" if live == prev_version else "new"
        idx, found = check_index(settings, expect_sources=prev_sources if which == "previous" else new_sources,
                                    keep=prev_sources - removed, markers=markers if which == "new" else {})
        problems += found
        if idx is not None and which == "previous":
            problems += [f"{s}: content changed in the previous version" for s, d in
                         {d.source: d.id for d in idx.documents.values()}.items() if prev_ids.get(s) != d]

        # an unkilled ingest recovers and matches the corpus on disk
        try:
            _, rec_secs, out, _ = run_ingest(cmd, env)
            report = json.loads(out)
            if report["failed"]:
                problems.append(f"recovery ingest failed files: {report['failed']}")
        except (RuntimeError, json.JSONDecodeError) as e:
            problems.append(f"recovery ingest: {e}")
            rec_secs = float("nan")
        disk = {s: file_sha256(Path(s)) for s in new_sources}
        _, rec_problems = check_index(settings, expect_sources=new_sources, keep=new_sources, markers=markers, disk=disk)
        problems += [f"after recovery: {p}" for p in rec_problems]
        if leftovers := sorted(p.name for p in settings.index_dir.glob(".tmp-*")):
            problems.append(f"after recovery: temporary directories left: {leftovers}")

        ok = not problems
        results.append({"run": run, "change": desc, "delay_s": round(delay, 3), "stage": where,
                        "live_after_kill": which, "recovery_s": round(rec_secs, 2), "survived": ok,
                        "problems": problems})
        rows.append([run, desc, f"{delay:.2f}", f"{delay / duration:.2f}", where, which,
                     f"{rec_secs:.1f}", "yes" if ok else "NO"])
        print(f"run {run:2d}: {desc:22s} kill at {delay:5.2f}s ({where}), live: {which}, "
              f"{'survived' if ok else 'FAILED: ' + '; '.join(problems)}", flush=True)

    survived = sum(r["survived"] for r in results)
    total_secs = time.perf_counter() - started
    print()
    print(C.table(["run", "change", "kill at s", "x duration", "stage", "live after kill", "recovery s", "survived"],
                  rows))
    stages = Counter(r.get("stage") for r in results)
    print("\nkills by stage: " + ", ".join(f"{s} {stages[s]}" for s in
                                           ["startup", "read/embed", "write", "renamed", "switched", "exited"]))
    print(f"survived {survived}/{args.runs} ({total_secs:.0f}s; unkilled ingest {duration:.1f}s)")
    path = C.write_results("fault_injection", {
        "machine": C.machine(), "runs": args.runs, "seed": args.seed, "embedder": args.embedder,
        "unkilled_ingest_seconds": duration, "write_window_seconds": window, "focus_write": args.focus_write,
        "survived": survived, "total": args.runs,
        "seconds": total_secs, "stages": dict(stages), "results": results})
    print(f"results: {path}")
    if args.keep:
        print(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if survived == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
