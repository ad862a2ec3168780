"""Hybrid retrieval on the real corpus with the real packaged embedding model and FAISS."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.index import Index
from rag.ingest import ingest
from rag.index.retrieve import HybridRetriever, dbsf, near_duplicate, rrf, _shingles
from rag.settings import Settings
from rag.types import SearchFilter

ROOT = Path(__file__).resolve().parent.parent


def test_rrf_hand_computed():
    fused = rrf([np.array([3, 1, 2]), np.array([1, 4])], k=60)
    assert fused[1] == pytest.approx(1 / 62 + 1 / 61)
    assert fused[3] == pytest.approx(1 / 61)
    assert fused[4] == pytest.approx(1 / 62)
    assert max(fused, key=fused.get) == 1  # ranked well by both beats first in one


def test_dbsf_rewards_agreement():
    fused = dbsf([(np.array([1, 2, 3]), np.array([9.0, 5.0, 1.0])), (np.array([2, 1]), np.array([0.9, 0.2]))])
    assert max(fused, key=fused.get) in (1, 2)
    assert fused[3] < fused[1] and fused[3] < fused[2]


def test_near_duplicate_containment():
    a = _shingles("Human trafficking moves some $30 billion around the world, she stressed.")
    b = _shingles("As Angola said, human trafficking moves some $30 billion around the world, she stressed. More text.")
    c = _shingles("The Maldives built a shelter for victims and ran social media campaigns.")
    assert near_duplicate(a, b, 0.85)
    assert not near_duplicate(a, c, 0.85)


@pytest.fixture(scope="module")
def corpus_index(tmp_path_factory, real_embedder):
    home = tmp_path_factory.mktemp("home")
    docs = tmp_path_factory.mktemp("corpus") / "docs_raw"
    shutil.copytree(ROOT / "docs_raw", docs)
    # a planted near-duplicate: the same passage in a second file must be collapsed in results
    text = (docs / "GA-76-high-level-meeting-2021-part3.txt").read_text()
    para = next(p for p in text.split("\n") if "$30 billion" in p)
    (docs / "dup-press-note.md").write_text(f"# Press note\n\n{para}\n")
    s = Settings(home=home)
    report = ingest([docs], s, embedder=real_embedder, progress=False)
    assert not report.failed
    return s, docs


@pytest.mark.slow
def test_finds_fact_in_right_document(corpus_index, real_embedder):
    s, _ = corpus_index
    hits = HybridRetriever(s, embedder=real_embedder).search("How many States Parties does the Trafficking in Persons Protocol have?", 3)
    assert "SG-SM-22926" in hits[0].chunk.source
    assert "185 States Parties" in hits[0].chunk.text
    assert set(hits[0].ranks) == {"bm25", "dense"}


@pytest.mark.slow
def test_semantic_match_without_shared_words(corpus_index, real_embedder):
    s, _ = corpus_index
    hits = HybridRetriever(s, embedder=real_embedder, mode="dense").search("country that made buying sex a crime", 3)
    assert any("Sweden" in h.chunk.text for h in hits)


@pytest.mark.slow
def test_near_duplicates_collapsed(corpus_index, real_embedder):
    s, _ = corpus_index
    hits = HybridRetriever(s, embedder=real_embedder).search("How much money does human trafficking move around the world?", 6)
    with_fact = [h for h in hits if "$30 billion" in h.chunk.text]
    assert len(with_fact) == 1


@pytest.mark.slow
def test_filters(corpus_index, real_embedder):
    s, _ = corpus_index
    r = HybridRetriever(s, embedder=real_embedder)
    only = r.search("trafficking", 10, SearchFilter(symbol="GA/12734"))
    assert only and all("GA-12734" in h.chunk.source for h in only)
    referenced = r.search("trafficking", 10, SearchFilter(symbol="A/80/L.8"))  # referenced, not own
    assert referenced and all("GA-12734" in h.chunk.source for h in referenced)
    dated = r.search("trafficking", 20, SearchFilter(date_from="2025-01-01", date_to="2025-12-31"))
    assert dated and all(h.date and "2025" in h.date for h in dated)
    assert not any("GA-76" in h.chunk.source for h in dated)  # 2021
    by_doc = r.search("trafficking", 10, SearchFilter(documents=("hearing-summary",)))
    assert by_doc and all("hearing-summary" in h.chunk.source for h in by_doc)
    assert r.search("trafficking", 10, SearchFilter(date_from="2030-01-01")) == []


@pytest.mark.slow
def test_cli_search_json_and_status(corpus_index):
    s, docs = corpus_index
    env = {**os.environ, "RAG_HOME": str(s.home)}
    out = subprocess.run([sys.executable, "-m", "rag.cli", "search", "Sweden criminalize purchase of sexual services",
                          "--k", "2", "--json"], env=env, capture_output=True, text=True, check=True)
    hits = json.loads(out.stdout)
    assert len(hits) == 2 or (len(hits) == 3 and hits[2]["ranks"]["sentence"] == 1)  # k, + the best sentence's
    for key in ("source", "chunk_id", "score", "text", "start", "end"):
        assert key in hits[0]
    src = Path(hits[0]["source"])
    assert (src.read_text()[hits[0]["start"] : hits[0]["end"]]) == hits[0]["text"]
    assert "Sweden" in hits[0]["text"]
    st = subprocess.run([sys.executable, "-m", "rag.cli", "status", "--json"], env=env, capture_output=True,
                        text=True, check=True)
    info = json.loads(st.stdout)
    assert info["documents"] == 6 and info["index_kind"] == "flat" and info["fingerprint_ok"]


def test_cli_errors_are_one_line_with_next_step(tmp_path):
    env = {**os.environ, "RAG_HOME": str(tmp_path / "empty")}
    out = subprocess.run([sys.executable, "-m", "rag.cli", "search", "x"], env=env, capture_output=True, text=True)
    assert out.returncode != 0
    assert out.stderr.strip() == f"error: No index in {tmp_path / 'empty'}. Run: rag ingest docs_raw/"
    bad = subprocess.run([sys.executable, "-m", "rag.cli", "search", "x", "--filter", "colour=red"], env=env,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "doc, symbol, from, to" in bad.stderr



@pytest.mark.slow
def test_the_chunk_holding_the_best_sentence_is_pulled_in(corpus_index, real_embedder):
    """The hearing summary's moderator sentence shares its chunk with the panel's topics, so six
    chunks that repeat the question's setting words ("30 June 2025", "hearing") outrank it; scored
    on its own, the sentence brings its chunk in after the k."""
    s, _ = corpus_index
    question = "Who moderated the panel discussion at the 30 June 2025 multi-stakeholder hearing?"
    chunk_only = HybridRetriever(s.model_copy(update={"sentence_pool": 0}), embedder=real_embedder).search(question)
    assert len(chunk_only) == s.k and all("moderated by" not in h.chunk.text for h in chunk_only)  # the case is real

    pulled = HybridRetriever(s, embedder=real_embedder).search(question)
    assert s.sentence_pool > s.k
    assert [h.chunk.id for h in pulled[: s.k]] == [h.chunk.id for h in chunk_only]  # the k are unchanged
    assert len(pulled) == s.k + 1 and pulled[-1].ranks["sentence"] == 1
    assert "The panel discussion was moderated by Ms. Delphine Schantz" in pulled[-1].chunk.text
    # bm25 or dense alone (compared in bench/retrieval_quality.py) stay k
    assert len(HybridRetriever(s, embedder=real_embedder, mode="dense").search(question)) == s.k
