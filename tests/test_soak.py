"""The embedded LLM server's memory stays flat over many answers (bench/soak_server.py, short run).

llama-cpp-python's RAM prompt cache once kept a 243-311 MB copy of the score matrix per entry
while counting only llama.cpp's state against its capacity, and the server grew ~0.4 GB per
answer. 8 generated answers through a real `rag serve` and the real embedded server: after the
first 3 answers (the model loaded, the prompt cache in use) the server's RSS may not grow by more
than 1 GB over the next 5, which the leak (~0.4 GB per answer) would have grown it by about 2 GB.
The prompt cache itself is bounded at 256 MB, so its filling stays well inside the bound.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_server_memory_stays_flat_over_8_answers(tmp_path, capsys):
    import soak_server

    result = soak_server.run(answers=8, every=1, bound_mb=1024.0, warm=3, home=tmp_path / "soak-home", log=print)
    with capsys.disabled():
        print("\nsoak:", {k: result[k] for k in ("rss_after_warm_mb", "rss_max_mb", "growth_mb", "slope_mb_per_answer")})
    assert result["errors"] == 0, result["rows"]
    assert result["growth_mb"] <= 1024.0, result["rows"]
