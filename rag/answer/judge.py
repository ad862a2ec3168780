"""The Judge role: the model's probability that the answer to a yes/no question is "yes".

The small model's generated verdicts are unreliable, but the probability it gives the token
"yes" against "no" separates supported from unsupported pairs well (ROC AUC 0.999 on half of
eval/verifier_labels.jsonl, in the issue that asked for this). So a judge returns a number,
and each use compares it with a threshold set on labelled data (`SUPPORT_THRESHOLD`,
`ANSWER_THRESHOLD`), never with a parsed word.

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

# Fitted on eval/verifier_labels.jsonl (rag eval verifier --calibrate: the odd-numbered 67 pairs,
# accuracy 0.940 and ROC AUC 0.978 there; on the 66 held-out pairs accuracy 0.818, ROC AUC 0.902,
# Qwen2.5-Coder-1.5B Q4_K_M): the probability above which a passage is taken to state a claim.
SUPPORT_THRESHOLD = 0.79
# The probability above which a candidate sentence is taken to answer the question. Fitted on
# the top-3 candidate sentences of every default-suite item, labelled by whether the sentence
# holds the item's facts (159 pairs, ROC AUC 0.915): 0.78; fitted on the SciFact suite's
# instead (144 pairs, AUC 0.840): 0.78 too. Each fit, applied to the other suite, kept 77-79%
# precision (accuracy 0.87-0.88 against 0.78-0.81 for answering "no" to all). Refitted with
# `rag eval judge` once the judge read only candidates that could be chosen (fourteenth session):
# the best `judge_candidates` of each single-question item, 187 default pairs (27 answering, ROC
# AUC 0.941, best cut 0.754) and 184 SciFact pairs (33, AUC 0.812, best cut 0.777); all 371
# together: 0.777, accuracy 0.898 (0.838 answering "no" to all). Between 0.777 and 0.78 lie two
# pairs, one answering and one not, so the two cuts are equally right and 0.78 stays.
ANSWER_THRESHOLD = 0.78
# The bar for the rescue: when nothing the model wrote survived verification, the best candidate
# sentence at or above it is quoted, else the answer is a refusal. Fitted on that decision itself,
# per item, not per pair (`rag eval judge`, "rescue" table): for each single-question item of both
# suites, the best of its `judge_candidates` candidates (any score) is quoted when its probability
# reaches the bar. Lowering the bar never turns a right answer wrong on an answerable item (it
# quotes instead of refusing); it can answer an unanswerable one. So the bar is set just above the
# best candidate of every unanswerable item (highest: 0.701, SciFact s039; default 0.555), plus
# twice the judge's run-to-run spread on one pair (0.02, llama.cpp batch shapes), to two
# decimals: 0.74. Items right at 0.74 against 0.78 (80 items with candidates, 21 unanswerable;
# seventeenth session): default 0.674 against 0.605, SciFact 0.703 against 0.595; no unanswerable
# item answered at either.
RESCUE_THRESHOLD = 0.74
# The bar below which a written answer is not an answer to the question: the judge's probability
# that the answer is correct according to its cited evidence (`correct_messages`; the question,
# not only the claim, is read). Fitted on the written answers of both suites' single-part items
# (the eighteenth session's runs, labelled by whether the item passed): 73 right answers' sentences
# scored 0.364 or more; of the 4 wrong ones, SciFact s043 (unanswerable: "150 LLINs were collected"
# for how many were distributed) scored 0.086, the others 0.556-0.900. Over the 71 distinct
# single-part answers of the fifteenth to eighteenth sessions' runs (an answer's most probable
# sentence counts), the 66 right ones scored 0.438 or more and of the 5 wrong only s043 less.
# Every bar in (0.086, 0.364] separates the same way; 0.2 lies about halfway, far more than the
# judge's run-to-run spread (0.02) from either end. The check is weak (ROC AUC 0.77 over the
# pairs): it drops only answers the judge finds plainly not what was asked, and costs one judge
# call per written sentence.
CORRECT_THRESHOLD = 0.2


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
    sentence can be true of its passage and still not answer what was asked)"""
    return [{"role": "user", "content": (
        f"Text: {' '.join(evidence.split())}\n"
        f"Question: {question}\n"
        f"Proposed answer: {' '.join(answer.split())}\n"
        "Is the proposed answer correct according to the text? Answer yes or no.")}]


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
