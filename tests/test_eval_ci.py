"""The CI gate: every registered suite (eval/suites.yaml), run for real against its committed baselines.

Each suite's corpus is indexed once, with the real embedder, in a data directory of its own.
Quote mode (no LLM) asks every item and is compared with eval/baselines/<suite>-quote.json.
Generate mode, on the embedded model served by the real llama.cpp server, asks half of the
suite's test half (`--half test --shard 1/2`: the dev half is what rules and thresholds are
fitted on, and the whole test half would take about 30 minutes of CI's 45 on 2 cores; `rag eval
suites --half test` reports all of it). It is compared with the baseline recorded on a CPU of
this machine's vector family (`vector_family`: llama.cpp's sums, hence the model's replies,
differ between AVX2 and AVX512, and not between runs on one of them):
eval/baselines/<suite>-embedded-shard-<family>.json, else <suite>-embedded-shard.json (recorded
with AVX512). A drop past eval/tolerances.yaml fails the test, so `make test` (and CI) fails with
it; the comparison table is in the assertion message.

Re-record a baseline after an intended change (and say why in the commit), e.g. for pydocs:
    rag ingest eval/corpora/pydocs/
    rag eval eval/suites/pydocs.yaml --mode quote --out eval/baselines/pydocs-quote.json
    rag eval eval/suites/pydocs.yaml --half test --out eval/baselines/pydocs-embedded.json
    rag eval eval/suites/pydocs.yaml --half test --shard 1/2 --out eval/baselines/pydocs-embedded-shard.json
(on a machine with AVX512; with AVX2 and no AVX512, --out eval/baselines/pydocs-embedded-shard-avx2.json).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eval import EVAL_DIR
from eval.registry import load_registry
from eval.suite import lint_against_corpus, load_suite
from rag.ingest import ingest
from rag.llm.app import vector_family
from rag.llm.server import EmbeddedServer
from rag.settings import Settings
from conftest import eval_gate, free_port

ROOT = Path(__file__).resolve().parent.parent
SUITES = load_registry()
pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module")
def homes(tmp_path_factory, real_embedder):
    """Each suite's corpus indexed once (on first use) in a data directory of this module."""
    built: dict[str, Path] = {}

    def home(name: str) -> Path:
        if name not in built:
            built[name] = tmp_path_factory.mktemp(f"eval-ci-{name}")
            report = ingest(list(SUITES[name].corpus), Settings(home=built[name]), embedder=real_embedder,
                            progress=False)
            assert not report.failed, report.summary()
        return built[name]

    return home


@pytest.mark.parametrize("name", list(SUITES))
def test_suite_agrees_with_its_corpus(homes, name):
    from rag.index import Index

    spec = SUITES[name]
    suite = load_suite(spec.items)
    documents = Index.load(Settings(home=homes(name))).documents
    assert lint_against_corpus(suite, documents) == []
    unanswerable = [i for i in suite.items if not i.answerable]
    assert len(suite.items) >= 30 and len(unanswerable) >= 6
    for half in ("dev", "test"):  # both halves ask answerable and unanswerable questions
        assert {i.answerable for i in suite.items if i.half == half} == {True, False}


@pytest.mark.parametrize("name", list(SUITES))
def test_quote_mode_holds_against_its_baseline(homes, monkeypatch, name):
    result = eval_gate(homes(name), monkeypatch, str(SUITES[name].items), "--mode", "quote",
                       "--baseline", f"{name}-quote")
    run = result["run"]
    assert run["metrics"]["items"] >= 30 and run["metrics"]["errors"] == 0


def embedded_baseline(name: str) -> str:
    """The suite's generate-mode baseline for this machine's CPU family, if one was recorded on it."""
    own = f"{name}-embedded-shard-{vector_family()}"
    return own if (EVAL_DIR / "baselines" / f"{own}.json").exists() else f"{name}-embedded-shard"


@pytest.mark.parametrize("name", list(SUITES))
def test_embedded_model_holds_on_the_test_half(homes, monkeypatch, name):
    port = free_port()
    monkeypatch.setenv("RAG_LLM_PORT", str(port))
    try:
        result = eval_gate(homes(name), monkeypatch, str(SUITES[name].items), "--half", "test", "--shard", "1/2",
                           "--baseline", embedded_baseline(name))
    finally:
        EmbeddedServer(Settings(home=homes(name), llm_port=port)).stop()
    run = result["run"]
    assert run["mode"] == "generate" and run["metrics"]["errors"] == 0
