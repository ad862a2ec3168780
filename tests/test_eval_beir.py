"""`rag eval beir` on a tiny BEIR-format dataset, through the real chunker, embedder and index."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from eval.beir import load_beir, load_qrels, run_beir
from eval.cli import eval_group
from rag.errors import RagError
from rag.settings import Settings

pytestmark = pytest.mark.slow

CORPUS = [
    ("d1", "Photosynthesis in plants", "Chlorophyll absorbs sunlight to turn carbon dioxide and water into glucose."),
    ("d2", "Volcanic eruptions", "Magma rises through the crust and erupts as lava, ash and volcanic gases."),
    ("d3", "Bee colonies", "Honey bees live in colonies with one queen, many workers and seasonal drones."),
    ("d4", "Ocean tides", "The gravitational pull of the moon raises tides in the oceans twice a day."),
    ("d5", "Antibiotic resistance", "Bacteria evolve resistance to antibiotics when the drugs are overused."),
]
QUERIES = {"q1": "How do volcanic eruptions produce lava and ash?", "q2": "Why do the ocean tides follow the moon?",
           "q3": "honey bee queen colony", "q9": "a query without judgements"}


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "tiny"
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in CORPUS))
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in QUERIES.items()))
    (root / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td2\t1\nq2\td4\t1\nq3\td3\t2\nq3\td1\t1\n")
    return root


def test_load_beir(dataset):
    docs, queries, qrels = load_beir(dataset, "train")
    assert [d.id for d in docs] == ["d1", "d2", "d3", "d4", "d5"] and docs[0].text.startswith("Photosynthesis in plants\n\n")
    assert set(queries) == {"q1", "q2", "q3"}  # queries without qrels are not scored
    assert qrels["q3"] == {"d3": 2, "d1": 1}
    with pytest.raises(RagError, match="Splits available: train"):
        load_qrels(dataset / "qrels" / "test.tsv")


def test_run_beir_scores_and_caches_the_index(dataset, tmp_path, real_embedder):
    settings = Settings(home=tmp_path / "home")
    log: list[str] = []
    result = run_beir(dataset, settings, embedder=real_embedder, log=log.append)
    assert result["queries"] == 3 and result["documents"] == 5
    for mode in ("bm25", "dense", "hybrid"):
        r = result["modes"][mode]
        # five documents: dense ranks them all; BM25 ranks only those sharing a word with the query
        assert r["recall@100"] == (1.0 if mode != "bm25" else pytest.approx(5 / 6))
        assert r["per_query"]["q1"]["ndcg@10"] == 1.0 and r["per_query"]["q2"]["ndcg@10"] == 1.0
        assert 0.0 < r["ndcg@10"] <= 1.0
    assert any("indexing 5 documents" in m for m in log)
    log.clear()
    again = run_beir(dataset, settings, embedder=real_embedder, modes=("bm25",), limit=1, log=log.append)
    assert again["queries"] == 1 and not any("indexing" in m for m in log)  # the index was reused
    assert json.loads(open(result["path"]).read())["modes"]["hybrid"]["per_query"]["q3"]["ndcg@10"] > 0


def test_beir_command(dataset, rag_home):
    out = CliRunner().invoke(eval_group, ["beir", str(dataset), "--modes", "bm25,hybrid", "--k-chunks", "10"])
    assert out.exit_code == 0, out.output
    assert "| bm25 |" in out.output and "| hybrid |" in out.output and "| dense |" not in out.output
