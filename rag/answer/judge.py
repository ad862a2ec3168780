"""The Judge role: the model's probability that the answer to a yes/no question is "yes".

The small model's generated verdicts are unreliable, but the probability it gives the token
"yes" against "no" separates supported from unsupported pairs and answering from non-answering
sentences usefully. So a judge returns a number, and each use compares it with a threshold chosen
on the suites' dev halves (`SUPPORT_THRESHOLD`, `ANSWER_THRESHOLD`, `CORRECT_THRESHOLD`), never
with a parsed word.

Two implementations of one Protocol:
- `ServerJudge`: the embedded server's POST /rag/judge (rag/llm/app.py) reads the next-token
  logits directly; the evaluated prompt prefix is reused between calls.
- `LogprobJudge`: any OpenAI-compatible endpoint that returns `top_logprobs` for one token.
Both return None when the endpoint cannot answer; callers then fall back on evidence scores.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from typing import Callable, Protocol, runtime_checkable

from rag.errors import LLMUnavailable

# The probability above which a passage is taken to state a claim, when the verifier's judge
# decides by probability (RAG_JUDGE_SCORING=probability; the default reads the model's yes or no).
# Chosen on whole answers, like the bars below: the dev halves of all registered suites pooled,
# replies cached, pass the same items at 0.35, 0.5 and 0.65 (0.5 makes the same decisions as the
# model's one-word verdict) and 7 fewer at 0.79. 0.79 is what `rag eval verifier --calibrate`
# fits on the labelled pairs, where the judge decides alone; in the verifier it decides only what
# the figure, name and binding checks let through, so the bar that suits it alone is too strict.
SUPPORT_THRESHOLD = 0.5
# The probability above which the judge's candidate sentence is taken to answer the question: the
# rescue quotes the most probable one at or above it when nothing the model wrote survived, a
# part of a two-part question nothing answered is answered by it, and the evidence-first flow
# chooses its evidence by it. Chosen on whole answers: the dev halves of all registered suites
# pooled, answered with the bar at each value and the model's replies cached (`rag eval suites
# --half dev --llm-cache FILE`), pass 76 items at 0.67, 77 at 0.72, 80 at 0.75, 79 from 0.78 to
# 0.85 and 77 at 0.90; 0.8 is the middle of that plateau. Fitting the bar on the decision alone
# (`rag eval judge --registered --half dev`: quote an item's best candidate or refuse, over every
# single-question item) prefers 0.67, but the rescue only reads the items where nothing written
# survived, and there a lower bar quotes more sentences to unanswerable questions. The judge
# separates answering sentences weakly on reference manuals (ROC AUC about 0.7 on the pairs of
# each manual suite, 0.96 on the meeting records).
ANSWER_THRESHOLD = 0.8
# The bar below which a written answer is not an answer to the question: the judge's probability
# that the answer is correct according to its cited evidence (`correct_messages`; the question,
# not only the claim, is read; each quote after its section's headings, as the verifier read it).
# On whole answers to the dev halves (as for ANSWER_THRESHOLD) 81 items pass at 0.49 and 0.52, 82
# at 0.58, 80 at 0.65 and 78 with the check off. Fitted per item (`fit_correct`, `rag eval judge
# --registered --half dev`) on the 70 written answers of the dev halves' single-part items made
# with the check off, the best bar is 0.58, but its one item more than 0.49 is a single
# unanswerable question scoring 0.56, and the right answers above it start at 0.61: a bar that
# close to them removes right answers elsewhere. The bar stays at the low end of the plateau, so
# the check removes only plainly wrong answers. One judge call per written sentence.
CORRECT_THRESHOLD = 0.49


@runtime_checkable
class Judge(Protocol):
    def p_yes(self, messages: list[dict]) -> float | None:
        """P("yes") / (P("yes") + P("no")) for the reply to `messages`; None when unavailable."""
        ...


def support_messages(claim: str, evidence: str) -> list[dict]:
    """Does the evidence state the claim? (verification of a written sentence)"""
    return [{"role": "user", "content": (
        "Passage:\n<<<\n" + " ".join(evidence.split()) + "\n>>>\n"
        f"Claim: {claim}\n"
        "Does the passage state the claim, with the same facts, figures and actors (who said or did it)? "
        "Answer yes or no.")}]


def answer_messages(question: str, evidence: str, context: str = "") -> list[dict]:
    """Does this evidence answer the question? (choosing among candidate sentences)

    The question comes first so that its tokens, shared by every candidate, are evaluated once.
    `context` is the opening of the paragraph the sentence is in, which says who is speaking.
    """
    ctx = f"Context: {' '.join(context.split())}\n" if context else ""
    return [{"role": "user", "content": (
        f"Question: {question}\n"
        "Does the text below answer this question, stating what it asks for about the person, body, "
        "place or time the question names? Answer yes or no.\n"
        f"{ctx}Text: {' '.join(evidence.split())}")}]


def correct_messages(question: str, evidence: str, answer: str) -> list[dict]:
    """Is this answer correct according to its evidence? (the question read with the claim: a
    sentence can be true of its passage and still not answer what was asked)

    The evidence opens the prompt as in `support_messages` and the verifier's text judge, so
    when the verifier has just read the same passage, the server evaluates only what follows it."""
    return [{"role": "user", "content": (
        "Passage:\n<<<\n" + " ".join(evidence.split()) + "\n>>>\n"
        f"Question: {question}\n"
        f"Proposed answer: {' '.join(answer.split())}\n"
        "Is the proposed answer correct according to the passage? Answer yes or no.")}]


class ServerJudge:
    """POST {root}/rag/judge on the embedded server (root: its base URL without /v1)."""

    def __init__(self, base_url: str, timeout: float = 60.0):
        root = base_url.rstrip("/")
        self.url = (root[:-3] if root.endswith("/v1") else root) + "/rag/judge"
        self.timeout = timeout
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, never a proxy

    def p_yes(self, messages: list[dict]) -> float | None:
        req = urllib.request.Request(self.url, data=json.dumps({"messages": messages}).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                return float(json.loads(resp.read())["p_yes"])
        except (OSError, ValueError, KeyError, TypeError, urllib.error.URLError):
            return None


class LogprobJudge:
    """One-token chat completion with `top_logprobs` from an OpenAI-compatible endpoint."""

    def __init__(self, generator):
        self.generator = generator

    def p_yes(self, messages: list[dict]) -> float | None:
        try:
            client = self.generator._get_client()
            resp = client.chat.completions.create(model=self.generator.model, messages=messages, max_tokens=1,
                                                  temperature=0.0, logprobs=True, top_logprobs=10)
            top = resp.choices[0].logprobs.content[0].top_logprobs
        except (LLMUnavailable, AttributeError, IndexError, TypeError):
            return None
        except Exception:  # the endpoint refused logprobs or failed: no verdict
            return None
        y = sum(math.exp(t.logprob) for t in top if t.token.strip().lower() == "yes")
        n = sum(math.exp(t.logprob) for t in top if t.token.strip().lower() == "no")
        return y / (y + n) if y + n > 0 else None


class ScriptedJudge:
    """A deterministic Judge for unit tests: a function of the prompt text gives the probability."""

    def __init__(self, fn: Callable[[str], float | None]):
        self.fn = fn
        self.calls: list[str] = []

    def p_yes(self, messages: list[dict]) -> float | None:
        text = messages[-1]["content"]
        self.calls.append(text)
        return self.fn(text)


def make_judge(settings, generator) -> Judge | None:
    """The judge for the configured generator: the embedded server's route, or logprobs elsewhere."""
    if generator is None or not settings.judge:
        return None
    endpoint = getattr(generator, "endpoint", "")
    if not settings.llm_base_url and endpoint.startswith("http://127.0.0.1"):
        return ServerJudge(endpoint, timeout=settings.llm_timeout)
    if endpoint.startswith("http"):
        return LogprobJudge(generator)
    return None
