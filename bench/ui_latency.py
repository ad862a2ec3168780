"""UI latency in a real browser: Enter pressed -> first streamed token -> verified answer shown.

What it measures: the app as `rag ui` serves it (same streamlit flags), generated-answer mode,
the embedded model, driven by Debian's chromium through Playwright. Timestamps are taken in
the page (performance.now()): t0 at the Enter keydown in the chat box, "first token" when the
streamed draft first appears, "answer" when the verified answer (or refusal) replaces it. So
each figure includes the websocket round trip, the Streamlit rerun, retrieval, the LLM's
prompt processing and generation, citation checking, and the browser's rendering.

Each question starts a new conversation, so no follow-up rewriting call is included. The
first answer after start-up also loads the model into the embedded server; it is reported on
its own ("cold") and left out of the percentiles. The machine has 2 cores: anything else
running at the same time slows every number; the load average is recorded with the results.

"pipeline s" is the Assistant's own total (the answer's footer); "answer s" minus it is what the
UI adds (websocket, reruns, rendering). `--mode quote` measures that overhead without an LLM.

Run: python bench/ui_latency.py [--questions 10] [--mode quote] [--home DIR]
     (results: bench/results/ui_latency.json, or ui_latency_quote.json)
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import _common as C

ROOT = C.ROOT
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DONE = ".rag-answer, [data-testid=stAlertContentInfo], [data-testid=stAlertContentError]"

QUESTIONS = [
    "How many States Parties does the Trafficking in Persons Protocol have?",
    "What did Sweden do in 1999?",
    "What share of detected trafficking victims are children?",
    "Which resolution convened the multi-stakeholder hearing?",
    "When was the informal interactive multi-stakeholder hearing held?",
    "What does the cross-regional statement say about technology-facilitated trafficking?",
    "What did the General Assembly adopt in the 2025 Political Declaration?",
    "What did the Secretary-General urge Member States to contribute to?",
    "Who presided over the General Assembly when the Political Declaration was adopted?",
    "What anniversary does the Convention against Transnational Organized Crime mark this year?",
    "What is the Global Plan of Action to Combat Trafficking in Persons?",
    "What did speakers say about survivors of trafficking?",
]

OBSERVER = """() => {
    const box = document.querySelector('[data-testid=stChatInput] textarea');
    window.__t = {};
    box.addEventListener('keydown', e => { if (e.key === 'Enter' && !window.__t.t0) window.__t.t0 = performance.now(); },
                         {capture: true, once: true});
    const before = document.querySelectorAll(%r).length;
    new MutationObserver((_, obs) => {
        const now = performance.now();
        if (!window.__t.first && document.querySelector('.rag-draft')) window.__t.first = now;
        const st = document.querySelector('.rag-stage[data-stage=generating]');
        if (!window.__t.generating && st) window.__t.generating = now;
        if (document.querySelectorAll(%r).length > before) { window.__t.done = now; obs.disconnect(); }
    }).observe(document.body, {subtree: true, childList: true, characterData: true});
}""" % (DONE, DONE)


def sec(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the UI exited during start-up; see its log")
        try:
            with opener.open(url + "/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("the UI did not answer /_stcore/health in time")


def one_question(page, question: str, timeout_ms: int) -> dict:
    page.get_by_role("button", name="New conversation").click()
    page.get_by_text("Ask about the indexed documents").wait_for()
    page.evaluate(OBSERVER)
    box = page.get_by_test_id("stChatInput").locator("textarea")
    box.fill(question)
    box.press("Enter")
    page.wait_for_function("() => window.__t.done", timeout=timeout_ms)
    t = page.evaluate("window.__t")
    bubble = page.get_by_test_id("stChatMessage").last
    text = bubble.inner_text()
    return {
        "question": question,
        "first_token_s": (t["first"] - t["t0"]) / 1000 if t.get("first") else None,
        "generating_s": (t["generating"] - t["t0"]) / 1000 if t.get("generating") else None,
        "answer_s": (t["done"] - t["t0"]) / 1000,
        "pipeline_s": float(m.group(1)) if (m := re.search(r"· (\d+(?:\.\d+)?) s\b", text)) else None,
        "refused": bubble.locator(".rag-answer").count() == 0,
        "fallback": "did not answer" in text,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--questions", type=int, default=10, help="timed questions (>= 10 for the report)")
    ap.add_argument("--home", help="data directory to use (default: a fresh one; the app indexes docs_raw/)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds allowed per answer")
    ap.add_argument("--mode", choices=["generate", "quote"], default="generate",
                    help="quote: no LLM, measures what the UI adds around retrieval")
    args = ap.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: run scripts/browser-deps.sh")
    from playwright.sync_api import sync_playwright

    from rag.llm.server import EmbeddedServer
    from rag.settings import Settings
    from ui.launch import command

    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="ui-latency-"))
    port, llm_port = C.free_port(), C.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") or k == "RAG_MODELS_DIR"}
    env.update(RAG_HOME=str(home), RAG_MODE=args.mode, RAG_LLM_PORT=str(llm_port))
    env.setdefault("RAG_MODELS_DIR", str(ROOT / ".rag" / "models"))
    url = f"http://127.0.0.1:{port}"
    info = C.machine()
    home.mkdir(parents=True, exist_ok=True)
    log = open(home / "ui.log", "wb")
    proc = subprocess.Popen(command(port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    rows, cold = [], None
    try:
        wait_healthy(url, proc)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(600_000)
            t = time.perf_counter()
            page.goto(url)
            page.get_by_test_id("stChatInput").locator("textarea").wait_for()
            print(f"page ready (index built if needed) in {time.perf_counter() - t:.1f} s", flush=True)
            questions = (QUESTIONS * (args.questions // len(QUESTIONS) + 1))[: args.questions]
            cold = one_question(page, "How many States Parties does the Trafficking in Persons Protocol have?",
                                int(args.timeout * 1000))
            print(f"cold first answer: first token {sec(cold['first_token_s'])} s, answer {cold['answer_s']:.1f} s",
                  flush=True)
            for i, q in enumerate(questions, start=1):
                r = one_question(page, q, int(args.timeout * 1000))
                rows.append(r)
                print(f"{i:2d}. first token {sec(r['first_token_s']):>6} s   answer {r['answer_s']:6.1f} s"
                      f"{'   (refused)' if r['refused'] else ''}{'   (LLM fallback)' if r['fallback'] else ''}   {q}",
                      flush=True)
            browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        EmbeddedServer(Settings(home=home, llm_port=llm_port)).stop()
        log.close()

    firsts = [r["first_token_s"] for r in rows if r["first_token_s"] is not None]
    answers = [r["answer_s"] for r in rows]
    overhead = [r["answer_s"] - r["pipeline_s"] for r in rows if r["pipeline_s"] is not None]
    table_rows = [[f"{i}. {r['question'][:58]}", sec(r["first_token_s"]), sec(r["answer_s"]), sec(r["pipeline_s"]),
                   "refused" if r["refused"] else "fallback" if r["fallback"] else "ok"]
                  for i, r in enumerate(rows, start=1)]
    print()
    print(C.table(["question", "first token s", "answer s", "pipeline s", "outcome"], table_rows))
    summary = {"first_token": C.latency_summary(firsts) if firsts else None, "answer": C.latency_summary(answers),
               "ui_overhead": C.latency_summary(overhead) if overhead else None}
    print()
    print(C.table(["measure", "n", "p50 s", "p95 s", "mean s"], [
        [name, s["n"], sec(s["p50_ms"] / 1000), sec(s["p95_ms"] / 1000), sec(s["mean_ms"] / 1000)]
        for name, s in (("Enter -> first streamed token", summary["first_token"]),
                        ("Enter -> verified answer shown", summary["answer"]),
                        ("UI overhead (answer shown - pipeline total)", summary["ui_overhead"])) if s
    ]))
    name = "ui_latency" if args.mode == "generate" else f"ui_latency_{args.mode}"
    path = C.write_results(name, {"mode": args.mode, "machine": info, "cold_first_answer": cold, "questions": rows,
                                  "summary": summary})
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
