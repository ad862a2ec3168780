"""The offline promise, tested as a user runs it: no network but loopback.

`unshare -n` gives the commands a network namespace of their own; `ip link set lo up` brings its
loopback up (a bare `unshare -n` leaves it down, and the embedded LLM server on 127.0.0.1 is then
unreachable). Inside it, the README's main job (`rag ingest docs_raw/` then `rag ui`) must serve
the UI, and a generate-mode `rag ask` must answer with a citation from the embedded model. Nothing
may reach for a model hub or any other host.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow, pytest.mark.integration]

SCRIPT = r"""
set -u
ip link set lo up
rag ingest docs_raw/ --quiet || exit 11
rag ui --port "$UI_PORT" > "$RAG_HOME/ui.log" 2>&1 &
ui=$!
ok=""
for i in $(seq 1 120); do
  if python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$UI_PORT/_stcore/health', timeout=2)" 2>/dev/null; then ok=1; break; fi
  sleep 0.5
done
kill $ui; wait $ui 2>/dev/null
[ -n "$ok" ] || { echo "UI never became healthy" >&2; cat "$RAG_HOME/ui.log" >&2; exit 12; }
echo UI_HEALTHY
rag ask --json "How many States Parties does the Trafficking in Persons Protocol have?" > "$RAG_HOME/answer.json"
rc=$?
rag llm stop > /dev/null
exit $rc
"""


def _can_unshare() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="needs unshare -n (root or user namespaces) and iproute2")
def test_main_job_and_a_generated_answer_work_with_loopback_only(rag_home, tmp_path):
    from conftest import free_port

    env = dict(os.environ, RAG_HOME=str(rag_home), RAG_LLM_PORT=str(free_port()), UI_PORT=str(free_port()),
               PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    env.pop("RAG_LLM_BASE_URL", None)
    rag_home.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(["unshare", "-n", "sh", "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    assert "UI_HEALTHY" in out.stdout
    answer = json.loads((rag_home / "answer.json").read_text())
    assert answer["mode"] == "generate" and not answer["refused"], answer
    assert "185" in answer["answer"]
    assert answer["citations"], answer
    assert any("SG-SM-22926" in c["source"] for c in answer["citations"]), answer["citations"]
