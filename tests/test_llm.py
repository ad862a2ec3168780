"""The generator: model assembly, the embedded server's supervision, and the chat client.

Unit tests use small fake part packages and tiny loopback HTTP servers that misbehave on
purpose; the integration tests assemble the real 1.1 GB model (once: RAG_MODELS_DIR is kept
across sessions by conftest) and drive a real llama-cpp-python server.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from rag.errors import LLMUnavailable, ModelMissing
from rag.llm.generate import Generator, OpenAIGenerator, ScriptedGenerator
from rag.llm.model import ModelChecksumError, ModelSpec, ensure_model, is_ready
from rag.llm.server import EmbeddedServer, _pid_alive
from rag.settings import Settings
from conftest import free_port


# --- model assembly -------------------------------------------------------------------


@pytest.fixture
def fake_parts(tmp_path, monkeypatch):
    """Three importable part packages holding 3 KB of data; returns (spec, whole bytes)."""
    root = tmp_path / "site"
    tag = tmp_path.name.replace("-", "_")
    blobs = [os.urandom(1000 + i) for i in range(3)]
    modules = []
    for i, blob in enumerate(blobs, 1):
        name = f"fakepart_{tag}_{i}"
        pkg = root / name
        (pkg / "data").mkdir(parents=True)
        (pkg / "data" / "part.bin").write_bytes(blob)
        (pkg / "__init__.py").write_text(
            "import os\ndef get_part_path():\n"
            "    return os.path.join(os.path.dirname(__file__), 'data', 'part.bin')\n"
        )
        modules.append(name)
    monkeypatch.syspath_prepend(str(root))
    whole = b"".join(blobs)
    spec = ModelSpec(
        filename="fake.gguf",
        sha256=hashlib.sha256(whole).hexdigest(),
        size=len(whole),
        modules=tuple(modules),
    )
    return spec, whole


@pytest.fixture
def tmp_models(tmp_path) -> Settings:
    """Settings whose models dir is private to the test (the shared one holds the real model)."""
    return Settings(RAG_MODELS_DIR=str(tmp_path / "models"))


def test_assembles_parts_in_order_and_skips_rehash(fake_parts, tmp_models, monkeypatch):
    spec, whole = fake_parts
    settings = tmp_models
    path = ensure_model(settings, progress=False, spec=spec)
    assert path.read_bytes() == whole
    assert path.with_name("fake.gguf.sha256").read_text().split()[0] == spec.sha256
    assert is_ready(settings, spec)

    # a verified model is trusted through its sidecar: no hashing, no assembling
    import rag.llm.model as llm_model

    def boom(*a, **k):
        raise AssertionError("re-hashed a verified model")

    monkeypatch.setattr(llm_model, "_hash_file", boom)
    monkeypatch.setattr(llm_model, "_assemble", boom)
    assert ensure_model(settings, progress=False, spec=spec) == path


def test_modified_model_is_reassembled(fake_parts, tmp_models):
    spec, whole = fake_parts
    settings = tmp_models
    path = ensure_model(settings, progress=False, spec=spec)
    time.sleep(0.01)
    path.write_bytes(b"x" * len(whole))  # same size, newer than the sidecar, wrong bytes
    assert not is_ready(settings, spec)
    assert ensure_model(settings, progress=False, spec=spec).read_bytes() == whole


def test_sha_mismatch_is_reported_and_temp_file_removed(fake_parts, tmp_models):
    spec, _ = fake_parts
    bad = ModelSpec(filename=spec.filename, sha256="0" * 64, size=spec.size, modules=spec.modules)
    settings = tmp_models
    with pytest.raises(ModelChecksumError, match="sha256.*pip install --force-reinstall -r requirements.txt"):
        ensure_model(settings, progress=False, spec=bad)
    leftovers = sorted(p.name for p in Path(settings.models_dir).iterdir())
    assert leftovers == ["fake.gguf.lock"]  # no model, no sidecar, no temp file


def test_missing_part_package_names_it(fake_parts, tmp_models):
    spec, _ = fake_parts
    gap = ModelSpec(filename=spec.filename, sha256=spec.sha256, modules=spec.modules + ("no_such_part_99",))
    with pytest.raises(ModelMissing, match=r"no-such-part-99==0\.2\.0.*pip install -r requirements.txt"):
        ensure_model(tmp_models, progress=False, spec=gap)


# --- the OpenAI client against endpoints that fail -----------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    mode = "ok"

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.mode == "500":
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"error": {"message": "model crashed"}}')
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        chunk = {"id": "1", "object": "chat.completion.chunk", "created": 0, "model": "m",
                 "choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": None}]}  # fmt: skip
        self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        if self.mode == "garbage":
            self.wfile.write(b"data: {not json\n\n")
        elif self.mode == "truncated":
            pass  # the connection closes without a finish_reason or [DONE]
        else:
            chunk["choices"] = [{"index": 0, "delta": {}, "finish_reason": "stop"}]
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\ndata: [DONE]\n\n")
        self.wfile.flush()


@pytest.fixture
def fake_endpoint():
    """A loopback HTTP server whose misbehaviour is chosen by setting `.mode`."""
    handler = type("H", (_Handler,), {})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    yield handler
    httpd.shutdown()
    httpd.server_close()


MESSAGES = [{"role": "user", "content": "Hi"}]


def test_unavailable_when_nothing_listens():
    gen = OpenAIGenerator(Settings(llm_timeout=5), base_url=f"http://127.0.0.1:{free_port()}/v1", model="m")
    start = time.monotonic()
    with pytest.raises(LLMUnavailable, match="cannot be reached"):
        gen.complete(MESSAGES)
    assert time.monotonic() - start < 10


@pytest.mark.parametrize(
    "mode, message",
    [("500", "HTTP 500: .*model crashed"), ("garbage", "malformed"), ("truncated", "without finishing")],
)
def test_endpoint_failures_become_llm_unavailable(fake_endpoint, mode, message):
    fake_endpoint.mode = mode
    gen = OpenAIGenerator(Settings(llm_timeout=5), base_url=fake_endpoint.url, model="m")
    received = []
    with pytest.raises(LLMUnavailable, match=message):
        for delta in gen.stream(MESSAGES):
            received.append(delta)
    if mode != "500":
        assert received == ["Hello"]  # the failure came mid-stream, after real output


def test_loopback_endpoint_ignores_proxy_environment(fake_endpoint, monkeypatch):
    dead_proxy = f"http://127.0.0.1:{free_port()}"
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, dead_proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    gen = OpenAIGenerator(Settings(llm_timeout=5), base_url=fake_endpoint.url, model="m")
    assert gen.complete(MESSAGES) == "Hello"


def test_port_taken_by_another_program_names_the_setting(monkeypatch, tmp_path):
    import rag.llm.model as llm_model

    monkeypatch.setattr(llm_model, "ensure_model", lambda settings, **k: tmp_path / "m.gguf")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        server = EmbeddedServer(Settings(llm_port=port))
        with pytest.raises(LLMUnavailable, match=f"Port {port} .*another program.*RAG_LLM_PORT"):
            server.ensure_running()
    assert not server.state_path.exists()


def test_missing_server_package_names_it(monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real_find_spec(name, *a)
    )
    with pytest.raises(ModelMissing, match=r"llama-cpp-python\[server\]==0\.3\.36.*pip install -r requirements.txt"):
        EmbeddedServer(Settings()).ensure_running()


def test_status_ignores_stale_state():
    server = EmbeddedServer(Settings())
    server.dir.mkdir(parents=True)
    server.state_path.write_text(json.dumps({"pid": 2**22 + 12345, "port": 1, "model": "x"}))
    assert server.status()["running"] is False
    assert server.stop() is False
    assert not server.state_path.exists()


# --- the scripted fake ------------------------------------------------------------------


def test_scripted_generator_streams_words_in_order():
    gen = ScriptedGenerator(["The answer is 42 [1].", LLMUnavailable("down"), "Second reply"])
    assert isinstance(gen, Generator)
    deltas = list(gen.stream(MESSAGES))
    assert deltas == ["The", " answer", " is", " 42", " [1]."]
    with pytest.raises(LLMUnavailable, match="down"):
        gen.complete(MESSAGES)
    assert gen.complete(MESSAGES, stop=["reply"]) == "Second "
    assert [c["messages"] for c in gen.calls] == [MESSAGES] * 3
    assert gen.calls[2]["stop"] == ["reply"]
    with pytest.raises(AssertionError, match="3 scripted replies"):
        gen.complete(MESSAGES)


def test_scripted_generator_from_function_and_max_tokens():
    gen = ScriptedGenerator(lambda messages: f"echo {messages[-1]['content']} and more words")
    assert gen.complete(MESSAGES) == "echo Hi and more words"
    assert gen.complete(MESSAGES, max_tokens=2) == "echo Hi"


# --- the real model and server ----------------------------------------------------------


def _server_pids(port: int) -> list[int]:
    """Live embedded server processes (rag.llm.app) listening on `port` (from /proc)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"rag.llm.app" in args and str(port).encode() in args and _pid_alive(int(proc.name)):
            found.append(int(proc.name))
    return found


@pytest.fixture
def real_settings():
    """Settings for a real server: this test's home, a free port, the shared models dir."""
    settings = Settings(llm_port=free_port(), llm_timeout=30)
    t = time.monotonic()
    ensure_model(settings)  # assembled once per models dir, then trusted via its sidecar
    print(f"\nmodel ready in {time.monotonic() - t:.1f} s")
    yield settings
    EmbeddedServer(settings).stop()  # never leak a server, whatever the test did


@pytest.mark.integration
def test_real_server_streams_reuses_and_stops(real_settings):
    from rag.llm.generate import make_generator

    server = EmbeddedServer(real_settings)
    t = time.monotonic()
    # two commands starting at once (separate supervisors, as in two processes) get one server
    with ThreadPoolExecutor(2) as pool:
        urls = list(pool.map(lambda _: EmbeddedServer(real_settings).ensure_running(), range(2)))
    print(f"server started in {time.monotonic() - t:.1f} s")
    url = f"http://127.0.0.1:{real_settings.llm_port}/v1"
    assert urls == [url, url]
    pid = server.status()["pid"]
    assert _server_pids(real_settings.llm_port) == [pid]

    gen = make_generator(real_settings)  # a second supervisor: must reuse, not restart
    assert server.status()["pid"] == pid and server.status()["healthy"]

    question = [{"role": "user", "content": "What is 2 + 3? Reply with the number only."}]
    t = time.monotonic()
    deltas, first = [], None
    for delta in gen.stream(question, max_tokens=10):
        first = first or time.monotonic() - t
        deltas.append(delta)
    print(f"first token after {first:.2f} s, {len(deltas)} deltas in {time.monotonic() - t:.2f} s")
    assert "5" in "".join(deltas)

    # a command arriving while an answer streams reuses the busy server and does not cut it off
    stream = gen.stream([{"role": "user", "content": "Name three UN agencies."}], max_tokens=24)
    assert next(stream)
    t = time.monotonic()
    assert EmbeddedServer(real_settings).ensure_running() == url
    assert time.monotonic() - t < 2
    assert server.status()["pid"] == pid
    assert len(list(stream)) > 3  # finished normally, or LLMUnavailable would have been raised

    assert server.stop() is True
    assert not _pid_alive(pid)
    assert server.status()["running"] is False
    with pytest.raises(LLMUnavailable, match="cannot be reached"):
        gen.complete(question)


@pytest.mark.integration
def test_server_killed_mid_stream_raises_then_restarts(real_settings):
    from rag.llm.generate import make_generator

    gen = make_generator(real_settings)
    server = EmbeddedServer(real_settings)
    pid = server.status()["pid"]
    essay = [{"role": "user", "content": "Write a long essay about the history of the United Nations."}]
    stream = gen.stream(essay, max_tokens=300)
    assert next(stream)  # the answer has started
    os.kill(pid, signal.SIGKILL)
    t = time.monotonic()
    with pytest.raises(LLMUnavailable):
        for _ in stream:
            pass
    print(f"\nLLMUnavailable {time.monotonic() - t:.2f} s after kill -9")
    assert time.monotonic() - t < 10

    # the next command notices the dead server and starts a fresh one
    t = time.monotonic()
    assert server.ensure_running()
    print(f"restarted in {time.monotonic() - t:.2f} s")
    assert server.status()["pid"] not in (None, pid)
    assert make_generator(real_settings).complete(
        [{"role": "user", "content": "Reply with the word: ready"}], max_tokens=5
    )


@pytest.mark.integration
def test_real_server_starts_with_a_relative_data_directory(tmp_path, monkeypatch):
    """RAG_HOME defaults to the relative `.rag`; the server runs in its own directory, so the
    model path it is given must not be relative to the caller's."""
    from rag.llm.generate import make_generator

    (tmp_path / "models").symlink_to(Path(os.environ["RAG_MODELS_DIR"]).resolve(), target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAG_MODELS_DIR", "models")  # relative, as a user's default would be
    settings = Settings(home=Path("rel-home"), llm_port=free_port(), llm_timeout=30)
    assert not settings.models_dir.is_absolute()
    try:
        gen = make_generator(settings)
        reply = gen.complete([{"role": "user", "content": "Say OK."}], max_tokens=4)
        assert reply.strip()
        assert EmbeddedServer(settings).status()["healthy"]
    finally:
        EmbeddedServer(settings).stop()


@pytest.mark.integration
def test_idle_server_stops_itself_and_the_next_command_restarts_it(real_settings):
    """RAG_LLM_IDLE_MINUTES: a server nobody uses exits (freeing its memory); status shows its
    memory and idle time while it runs; a command that needs it starts a new one."""
    from rag.llm.generate import make_generator

    settings = real_settings.model_copy(update={"llm_idle_minutes": 0.1})  # 6 s
    server = EmbeddedServer(settings)
    server.ensure_running()
    info = server.status()
    pid = info["pid"]
    assert info["rss_mb"] > 500  # the 1.1 GB model is mapped in
    assert info["idle_s"] is not None and info["idle_stop_s"] == 6
    assert make_generator(settings).complete([{"role": "user", "content": "Say OK."}], max_tokens=3)
    assert server.status()["idle_s"] < 3  # the answer reset the idle clock; looking at status does not
    deadline = time.monotonic() + 40
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _pid_alive(pid), "the idle server did not stop"
    assert server.status()["running"] is False
    assert make_generator(settings).complete([{"role": "user", "content": "Say OK."}], max_tokens=3)
    assert server.status()["pid"] not in (None, pid)


@pytest.mark.integration
def test_judge_route_gives_calibrated_yes_probabilities(real_settings):
    """POST /rag/judge reads the next-token logits: a passage that states a claim gets a high
    probability, one that contradicts it a low one; the probability is a number, not parsed text."""
    from rag.answer.judge import ServerJudge, support_messages

    judge = ServerJudge(EmbeddedServer(real_settings).ensure_running())
    passage = "The Protocol, adopted in 2000, now has 185 States Parties, the Secretary-General said."
    yes = judge.p_yes(support_messages("The Protocol has 185 States Parties.", passage))
    no = judge.p_yes(support_messages("The Protocol has 12 States Parties.", passage))
    assert 0.0 <= no < 0.5 < yes <= 1.0, (yes, no)
