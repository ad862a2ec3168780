"""The Ray engine: the parts of an ingest as Ray tasks across a cluster's nodes (`--engine ray`).

Each part is one task (one CPU) running `work.run_part`, the same code as a local worker process.
A task whose worker or node dies is run again elsewhere by Ray (`ray_max_retries` times); the
ingest's caller decides what a part that still fails means. Files are read by path on the node
that runs the task, so every node must see the ingested folders at the same path (a shared
filesystem), and every node needs this project installed, as the driver has it.

Ray is an optional dependency: `pip install -e .[ray]`.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from typing import Iterator

from rag.errors import RagError
from rag.ingest.work import Job, PartResult, run_part

RAY_MISSING = "The ray engine needs Ray: pip install -e .[ray] (or pip install -r requirements.txt)"


def _loopback(address: str | None) -> bool:
    host = (address or "").rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _reachable(address: str, timeout: float = 5.0) -> None:
    """Fail at once, with the next step, when nothing listens at HOST:PORT (Ray would wait for minutes)."""
    import socket

    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return
    except ValueError:
        raise RagError(f"--address {address!r}: expected HOST:PORT of the Ray head, or auto") from None
    except OSError as e:
        raise RagError(f"No Ray cluster answers at {address} ({e.strerror or e}). Start one there (ray start --head "
                       "--port PORT) or correct --address / RAG_RAY_ADDRESS, then run the command again.") from None


def _ray():
    try:
        import ray
    except ImportError as e:
        raise RagError(RAY_MISSING) from e
    return ray


class RayEngine:
    """Parts as Ray tasks on the cluster at `address` ("auto": the one this machine belongs to)."""

    name = "ray"

    def __init__(self, address: str | None = None, *, max_retries: int = 3):
        self.address = address or "auto"
        self.max_retries = max_retries
        self._own = False  # whether this engine connected the process to Ray (and so disconnects it)

    def start(self) -> "RayEngine":
        ray = _ray()
        if not ray.is_initialized():
            if self.address != "auto":
                _reachable(self.address)
            if _loopback(self.address):
                # a cluster on this machine's loopback: keep the driver there too (Ray otherwise
                # replaces 127.0.0.1 by the machine's network address)
                os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
                import ray._private.ray_constants as constants

                constants.ENABLE_RAY_CLUSTER = False
            try:
                ray.init(address=self.address, logging_level=logging.WARNING, log_to_driver=False,
                         namespace="rag-ingest")
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise RagError(
                    f"Cannot reach a Ray cluster at {self.address} ({' '.join(str(e).split())[:200]}). Start one "
                    "(ray start --head on this machine, ray start --address HEAD:PORT on the others) or pass "
                    "--address HOST:PORT, then run the command again.") from None
            self._own = True
        return self

    def slots(self) -> int:
        ray = _ray()
        return max(1, int(ray.cluster_resources().get("CPU", 1)))

    def run(self, parts: list[list], job: Job, first: int = 0) -> Iterator[tuple[int, PartResult | BaseException]]:
        ray = _ray()
        task = ray.remote(num_cpus=1, max_retries=self.max_retries, retry_exceptions=False)(run_part)
        job_ref = ray.put(Job(job.settings, job.embedder, job.embedder_key, job.staging, 1))
        window = 2 * self.slots() + 2  # parts in flight: every CPU busy, results fetched as they come
        todo = list(enumerate(parts, start=first))
        running: dict = {}
        try:
            while todo or running:
                while todo and len(running) < window:
                    i, part = todo.pop(0)
                    running[task.remote(i, part, job_ref)] = i
                done, _ = ray.wait(list(running), num_returns=1)
                for ref in done:
                    i = running.pop(ref)
                    try:
                        yield i, ray.get(ref)
                    except ray.exceptions.RayTaskError as e:  # the part's own code raised
                        yield i, e.as_instanceof_cause() if hasattr(e, "as_instanceof_cause") else e
                    except ray.exceptions.RayError as e:  # its worker or node died, retries exhausted
                        yield i, e
        finally:
            for ref in running:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        if self._own:
            _ray().shutdown()
            self._own = False
