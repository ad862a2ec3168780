"""A real Ray cluster on 127.0.0.1, started by the tests (and the benchmark) themselves.

Every node is a `ray start` of its own (a head, then worker nodes joining it), each in a new
session, so that a node is stopped by killing exactly the processes of its session: its raylet,
object store, agents and Ray workers (which change process group but keep the session).
Nothing else on the machine is touched (no `ray stop`, which stops every Ray on it).

Ray replaces 127.0.0.1 by the machine's network address when it starts a node; the nodes here
are started through a wrapper that keeps the loopback address, so all traffic stays on it.
The nodes get this checkout (and tests/, for the test embedders) on their PYTHONPATH.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_START = (
    "import sys\n"
    "import ray._private.services as services\n"
    "services.resolve_ip_for_localhost = lambda host: host  # keep 127.0.0.1\n"
    "from ray.scripts.scripts import main\n"
    "sys.argv[0] = 'ray'\n"
    "main()\n"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def session_pids(sid: int) -> list[int]:
    """Live processes of a session (/proc/PID/stat field 6)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[3]) == sid:
            pids.append(int(entry.name))
    return pids


class RayCluster:
    """A head and worker nodes on loopback; `address` is what `ray.init` / `--address` take."""

    def __init__(self, *, object_store_mb: int = 200, extra_env: dict | None = None):
        self.temp = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))  # Ray's socket paths must stay short
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.nodes: list[int] = []  # session ids, head first
        self.object_store = object_store_mb * 1024 * 1024
        paths = [str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p),
                    "RAY_USAGE_STATS_ENABLED": "0",
                    # a dead node is noticed in ~2 s instead of ~30 (the fault tests kill one)
                    "RAY_health_check_initial_delay_ms": "500", "RAY_health_check_period_ms": "500",
                    "RAY_health_check_timeout_ms": "1000", "RAY_health_check_failure_threshold": "3",
                    **(extra_env or {})}
        self.env.pop("RAY_ADDRESS", None)

    def _start(self, args: list[str], timeout: float = 120) -> int:
        ports = ["--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
                 "--dashboard-agent-grpc-port", "--runtime-env-agent-port", "--metrics-export-port"]
        cmd = [sys.executable, "-c", _START, "start", "--node-ip-address", "127.0.0.1", "--disable-usage-stats",
               "--object-store-memory", str(self.object_store), "--temp-dir", str(self.temp),
               *[x for p in ports for x in (p, str(free_port()))], *args]
        log = open(self.temp / f"start-{len(self.nodes)}.log", "w")
        proc = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=str(self.temp))
        self.nodes.append(proc.pid)
        try:
            code = proc.wait(timeout=timeout)
        finally:
            log.close()
        if code:
            raise RuntimeError(f"ray start failed ({code}): {(self.temp / log.name).read_text()[-3000:]}")
        return proc.pid

    def start_head(self, num_cpus: int = 1) -> "RayCluster":
        self._start(["--head", "--port", str(self.port), "--num-cpus", str(num_cpus), "--include-dashboard=false",
                     "--dashboard-port", str(free_port())])
        return self

    def add_node(self, num_cpus: int = 1) -> int:
        """A worker node joining the head; returns its id for kill_node."""
        return self._start(["--address", self.address, "--num-cpus", str(num_cpus)])

    def kill_node(self, node: int) -> None:
        """SIGKILL every process of a node: a machine lost, as far as the cluster can tell."""
        for _ in range(3):  # a raylet may start a worker while its siblings are being killed
            pids = session_pids(node)
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.2)
        if node in self.nodes:
            self.nodes.remove(node)

    def pids(self) -> list[int]:
        return [p for sid in self.nodes for p in session_pids(sid)]

    def stop(self) -> None:
        """Kill the worker nodes, then the head, and remove the temporary directory."""
        sessions = list(self.nodes)
        for node in reversed(sessions):
            self.kill_node(node)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(session_pids(s) for s in sessions):
            time.sleep(0.1)
        shutil.rmtree(self.temp, ignore_errors=True)
