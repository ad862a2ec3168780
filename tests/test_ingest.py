"""Incremental, idempotent, crash-safe ingest over a copy of the real corpus (fake embedder)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag.errors import IndexCorrupt
from rag.index import Index
from rag.ingest import ingest
from rag.settings import Settings
from rag.index.versions import IndexDir

ROOT = Path(__file__).resolve().parent.parent


def test_first_ingest_indexes_every_document(corpus_copy, hash_embedder):
    s = Settings()
    report = ingest([corpus_copy], s, embedder=hash_embedder, progress=False)
    assert len(report.added) == 5 and not report.failed
    idx = Index.load(s)
    assert len(idx.documents) == 5
    assert idx.manifest["counts"]["chunks"] == len(idx.chunks) == report.chunks_embedded > 5
    assert idx.manifest["fingerprint"] == s.index_fingerprint()
    assert idx.manifest["index_kind"] == "flat"
    for c in idx.chunks:  # every chunk is an exact span of its document
        assert idx.documents[c.doc_id].text[c.start : c.end] == c.text


def test_rerun_changes_nothing(corpus_copy, hash_embedder):
    s = Settings()
    first = ingest([corpus_copy], s, embedder=hash_embedder, progress=False)
    calls = hash_embedder.calls
    again = ingest([corpus_copy], s, embedder=hash_embedder, progress=False)
    assert not again.changed
    assert len(again.unchanged) == 5
    assert again.version == first.version
    assert hash_embedder.calls == calls  # nothing embedded
    assert len(list(s.index_dir.glob("v-*"))) == 1  # nothing written


def test_changed_file_replaced_others_reused(corpus_copy, hash_embedder):
    s = Settings()
    ingest([corpus_copy], s, embedder=hash_embedder, progress=False)
    before = Index.load(s)
    target = corpus_copy / "SG-SM-22926-secretary-general-remarks.txt"
    target.write_text(target.read_text() + "\n\nA new closing paragraph about maritime trafficking routes in 2026.\n")
    hash_embedder.embedded = 0
    report = ingest([corpus_copy], s, embedder=hash_embedder, progress=False)
    after = Index.load(s)
    assert report.updated == [os.path.normpath(str(target))]
    assert len(report.unchanged) == 4
    new_doc = next(d for d in after.documents.values() if d.source.endswith("SG-SM-22926-secretary-general-remarks.txt"))
    assert hash_embedder.embedded == sum(1 for c in after.chunks if c.doc_id == new_doc.id)
    untouched = {c.id for c in before.chunks if "SG-SM" not in c.source}
    assert untouched <= {c.id for c in after.chunks}
    assert any("maritime" in c.text for c in after.chunks)
    assert len(after.documents) == 5


def test_deleted_file_removed_but_other_roots_kept(corpus_copy, tmp_path, hash_embedder):
    s = Settings()
    other = tmp_path / "other"
    other.mkdir()
    (other / "note.md").write_text("# Note\n\nThe shelter in Valletta opened in 2024 for survivors.\n")
    ingest([corpus_copy], s, embedder=hash_embedder, progress=False)
    ingest([other], s, embedder=hash_embedder, progress=False)
    assert len(Index.load(s).documents) == 6  # ingesting another folder removes nothing
    (corpus_copy / "hearing-summary-2025-06-30.txt").unlink()
    report = ingest([corpus_copy], s, embedder=hash_embedder, progress=False)
    assert [Path(r).name for r in report.removed] == ["hearing-summary-2025-06-30.txt"]
    idx = Index.load(s)
    assert len(idx.documents) == 5
    assert not any("hearing-summary" in c.source for c in idx.chunks)
    assert any(c.source.endswith("note.md") for c in idx.chunks)


def test_bad_files_reported_rest_indexed(corpus_copy, hash_embedder):
    s = Settings()
    (corpus_copy / "empty.txt").write_text("")
    (corpus_copy / "binary.txt").write_bytes(bytes(range(256)) * 50)
    (corpus_copy / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog")
    (corpus_copy / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip")
    report = ingest([corpus_copy], s, embedder=hash_embedder, progress=False)
    failed = {Path(src).name: why for src, why in report.failed}
    assert set(failed) == {"empty.txt", "binary.txt", "broken.pdf", "broken.docx"}
    assert all(why for why in failed.values())
    assert len(report.added) == 5
    assert len(Index.load(s).documents) == 5


def test_bad_update_keeps_previous_version_of_file(corpus_copy, hash_embedder):
    s = Settings()
    ingest([corpus_copy], s, embedder=hash_embedder, progress=False)
    target = corpus_copy / "GA-12734-political-declaration.txt"
    target.write_bytes(b"\x00\x01\x02" * 1000)  # corrupted in place
    report = ingest([corpus_copy], s, embedder=hash_embedder, progress=False)
    assert [Path(f).name for f, _ in report.failed] == ["GA-12734-political-declaration.txt"]
    assert not report.removed
    idx = Index.load(s)
    assert any("Political Declaration" in c.text for c in idx.chunks if "GA-12734" in c.source)


def test_settings_change_forces_rebuild_with_message(corpus_copy, hash_embedder):
    ingest([corpus_copy], Settings(chunk_tokens=200), embedder=hash_embedder, progress=False)
    messages = []
    report = ingest([corpus_copy], Settings(chunk_tokens=96), embedder=hash_embedder, progress=False,
                    log=messages.append)
    assert report.rebuild_reason and "chunk_tokens 200 -> 96" in report.rebuild_reason
    assert messages == [report.rebuild_reason]
    assert len(report.updated) == 5
    idx = Index.load(Settings(chunk_tokens=96))
    assert idx.manifest["fingerprint"] == Settings(chunk_tokens=96).index_fingerprint()


def test_hnsw_search_breadth_is_read_at_load_not_frozen_at_ingest(corpus_copy, hash_embedder):
    """RAG_HNSW_EF_SEARCH changes recall and speed only: a changed value takes effect at the next
    load (as on PostgreSQL, where it is SET per search), without a rebuild."""
    from rag.index import DirectoryStore

    built = Settings(approx_threshold=10, hnsw_ef_search=64)
    report = ingest([corpus_copy], built, embedder=hash_embedder, progress=False)
    assert Index.load(built).manifest["index_kind"] == "hnsw"
    assert Index.load(built).vectors.hnsw.efSearch == 64
    later = Settings(approx_threshold=10, hnsw_ef_search=300)
    assert Index.load(later).vectors.hnsw.efSearch == 300
    assert DirectoryStore(later).load().vectors.hnsw.efSearch == 300
    again = ingest([corpus_copy], later, embedder=hash_embedder, progress=False)
    assert not again.changed and not again.rebuild_reason and again.version == report.version


def test_corrupt_index_file_detected(corpus_copy, hash_embedder):
    s = Settings()
    ingest([corpus_copy], s, embedder=hash_embedder, progress=False)
    version = IndexDir(s.index_dir).require_current()
    with open(version / "chunks.jsonl", "r+b") as f:
        f.seek(10)
        f.write(b"XXXX")
    with pytest.raises(IndexCorrupt, match="chunks.jsonl.*rag ingest --rebuild"):
        Index.load(s)


_SLOW_INGEST = """
import sys, time, pathlib
sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
from conftest import HashEmbedder
from rag.ingest import ingest
from rag.settings import Settings
import rag.{module} as target

marker = pathlib.Path({marker!r})
class Slow(HashEmbedder):
    def embed(self, texts, **kw):
        return super().embed(texts, **kw)
orig = target.{func}
def stalled(*a, **kw):
    marker.write_text("in {func}")
    time.sleep(60)
    return orig(*a, **kw)
target.{func} = stalled
ingest([{docs!r}], Settings(), embedder=Slow(), progress=False)
"""


@pytest.mark.parametrize("module,func", [("ingest.incremental", "_embed"), ("index.directory", "build_vector_index"),
                                         ("index.directory", "checksums")])
def test_kill_9_mid_ingest_leaves_previous_index_loadable(corpus_copy, tmp_path, hash_embedder, module, func):
    s = Settings()
    ingest([corpus_copy], s, embedder=hash_embedder, progress=False)
    before = Index.load(s)
    (corpus_copy / "extra.md").write_text("# Extra\n\nA paragraph about labour inspections in fisheries.\n")
    marker = tmp_path / "marker"
    code = _SLOW_INGEST.format(root=str(ROOT), tests=str(ROOT / "tests"), module=module, func=func,
                               marker=str(marker), docs=str(corpus_copy))
    proc = subprocess.Popen([sys.executable, "-c", code], env=os.environ.copy())
    deadline = time.time() + 60
    while not marker.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert marker.exists(), "ingest never reached the point to interrupt"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    after = Index.load(s)
    assert after.path == before.path
    assert len(after.chunks) == len(before.chunks)
    # the next ingest recovers: cleans the leftover temporary version and adds the new file
    report = ingest([corpus_copy], s, embedder=hash_embedder, progress=False)
    assert [Path(a).name for a in report.added] == ["extra.md"]
    assert not list(s.index_dir.glob(".tmp-*"))
