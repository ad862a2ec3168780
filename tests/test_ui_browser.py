"""The web UI in a real browser: Debian's chromium driven by Playwright against `streamlit run`.

One app process serves the whole module, in quote mode (no LLM: fast and deterministic) with
its own data directory, so its first page load indexes docs_raw/ exactly as a user's first
start does. One test switches the sidebar to generated answers and uses the real embedded
LLM (also marked `integration`). Screenshots of every case go to test-artifacts/.

Needs /usr/bin/chromium (scripts/browser-deps.sh installs it) and the `playwright` package;
never `playwright install`.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from rag.llm.prompt import REFUSAL
from conftest import free_port

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ANSWERS = ".rag-answer, [data-testid=stAlertContentInfo], [data-testid=stAlertContentError]"
# the answers (and refusals, and errors) on the page, leaving out those of an earlier run that
# Streamlit still shows, marked stale, while a new run draws
_COUNT_ANSWERS = (f"Array.from(document.querySelectorAll({ANSWERS!r}))"
                  ".filter(e => !e.closest('[data-stale=\"true\"]')).length")
SLOW_MS = 240_000  # an answer or an ingest on a loaded 2-core machine

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (see requirements.txt)")


def _healthy(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url + "/_stcore/health", timeout=2) as r:
            return r.read().strip() == b"ok"
    except OSError:
        return False


def _serve(home: Path, log_path: Path, **rag_env: str) -> tuple[subprocess.Popen, str]:
    """Start `rag ui`'s streamlit command on a free port with RAG_HOME=home; wait until healthy."""
    from ui.launch import command

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_HOME=str(home), HF_HUB_OFFLINE="1",
               RAG_MODELS_DIR=os.environ.get("RAG_MODELS_DIR", str(ROOT / ".rag" / "models")), **rag_env)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command(port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while not _healthy(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            pytest.fail(f"the UI did not start; its log:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.3)
    return proc, url


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: run scripts/browser-deps.sh")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def app(tmp_path_factory, browser):
    """`rag ui`'s streamlit command on a free port, quote mode, a fresh data directory."""
    home = tmp_path_factory.mktemp("ui-home")
    llm_port = free_port()
    proc, url = _serve(home, home / "app.log", RAG_MODE="quote", RAG_LLM_PORT=str(llm_port))
    served = SimpleNamespace(url=url, home=home, llm_port=llm_port, first_start="")
    # The very first page load finds no index and builds it from docs_raw/, as on a fresh machine.
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.goto(url)
    done = page.get_by_text(re.compile(r"Indexed docs_raw/: \d+ added"))
    done.wait_for(timeout=SLOW_MS)
    served.first_start = done.inner_text()
    _chat_box(page).wait_for(timeout=SLOW_MS)
    _screenshot(page, "first_start")
    ctx.close()
    yield served
    _stop(proc)
    from rag.llm.server import EmbeddedServer
    from rag.settings import Settings

    EmbeddedServer(Settings(home=home, llm_port=llm_port)).stop()


def _chat_page(browser, url: str, **context_options):
    """A new browser session (a new conversation) on the chat page at `url`, ready for a question."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000}, **context_options)
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    pg.goto(url)
    _chat_box(pg).wait_for(timeout=SLOW_MS)
    yield pg
    ctx.close()


@pytest.fixture
def page(app, browser):
    """A new browser session (a new conversation) on the chat page, ready for a question."""
    yield from _chat_page(browser, app.url, accept_downloads=True)


def _screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def open_page(page, name: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=name).click()
    (_chat_box(page) if name == "Chat" else page.get_by_role("heading", name=name)).wait_for()


def _chat_box(page):
    return page.get_by_test_id("stChatInput").locator("textarea")


def _watch_stages(page) -> None:
    """Record in the page every answer stage shown (window.__stages), whether a draft was, and the
    evidence stages shown before the draft (window.__evidence: 'ranked', 'chosen')."""
    page.evaluate("""() => {
        window.__stages = []; window.__draft = false; window.__evidence = [];
        new MutationObserver(() => {
            document.querySelectorAll('.rag-stage').forEach(e => {
                if (!window.__stages.includes(e.dataset.stage)) window.__stages.push(e.dataset.stage); });
            document.querySelectorAll('.rag-evidence').forEach(e => {
                if (!window.__draft && !window.__evidence.includes(e.dataset.stage))
                    window.__evidence.push(e.dataset.stage); });
            if (document.querySelector('.rag-draft')) window.__draft = true;
        }).observe(document.body, {subtree: true, childList: true, characterData: true});
    }""")


def ask(page, question: str, timeout: int = SLOW_MS):
    """Type a question, press Enter, wait for the verified answer (or refusal); return its bubble."""
    # Count the answers of the page as it is now: a run still drawing (after a collection switch, say)
    # leaves the elements of the run before on the page, marked stale, until it ends.
    page.get_by_test_id("stStatusWidget").wait_for(state="hidden")
    before = page.evaluate(_COUNT_ANSWERS)
    _watch_stages(page)
    box = _chat_box(page)
    box.fill(question)
    box.press("Enter")
    page.wait_for_function(f"{_COUNT_ANSWERS} > {before}", timeout=timeout)
    bubble = page.get_by_test_id("stChatMessage").last
    bubble.get_by_test_id("stFeedback").wait_for()  # drawn last: the whole answer is on the page
    page.get_by_test_id("stStatusWidget").wait_for(state="hidden")  # the script run has finished
    return bubble


def test_first_start_indexes_docs_raw(app, page):
    assert re.search(r"Indexed docs_raw/: 5 added, .* 0 failed", app.first_start), app.first_start
    assert (app.home / "index").is_dir()
    open_page(page, "Corpus")
    table = page.get_by_test_id("stDataFrame")
    table.wait_for()
    # waits for the corpus summary (redrawn after the page or the index changes); a bare is_visible() raced it
    page.get_by_text(re.compile(r"^5 documents, \d+ chunks")).wait_for(timeout=SLOW_MS)
    page.get_by_test_id("stSelectbox").click()  # the table is a canvas: read the titles from "Remove"
    options = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    assert len(options) == 5 and all("(docs_raw/" in o for o in options), options
    assert any(o.startswith("General Assembly Adopts Political Declaration") for o in options)
    _screenshot(page, "corpus")
    page.get_by_role("button", name="Re-index").click()  # nothing changed on disk: nothing re-embedded
    page.get_by_text(re.compile(r"^Re-index: 0 added, 0 updated, 0 removed, 5 unchanged, 0 failed")).wait_for()


def test_corpus_question_shows_cited_passage_with_highlighted_span(page):
    bubble = ask(page, "How many States Parties has the Trafficking in Persons Protocol?")
    assert "retrieving" in page.evaluate("window.__stages")
    answer = bubble.locator(".rag-answer").inner_text()
    assert "185 States Parties" in answer and "[1]" in answer
    source = bubble.get_by_test_id("stExpander").first
    assert "[1] Human Trafficking" in source.locator("summary").inner_text()
    assert "SG/SM/22926" in source.inner_text() and "¶ 6" in source.inner_text()
    mark = source.locator(".rag-passage mark")
    assert "185 States Parties" in mark.inner_text()
    # the whole paragraph is shown around the span, and only the span is highlighted
    passage = source.locator(".rag-passage").inner_text()
    assert "fifteenth anniversary of the Global Plan of Action" in passage
    assert "fifteenth anniversary" not in mark.inner_text()
    assert bubble.get_by_text("Quotes only").is_visible()
    _screenshot(page, "cited_answer")


def test_follow_up_is_understood(page):
    ask(page, "What did Sweden do in 1999?")
    bubble = ask(page, "and what did it criminalize?")
    assert "searched for: and what did it criminalize? (What did Sweden do in 1999?)" in bubble.inner_text()
    assert "purchase" in bubble.locator(".rag-passage mark").first.inner_text()
    _screenshot(page, "follow_up")


def test_document_filter_restricts_the_sources(page):
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_test_id("stMultiSelect").click()
    page.get_by_role("option", name=re.compile("^Summary of the informal interactive")).click()
    page.keyboard.press("Escape")
    sidebar.get_by_test_id("stMultiSelect").get_by_text(re.compile("^Summary of the informal")).wait_for()
    bubble = ask(page, "What did the President of the General Assembly say at the hearing?")
    sources = bubble.get_by_test_id("stExpander").locator("code").all_inner_texts()
    assert sources and all("hearing-summary-2025-06-30.txt" in s for s in sources), sources
    _screenshot(page, "document_filter")


def test_unanswerable_question_is_refused(page):
    bubble = ask(page, "What is the capital of Mars?")
    info = bubble.get_by_test_id("stAlertContentInfo")
    assert info.get_by_test_id("stMarkdownContainer").inner_text().strip() == REFUSAL
    assert bubble.get_by_test_id("stAlertContentError").count() == 0
    assert bubble.locator(".rag-answer").count() == 0 and bubble.get_by_test_id("stExpander").count() == 0
    _screenshot(page, "refusal")


def test_feedback_is_saved(app, page):
    bubble = ask(page, "What did Sweden do in 1999?")
    bubble.get_by_test_id("stFeedbackButton").last.click()  # thumbs down
    bubble.get_by_label("Comment (optional)").fill("Quote is right but too long")
    bubble.get_by_role("button", name="Send feedback").click()
    page.get_by_text("Feedback saved. Thank you.").wait_for()
    lines = (app.home / "feedback.jsonl").read_text().splitlines()
    rec = json.loads(lines[-1])
    assert rec["rating"] == "down" and rec["comment"] == "Quote is right but too long"
    assert rec["question"] == "What did Sweden do in 1999?" and rec["mode"] == "quote" and not rec["refused"]
    assert any("Sweden" in c["quote"] for c in rec["citations"])
    _screenshot(page, "feedback")


def test_upload_then_ask_about_it(app, page, tmp_path):
    fact = ("The Zorblatt Commission on Lighthouse Safety was founded in Reykjavik in 2019 with 47 founding members "
            "paying <b>$5</b> each.")
    memo = tmp_path / "Zorblatt memo (draft).md"
    memo.write_text(f"# Zorblatt Commission memo\n\n{fact}\n\nIt meets twice a year.\n", encoding="utf-8")
    empty = tmp_path / "empty.md"
    empty.write_text("")
    open_page(page, "Corpus")
    page.get_by_test_id("stDataFrame").wait_for()
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files([str(memo), str(empty)])
    page.get_by_role("button", name="Add to the index").click()
    page.get_by_text("Added “Zorblatt_memo_draft.md”").wait_for(timeout=SLOW_MS)
    # the messages stream in one by one after the rerun: wait for the second, a bare is_visible() raced it
    page.get_by_text("“empty.md” is empty. Upload a file with text in it.").wait_for(timeout=SLOW_MS)
    assert (app.home / "uploads" / "Zorblatt_memo_draft.md").exists()
    assert not (app.home / "uploads" / "empty.md").exists()
    # the corpus summary is redrawn on the rerun after the upload: wait for it, do not poll once
    page.get_by_text(re.compile(r"^6 documents, \d+ chunks")).wait_for(timeout=SLOW_MS)
    _screenshot(page, "upload")

    open_page(page, "Chat")
    bubble = ask(page, "How many founding members did the Zorblatt Commission on Lighthouse Safety have?")
    mark = bubble.locator(".rag-passage mark").first
    assert "47 founding members" in mark.inner_text()
    assert "<b>$5</b>" in mark.inner_text() and mark.locator("b").count() == 0  # document text is escaped
    assert "uploads/Zorblatt_memo_draft.md" in bubble.get_by_test_id("stExpander").first.inner_text()
    _screenshot(page, "upload_answer")

    # removing it deletes the uploaded file and takes it out of the answers
    open_page(page, "Corpus")
    page.get_by_test_id("stSelectbox").click()
    page.get_by_role("option", name=re.compile("Zorblatt")).click()
    page.get_by_role("button", name="Remove from the index").click()
    page.get_by_text(re.compile(r"^Removed .*Zorblatt_memo_draft\.md")).wait_for(timeout=SLOW_MS)
    assert not (app.home / "uploads" / "Zorblatt_memo_draft.md").exists()
    # waits for the corpus summary (redrawn after the page or the index changes); a bare is_visible() raced it
    page.get_by_text(re.compile(r"^5 documents, \d+ chunks")).wait_for(timeout=SLOW_MS)


def _download(page, label: str) -> bytes:
    with page.expect_download() as info:
        page.get_by_test_id("stSidebar").get_by_role("button", name=label).click()
    return Path(info.value.path()).read_bytes()


def test_briefing_export(page):
    from docx import Document as DocxDocument

    ask(page, "What did Sweden do in 1999?")
    ask(page, "How many States Parties has the Trafficking in Persons Protocol?")
    md = _download(page, ".md").decode("utf-8")
    assert md.startswith("# Briefing\n")
    assert "## 1. What did Sweden do in 1999?" in md
    assert "## 2. How many States Parties has the Trafficking in Persons Protocol?" in md
    body, refs = md.split("## References")
    assert re.search(r"1999, Sweden became the first country.*\[1\]", body)
    assert re.search(r"185 States Parties\.” \[2\]", body)  # the second answer's [1] is [2] here
    assert "1. **" in refs and "2. **" in refs and "SG/SM/22926" in refs
    assert "“This year marks the twenty-fifth anniversary" in refs
    doc = DocxDocument(io.BytesIO(_download(page, ".docx")))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "2. How many States Parties has the Trafficking in Persons Protocol?" in text
    assert "185 States Parties" in text and "[2]" in text and "References" in text

    # only the ticked answer, numbered from [1] again
    page.get_by_test_id("stSidebar").get_by_text("Selected answers").click()
    page.get_by_text("Tick “Include in briefing” under the answers to export.").wait_for()
    ticks = page.get_by_test_id("stCheckbox").filter(has_text="Include in briefing")
    ticks.nth(1).wait_for()
    ticks.nth(1).click()
    page.get_by_text("1 answer, citations renumbered across the briefing.").wait_for()
    only = _download(page, ".md").decode("utf-8")
    assert "## 1. How many States Parties" in only and "Sweden" not in only
    assert re.search(r"185 States Parties\.” \[1\]", only)
    _screenshot(page, "briefing")


# --- a scripted OpenAI-compatible endpoint: streaming, removed sentences, an endpoint failing --------


class ScriptedEndpoint(BaseHTTPRequestHandler):
    """A real HTTP server speaking the OpenAI chat API (streamed), with replies chosen per question.

    "States Parties": one supported sentence and one the sources do not support (it must be
    removed); "first to criminalize": one supported sentence; "Sweden": HTTP 500 (the app must
    fall back to quotes and say why). A follow-up's rewrite request is answered with the question
    unchanged. Every request body is kept in `requests`.
    """

    requests: list[dict] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        self._json({"object": "list", "data": [{"id": "scripted-model", "object": "model", "owned_by": "test"}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append(body)
        user = body["messages"][-1]["content"]
        if "\nLast question: " in user:  # the follow-up rewriter
            self._stream(user.split("\nLast question: ", 1)[1].split("\n", 1)[0])
            return
        question = user.rsplit("Question:", 1)[-1]
        if "Sweden" in question:
            self._json({"error": {"message": "scripted failure", "type": "server_error"}}, status=500)
            return
        if "first to criminalize" in question:
            n = self._source(user, "Sweden became the first country")
            self._stream(f"In 1999, Sweden became the first country in the world to criminalize the purchase of "
                         f"sexual services [{n}].")
            return
        n = self._source(user, "185 States Parties")
        self._stream(f"The Trafficking in Persons Protocol has 185 States Parties [{n}]. "
                     f"It was first signed on the Moon in 1850 by 12 astronauts [{n}].")

    @staticmethod
    def _source(user: str, words: str) -> str:
        """The number of the prompt's source (or evidence line) holding `words` ("1" when none does)."""
        fenced = re.finditer(r"^\[(\d+)\] .*?\n<<<\n(.*?)\n>>>", user, re.S | re.M)
        lines = re.finditer(r"^\[(\d+)\] (.*)$", user, re.M)
        return next((m.group(1) for m in (*fenced, *lines) if words in m.group(2)), "1")

    def _stream(self, reply: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        words = re.findall(r"\s*\S+", reply)
        for i, w in enumerate(words):
            last = i == len(words) - 1
            chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "scripted-model",
                     "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": "stop" if last else None}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
            time.sleep(0.1)  # slow enough for the draft to be seen streaming
        self.wfile.write(b"data: [DONE]\n\n")

    def _json(self, obj, status=200):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def scripted_app(app, browser):
    """A second app on the same index, generating through the scripted endpoint."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), ScriptedEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/v1"
    proc, url = _serve(app.home, app.home / "scripted-app.log", RAG_MODE="generate", RAG_LLM_BASE_URL=base,
                       RAG_JUDGE="false")
    yield SimpleNamespace(url=url, endpoint=base)
    _stop(proc)
    server.shutdown()


@pytest.fixture
def scripted_page(scripted_app, browser):
    yield from _chat_page(browser, scripted_app.url)


def test_streamed_answer_with_removed_sentence(scripted_app, scripted_page):
    page = scripted_page
    sidebar = page.get_by_test_id("stSidebar").inner_text()
    assert scripted_app.endpoint in sidebar and "the endpoint's first model" in sidebar
    bubble = ask(page, "How many States Parties does the Trafficking in Persons Protocol have?")
    assert {"retrieving", "generating", "verifying"} <= set(page.evaluate("window.__stages"))
    assert page.evaluate("window.__draft"), "the draft was never streamed"
    answer = bubble.locator(".rag-answer").inner_text()
    assert "185 States Parties" in answer and "[1]" in answer and "Moon" not in answer
    removed = bubble.get_by_test_id("stExpander").filter(has_text="1 sentence removed:")
    assert removed.count() == 1 and "1850" in removed.locator("summary").inner_text()
    removed.locator("summary").click()
    assert "It was first signed on the Moon in 1850" in removed.locator(".rag-removed").inner_text()
    assert "scripted-model" in bubble.inner_text()
    _screenshot(page, "removed_sentence")


def test_endpoint_failure_falls_back_to_quotes_with_a_notice(scripted_page):
    bubble = ask(scripted_page, "What did Sweden do in 1999?")
    notice = bubble.get_by_test_id("stAlertContentWarning").inner_text()
    assert "did not answer" in notice and "HTTP 500" in notice and "quoted passages instead" in notice
    assert "Sweden became the first country" in bubble.locator(".rag-passage mark").first.inner_text()
    assert bubble.get_by_test_id("stAlertContentError").count() == 0
    _screenshot(scripted_page, "llm_failure_notice")


def test_question_sent_while_an_answer_is_written_waits_and_is_answered(scripted_app, scripted_page):
    """A second question sent during "Writing…" neither stops the first answer nor is lost: it
    waits, then is answered with the first turn as its history, and both are in the briefing."""
    page = scripted_page
    first = "How many States Parties does the Trafficking in Persons Protocol have?"
    second = "Which country was the first to criminalize the purchase of sexual services?"
    ScriptedEndpoint.requests.clear()
    _watch_stages(page)
    box = _chat_box(page)
    box.fill(first)
    box.press("Enter")
    page.locator(".rag-draft").wait_for(timeout=SLOW_MS)  # the first answer is being written
    box.fill(second)
    box.press("Enter")
    waiting = page.locator('.rag-stage[data-stage="waiting"]')
    waiting.wait_for()
    assert page.locator(".rag-answer").count() == 0  # the first answer is still being written
    _screenshot(page, "question_waiting")
    page.wait_for_function("document.querySelectorAll('.rag-answer').length == 2", timeout=SLOW_MS)
    page.get_by_test_id("stStatusWidget").wait_for(state="hidden")
    bubbles = page.get_by_test_id("stChatMessage")
    texts = bubbles.all_inner_texts()
    assert len(texts) == 4, texts
    assert first in texts[0] and second in texts[2]
    answers = page.locator(".rag-answer").all_inner_texts()
    assert "185 States Parties" in answers[0] and "Sweden" in answers[1] and "[1]" in answers[1]
    assert page.get_by_test_id("stAlertContentError").count() == 0 and waiting.count() == 0
    # the first answer was written to the end, and the second question was asked with it as history
    prompts = [r["messages"][-1]["content"] for r in ScriptedEndpoint.requests]
    assert sum(p.endswith("Question: " + first) for p in prompts) == 1  # not stopped and asked again
    rewrites = [r for r in ScriptedEndpoint.requests if "Last question: " + second in r["messages"][-1]["content"]]
    assert len(rewrites) == 1
    convo = rewrites[0]["messages"][-1]["content"].rsplit("Conversation:", 1)[1]
    assert first in convo and "185 States Parties" in convo
    md = _download(page, ".md").decode("utf-8")
    assert f"## 1. {first}" in md and f"## 2. {second}" in md
    assert re.search(r"185 States Parties.*\[1\]", md) and re.search(r"Sweden became the first country.*\[2\]", md)
    _screenshot(page, "question_waited_and_answered")


def test_flagged_sentence_is_marked(app, scripted_app, browser):
    """With RAG_UNSUPPORTED=flag the unsupported sentence stays, marked, with the reason shown."""
    proc, url = _serve(app.home, app.home / "flag-app.log", RAG_MODE="generate", RAG_JUDGE="false",
                       RAG_LLM_BASE_URL=scripted_app.endpoint, RAG_UNSUPPORTED="flag")
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000})
    try:
        page = ctx.new_page()
        page.set_default_timeout(60_000)
        page.goto(url)
        _chat_box(page).wait_for(timeout=SLOW_MS)
        bubble = ask(page, "How many States Parties does the Trafficking in Persons Protocol have?")
        flagged = bubble.locator(".rag-answer .rag-flagged")
        assert "It was first signed on the Moon in 1850" in flagged.inner_text()
        assert "[unverified]" in flagged.locator(".rag-unverified").inner_text()
        assert "1850 not in the passage" in flagged.get_attribute("title")
        warning = bubble.get_by_test_id("stAlertContentWarning").inner_text()
        assert "1 sentence not supported by the sources" in warning and "number 1850 not in the passage" in warning
        assert "185 States Parties" in bubble.locator(".rag-answer").inner_text()
        _screenshot(page, "flagged_sentence")
    finally:
        ctx.close()
        _stop(proc)


@pytest.mark.integration
@pytest.mark.slow
def test_generated_answer_with_embedded_llm(page):
    """The one real-LLM case: the sidebar switched to generated answers, the embedded model answers."""
    page.get_by_test_id("stSidebar").get_by_text("Generated answer", exact=True).click()
    page.wait_for_timeout(500)
    bubble = ask(page, "How many States Parties does the Trafficking in Persons Protocol have?", timeout=600_000)
    text = bubble.inner_text()
    assert "did not answer" not in text, text  # no fallback to quotes: the model answered
    assert {"retrieving", "generating", "verifying"} <= set(page.evaluate("window.__stages"))
    assert page.evaluate("window.__draft"), "the draft was never streamed"
    # the evidence (the best-matching sentences) was on the page before the draft
    assert page.evaluate("window.__evidence") == ["ranked"], page.evaluate("window.__evidence")
    answer = bubble.locator(".rag-answer").inner_text()
    assert "185" in answer and re.search(r"\[\d\]", answer)
    assert "qwen2.5" in text and "Generated answer" in text
    assert "185 States Parties" in bubble.locator(".rag-passage mark").first.inner_text()
    _screenshot(page, "generated_answer")


@pytest.mark.integration
@pytest.mark.slow
def test_follow_up_answers_what_is_asked_now_with_embedded_llm(page):
    """A follow-up pointing into the previous answer ("which of them...") gets its own answer,
    about what is asked now and cited to a passage about it, not the previous answer again.
    (Which of the passages stating it the model cites is its choice: the verifier only checks
    that the one cited supports the sentence.)"""
    page.get_by_test_id("stSidebar").get_by_text("Generated answer", exact=True).click()
    page.wait_for_timeout(500)
    first = ask(page, "What did the speaker of the cross-regional statement single out as priorities?", timeout=900_000)
    before = first.locator(".rag-answer").inner_text()
    assert "victim identification" in before and "prevention" in before, before
    second = ask(page, "Which of them concerns victims?", timeout=900_000)
    text = second.inner_text()
    assert "did not answer" not in text, text  # the model answered, no fallback to quotes
    searched = re.search(r"searched for: (.*)", text).group(1)
    assert "victims" in searched, searched  # the rewrite asks what is asked now
    after = second.locator(".rag-answer").inner_text()
    assert after != before and "victim identification" in after.lower(), after
    marks = second.locator(".rag-passage mark").all_inner_texts()
    assert marks and all("victim" in m.lower() for m in marks), marks
    _screenshot(page, "follow_up_generated")


# --- collections ---------------------------------------------------------------------------------

ZORBASE = ("The enzyme Zorbase was isolated from Arctic moss in 2011 by a team of 14 researchers in Tromso. "
           "It breaks down cellulose at four degrees Celsius.")


def _science(home: Path, embedder, tmp_path: Path):
    """A collection 'science' beside the default one in `home`, indexed with the UI's embedding model."""
    from rag.index.collections import open_catalog
    from rag.ingest import ingest
    from rag.settings import Settings

    s = Settings(home=home)
    open_catalog(s).create("science")
    src = tmp_path / "science"
    src.mkdir()
    (src / "zorbase.txt").write_text(f"Zorbase enzyme\n\n{ZORBASE}\n")
    ingest([src], s.for_collection("science"), embedder=embedder, progress=False)
    return s


def test_collection_picker_switches_chat_corpus_and_briefing(app, browser, real_embedder, tmp_path):
    """With a second collection the sidebar offers a picker; the chat answers from the chosen
    collection only, the Corpus page shows it, the briefing names it, and switching back starts over."""
    from rag.index.collections import open_catalog

    s = _science(app.home, real_embedder, tmp_path)
    try:
        for page in _chat_page(browser, app.url, accept_downloads=True):
            picker = page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox")
            picker.wait_for()
            picker.click()
            assert page.get_by_role("option").all_inner_texts() == ["default", "science"]
            page.get_by_role("option", name="science").click()
            playwright_api.expect(picker.locator("input")).to_have_value("science")
            bubble = ask(page, "How many researchers isolated the enzyme Zorbase?")
            assert "14 researchers" in bubble.locator(".rag-passage mark").first.inner_text()
            assert "zorbase.txt" in bubble.get_by_test_id("stExpander").first.inner_text()
            other = ask(page, "In what year did Sweden criminalize the purchase of sexual services?")
            info = other.get_by_test_id("stAlertContentInfo")  # the default collection's fact is not found here
            assert info.get_by_test_id("stMarkdownContainer").inner_text().strip() == REFUSAL
            md = _download(page, ".md").decode("utf-8")
            assert "From the collection “science”." in md and "zorbase.txt" in md and "GA-76" not in md
            _screenshot(page, "collection_picker")
            open_page(page, "Corpus")
            page.get_by_role("heading", name="Corpus · science").wait_for()
            page.get_by_text(re.compile(r"^1 documents, \d+ chunks")).wait_for(timeout=SLOW_MS)
            open_page(page, "Chat")
            picker.click()
            page.get_by_role("option", name="default").click()
            playwright_api.expect(picker.locator("input")).to_have_value("default")
            page.get_by_text("Ask about the indexed documents").wait_for()  # a new conversation
            assert page.locator(".rag-answer").count() == 0
            bubble = ask(page, "In what year did Sweden criminalize the purchase of sexual services?")
            assert "1999" in bubble.locator(".rag-answer").inner_text()
    finally:
        open_catalog(s).delete("science")


def test_ui_token_limits_the_collections_it_shows(browser, real_embedder, tmp_path):
    """RAG_UI_TOKEN: the UI acts as that principal, offers only what it may read (here one
    collection: no picker) and, reading only, cannot change it."""
    from rag.access.principals import open_access

    home = tmp_path / "home"
    s = _science(home, real_embedder, tmp_path)
    access = open_access(s)
    access.grant("bob", "science", "read")
    token = access.issue_token("bob")
    proc, url = _serve(home, tmp_path / "token-app.log", RAG_MODE="quote", RAG_UI_TOKEN=token)
    try:
        for page in _chat_page(browser, url):
            assert page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").count() == 0
            bubble = ask(page, "How many researchers isolated the enzyme Zorbase?")
            assert "14 researchers" in bubble.locator(".rag-passage mark").first.inner_text()
            open_page(page, "Corpus")
            page.get_by_text(re.compile(r"^Read only: the UI's principal")).wait_for()
            assert page.get_by_role("button", name="Add to the index").count() == 0
            assert not (home / "index").exists()  # the default collection, which bob may not read, was not built
    finally:
        _stop(proc)
