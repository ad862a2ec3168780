"""Ingest as Ray tasks on a real local cluster (a head and a worker node, separate processes on
127.0.0.1: tests/ray_fixture.py) into the real PostgreSQL (tests/pg_fixture.py) and the directory
store: the same index as one process, and every ingest promise, with a node killed mid-ingest.

One cluster and one PostgreSQL server for the module; the node-killing test runs last.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray")

import rag.ingest.incremental as incremental  # noqa: E402
from conftest import HashEmbedder  # noqa: E402
from pg_fixture import PgCluster  # noqa: E402
from ray_fixture import RayCluster, session_pids  # noqa: E402
from rag.index import Index, open_store  # noqa: E402
from rag.ingest import ingest  # noqa: E402
from rag.settings import Settings  # noqa: E402
from test_ingest_parallel import PoisonEmbedder, make_corpus  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.integration]
_ids = itertools.count()


class StallingEmbedder(HashEmbedder):
    """The hash embedder, slowed down, leaving a file named by its process id when it starts."""

    def __init__(self, marks: str, delay: float):
        super().__init__()
        self.marks, self.delay = marks, delay

    def embed(self, texts, **kw):
        Path(self.marks, str(os.getpid())).touch()
        time.sleep(self.delay)
        return super().embed(texts, **kw)


@pytest.fixture(scope="module")
def cluster():
    c = RayCluster()
    try:
        c.start_head(num_cpus=1)
        c.worker = c.add_node(num_cpus=1)
        import ray

        from rag.ingest.ray_engine import RayEngine

        RayEngine(c.address).start()  # this process stays connected: the ingests share its workers
        deadline = time.monotonic() + 30
        while ray.cluster_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ray.cluster_resources().get("CPU") == 2, ray.cluster_resources()
        yield c
    finally:
        import ray

        ray.shutdown()
        started = list(c.nodes)
        c.stop()
        assert not [p for s in started for p in session_pids(s)], "Ray processes left behind"


@pytest.fixture(scope="module")
def pg():
    server = PgCluster().init().start()
    yield server
    server.destroy()


@pytest.fixture
def db_url(pg) -> str:
    return pg.create_database(f"ray{os.getpid()}_{next(_ids)}")


def ray_settings(**kw) -> Settings:
    return Settings(ingest_engine="ray", **kw)


def pg_rows(settings: Settings):
    idx = open_store(settings).load()
    chunks = list(idx.chunks)
    rids = idx.store.fetch(f"SELECT rid FROM {idx.store._t('chunks')} WHERE added_in <= %(v)s AND "
                           "(removed_in IS NULL OR removed_in > %(v)s) ORDER BY rid", {"v": idx.number})
    vectors = idx.vectors_of([r[0] for r in rids])
    return [c.id for c in chunks], vectors, {d.source: d.id for d in idx.documents.values()}, idx


def dir_rows(settings: Settings):
    idx = Index.load(settings)
    return [c.id for c in idx.chunks], idx.vectors.reconstruct_n(0, idx.vectors.ntotal), idx


def test_ray_ingest_equals_single_process(cluster, db_url, corpus_copy, tmp_path, real_embedder, monkeypatch):
    """Real vectors: the cluster's chunks and vectors are the single process's, in both stores."""
    one = Settings(home=tmp_path / "one", ingest_workers=1)
    ingest([corpus_copy], one, embedder=real_embedder, progress=False)
    ids, vecs, _ = dir_rows(one)

    on_dir = ray_settings(home=tmp_path / "ray-dir")
    r = ingest([corpus_copy], on_dir, embedder=real_embedder, progress=False)
    assert len(r.added) == 5 and not r.failed
    ids_d, vecs_d, _ = dir_rows(on_dir)
    assert ids_d == ids
    np.testing.assert_allclose(vecs_d, vecs, atol=1e-5)

    on_pg = ray_settings(store_url=db_url)
    r = ingest([corpus_copy], on_pg, embedder=real_embedder, progress=False)
    assert len(r.added) == 5 and r.chunks_embedded == len(ids) and r.version == "pg-00000001"
    ids_p, vecs_p, _, idx = pg_rows(on_pg)
    assert ids_p == ids
    np.testing.assert_allclose(vecs_p, vecs, atol=1e-5)
    for c in idx.chunks:  # offsets survive the staging tables
        assert idx.documents[c.doc_id].text[c.start:c.end] == c.text
    staged = idx.store.fetch(f"SELECT count(*) FROM {idx.store._t('staged_chunks')}")[0][0]
    assert staged == 0  # the commit took the staged rows away

    # a second run with nothing changed: no part sent anywhere, no new version
    started = []
    monkeypatch.setattr(incremental, "_engine_for", lambda *a: started.append(a))
    r = ingest([corpus_copy], on_pg, embedder=real_embedder, progress=False)
    assert not r.changed and started == [] and open_store(on_pg).current() == "pg-00000001"


def test_ray_failed_file_keeps_previous_version_and_matches_single_process(cluster, db_url, tmp_path):
    docs = make_corpus(tmp_path / "docs", 30)
    s = ray_settings(store_url=db_url)
    first = ingest([docs], s, embedder=HashEmbedder(), progress=False)
    assert len(first.added) == 30
    _, _, before, _ = pg_rows(s)

    bad, changed, gone = docs / "doc003.md", docs / "doc007.md", docs / "doc010.md"
    good_bytes = bad.read_bytes()
    bad.write_bytes(b"\x00\x01\x02" * 400)
    changed.write_text(changed.read_text() + "\nA closing paragraph about labour inspection in ports.\n")
    gone.unlink()
    poison = docs / "doc020.md"
    poison.write_text(poison.read_text() + "\nThis paragraph is POISON to the embedder of the test, and only to it.\n")
    r = ingest([docs], s, embedder=PoisonEmbedder(), progress=False)
    assert sorted(src for src, _ in r.failed) == sorted([str(bad), str(poison)])
    assert r.updated == [str(changed)] and r.removed == [str(gone)]
    _, _, after, _ = pg_rows(s)
    assert after[str(bad)] == before[str(bad)] and after[str(poison)] == before[str(poison)]  # kept as they were
    assert after[str(changed)] != before[str(changed)] and str(gone) not in after

    # the same files in one process give the same chunks, in the same order
    bad.write_bytes(good_bytes)
    poison.write_text(poison.read_text().replace("POISON", "plain"))
    r = ingest([docs], s, embedder=HashEmbedder(), progress=False)
    assert sorted(r.updated) == [str(poison)] and str(bad) in r.unchanged and not r.failed
    one = Settings(home=tmp_path / "one", ingest_workers=1)
    ingest([docs], one, embedder=HashEmbedder(), progress=False)
    ids_p, vecs_p, _, _ = pg_rows(s)
    ids_1, vecs_1, _ = dir_rows(one)
    assert sorted(ids_p) == sorted(ids_1)
    order = {c: i for i, c in enumerate(ids_1)}
    np.testing.assert_allclose(vecs_p[np.argsort([order[c] for c in ids_p])], vecs_1, atol=1e-6)


def test_worker_node_killed_mid_ingest(cluster, db_url, tmp_path):
    """A node dies while it runs a part: Ray runs the part on the head; readers see the old
    version until the new one is whole; the result is the single process's."""
    docs = make_corpus(tmp_path / "docs", 24)
    s = ray_settings(store_url=db_url)
    ingest([docs / "doc000.md"], s, embedder=HashEmbedder(), progress=False)
    old = open_store(s).current()
    marks = tmp_path / "marks"
    marks.mkdir()
    result = {}

    def run():
        try:
            result["report"] = ingest([docs], s, embedder=StallingEmbedder(str(marks), 1.5), progress=False)
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            result["error"] = e

    t = threading.Thread(target=run)
    t.start()
    victim = None
    deadline = time.monotonic() + 60
    while victim is None and time.monotonic() < deadline:
        on_worker = set(session_pids(cluster.worker))
        victim = next((int(m.name) for m in marks.iterdir() if int(m.name) in on_worker), None)
        time.sleep(0.05)
    assert victim is not None, "no part reached the worker node"
    reader = Index.load(s)  # mid-ingest: the old version, whole
    assert reader.version == old and len(reader.documents) == 1
    cluster.kill_node(cluster.worker)
    t.join(timeout=120)
    assert not t.is_alive() and "error" not in result, result.get("error")
    report = result["report"]
    assert len(report.added) == 23 and not report.failed
    ran_on = {int(m.name) for m in marks.iterdir()}
    assert victim in ran_on and len(ran_on) >= 2  # the killed worker's part ran again elsewhere
    ids_p, _, sources, _ = pg_rows(s)
    assert len(sources) == 24 and open_store(s).current() != old
    one = Settings(home=tmp_path / "one", ingest_workers=1)
    ingest([docs], one, embedder=HashEmbedder(), progress=False)
    assert sorted(ids_p) == sorted(dir_rows(one)[0])
