"""Supervise the embedded LLM: a llama-cpp-python OpenAI-compatible server on loopback.

Loading the 1.1 GB model takes seconds, so the server is started once, detached, and
outlives the command that started it; later commands (and the UI) find it through a state
file, HOME/llm/server.json, and reuse it. A file lock makes concurrent starts produce one
server. The server (rag/llm/app.py: llama-cpp-python's app with a bounded prompt cache, a
yes/no judge route and a status route) keeps evaluated prompts in RAM, so a repeated
instructions prefix is not processed again even when other prompts ran in between, and stops
itself after RAG_LLM_IDLE_MINUTES without a request; the next command starts it again.

Everything that can go wrong (port taken, model fails to load, server dies or hangs) is
raised as LLMUnavailable with the last lines of HOME/llm/server.log and the next step.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

from rag.errors import LLMUnavailable, ModelMissing
from rag.settings import Settings

HOST = "127.0.0.1"
SERVER_REQUIREMENT = "llama-cpp-python[server]==0.3.36"
_STOP_GRACE_S = 10.0


class EmbeddedServer:
    """One llama-cpp-python server per data directory (settings.home), shared by all commands."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.dir = Path(settings.home) / "llm"
        self.state_path = self.dir / "server.json"
        self.log_path = self.dir / "server.log"
        self.lock_path = self.dir / "server.lock"
        self.port = settings.llm_port
        self.start_timeout = settings.llm_start_timeout
        self._proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def ensure_running(self) -> str:
        """Return the base URL of a healthy server, starting one if none of ours is running.

        A server left by an earlier command is reused when it serves the same model with the
        same settings; one started with other settings is replaced.
        """
        from rag.llm.model import ensure_model

        _check_server_installed()
        model = ensure_model(self.settings).resolve()  # the server runs in its own directory: RAG_HOME may be relative
        desired = self._config(model)
        self.dir.mkdir(parents=True, exist_ok=True)
        with self._lock():
            state = self._read_state()
            if state and _is_our_server(state.get("pid")):
                if state.get("config") == desired:
                    # GET /v1/models waits behind a running generation, so a server that was
                    # healthy once is judged by its pid and its listening port instead.
                    if state.get("ready") and _accepts(self.port):
                        return self.base_url
                    # Alive but never seen healthy: a start interrupted before it finished.
                    self._wait_healthy(state["pid"], time.monotonic() + self.start_timeout)
                    self._write_state(dict(state, ready=True))
                    return self.base_url
                _terminate(state["pid"])
            previous = state.get("pid") if state else None
            if previous:
                _wait_gone(previous, 10.0)  # a killed server holds its port until it has exited
            self.state_path.unlink(missing_ok=True)
            self._check_port_free(releasing=bool(previous))
            self._start(model, desired)
            return self.base_url

    def status(self) -> dict:
        """What is known about the server: running, healthy, pid, port, model, started_at, log."""
        from rag.llm.model import model_path

        state = self._read_state() or {}
        pid = state.get("pid")
        running = bool(state) and _is_our_server(pid)
        port = state.get("port", self.port) if running else self.port
        live = _server_status(port) if running else None
        return {
            "running": running,
            "healthy": running and bool(state.get("ready")) and _accepts(port),
            "rss_mb": round(live["rss_bytes"] / 2**20, 1) if live else None,
            "idle_s": live["idle_s"] if live else None,
            "idle_stop_s": live["idle_stop_s"] if live else None,
            "cache_mb": round(live["cache_bytes"] / 2**20, 1) if live else None,
            "requests": live["requests"] if live else None,
            "pid": pid if running else None,
            "port": port,
            "base_url": f"http://{HOST}:{port}/v1",
            "model": state.get("model") or str(model_path(self.settings)),
            "started_at": state.get("started_at") if running else None,
            "log": str(self.log_path),
        }

    def stop(self) -> bool:
        """Stop our server if it runs; True if one was stopped. Stale state is cleared."""
        if not self.state_path.exists():
            return False
        with self._lock():
            state = self._read_state()
            stopped = False
            if state and _is_our_server(state.get("pid")):
                _terminate(state["pid"], self._proc)
                stopped = True
            self.state_path.unlink(missing_ok=True)
            self._proc = None
            return stopped

    # --- internals ---

    def _config(self, model: Path) -> dict:
        """What the server was started with; any difference (a setting, a flag, the Python
        that runs it) means a restart."""
        return {"command": self.command(model)}

    def command(self, model: Path) -> list[str]:
        """The server's command line (public so the docs and the report can show it)."""
        from rag.llm.model import MODEL_NAME

        s = self.settings
        return [
            sys.executable, "-m", "rag.llm.app",
            "--model", str(model),
            "--alias", MODEL_NAME,
            "--port", str(self.port),
            "--ctx", str(s.llm_ctx),
            "--threads", str(s.llm_threads),
            # Prompt states kept in RAM: a repeated prefix is restored instead of re-evaluated.
            # Bounded by the bytes it really holds (rag/llm/app.py says why that needs our cache).
            "--cache-mb", str(s.llm_cache_mb),
            "--idle-s", str(int(s.llm_idle_minutes * 60)),
        ]  # fmt: skip

    def _start(self, model: Path, config: dict) -> None:
        if self.log_path.exists():
            os.replace(self.log_path, self.log_path.with_name("server.log.1"))
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                self.command(model),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                env=env,
                start_new_session=True,  # outlives the CLI; Ctrl-C in the terminal does not reach it
                close_fds=True,
            )
        state = {
            "pid": self._proc.pid,
            "port": self.port,
            "model": str(model),
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "config": config,
        }
        self._write_state(state)
        self._wait_healthy(self._proc.pid, time.monotonic() + self.start_timeout)
        self._write_state(dict(state, ready=True))

    def _write_state(self, state: dict) -> None:
        tmp = self.state_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(state, indent=2))
        os.replace(tmp, self.state_path)

    def _wait_healthy(self, pid: int, deadline: float) -> None:
        """Poll GET /v1/models until our model is listed; raise if the server dies or hangs."""
        from rag.llm.model import MODEL_NAME

        while True:
            if self._proc is not None and self._proc.pid == pid:
                self._proc.poll()  # reap it if it exited, so the pid check sees it gone
            if not _pid_alive(pid):
                self.state_path.unlink(missing_ok=True)
                raise LLMUnavailable(
                    f"The embedded LLM server exited while starting. {self._log_tail()}"
                    f"Next: read {self.log_path}; free memory, or set RAG_LLM_BASE_URL to another endpoint."
                )
            if MODEL_NAME in (_probe(self.port) or []):
                return
            if time.monotonic() > deadline:
                _terminate(pid, self._proc)
                self.state_path.unlink(missing_ok=True)
                raise LLMUnavailable(
                    f"The embedded LLM server did not answer within {self.start_timeout:g} s. "
                    f"{self._log_tail()}Next: read {self.log_path}; the machine may be overloaded."
                )
            time.sleep(0.25)

    def _check_port_free(self, *, releasing: bool = False, grace_s: float = 5.0) -> None:
        """Raise unless the port can be bound. Sockets of a server that died a moment ago may
        hold it briefly: a port where nothing listens, or any port when `releasing` (our old
        server's), is retried for `grace_s` before it is called taken."""
        deadline = time.monotonic() + grace_s
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((HOST, self.port))
                    return
                except OSError:
                    pass
            if time.monotonic() > deadline or (not releasing and _accepts(self.port)):
                break
            time.sleep(0.2)
        served = _probe(self.port)
        what = f"a model server serving {', '.join(served)}" if served else "another program"
        raise LLMUnavailable(
            f"Port {self.port} on {HOST} is taken by {what}, not by an LLM server started from "
            f"{self.settings.home}. Set RAG_LLM_PORT to a free port, or stop that program."
        )

    @contextlib.contextmanager
    def _lock(self):
        """Serialise start and stop across processes, so concurrent commands start one server."""
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.lock_path), timeout=self.start_timeout + 30)
        try:
            lock.acquire()
        except Timeout:
            raise LLMUnavailable(
                f"Another process has held {self.lock_path} for {lock.timeout:g} s while starting "
                "the LLM server. Retry, or delete that file if no rag command is running."
            ) from None
        try:
            yield
        finally:
            lock.release()

    def _read_state(self) -> dict | None:
        try:
            state = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) and isinstance(state.get("pid"), int) else None

    def _log_tail(self, lines: int = 8) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        tail = [line.strip() for line in text if line.strip()][-lines:]
        return ("Last log lines: " + " | ".join(tail) + ". ") if tail else ""


def _check_server_installed() -> None:
    for module in ("llama_cpp", "uvicorn", "sse_starlette", "starlette_context"):
        if importlib.util.find_spec(module) is None:
            raise ModelMissing(SERVER_REQUIREMENT, "The embedded LLM server")


def _probe(port: int, timeout: float = 1.0) -> list[str] | None:
    """Model ids listed at GET /v1/models on loopback, or None if nothing answers like a server."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    try:
        with opener.open(f"http://{HOST}:{port}/v1/models", timeout=timeout) as resp:
            body = json.loads(resp.read())
        return [str(m.get("id")) for m in body.get("data", []) if isinstance(m, dict)]
    except (OSError, ValueError, AttributeError, urllib.error.URLError):
        return None


def _server_status(port: int, timeout: float = 2.0) -> dict | None:
    """GET /rag/status of our server (memory, idle time, cache), or None if it does not answer."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{HOST}:{port}/rag/status", timeout=timeout) as resp:
            body = json.loads(resp.read())
        return body if isinstance(body, dict) else None
    except (OSError, ValueError, urllib.error.URLError):
        return None


def _accepts(port: int) -> bool:
    """True if something listens on the loopback port (connect succeeds)."""
    try:
        with socket.create_connection((HOST, port), timeout=1.0):
            return True
    except OSError:
        return False


def _pid_alive(pid: int | None) -> bool:
    """True if `pid` is a live process (a zombie, exited but not yet reaped, counts as dead)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): trust kill(0)


def _wait_gone(pid: int, timeout: float) -> None:
    """Wait until `pid` has finished exiting (gone or a zombie), at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)


def _is_our_server(pid: int | None) -> bool:
    """Alive and running rag.llm.app, so a reused pid is never mistaken for our server."""
    if not _pid_alive(pid):
        return False
    try:
        return b"rag.llm.app" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True


def _terminate(pid: int, proc: subprocess.Popen | None = None) -> None:
    """SIGTERM the server's process group, then SIGKILL after a grace period."""
    for sig, wait in ((signal.SIGTERM, _STOP_GRACE_S), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)  # start_new_session made the server its group's leader
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if proc is not None and proc.pid == pid:
                proc.poll()
            if not _pid_alive(pid):
                return
            time.sleep(0.1)
