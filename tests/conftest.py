"""Shared fixtures: every test gets its own data directory; real models are loaded once."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS_RAW = ROOT / "docs_raw"
# the assembled LLM is 1 GB: one copy for the whole session (module fixtures start before
# the per-test fixtures below), kept across sessions unless the caller chose a place
os.environ.setdefault("RAG_MODELS_DIR", str(ROOT / ".rag" / "models"))


def eval_gate(home: Path, monkeypatch, *args: str) -> dict:
    """`rag eval run ARGS --json` on the index in `home`, asserting that the run is comparable with
    its baseline (same suite, corpus, model and settings) and passes the gate. Returns the result
    with the whole run file under "run"."""
    import json

    from click.testing import CliRunner

    from eval.cli import eval_group

    monkeypatch.setenv("RAG_HOME", str(home))
    monkeypatch.chdir(Path(__file__).resolve().parent.parent)  # suites name their documents from here
    out = CliRunner().invoke(eval_group, ["run", *args, "--json"])
    assert out.exit_code in (0, 1), out.output
    result = json.loads(out.output)
    gate = result["gate"]
    # same suite, corpus, model and settings as the baseline, or the deltas mean nothing
    assert not gate["warnings"], gate["warnings"]
    table = "\n".join(f"{r}" for r in gate["rows"])
    assert out.exit_code == 0 and not gate["failed"], "\n".join(gate["failures"]) + "\n" + table
    result["run"] = json.loads(Path(result["run"]).read_text(encoding="utf-8"))
    return result


def source_with(messages, needle: str) -> int:
    """The number an answer prompt (its last user turn) gave to the source containing `needle`."""
    user = messages[-1]["content"]
    for m in re.finditer(r"^\[(\d+)\] .*?\n<<<\n(.*?)\n>>>", user, re.S | re.M):
        if needle in m.group(2):
            return int(m.group(1))
    raise AssertionError(f"no source contains {needle!r}")


def free_port() -> int:
    """A loopback TCP port that nothing listens on right now (for servers started by tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def rag_home(tmp_path, monkeypatch):
    """Point RAG_HOME at a fresh temporary directory so tests never touch a user's index."""
    home = tmp_path / "rag-home"
    monkeypatch.setenv("RAG_HOME", str(home))
    monkeypatch.setenv("RAG_MODELS_DIR", os.environ["RAG_MODELS_DIR"])
    return home


class HashEmbedder:
    """Deterministic fake embedder for logic tests: bag of hashed words, unit length."""

    name = "hash-test"
    dim = 64
    max_tokens = 256

    def __init__(self):
        self.calls = 0
        self.embedded = 0

    def embed(self, texts, *, batch_size=64, progress=None):
        self.calls += 1
        self.embedded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                h = int(hashlib.md5(w.encode()).hexdigest(), 16)
                out[i, h % self.dim] += 1.0
        n = np.linalg.norm(out, axis=1, keepdims=True)
        if progress:
            progress(len(texts))
        return out / np.maximum(n, 1e-9)

    def embed_query(self, text):
        return self.embed([text])[0]


@pytest.fixture
def hash_embedder():
    return HashEmbedder()


@pytest.fixture
def corpus_copy(tmp_path) -> Path:
    """A private copy of docs_raw/ that a test may modify."""
    dst = tmp_path / "docs"
    shutil.copytree(DOCS_RAW, dst)
    return dst


@pytest.fixture(scope="session")
def real_embedder():
    """The default packaged embedding model, loaded once per test session."""
    from embeddings import get_embedder
    from rag.settings import Settings

    return get_embedder(Settings().embedding_model)
