"""Soak: N generated answers through `rag serve`, the embedded LLM server's memory logged as it goes.

What it does: indexes docs_raw/ in a temporary RAG_HOME, starts `rag serve` on a free loopback
port (generate mode, the embedded model), and POSTs /ask N times, one at a time, cycling through
the default suite's questions (each answer also makes the judge calls verification needs). Every
--every answers it prints the LLM server's resident memory (from /proc, by the pid in
RAG_HOME/llm/server.json) and the latency of the answers since the last row.

How to read it: `growth` is RSS now minus RSS after the first --warm answers (the model, its
context and a warm prompt cache); `slope` is the least-squares MB per answer over the rows from
that answer on. The run fails (exit 1) when the growth exceeds --bound-mb. Before the fix in
rag/llm/app.py the server grew by ~0.4 GB per answer; flat means the slope is near 0.

    python bench/soak_server.py --answers 200            # the full soak
    python bench/soak_server.py --answers 8 --every 1 --warm 3   # the short run of tests/test_soak.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_OUT = ROOT / "bench" / "results" / "soak_server.json"


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def slope(xs: list[float], ys: list[float]) -> float:
    if len(xs) < 2:
        return 0.0
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0


def questions() -> list[str]:
    import yaml

    items = yaml.safe_load((ROOT / "eval" / "suites" / "default.yaml").read_text())
    return [i["question"] for i in items if not i.get("history")]


def run(answers: int, every: int, bound_mb: float, home: Path, warm: int = 5, log=print) -> dict:
    import httpx

    import _common as c  # bench/ is on sys.path: this script's folder

    port, llm_port = c.free_port(), c.free_port()
    env = {**os.environ, "RAG_HOME": str(home), "RAG_MODE": "generate", "RAG_LLM_PORT": str(llm_port)}
    env.pop("RAG_LLM_BASE_URL", None)
    subprocess.run([sys.executable, "-m", "rag.cli", "ingest", "docs_raw/", "-q"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    server_log = open(home / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port), "--log-level", "warning"],
                            cwd=ROOT, env=env, stdout=server_log, stderr=subprocess.STDOUT)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=300)
    rows: list[dict] = []
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if client.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"rag serve did not start; see {home / 'serve.log'}")
            time.sleep(0.5)
        qs = questions()
        pid = None
        lat: list[float] = []
        errors = 0
        for n in range(1, answers + 1):
            t = time.perf_counter()
            r = client.post("/ask", json={"question": qs[(n - 1) % len(qs)], "mode": "generate"})
            lat.append(time.perf_counter() - t)
            if r.status_code != 200 or r.json().get("mode") != "generate":
                errors += 1
            if pid is None:
                pid = json.loads((home / "llm" / "server.json").read_text())["pid"]
            if n == warm or n % every == 0 or n == answers:
                row = {"answers": n, "rss_mb": round(rss_mb(pid), 1),
                       "latency_p50_s": round(statistics.median(lat), 2), "latency_max_s": round(max(lat), 2),
                       "errors": errors}
                rows.append(row)
                lat = []
                log(f"{n:5d} answers  rss {row['rss_mb']:8.1f} MB  p50 {row['latency_p50_s']:6.2f} s  "
                    f"max {row['latency_max_s']:6.2f} s  errors {errors}")
    finally:
        client.close()
        proc.terminate()
        proc.wait(30)
        subprocess.run([sys.executable, "-m", "rag.cli", "llm", "stop"], cwd=ROOT, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    warmed = next(r["rss_mb"] for r in rows if r["answers"] >= warm)
    later = [r for r in rows if r["answers"] >= warm]
    result = {
        "answers": answers,
        "warm": warm,
        "rows": rows,
        "rss_after_warm_mb": warmed,
        "rss_end_mb": rows[-1]["rss_mb"],
        "rss_max_mb": max(r["rss_mb"] for r in later),
        "growth_mb": round(max(r["rss_mb"] for r in later) - warmed, 1),
        "slope_mb_per_answer": round(slope([r["answers"] for r in later], [r["rss_mb"] for r in later]), 2),
        "errors": rows[-1]["errors"],
        "bound_mb": bound_mb,
    }
    result["ok"] = result["growth_mb"] <= bound_mb and result["errors"] == 0
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--answers", type=int, default=200, help="Answers to ask (default 200).")
    p.add_argument("--every", type=int, default=10, help="Log a row every N answers (default 10).")
    p.add_argument("--warm", type=int, default=5,
                   help="Answers that fill the prompt cache before growth is counted (default 5).")
    p.add_argument("--bound-mb", type=float, default=1024.0,
                   help="Largest RSS growth allowed after the first --warm answers, MB (default 1024).")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help="Where the results go (default bench/results/soak_server.json, with the run's meta).")
    args = p.parse_args()
    sys.path.insert(0, str(ROOT / "bench"))
    import _common  # imported before the run: the results' meta times the run from here

    with tempfile.TemporaryDirectory(prefix="rag-soak-") as tmp:
        result = run(args.answers, args.every, args.bound_mb, Path(tmp), warm=args.warm)
    print(f"growth after answer {args.warm}: {result['growth_mb']} MB (bound {args.bound_mb:g}); "
          f"slope {result['slope_mb_per_answer']} MB/answer; errors {result['errors']}")
    if args.out == DEFAULT_OUT:  # the committed results file carries the run's meta (bench/_common.py)
        _common.write_results("soak_server", result)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
