"""Ingest on every core: worker processes give the same index as one process, and keep its promises."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import rag.ingest.incremental as incremental
from conftest import HashEmbedder
from rag.index import Index
from rag.ingest import ingest
from rag.settings import Settings


class PoisonEmbedder(HashEmbedder):
    """Raises on any text holding POISON: a bug that only one file triggers."""

    def embed(self, texts, **kw):
        if any("POISON" in t for t in texts):
            raise RuntimeError("cannot embed this text")
        return super().embed(texts, **kw)


def make_corpus(folder: Path, n: int = 40) -> Path:
    """n small Markdown files (about 2 KB each, over the size worth starting workers for)."""
    folder.mkdir(parents=True, exist_ok=True)
    words = ("labour inspection fisheries protocol parties trafficking victims assistance data report "
             "state national cooperation prevention").split()
    for i in range(n):
        paras = [" ".join(words[(i * 7 + j * 3 + k) % len(words)] for k in range(40)) + "." for j in range(6)]
        (folder / f"doc{i:03d}.md").write_text(f"# Document {i}\n\n" + "\n\n".join(paras) + "\n")
    return folder


def snapshot(settings: Settings):
    idx = Index.load(settings)
    vecs = idx.vectors.reconstruct_n(0, idx.vectors.ntotal) if len(idx.chunks) else np.zeros((0, 1))
    return [c.id for c in idx.chunks], vecs, {d.source: d.id for d in idx.documents.values()}, idx.version


def test_workers_give_the_single_process_index_and_keep_its_promises(tmp_path, monkeypatch):
    docs = make_corpus(tmp_path / "docs")
    one = Settings(home=tmp_path / "one", ingest_workers=1)
    two = Settings(home=tmp_path / "two", ingest_workers=2)
    started = []
    real_engine = incremental._engine_for
    monkeypatch.setattr(incremental, "_engine_for", lambda s, items: started.append(len(items)) or real_engine(s, items))

    r1 = ingest([docs], one, embedder=HashEmbedder(), progress=False)
    r2 = ingest([docs], two, embedder=HashEmbedder(), progress=False)
    assert r1.added == r2.added and len(r2.added) == 40 and r1.chunks_embedded == r2.chunks_embedded
    ids1, v1, d1, _ = snapshot(one)
    ids2, v2, d2, version = snapshot(two)
    assert ids1 == ids2 and d1 == d2  # same chunks, same row order
    np.testing.assert_allclose(v1, v2, atol=1e-6)
    assert started == [40, 40]

    # a file gone bad keeps its previous version and is named; a changed one is replaced
    bad, changed = docs / "doc003.md", docs / "doc007.md"
    bad.write_bytes(b"\x00\x01\x02" * 400)
    changed.write_text(changed.read_text() + "\nA new closing paragraph about labour inspection.\n")
    r = ingest([docs], two, embedder=HashEmbedder(), progress=False)
    assert [s for s, _ in r.failed] == [str(bad)] and r.updated == [str(changed)]
    assert snapshot(two)[2][str(bad)] == d2[str(bad)]  # the previous version stays indexed

    # a file gone is removed; then, nothing changed: nothing loaded, no worker started, the same version
    bad.unlink()
    r = ingest([docs], two, embedder=HashEmbedder(), progress=False)
    assert r.removed == [str(bad)]
    started.clear()
    r = ingest([docs], two, embedder=HashEmbedder(), progress=False)
    assert not r.changed and started == [] and r.version == snapshot(two)[3]


def test_a_part_that_raises_is_retried_file_by_file(tmp_path):
    docs = make_corpus(tmp_path / "docs")
    poison = docs / "doc011.md"
    poison.write_text(poison.read_text() + "\nThis paragraph is POISON to the embedder of the test, and only to it.\n")
    s = Settings(home=tmp_path / "home", ingest_workers=2)
    r = ingest([docs], s, embedder=PoisonEmbedder(), progress=False)
    assert [src for src, _ in r.failed] == [str(poison)]
    assert "RuntimeError" in r.failed[0][1] and len(r.added) == 39


def test_progress_shows_files_chunks_and_rate_only_when_asked(tmp_path, capsys):
    docs = make_corpus(tmp_path / "docs")
    s = Settings(home=tmp_path / "home", ingest_workers=2)
    seen = []
    ingest([docs], s, embedder=HashEmbedder(), progress=True, on_progress=seen.append)
    err = capsys.readouterr().err
    assert "Indexing" in err and "40/40" in err and "chunks/s" in err
    last = seen[-1]
    assert last["files_done"] == last["files_total"] == 40 and last["chunks_done"] > 40
    assert last["seconds_left"] == 0

    (docs / "doc000.md").write_text("# Changed\n\nA changed document about fisheries.\n")
    ingest([docs], s, embedder=HashEmbedder())  # stderr is not a terminal here: no bar
    assert capsys.readouterr().err == ""


def test_cli_json_prints_only_the_report(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from rag.cli import cli

    docs = make_corpus(tmp_path / "docs", 5)
    monkeypatch.setenv("RAG_HOME", str(tmp_path / "home"))
    out = CliRunner().invoke(cli, ["ingest", str(docs), "--json", "--workers", "2"])
    assert out.exit_code == 0, out.output
    assert len(json.loads(out.stdout)["added"]) == 5
    out = CliRunner().invoke(cli, ["ingest", str(docs), "--address", "127.0.0.1:1"])
    assert out.exit_code == 2 and "--engine ray" in out.output


@pytest.mark.slow
def test_real_vectors_equal_on_every_core(tmp_path, monkeypatch, real_embedder, corpus_copy):
    """The packaged model in two worker processes gives the vectors of one process."""
    monkeypatch.setattr(incremental, "PARALLEL_MIN_BYTES", 0)
    one = Settings(home=tmp_path / "one", ingest_workers=1)
    two = Settings(home=tmp_path / "two", ingest_workers=2)
    ingest([corpus_copy], one, embedder=real_embedder, progress=False)
    ingest([corpus_copy], two, embedder=real_embedder, progress=False)
    ids1, v1, _, _ = snapshot(one)
    ids2, v2, _, _ = snapshot(two)
    assert ids1 == ids2 and len(ids1) > 5
    np.testing.assert_allclose(v1, v2, atol=1e-5)
