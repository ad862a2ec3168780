"""The CI gate: the default suite over docs_raw/, run for real and compared with the committed baselines.

Quote mode (no LLM) against eval/baselines/default-quote.json, then generate mode on the
embedded model, served by the real llama.cpp server, against eval/baselines/default-embedded.json.
A drop past eval/tolerances.yaml fails the test, so `make test` (and CI) fails with it. The
comparison table is in the assertion message, newly failing items first.

Re-record a baseline after an intended change (and say why in the commit):
    rag eval run --mode quote --out eval/baselines/default-quote.json
    rag eval run --out eval/baselines/default-embedded.json
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.ingest import ingest
from rag.llm.server import EmbeddedServer
from rag.settings import Settings
from conftest import eval_gate, free_port

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    """docs_raw/ indexed with the default (real) embedder in a data directory of this module."""
    home = tmp_path_factory.mktemp("eval-ci-home")
    settings = Settings(home=home)
    report = ingest([ROOT / "docs_raw"], settings, progress=False)
    assert not report.failed, report.summary()
    return home



def test_quote_mode_holds_against_its_baseline(indexed, monkeypatch):
    result = eval_gate(indexed, monkeypatch, "--mode", "quote", "--baseline", "default-quote")
    assert result["run"]["metrics"]["items"] >= 40


def test_embedded_model_holds_against_its_baseline(indexed, monkeypatch):
    port = free_port()
    monkeypatch.setenv("RAG_LLM_PORT", str(port))
    try:
        result = eval_gate(indexed, monkeypatch, "--baseline", "default-embedded")
    finally:
        EmbeddedServer(Settings(home=indexed, llm_port=port)).stop()
    run = result["run"]
    assert run["mode"] == "generate" and run["metrics"]["errors"] == 0
