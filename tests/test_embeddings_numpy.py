"""The NumPy MiniLM gives sentence-transformers' vectors, so indexes built with either stay valid,
and `rag ask` no longer imports PyTorch."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from embeddings.base import count_tokens
from conftest import DOCS_RAW, ROOT

SCIFACT = ROOT.parent / "shared" / "benchmarks" / "scifact" / "corpus.jsonl"


def varied_texts() -> list[str]:
    """A few hundred texts: sentences, whole paragraphs and passages longer than the model's 256
    tokens (docs_raw/ and SciFact abstracts), plus edge cases (empty, accents, CJK, emoji, symbols)."""
    texts: list[str] = []
    for path in sorted(DOCS_RAW.glob("*.txt")):
        text = path.read_text()
        texts += [s for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()][:50]
        texts += [p for p in text.split("\n\n") if p.strip()][:10]
        words = text.split()
        texts += [" ".join(words[i : i + 350]) for i in range(0, len(words), 350)]
    if SCIFACT.exists():
        with open(SCIFACT) as f:
            for _, line in zip(range(80), f):
                r = json.loads(line)
                texts.append(f"{r['title']}\n\n{r['text']}")
    texts += ["", "   ", "a", "Café naïve résumé — Übergröße", "東京の人身取引 2025年", "🙂 ok 👍",
              "A/RES/79/123 (2025-06-30): 185 States Parties; 50,000 victims; €3.5m", "x" * 600,
              "word " * 400, "  leading and trailing spaces  ", "UPPER case TEXT"]
    return list(dict.fromkeys(texts))  # distinct, in order


@pytest.fixture(scope="module")
def torch_model():
    from embeddings.minilm import MiniLMTorchEmbedder

    return MiniLMTorchEmbedder()


@pytest.fixture(scope="module")
def numpy_model():
    from embeddings.minilm_numpy import MiniLMNumpyEmbedder

    return MiniLMNumpyEmbedder()


@pytest.mark.slow
def test_numpy_vectors_match_sentence_transformers(numpy_model, torch_model):
    texts = varied_texts()
    lengths = count_tokens(texts)
    assert len(texts) >= 300
    assert sum(n > 254 for n in lengths) >= 30, "the check must include texts that are truncated"
    a = numpy_model.embed(texts, batch_size=16)
    b = torch_model.embed(texts, batch_size=16)
    assert a.shape == b.shape == (len(texts), 384)
    assert a.dtype == np.float32
    cos = (a * b).sum(axis=1)
    max_diff, min_cos = float(np.abs(a - b).max()), float(cos.min())
    print(f"{len(texts)} texts ({sum(n > 254 for n in lengths)} truncated): max abs diff {max_diff:.2e}, "
          f"min cosine {min_cos:.7f}")
    assert max_diff < 1e-5
    assert min_cos >= 0.9999
    # not a trivial match: different texts still get different vectors
    assert float((a[:50] @ a[:50].T)[np.triu_indices(50, 1)].max()) < 0.999


@pytest.mark.slow
def test_numpy_truncates_at_256_tokens_like_sentence_transformers(numpy_model, torch_model):
    words = (DOCS_RAW / "GA-12734-political-declaration.txt").read_text().split()
    long = " ".join(words[:400])
    assert count_tokens([long])[0] > 300
    other_tail = " ".join(words[:400][:-60] + ["unrelated"] * 60)  # differs only after token 254
    v = numpy_model.embed([long, other_tail, " ".join(words[:150])])
    assert float(v[0] @ v[1]) > 0.99999  # the tail past 256 tokens is cut off
    assert float(v[0] @ v[2]) < 0.999  # but the text up to 256 tokens counts
    ref = torch_model.embed([long])
    assert float(v[0] @ ref[0]) >= 0.9999


@pytest.mark.slow
def test_embed_query_equals_embed_and_batching_does_not_matter(numpy_model):
    texts = varied_texts()[:40]
    one_batch = numpy_model.embed(texts, batch_size=64)
    small = numpy_model.embed(texts, batch_size=3)  # other padding widths
    assert float(np.abs(one_batch - small).max()) < 1e-5
    q = numpy_model.embed_query(texts[5])
    assert float(np.abs(q - one_batch[5]).max()) < 1e-5


def test_backend_setting_selects_the_implementation(monkeypatch):
    from embeddings.minilm import MiniLMEmbedder, MiniLMTorchEmbedder
    from embeddings.minilm_numpy import MiniLMNumpyEmbedder
    from rag.errors import ConfigError

    monkeypatch.delenv("RAG_MINILM_BACKEND", raising=False)
    assert isinstance(MiniLMEmbedder(), MiniLMNumpyEmbedder)
    monkeypatch.setenv("RAG_MINILM_BACKEND", "torch")
    assert isinstance(MiniLMEmbedder(), MiniLMTorchEmbedder)
    monkeypatch.setenv("RAG_MINILM_BACKEND", "tensorflow")
    with pytest.raises(ConfigError, match="RAG_MINILM_BACKEND"):
        MiniLMEmbedder()


@pytest.mark.slow
def test_rag_ask_quote_answers_without_importing_torch(rag_home):
    env = dict(os.environ, RAG_HOME=str(rag_home), PYTHONPATH=str(ROOT))
    env.pop("RAG_MINILM_BACKEND", None)
    subprocess.run([sys.executable, "-m", "rag.cli", "ingest", str(DOCS_RAW), "-q"], env=env, check=True,
                   capture_output=True)
    probe = (
        "import sys, rag.cli\n"
        "try:\n"
        "    rag.cli.cli.main(args=sys.argv[1:], prog_name='rag', standalone_mode=False)\n"
        "finally:\n"
        "    heavy = sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules)\n"
        "    print('HEAVY=' + ','.join(heavy))\n"
    )
    q = "How many States Parties does the Trafficking in Persons Protocol have?"
    out = subprocess.run([sys.executable, "-c", probe, "ask", "--mode", "quote", "--json", q], env=env,
                         check=True, capture_output=True, text=True).stdout
    body, heavy = out.rsplit("HEAVY=", 1)
    assert heavy.strip() == ""
    answer = json.loads(body)
    assert not answer["refused"]
    assert "185 States Parties" in answer["answer"]
