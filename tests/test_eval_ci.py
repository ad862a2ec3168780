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

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from eval.cli import eval_group
from rag.ingest import ingest
from rag.llm_server import EmbeddedServer
from rag.settings import Settings
from conftest import free_port

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


def _gate(home: Path, monkeypatch, *args: str) -> dict:
    monkeypatch.setenv("RAG_HOME", str(home))
    monkeypatch.chdir(ROOT)  # the suite names its documents as docs_raw/...
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


def test_quote_mode_holds_against_its_baseline(indexed, monkeypatch):
    result = _gate(indexed, monkeypatch, "--mode", "quote", "--baseline", "default-quote")
    assert result["run"]["metrics"]["items"] >= 40


def test_embedded_model_holds_against_its_baseline(indexed, monkeypatch):
    port = free_port()
    monkeypatch.setenv("RAG_LLM_PORT", str(port))
    try:
        result = _gate(indexed, monkeypatch, "--baseline", "default-embedded")
    finally:
        EmbeddedServer(Settings(home=indexed, llm_port=port)).stop()
    run = result["run"]
    assert run["mode"] == "generate" and run["metrics"]["errors"] == 0
