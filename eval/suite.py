"""QA suites: YAML or JSONL files of items, validated on load.

An item asks one question (optionally after a conversation `history`) and says what a good
answer contains: `facts`, regexes matched case-insensitively against the answer, and
`documents`, the sources that should be cited (any one suffices, all of them for items tagged
multi-document). Unanswerable items have neither and are correct only when refused.

Every problem in a file is reported at once, each with the file, the item id (or its position)
and, for YAML, the line, so a person can fix them in one pass.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from eval import DEFAULT_SUITE, EVAL_DIR, SUITES_DIR
from rag.errors import RagError

REQUIRED = {"id", "question", "answerable"}
OPTIONAL = {"facts", "documents", "tags", "history", "notes", "origin"}
MULTI_DOC = "multi-document"
HALVES = ("dev", "test")
ROOT = EVAL_DIR.parent


class SuiteError(RagError):
    """A suite file is missing, unreadable or has invalid items."""

    exit_code = 2


def _id_hash(item_id: str) -> int:
    return int(hashlib.sha256(item_id.encode()).hexdigest(), 16)


def half_of(item_id: str) -> str:
    """"dev" or "test" for an item (or labelled pair) id, fixed by a hash of the id."""
    return HALVES[_id_hash(item_id) % 2]


def parse_shard(text: str) -> tuple[int, int]:
    """"K/N" (the K-th of N shards) as (K, N); a SuiteError saying the form otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise SuiteError(f"shard {text!r}: write K/N with 1 <= K <= N, e.g. 1/2 (the first of two halves)")
    return int(m.group(1)), int(m.group(2))


@dataclass(frozen=True)
class Item:
    id: str
    question: str
    answerable: bool
    facts: tuple[str, ...] = ()
    documents: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    history: tuple[dict, ...] = ()
    notes: str | None = None
    origin: str | None = None  # where a drafted item came from (chunk id, feedback timestamp)

    @property
    def multi_document(self) -> bool:
        return MULTI_DOC in self.tags

    @property
    def half(self) -> str:
        """"dev" or "test", fixed by a hash of the id: rules and thresholds are fitted on the dev
        halves of the suites and only the test halves are reported (`rag eval --half`)."""
        return half_of(self.id)

    def to_dict(self) -> dict:
        d = asdict(self)
        d = {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}
        return {k: v for k, v in d.items() if v not in (None, []) or k in ("facts", "documents")}


@dataclass(frozen=True)
class Suite:
    path: str
    items: tuple[Item, ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def hash(self) -> str:
        """Content hash of the items (not of comments or layout): changes when any item does."""
        blob = json.dumps([i.to_dict() for i in self.items], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def select(self, ids: tuple[str, ...] = (), tags: tuple[str, ...] = (), limit: int | None = None,
               half: str | None = None, shard: tuple[int, int] | None = None) -> "Suite":
        """A sub-suite: items with one of `ids` or one of `tags` (all when both are empty), in `half`
        ("dev" or "test"; None or "all": both), in `shard` (K, N), first `limit`.

        Shard K of N: the items chosen so far, in the order of a hash of their ids, dealt to N parts
        in turn, answerable and unanswerable ones separately, so that each part holds its share of
        both (a part of a half holds refusals to gate on); it keeps the suite's order."""
        items = [i for i in self.items if (not ids or i.id in ids) and (not tags or set(tags) & set(i.tags))
                 and half in (None, "all", i.half)]
        if shard is not None:
            k, n = shard
            dealt = set()
            for kind in (True, False):
                ordered = sorted((i for i in items if i.answerable is kind), key=lambda i: _id_hash(i.id))
                dealt |= {i.id for i in ordered[k - 1::n]}
            items = [i for i in items if i.id in dealt]
        if ids:
            unknown = sorted(set(ids) - {i.id for i in self.items})
            if unknown:
                raise SuiteError(f"{self.path}: no item with id {', '.join(unknown)}")
        return Suite(self.path, tuple(items[:limit] if limit else items), self.warnings)


def resolve_path(spec: str | Path | None) -> Path:
    """A suite path as given, or a name under eval/suites/ ("default", "drafts-2025-06-01")."""
    if spec is None:
        return DEFAULT_SUITE
    p = Path(spec)
    if p.exists():
        return p
    for cand in (SUITES_DIR / p, SUITES_DIR / f"{p}.yaml", SUITES_DIR / f"{p}.jsonl", ROOT / p):
        if cand.exists():
            return cand
    raise SuiteError(f"No suite at {spec}. Give a .yaml or .jsonl file, or a name in {SUITES_DIR} "
                     f"({', '.join(sorted(x.stem for x in SUITES_DIR.glob('*.y*ml')))}).")


def _raw_items(path: Path) -> list[tuple[object, str]]:
    """(raw item, where) pairs; `where` is 'line N' for YAML and JSONL."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        out = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                out.append((json.loads(line), f"line {n}"))
            except json.JSONDecodeError as e:
                raise SuiteError(f"{path}:{n}: not valid JSON ({e.msg}). Each line must be one JSON object.") from None
        return out
    if path.suffix not in (".yaml", ".yml"):
        raise SuiteError(f"{path}: a suite is a .yaml, .yml or .jsonl file.")
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text)
    except yaml.YAMLError as e:
        raise SuiteError(f"{path}: not valid YAML ({' '.join(str(e).split())}).") from None
    if data is None:
        return []
    if isinstance(data, dict) and "items" in data:  # also accept {items: [...]} at the top
        data = data["items"]
        node = next(v for k, v in node.value if k.value == "items")
    if not isinstance(data, list):
        raise SuiteError(f"{path}: expected a list of items at the top level.")
    return [(d, f"line {n.start_mark.line + 1}") for d, n in zip(data, node.value)]


def _check(raw: object, where: str) -> tuple[list[str], list[str]]:
    """(errors, warnings) for one raw item."""
    if not isinstance(raw, dict):
        return [f"{where}: an item must be a mapping with id, question, answerable"], []
    errors, warnings = [], []
    missing = sorted(REQUIRED - raw.keys())
    if missing:
        errors.append(f"missing {', '.join(missing)}")
    unknown = sorted(set(raw) - REQUIRED - OPTIONAL)
    if unknown:
        errors.append(f"unknown key {', '.join(unknown)} (allowed: {', '.join(sorted(REQUIRED | OPTIONAL))})")
    if "id" in raw and (not isinstance(raw["id"], str) or not raw["id"].strip()):
        errors.append("id must be a non-empty string")
    if "question" in raw and (not isinstance(raw["question"], str) or not raw["question"].strip()):
        errors.append("question must be a non-empty string")
    if "answerable" in raw and not isinstance(raw["answerable"], bool):
        errors.append("answerable must be true or false")
    for key in ("facts", "documents", "tags"):
        v = raw.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
            errors.append(f"{key} must be a list of non-empty strings")
    for n, pattern in enumerate(raw.get("facts") or []):
        if isinstance(pattern, str):
            try:
                re.compile(pattern, re.I)
            except re.error as e:
                errors.append(f"facts[{n}] {pattern!r} is not a valid regex ({e})")
    history = raw.get("history", [])
    if not isinstance(history, list) or not all(
            isinstance(m, dict) and m.get("role") in ("user", "assistant") and isinstance(m.get("content"), str)
            for m in history):
        errors.append("history must be a list of {role: user|assistant, content: text}")
    if raw.get("answerable") is False and (raw.get("facts") or raw.get("documents")):
        errors.append("an unanswerable item has no facts and no documents")
    tags = raw.get("tags") or []
    if isinstance(tags, list) and MULTI_DOC in tags and len(raw.get("documents") or []) < 2:
        errors.append(f"an item tagged {MULTI_DOC} lists at least two documents")
    if raw.get("answerable") is True and not raw.get("facts"):
        warnings.append("answerable but no facts: correctness is not measured for it")
    return errors, warnings


def load_suite(spec: str | Path | None = None) -> Suite:
    """Load and validate a suite; raises SuiteError listing every bad item."""
    path = resolve_path(spec)
    errors, warnings, items, seen, bad = [], [], [], {}, 0
    for n, (raw, where) in enumerate(_raw_items(path), start=1):
        label = f"item {raw['id']}" if isinstance(raw, dict) and isinstance(raw.get("id"), str) else f"item #{n}"
        errs, warns = _check(raw, where)
        errors += [f"{path}:{where}: {label}: {e}" for e in errs]
        warnings += [f"{path}:{where}: {label}: {w}" for w in warns]
        if not errs and raw["id"] in seen:
            errs = [f"{path}:{where}: {label}: duplicate id (first at {seen[raw['id']]})"]
            errors += errs
        if errs:
            bad += 1
            continue
        seen[raw["id"]] = where
        items.append(Item(
            id=raw["id"].strip(), question=" ".join(raw["question"].split()), answerable=raw["answerable"],
            facts=tuple(raw.get("facts") or ()), documents=tuple(raw.get("documents") or ()),
            tags=tuple(raw.get("tags") or ()), history=tuple(raw.get("history") or ()),
            notes=raw.get("notes"), origin=raw.get("origin")))
    if errors:
        shown = errors[:20] + ([f"... and {len(errors) - 20} more"] if len(errors) > 20 else [])
        raise SuiteError(f"{bad} invalid item(s) in {path}; fix them and run again:\n  " + "\n  ".join(shown))
    if not items:
        raise SuiteError(f"{path} has no items.")
    return Suite(_display(path), tuple(items), tuple(warnings))


def _display(path: Path) -> str:
    """The path relative to the project when inside it, so runs compare across checkouts."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def document_matches(expected: str, source: str) -> bool:
    """An expected document (e.g. docs_raw/x.txt) names an indexed source however it was ingested."""
    e, s = expected.replace("\\", "/").lstrip("./"), source.replace("\\", "/")
    return s == e or s.endswith("/" + e) or e.endswith("/" + s) or Path(s).name == Path(e).name


def lint_against_corpus(suite: Suite, documents: dict) -> list[str]:
    """Data mistakes visible with the index: expected documents not indexed, facts in none of them."""
    out = []
    for item in suite.items:
        docs = [d for d in documents.values() if any(document_matches(e, d.source) for e in item.documents)]
        for e in item.documents:
            if not any(document_matches(e, d.source) for d in documents.values()):
                out.append(f"{item.id}: expected document {e} is not in the index")
        if docs:
            for f in item.facts:
                if not any(re.search(f, d.text, re.I) for d in docs):
                    out.append(f"{item.id}: fact {f!r} occurs in none of its expected documents")
    return out


def write_drafts(items: list[Item], prefix: str = "drafts", directory: Path = SUITES_DIR) -> Path:
    """Write items for review to DIR/<prefix>-<date>.yaml, never replacing an existing file."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{prefix}-{datetime.date.today().isoformat()}"
    path, n = directory / f"{stem}.yaml", 2
    while path.exists():
        path, n = directory / f"{stem}-{n}.yaml", n + 1
    header = ("# Drafted items for review: check each question, answer pattern (facts) and document;\n"
              "# delete the bad ones, then move the good ones into a suite (e.g. default.yaml).\n")
    body = yaml.safe_dump([i.to_dict() for i in items], sort_keys=False, allow_unicode=True, width=110)
    from rag.index.versions import write_atomic

    write_atomic(path, header + body)
    return path
