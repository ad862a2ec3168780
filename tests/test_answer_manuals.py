"""Answers over a reference manual: what a passage is about sits in its headings, options repeat
the same sentences, and questions name an option or rule something out.

A small invented manual (HTML, options as definition terms) is indexed with the real embedder;
the model's text and the judge's probabilities are scripted, so each case is produced on purpose
and the rest of the answer stage runs for real. Each case is also run with its step switched off
(RAG_ANSWER_OFF) to show that the step is what decides it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rag.answer.judge import ScriptedJudge
from rag.answer.steps import STEPS
from rag.ingest import ingest
from rag.llm.generate import ScriptedGenerator
from rag.llm.prompt import REFUSAL
from rag.pipeline import Assistant
from rag.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

BOILER = "This setting can only be changed when the server starts."
MANUAL = f"""<html><head><title>Relay server manual</title></head><body>
<h1>Relay server manual</h1>
<p>The relay server forwards messages between clients and keeps a log of every connection it accepts,
so that an operator can see who connected, from where, and for how long each session lasted.</p>
<h2>Connection settings</h2>
<dl>
<dt>idle_timeout (integer)</dt>
<dd><p>Seconds a client connection may stay idle before the relay closes it. The default is 30 seconds. {BOILER}</p></dd>
<dt>listen_port (integer)</dt>
<dd><p>The TCP port the relay listens on for client connections. The default is 7000. {BOILER}</p></dd>
<dt>log_connections (boolean)</dt>
<dd><p>Whether each accepted connection is written to the connection log. The default is on. {BOILER}</p></dd>
</dl>
<h2>Building the relay</h2>
<p>The fastrelay package needs a C compiler and the OpenSSL headers to build from source on any platform.</p>
<p>The purerelay package installs without a compiler, as it is written in Python alone.</p>
</body></html>"""


@pytest.fixture(scope="module")
def home(tmp_path_factory, real_embedder):
    docs = tmp_path_factory.mktemp("manual")
    (docs / "relay.html").write_text(MANUAL, encoding="utf-8")
    home = tmp_path_factory.mktemp("manual-home")
    report = ingest([docs], Settings(home=home), embedder=real_embedder, progress=False)
    assert not report.failed, report.summary()
    return home


def ask(home, embedder, question, reply, p, off=""):
    s = Settings(home=home, answer_flow="context", answer_off=off)
    return Assistant(s, generator=ScriptedGenerator(reply), embedder=embedder, judge=ScriptedJudge(p)).ask(question)


def verifier_says_yes_else(text):
    """A scripted model: "yes" to the verifier's judge, else `text`."""
    return lambda messages: "yes" if "Claim:" in messages[-1]["content"] else text(messages)


def test_a_sentence_named_through_its_heading_can_be_quoted(home, real_embedder):
    """The sentence "The default is 30 seconds." names idle_timeout only through its heading:
    asked for that option's default, the judge's pick is quoted, cited to the exact span."""
    question = "What is the default value of idle_timeout?"
    ans = ask(home, real_embedder, question, verifier_says_yes_else(lambda m: REFUSAL),
              lambda text: 0.95 if "30 seconds" in text.split("Text:")[-1] else 0.1)
    assert not ans.refused and "30 seconds" in ans.answer, ans.answer
    [cit] = ans.citations
    assert "idle_timeout" in (cit.section or "")


def test_every_step_can_be_switched_off():
    """Each step of rag/answer/steps.py is read somewhere in the code (else switching it off, and
    so measuring it, would do nothing)."""
    code = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "rag").rglob("*.py"))
    for step in STEPS:
        assert re.search(rf"""on\(["']{step}["']\)|["']{step}["'] not in (?:self\.)?off""", code), step


def test_the_verifier_reads_a_passage_with_the_headings_it_sits_under(real_embedder):
    """"Read all the files and check their CRCs." under the heading "ZipFile.testzip()" states what
    testzip does: the heading's terms count toward the sentence's, and its names are the passage's."""
    from rag.answer.verify import EvidenceVerifier, Passage, hard_failures

    claim = "The ZipFile.testzip method reads every file in the archive and checks its CRC."
    text = "Read all the files in the archive and check their CRCs and file headers."
    bare = Passage(text, 0, len(text))
    headed = Passage(text, 0, len(text), title="ZipFile.testzip()", heading="ZipFile.testzip()")
    v = EvidenceVerifier(real_embedder)
    [[without]], [[with_heading]] = v.assess([claim], [bare]), v.assess([claim], [headed])
    assert with_heading.score > without.score + 0.05
    assert hard_failures(claim, text) == ["ZipFile not in the passage"]
    assert hard_failures(claim, text, headed.title) == []


def test_a_paraphrase_sharing_few_words_with_its_passage_is_for_the_judge_to_decide(real_embedder):
    """A faithful paraphrase ("anti-depressant drugs" for "selective serotonin reuptake inhibitors",
    "Aβ" for "amyloid-beta") shares few words with its passage: it is put to the judge, not removed
    on similarity alone; a sentence about something else is removed without asking."""
    from rag.answer.verify import EvidenceVerifier, Passage, ProbabilityJudge

    text = "Selective serotonin reuptake inhibitors lowered amyloid-beta concentrations in the brains of transgenic mice."
    p = Passage(text, 0, len(text))
    judge = ScriptedJudge(lambda prompt: 0.9)
    v = EvidenceVerifier(real_embedder, ProbabilityJudge(judge, threshold=0.5))
    claims = ["Anti-depressant drugs reduce the Aβ level in the brains of mice.",
              "The committee meets twice a year in Geneva."]
    [[paraphrase], [unrelated]] = v.assess(claims, [p])
    assert paraphrase.supported is None and unrelated.supported is False  # only the paraphrase is the judge's
    verdict = v.resolve(claims[0], p, paraphrase)
    assert verdict.supported and verdict.judged and len(judge.calls) == 1


def test_the_verifiers_judge_reads_a_window_under_its_headings(real_embedder):
    """"The default is 30 seconds." under the heading "idle_timeout (integer)" states that option's
    default; the window alone does not, so the judge reads the heading first (and the bare window
    with the headings step off)."""
    from rag.answer.verify import EvidenceVerifier, Passage

    class Reading:
        def __init__(self):
            self.read: list[str] = []

        def supports(self, claim, evidence):
            self.read.append(evidence)
            return "idle_timeout" in evidence

    claim = "By default the relay closes an idle client connection after 30 seconds (idle_timeout)."
    text = "Seconds a client connection may stay idle before the relay closes it. The default is 30 seconds."
    head = "Connection settings » idle_timeout (integer)"
    p = Passage(text, 0, len(text), title=f"Relay server manual {head}", heading=head)
    for off, heard, supported in ((frozenset(), f"{head}: ", True), (frozenset({"headings"}), "", False)):
        judge = Reading()
        v = EvidenceVerifier(real_embedder, judge, off=off)
        [[sup]] = v.assess([claim], [p])
        assert sup.supported is None  # the judge's to decide
        assert v.resolve(claim, p, sup).supported is supported
        [read] = judge.read
        assert read.startswith(heard) and read.endswith("The default is 30 seconds.") and (head in read) == bool(heard)


def test_the_answer_check_reads_a_quote_as_the_verifiers_judge_did():
    """The answer check reads each cited quote after its section's headings, as the verifier's
    judge read it, and its prompt opens with that evidence exactly as the judge's prompts do: the
    server, having just read the passage for the verifier, evaluates only the question and the
    answer that follow (about half the check's time)."""
    from rag.answer.judge import correct_messages, support_messages
    from rag.answer.reader import cited_evidence
    from rag.answer.verify import JUDGE_PROMPT

    quote = "The default is 30 seconds."
    ev = cited_evidence(quote, "Relay server manual › Connection settings › idle_timeout (integer)")
    assert ev == f"Connection settings › idle_timeout (integer): {quote}"  # the last two headings, as labels show
    assert cited_evidence(quote, None) == quote and cited_evidence(quote, "Options", headings=False) == quote
    check = correct_messages("How long may a client stay idle?", ev, "A client may stay idle for 30 seconds.")
    opening = check[0]["content"][: check[0]["content"].index(">>>") + 3]
    assert ev in opening
    assert support_messages(quote, ev)[0]["content"].startswith(opening)
    assert JUDGE_PROMPT.format(evidence=ev, claim=quote).startswith(opening)
