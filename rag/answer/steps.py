"""The answer stage's optional steps, by name.

Each step below can be switched off (`RAG_ANSWER_OFF=rescue,answer_check`) so that what it adds
can be measured: `rag eval ablate` turns each off in turn over every suite and prints the
change in items passing. A step that does not earn its place on the pooled development halves
of the suites is removed from the code, not left switched off.
"""

from __future__ import annotations

STEPS: dict[str, str] = {
    # verifying a written sentence against a passage (rag/answer/verify.py); measured on the
    # labelled verifier pairs as well as on the suites
    "verify_figures": "a figure the sentence states must be stated by the passage",
    "verify_names": "a name the sentence uses must be in the passage, its headings or its document's title",
    "verify_binding": "figures bound to another group or speaker, denied words, swapped roles and clauses fail",
    "verify_judge": "the model's yes/no judgement settles a borderline similarity score",
    "judge_window": "the judge's window is widened within its paragraph to hold the sentence's figures and names",
    "repair": "a sentence its own citation does not support is re-cited to a retrieved passage that does",
    # is a supported sentence an answer to the question? (rag/answer/relevance.py)
    "off_topic": "a sentence sharing no content word with the question is removed, and an answer is withdrawn "
                 "when no document it cites names what the question names",
    "figure_rule": "a question asking for a figure answered without one is a refusal",
    "answer_check": "the judge's probability that the written answer is correct for the question must pass a bar",
    # questions in two parts (rag/answer/parts.py)
    "parts": "a question asking two things is retrieved, read and answered part by part",
    "part_rescue": "a part nothing answered goes to the judge, which may quote a sentence for it",
    # the judge over candidate sentences (rag/pipeline.py)
    "rescue": "when nothing written survives, the judge may quote the candidate that answers",
    # what the model reads (rag/index/retrieve.py, rag/llm/prompt.py, rag/answer/candidates.py,
    # rag/answer/verify.py)
    "headings": "each source's label, each candidate's context and the verifier judge's window show its "
                "section's last headings",
    "sentence_pull": "retrieval adds the passage holding the best sentence of the next-ranked passages",
}


def check_names(names: list[str]) -> list[str]:
    """The names that are not steps (empty when all are)."""
    return [n for n in names if n not in STEPS]
