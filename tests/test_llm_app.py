"""The embedded server's prompt cache: bounded by the bytes it really keeps (rag/llm/app.py).

llama-cpp-python's LlamaRAMCache counted only llama.cpp's state against its capacity while each
entry kept a copy of the score matrix (n_batch x n_vocab float32: 311 MB for Qwen2.5), so a
256 MB cache grew to gigabytes. These tests build states shaped like the real ones.
"""

from __future__ import annotations

import numpy as np
import pytest

from rag.llm.app import StateCache

VOCAB = 151_936  # Qwen2.5's vocabulary
MB = 1024 * 1024


def _state(tokens: list[int], kv_bytes: int = 12 * MB, rows: int = 512):
    from llama_cpp.llama import LlamaState

    ids = np.zeros(4096, dtype=np.intc)
    ids[: len(tokens)] = tokens
    return LlamaState(input_ids=ids, scores=np.zeros((rows, VOCAB), dtype=np.single), n_tokens=len(tokens),
                      llama_state=b"\0" * kv_bytes, llama_state_size=kv_bytes, seed=0)


def test_an_entry_keeps_one_row_of_scores_and_counts_every_byte():
    cache = StateCache(256 * MB)
    state = _state([1, 2, 3])
    assert state.scores.nbytes > 290 * MB  # what llama-cpp-python's own cache kept, uncounted
    cache[(1, 2, 3)] = state
    kept = cache[(1, 2, 3, 4)]  # longest-prefix lookup
    assert kept.scores.shape == (1, VOCAB)
    assert cache.cache_size == 12 * MB + VOCAB * 4 + 4096 * 4
    assert cache.cache_size < 13 * MB


def test_capacity_bounds_what_is_held_and_the_oldest_goes_first():
    cache = StateCache(50 * MB)
    for i in range(10):
        cache[(i, i + 1)] = _state([i, i + 1])
    assert cache.cache_size <= 50 * MB
    assert len(cache.cache_state) == 3  # 3 x ~12.6 MB fit in 50 MB
    assert (9, 10) in cache and (0, 1) not in cache
    with pytest.raises(KeyError):
        cache[(42,)]


def test_restoring_a_trimmed_state_broadcasts_its_row_like_the_full_copy():
    """Llama.load_state assigns state.scores into scores[:n_tokens]: one row broadcasts."""
    full = np.ones((512, 8), dtype=np.single)
    state = _state([5, 6, 7], kv_bytes=16, rows=512)
    cache = StateCache(10 * MB)
    cache[(5, 6, 7)] = state
    full[: state.n_tokens, :] = cache[(5, 6, 7)].scores[:, :8]  # what load_state does, narrowed
    assert (full[:3] == 0).all() and (full[3:] == 1).all()


def test_amx_and_the_vector_family_are_read_from_the_cpu_flags(tmp_path):
    from rag.llm.app import cpu_has_amx, vector_family

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f\n")
    assert not cpu_has_amx(str(info)) and vector_family(str(info)) == "avx512"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx512f amx_bf16 amx_int8 amx_tile\n")
    assert cpu_has_amx(str(info)) and vector_family(str(info)) == "amx"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse fma avx f16c avx2\n")
    assert vector_family(str(info)) == "avx2"
    assert not cpu_has_amx(str(tmp_path / "missing")) and vector_family(str(tmp_path / "missing")) == "other"


def test_models_loaded_after_the_switch_skip_extra_buffer_types(monkeypatch):
    """On AMX CPUs the weights must not be repacked (llama.cpp's AMX multiply crashes on the first
    prompt): the model parameters every Llama() starts from say so, and only once patched."""
    import llama_cpp.llama as llama_module

    from rag.llm.app import without_extra_buffer_types

    lib = llama_module.llama_cpp
    monkeypatch.setattr(lib, "llama_model_default_params", lib.llama_model_default_params)
    assert lib.llama_model_default_params().use_extra_bufts  # llama.cpp's default: repack
    without_extra_buffer_types()
    without_extra_buffer_types()
    assert not lib.llama_model_default_params().use_extra_bufts


@pytest.mark.integration
def test_a_state_restored_without_the_score_matrix_gives_the_same_answer():
    """The server saves and restores prompt states without llama-cpp-python's score matrix
    (`lean_state_io`): an answer read back from the cache, after another prompt changed the
    model's KV cache, is the answer the model gave the first time, and a saved state holds one
    row of scores instead of hundreds of megabytes."""
    from llama_cpp import Llama

    from rag.llm.app import lean_state_io
    from rag.llm.model import ensure_model
    from rag.settings import Settings

    llama = Llama(model_path=str(ensure_model(Settings(), progress=False)), n_ctx=1024, n_threads=2, verbose=False)
    lean_state_io(llama)
    cache = StateCache(256 * MB)
    llama.set_cache(cache)
    first = "The Water Office repaired 40 pipes in 2029 and 55 in 2030.\nHow many pipes were repaired in 2030?"
    other = "List three rivers of Africa."

    def answer(prompt):
        return llama.create_completion(prompt, max_tokens=8, temperature=0.0)["choices"][0]["text"]

    said = answer(first)
    answer(other)  # the KV cache now holds another prompt
    assert llama.input_ids[: llama.n_tokens].tolist()[:3] == llama.tokenize(other.encode())[:3]
    assert answer(first) == said  # restored from the cache
    assert len(cache.cache_state) >= 2
    assert all(s.scores.shape == (1, VOCAB) for s in cache.cache_state.values())
    assert llama.save_state().scores.nbytes == VOCAB * 4
