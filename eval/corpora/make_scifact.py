"""Write the SciFact sample used by eval/suites/scifact.yaml as Markdown files in eval/corpora/scifact/.

The sample is a "corpus update" of another kind of document than docs_raw/ (scientific
abstracts on malaria and on tuberculosis / HIV, from the BEIR copy of SciFact). Each
abstract becomes one file: the title as a heading, then the abstract; a structured abstract
("BACKGROUND ... METHODS ... RESULTS ...") gets one sub-heading and paragraph per section,
an unstructured one stays one paragraph. The abstract's words are not changed, so the
suite's fact patterns can be checked against the BEIR text.

    python eval/corpora/make_scifact.py /work/shared/benchmarks/scifact/corpus.jsonl

The files are committed; this script documents (and can repeat) how they were made.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "scifact"

# BEIR ids, by topic. Chosen for checkable facts (figures, places, drugs, years) and for
# near neighbours: two tafenoquine trials, four thrombocytopenia studies, two Zomba (Malawi)
# studies, two Hlabisa (South Africa) studies, three TB regimen trials.
MALARIA = ["8756719", "17925632", "38410121", "18344910", "9254550", "25420421", "42373943", "20999249",
           "8593263", "25069745", "13948920", "15237660", "12409683", "13938878", "27580223", "19824183",
           "5710820", "6250701", "22401061"]
TUBERCULOSIS = ["341324", "21479231", "6491532", "11254040", "5284188", "1259359", "22414304", "32909242",
                "21186109", "13914633", "25049067", "4883040", "31363207", "10365749", "22194407", "15997009",
                "24241932"]
IDS = MALARIA + TUBERCULOSIS

_LABEL_WORDS = {"BACKGROUND", "METHOD", "METHODS", "RESULTS", "CONCLUSION", "CONCLUSIONS", "OBJECTIVE",
                "OBJECTIVES", "SETTING", "SETTINGS", "DESIGN", "RATIONALE", "MEASUREMENTS", "MAIN", "AND",
                "FINDINGS", "REVIEW", "REGISTRATION", "AIM", "MATERIAL", "STATISTICAL", "ANALYSIS", "USED", "&",
                "OUTCOME", "MEASURES", "SUBJECTS"}
_LABEL = re.compile(r"(?:^|(?<=[.)\]] ))((?:(?:%s) )+)" % "|".join(re.escape(w) for w in sorted(_LABEL_WORDS, key=len,
                                                                                                 reverse=True)))


_STOP = {"a", "an", "the", "of", "in", "and", "for", "to", "with", "as", "by", "on", "from"}


def slug(title: str, words: int = 6) -> str:
    """The file name: the title's first `words` significant words."""
    return "-".join([w for w in re.findall(r"[a-z0-9]+", title.lower()) if w not in _STOP][:words])


def sections(text: str) -> list[tuple[str | None, str]]:
    """(label, paragraph) pairs; one (None, text) pair for an unstructured abstract."""
    marks = [m for m in _LABEL.finditer(text) if m.group(1).split()[0] not in {"AND", "&", "USED"}]
    if len(marks) < 2 or marks[0].start() != 0:
        return [(None, text.strip())]
    out = []
    for m, nxt in zip(marks, marks[1:] + [None]):
        body = text[m.end(): nxt.start() if nxt else len(text)].strip()
        label = m.group(1).strip().capitalize()
        out.append((label, body))
    return out


def markdown(doc: dict) -> str:
    title = doc["title"].strip().rstrip(".")
    parts = [f"# {title}", ""]
    for label, body in sections(" ".join(doc["text"].split())):
        if label:
            parts += [f"## {label}", ""]
        parts += [body, ""]
    return "\n".join(parts)


def main(corpus: str) -> None:
    wanted = set(IDS)
    docs = {}
    with open(corpus, encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            if d["_id"] in wanted:
                docs[d["_id"]] = d
    missing = wanted - set(docs)
    if missing:
        sys.exit(f"not in {corpus}: {', '.join(sorted(missing))}")
    OUT.mkdir(parents=True, exist_ok=True)
    for i in IDS:
        (OUT / f"{i}-{slug(docs[i]['title'])}.md").write_text(markdown(docs[i]), encoding="utf-8")
    print(f"wrote {len(IDS)} files to {OUT}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/benchmarks/scifact/corpus.jsonl")
