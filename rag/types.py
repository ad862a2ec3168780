"""Plain data types shared by every stage. Frozen, JSON-serialisable via `to_dict`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


def _from_dict(cls, data: dict):
    names = {f.name for f in fields(cls)}
    kwargs = {k: v for k, v in data.items() if k in names}
    for f in fields(cls):
        if f.name in kwargs and isinstance(kwargs[f.name], list):
            kwargs[f.name] = tuple(tuple(x) if isinstance(x, list) else x for x in kwargs[f.name])
    return cls(**kwargs)


@dataclass(frozen=True)
class Paragraph:
    """One paragraph of a document's text: number (1-based), span, and enclosing section."""

    n: int
    start: int
    end: int
    section: str | None = None


@dataclass(frozen=True)
class Document:
    """One source file. `text` is the extracted text; every offset in the system points into it.

    For .txt and .md files `text` is the file's decoded content, so offsets are offsets in the file.
    `paragraphs` lists the content paragraphs (boilerplate excluded) in order.
    """

    id: str  # sha256 of the file's bytes
    source: str  # the path as ingested, e.g. docs_raw/foo.txt
    title: str
    text: str
    format: str
    paragraphs: tuple[Paragraph, ...] = ()
    date: str | None = None  # ISO yyyy-mm-dd when the text states one
    symbol: str | None = None  # the document's own UN symbol, e.g. GA/12734
    body: str | None = None  # issuing body, e.g. General Assembly
    references: tuple[str, ...] = ()  # other document symbols the text mentions

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Document":
        data = dict(data)
        data["paragraphs"] = tuple(Paragraph(**p) for p in data.get("paragraphs", ()))
        data["references"] = tuple(data.get("references", ()))
        return _from_dict(cls, data)

    def paragraph_at(self, offset: int) -> Paragraph | None:
        """The paragraph containing a character offset (None in excluded text)."""
        for p in self.paragraphs:
            if p.start <= offset < p.end:
                return p
        return None

    def meta(self) -> dict:
        """The metadata a briefing cites, without the text."""
        return {
            "doc_id": self.id,
            "source": self.source,
            "title": self.title,
            "date": self.date,
            "symbol": self.symbol,
            "body": self.body,
        }


@dataclass(frozen=True)
class Chunk:
    """A retrievable passage: `text == document.text[start:end]`."""

    id: str
    doc_id: str
    source: str
    text: str
    start: int
    end: int
    ordinal: int  # position of the chunk in its document
    section: str | None = None
    paragraph: int | None = None  # first paragraph number covered
    paragraph_end: int | None = None  # last paragraph number covered

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Chunk":
        return _from_dict(cls, data)


@dataclass(frozen=True)
class Hit:
    """A chunk returned by retrieval, with its fused score and the per-retriever ranks."""

    chunk: Chunk
    score: float
    title: str = ""
    date: str | None = None
    symbol: str | None = None
    ranks: dict = field(default_factory=dict)  # e.g. {"bm25": 3, "dense": 1}

    def to_dict(self) -> dict:
        c = self.chunk
        return {
            "source": c.source,
            "chunk_id": c.id,
            "doc_id": c.doc_id,
            "score": round(self.score, 6),
            "title": self.title,
            "date": self.date,
            "symbol": self.symbol,
            "section": c.section,
            "paragraph": c.paragraph,
            "paragraph_end": c.paragraph_end,
            "start": c.start,
            "end": c.end,
            "text": c.text,
            "ranks": self.ranks,
        }


@dataclass(frozen=True)
class SearchFilter:
    """Metadata restrictions applied before ranking. Empty fields restrict nothing.

    documents: match a document id (prefix), or a substring of its source path or of its title.
    symbol: matches the document's own symbol or any symbol it references.
    date_from / date_to: inclusive ISO dates; documents without a date are excluded when set.
    """

    documents: tuple[str, ...] = ()
    symbol: str | None = None
    date_from: str | None = None
    date_to: str | None = None

    def is_empty(self) -> bool:
        return not (self.documents or self.symbol or self.date_from or self.date_to)

    def admits(self, doc: Document) -> bool:
        if self.documents:
            ok = False
            for d in self.documents:
                dl = d.lower()
                if doc.id.startswith(d) or dl in doc.source.lower() or dl in doc.title.lower():
                    ok = True
                    break
            if not ok:
                return False
        if self.symbol:
            s = self.symbol.upper()
            if (doc.symbol or "").upper() != s and s not in {r.upper() for r in doc.references}:
                return False
        if self.date_from or self.date_to:
            if not doc.date:
                return False
            if self.date_from and doc.date < self.date_from:
                return False
            if self.date_to and doc.date > self.date_to:
                return False
        return True


@dataclass(frozen=True)
class Citation:
    """One cited span: resolves to a document, its metadata, and exact offsets in its text."""

    n: int
    source: str
    doc_id: str
    chunk_id: str
    title: str
    symbol: str | None
    date: str | None
    section: str | None
    paragraph: int | None
    quote: str
    start: int
    end: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class AnswerSentence:
    """A sentence of the answer, the citation numbers it carries, and the verifier's verdict."""

    text: str
    citations: tuple[int, ...]
    supported: bool
    score: float = 0.0
    reason: str = ""  # e.g. "repaired: cited [2], supported by [1]" or "number 1.4 not in any source"

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "citations": list(self.citations),
            "supported": self.supported,
            "score": round(self.score, 3),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Answer:
    """What `ask` returns: the answer text with [n] markers, its sentences and citations."""

    question: str
    answer: str
    refused: bool
    mode: str  # "generate" or "quote"
    model: str | None
    sentences: tuple[AnswerSentence, ...] = ()
    citations: tuple[Citation, ...] = ()
    removed: tuple[AnswerSentence, ...] = ()  # generated sentences the verifier dropped
    timings: dict = field(default_factory=dict)  # ms: retrieve, generate, verify, total
    standalone_question: str | None = None  # the follow-up rewritten for retrieval
    notice: str | None = None  # e.g. why quote mode was used instead of the LLM
    raw: str | None = None  # the model's unverified text
    evidence: tuple[dict, ...] = ()  # candidate sentences the judge read, with p_answer (evidence-first flow)
    context: tuple[dict, ...] = ()  # what the model was shown to write from: {source, label, text}

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "answer": self.answer,
            "refused": self.refused,
            "mode": self.mode,
            "model": self.model,
            "sentences": [s.to_dict() for s in self.sentences],
            "citations": [c.to_dict() for c in self.citations],
            "removed": [s.to_dict() for s in self.removed],
            "timings": {k: round(v, 1) for k, v in self.timings.items()},
            "standalone_question": self.standalone_question,
            "notice": self.notice,
            "raw": self.raw,
            "evidence": [dict(e) for e in self.evidence],
            "context": [c if isinstance(c, str) else dict(c) for c in self.context],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Answer":
        """An answer as `to_dict` wrote it (an API client sending back an answer it was given)."""
        def sentence(d: dict) -> AnswerSentence:
            return AnswerSentence(text=str(d["text"]), citations=tuple(int(n) for n in d.get("citations", ())),
                                  supported=bool(d.get("supported", True)), score=float(d.get("score", 0.0)),
                                  reason=str(d.get("reason", "")))

        return cls(question=str(data["question"]), answer=str(data["answer"]), refused=bool(data.get("refused")),
                   mode=str(data.get("mode", "quote")), model=data.get("model"),
                   sentences=tuple(sentence(d) for d in data.get("sentences", ())),
                   citations=tuple(Citation(**{f.name: c.get(f.name) for f in fields(Citation)})
                                   for c in data.get("citations", ())),
                   removed=tuple(sentence(d) for d in data.get("removed", ())),
                   standalone_question=data.get("standalone_question"), notice=data.get("notice"))


READ, WRITE = "read", "write"


@dataclass(frozen=True)
class Principal:
    """Someone the HTTP API and the UI serve: a name, the sha256 of its token (never the token),
    and its grants as (collection, "read" | "write") pairs; "write" includes reading."""

    name: str
    token_sha256: str | None = None
    grants: tuple[tuple[str, str], ...] = ()
    created_at: str | None = None
    token_issued_at: str | None = None

    def may(self, collection: str, action: str) -> bool:
        """Whether a grant allows `action` ("read" or "write") on `collection`."""
        return any(c == collection and (a == WRITE or a == action) for c, a in self.grants)

    def readable(self) -> list[str]:
        return sorted({c for c, _ in self.grants})

    def to_dict(self) -> dict:
        return {"name": self.name, "token_sha256": self.token_sha256, "created_at": self.created_at,
                "token_issued_at": self.token_issued_at, "grants": {c: a for c, a in sorted(self.grants)}}

    @classmethod
    def from_dict(cls, data: dict) -> "Principal":
        grants = tuple(sorted((str(c), str(a)) for c, a in (data.get("grants") or {}).items()
                              if a in (READ, WRITE)))
        return cls(name=data["name"], token_sha256=data.get("token_sha256"), grants=grants,
                   created_at=data.get("created_at"), token_issued_at=data.get("token_issued_at"))


@dataclass(frozen=True)
class AuditEntry:
    """One answer the HTTP API gave: who asked, in which collection, a hash of the question (not its
    text) and the documents the answer cites."""

    time: str  # UTC, ISO 8601 with milliseconds
    principal: str
    collection: str
    route: str
    question_sha256: str
    cited: tuple[str, ...] = ()  # document ids, in citation order
    refused: bool = False
    mode: str | None = None

    def to_dict(self) -> dict:
        return {**asdict(self), "cited": list(self.cited)}

    @classmethod
    def from_dict(cls, data: dict) -> "AuditEntry":
        return _from_dict(cls, data)
