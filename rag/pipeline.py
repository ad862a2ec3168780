"""The one place where the roles are wired: retrieve -> (rewrite) -> generate -> verify -> cite.

`Assistant` is the Python API shared by the CLI, the UI, the eval harness and the HTTP server.
`events()` streams progress and tokens; `ask()` returns the final, verified `Answer`.
Heavy parts (index, embedder, LLM server) are created lazily on first use.
"""

from __future__ import annotations

import re
import time
from typing import Iterator

from embeddings import Embedder, get_embedder
from rag.citations import is_refusal, parse, render, verify_drafts
from rag.errors import LLMUnavailable
from rag.prompt import REFUSAL, answer_messages, rewrite_messages
from rag.quote import quote_answer, rank_sentences, select_context
from rag.relevance import misses_figure
from rag.retrieve import HybridRetriever, Retriever
from rag.settings import Settings
from rag.types import Answer, Hit, SearchFilter
from rag.verify import EvidenceVerifier, LLMJudge

_FOLLOW_UP = re.compile(r"^(?:and|but|what about|how about|also|so|then)\b|\b(?:it|its|they|them|their|this|that|these|those|he|she|his|her)\b", re.I)


class Assistant:
    def __init__(self, settings: Settings, retriever: Retriever | None = None, generator=None,
                 embedder: Embedder | None = None):
        self.settings = settings
        self._retriever = retriever
        self._generator = generator
        self._embedder = embedder

    # --- lazily built parts ---
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder(self.settings.embedding_model)
        return self._embedder

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            self._retriever = HybridRetriever(self.settings, embedder=self.embedder)
        return self._retriever

    @property
    def generator(self):
        if self._generator is None:
            from rag.generate import make_generator

            self._generator = make_generator(self.settings)
        return self._generator

    def documents(self) -> dict:
        return self.retriever.index.documents

    # --- the API ---
    def ask(self, question: str, **kw) -> Answer:
        answer = None
        for ev in self.events(question, **kw):
            if ev["event"] == "answer":
                answer = ev["answer"]
        return answer

    def events(self, question: str, *, history: list[dict] | None = None, mode: str | None = None,
               k: int | None = None, flt: SearchFilter | None = None) -> Iterator[dict]:
        """Yield {"event": "status", "stage"}, {"event": "token", "text"} and finally {"event": "answer"}."""
        question = " ".join(question.split())
        if not question:
            raise ValueError("Ask a question: the text is empty.")
        mode = mode or self.settings.mode
        k = k or self.settings.k
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        notice = None
        standalone = None
        if history:
            yield {"event": "status", "stage": "rewriting"}
            standalone, notice = self._standalone(question, history, mode)
            timings["rewrite"] = _ms(t0)
        query = standalone or question
        yield {"event": "status", "stage": "retrieving"}
        t = time.perf_counter()
        hits = self.retriever.search(query, k, flt)
        documents = self.documents()
        # The prompt shows sentences of the first llm_sources hits only, so generate mode ranks
        # just those (embedding sentences is most of the time before the first token); quote
        # mode, and the fallback to it, ranks them all.
        to_rank = hits[: self.settings.llm_sources] if mode == "generate" else hits
        ranked = rank_sentences(query, to_rank, documents, self.embedder) if hits else []
        timings["retrieve"] = _ms(t)
        model = None
        raw = None
        if mode == "generate" and hits:
            yield {"event": "status", "stage": "generating"}
            t = time.perf_counter()
            try:
                gen = self.generator
                model = gen.model
                msgs, pool, n_shown = self.prompt(query, hits, ranked)
                parts = []
                for delta in gen.stream(msgs, max_tokens=self.settings.llm_max_tokens,
                                        temperature=self.settings.llm_temperature):
                    parts.append(delta)
                    yield {"event": "token", "text": delta}
                raw = "".join(parts)
            except LLMUnavailable as e:
                notice = f"The language model did not answer ({e}); showing quoted passages instead."
                mode = "quote"
                model = None
            timings["generate"] = _ms(t)
        yield {"event": "status", "stage": "verifying"}
        t = time.perf_counter()
        removed: list = []
        if not hits:
            sentences, citations = [], []
        elif mode == "quote":
            if len(to_rank) < len(hits):  # fell back from generate mode
                ranked = rank_sentences(query, hits, documents, self.embedder)
            sentences, citations = quote_answer(ranked, hits, documents, self.settings.quote_threshold)
            if misses_figure(query, [s.text for s in sentences]):
                sentences, citations = [], []  # quotes without the figure asked for are not an answer
        else:
            judge = LLMJudge(self._generator) if self.settings.judge and self._generator else None
            verifier = EvidenceVerifier(self.embedder, judge)
            drafts = parse(raw or "", n_shown)
            sentences, removed, citations = verify_drafts(drafts, pool, documents, verifier,
                                                          self.settings.unsupported, query)
        timings["verify"] = _ms(t)
        refused = not any(s.supported for s in sentences)
        if refused:
            sentences, citations = [], []
        timings["total"] = _ms(t0)
        answer = Answer(
            question=question,
            answer=REFUSAL if refused else render(sentences),
            refused=refused,
            mode=mode,
            model=model,
            sentences=tuple(sentences),
            citations=tuple(citations),
            removed=tuple(removed),
            timings=timings,
            standalone_question=standalone,
            notice=notice,
            raw=raw,
        )
        yield {"event": "answer", "answer": answer}

    def prompt(self, query: str, hits: list[Hit], ranked: list) -> tuple[list[dict], list[Hit], int]:
        """The answer prompt for `query`, the passages renumbered so that source n of the prompt is
        pool[n - 1] (the rest follow, for repairs), and how many sources the prompt shows."""
        s = self.settings
        order, texts = select_context(ranked, hits, self.documents(), s.llm_sources, s.llm_context_words,
                                      s.llm_context_margin)
        shown = [hits[j] for j in order]
        pool = shown + [h for j, h in enumerate(hits) if j not in order]
        return answer_messages(query, shown, texts), pool, len(shown)

    def _standalone(self, question: str, history: list[dict], mode: str) -> tuple[str | None, str | None]:
        """A follow-up rewritten to stand alone, asking what it asks now: by the LLM in generate
        mode, else (or when the LLM's rewrite drops what the question asks) by a simple rule.

        The rewrite is the query for retrieval, sentence ranking, the answer prompt and the
        checks, so a rewrite that asks the previous question again gets the previous answer
        again: it must keep most of the question's own content words. The rule puts the question
        first and the previous question after it, as the context its "it" or "them" refers to.
        """
        from rag.lexical import content_terms

        last_user = next((m["content"] for m in reversed(history) if m.get("role") == "user"), None)
        if not last_user:
            return None, None
        if mode == "generate":
            try:
                out = self.generator.complete(rewrite_messages(question, history), max_tokens=60, temperature=0.0)
                out = re.sub(r"^\s*(?:standalone )?question\s*:", "", out.strip(), flags=re.I)  # a label echoed
                out = " ".join(out.strip('" ').split())
                asked = content_terms(question)
                kept = asked & content_terms(out)
                if 3 <= len(out.split()) <= 60 and not is_refusal(out) and 2 * len(kept) >= len(asked):
                    return out, None
            except LLMUnavailable:
                pass
        if _FOLLOW_UP.search(question) or len(question.split()) <= 6:
            return f"{question} ({' '.join(last_user.split())})", None
        return None, None


def _ms(t: float) -> float:
    return (time.perf_counter() - t) * 1000.0
