"""The answer stage's optional steps, by name.

Each step below can be switched off (`RAG_ANSWER_OFF=rescue,answer_check`) so that what it adds
can be measured: `rag eval ablate` turns each off in turn over every suite and prints the
change in items passing. A step that does not earn its place on the pooled development halves
of the suites is removed from the code, not left switched off.
"""

from __future__ import annotations

STEPS: dict[str, str] = {
    # verifying a written sentence against a passage (rag/answer/verify.py)
    "verify_figures": "a figure the sentence states must be stated by the passage",
    "verify_names": "a name the sentence uses must be in the passage or its document's title",
    "verify_quoted": "words the sentence puts in quotation marks must be in the passage",
    "verify_binding": "figures bound to another group or speaker, denied words, swapped roles and clauses fail",
    "verify_judge": "the model's yes/no judgement settles a borderline similarity score",
    "repair": "a sentence its own citation does not support is re-cited to a retrieved passage that does",
    # is a supported sentence an answer to the question? (rag/answer/relevance.py)
    "off_topic": "a sentence sharing no content word with the question is removed",
    "restates": "a sentence that only restates the question is removed",
    "figure_rule": "a question asking for a figure answered without one is a refusal",
    "asked_names": "an answer whose cited documents never name what the question names is a refusal",
    "answer_check": "the judge's probability that the written answer is correct for the question must pass a bar",
    "conditions": "an answer whose source states what the question rules out (\"without X\") is removed",
    "subject_named": "an answer, or a sentence the judge may quote, must name what the question names, itself or "
                     "through its source's title and headings",
    # questions in two parts (rag/answer/parts.py)
    "parts": "a question asking two things is retrieved, read and answered part by part",
    "part_retry": "a part answered with an earlier part's figures is read once more without them",
    "part_rescue": "a part nothing answered goes to the judge, which may quote a sentence for it",
    # the judge over candidate sentences (rag/pipeline.py)
    "rescue": "when nothing written survives, the judge may quote the candidate that answers",
    "prefer_attributed": "among answering candidates, one whose paragraph names whom the question names comes first",
    # what the model reads (rag/index/retrieve.py, rag/answer/quote.py)
    "headings": "each source's label and each candidate's context show its section's last headings",
    "sentence_pull": "retrieval adds the passage holding the best sentence of the next-ranked passages",
    "clause_scoring": "a sentence joining clauses with semicolons scores as its best clause",
    "repeats_once": "a sentence repeated word for word (boilerplate) is read once, where it ranks best",
}


def check_names(names: list[str]) -> list[str]:
    """The names that are not steps (empty when all are)."""
    return [n for n in names if n not in STEPS]
