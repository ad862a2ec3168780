"""The answer stage's embedder computes each distinct text once and returns the model's own vectors."""

from __future__ import annotations

import threading

import numpy as np

from embeddings.memo import Memoized, memoized
from test_embeddings_numpy import varied_texts


def test_vectors_are_the_models_own_and_each_text_is_computed_once(real_embedder):
    texts = varied_texts()[:120]
    plain = real_embedder.embed(texts)
    memo = Memoized(real_embedder)
    first = memo.embed(texts[:60])
    both = memo.embed(texts)  # the first 60 are kept, the rest computed
    assert memo.misses == len(set(" ".join(t.split()) for t in texts))
    assert np.allclose(first, plain[:60], atol=1e-5) and np.allclose(both, plain, atol=1e-5)
    # the same words spaced another way are the same tokens: kept, and the same vector
    spaced = "  The Protocol\nhas   185 States Parties. "
    v = memo.embed_query(spaced)
    hits = memo.hits
    assert np.allclose(memo.embed_query("The Protocol has 185 States Parties."), v)
    assert memo.hits == hits + 1
    assert np.allclose(v, real_embedder.embed_query("The Protocol has 185 States Parties."), atol=1e-5)


class _Counting:
    name, dim, max_tokens = "counting", 3, 8

    def __init__(self):
        self.seen: list[str] = []

    def embed(self, texts, *, batch_size=64, progress=None):
        self.seen += list(texts)
        return np.array([[len(t), 1.0, 0.0] for t in texts], dtype=np.float32)

    def embed_query(self, text):
        return self.embed([text])[0]


def test_bounded_least_recently_used_first_and_repeats_in_one_call_computed_once():
    inner = _Counting()
    memo = Memoized(inner, max_texts=2)
    out = memo.embed(["a", "bb", "a"])
    assert inner.seen == ["a", "bb"] and out[:, 0].tolist() == [1, 2, 1]
    memo.embed(["a"])  # "a" used last: "bb" goes first
    memo.embed(["ccc"])
    inner.seen.clear()
    memo.embed(["a", "bb", "ccc"])
    assert inner.seen == ["bb"]
    assert memoized(memo) is memo and isinstance(memoized(inner), Memoized)
    unbounded = Memoized(inner, max_texts=None)
    unbounded.embed([f"t{i}" for i in range(100)])
    assert len(unbounded._vectors) == 100


def test_shared_between_threads():
    inner = _Counting()
    memo = Memoized(inner, max_texts=50)
    words = [f"w{i}" * (i % 7 + 1) for i in range(200)]

    def work(k):
        for i in range(0, 200, 5):
            out = memo.embed(words[(i + k) % 200:(i + k) % 200 + 5])
            assert all(row[0] == len(w) for row, w in zip(out, words[(i + k) % 200:(i + k) % 200 + 5]))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(memo._vectors) <= 50


class _Prefixed(_Counting):
    """Embeds a query as "query: " + text, as instruction-tuned embedding models do."""

    def embed_query(self, text):
        return self.embed(["query: " + text])[0]


def test_a_query_gets_the_wrapped_embedders_query_vector_not_its_passage_vector():
    inner = _Prefixed()
    memo = Memoized(inner)
    passage = memo.embed(["abc"])[0]
    query = memo.embed_query("abc")
    assert query[0] == len("query: abc") and passage[0] == len("abc")
    inner.seen.clear()
    assert memo.embed_query(" abc ")[0] == len("query: abc") and memo.embed(["abc"])[0][0] == len("abc")
    assert inner.seen == []  # both kept, apart
