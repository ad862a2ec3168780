"""The one place where the roles are wired: retrieve -> (rewrite) -> generate -> verify -> cite.

`Assistant` is the Python API shared by the CLI, the UI, the eval harness and the HTTP server.
`events()` streams progress and tokens; `ask()` returns the final, verified `Answer`.
Heavy parts (index, embedder, LLM server) are created lazily on first use.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from typing import Iterator

from embeddings import Embedder, get_embedder
from embeddings.memo import memoized
from rag.answer import candidates, reader
from rag.answer.judge import ANSWER_THRESHOLD, CORRECT_THRESHOLD, make_judge
from rag.answer.cite import CitationBook, is_refusal, names_not_in, parse, render, verify_drafts, withdraw
from rag.answer.parts import missing_note, part_query, part_question, question_parts, repeats
from rag.errors import LLMUnavailable
from rag.llm.prompt import REFUSAL, answer_messages, label, rewrite_messages
from rag.answer.quote import quote_answer, quote_start, rank_sentences, select_context
from rag.answer.relevance import misses_figure
from rag.index.retrieve import HybridRetriever, Retriever
from rag.settings import Settings
from rag.types import Answer, AnswerSentence, Hit, SearchFilter
from rag.answer.verify import EvidenceVerifier, Passage, ProbabilityJudge, Support, llm_judge

_FOLLOW_UP = re.compile(r"^(?:and|but|what about|how about|also|so|then)\b|\b(?:it|its|they|them|their|this|that|these|those|he|she|his|her)\b", re.I)


class Assistant:
    def __init__(self, settings: Settings, retriever: Retriever | None = None, generator=None,
                 embedder: Embedder | None = None, judge=None):
        self.settings = settings
        self._retriever = retriever
        self._generator = generator
        self._embedder = memoized(embedder) if embedder is not None else None
        self._judge = judge  # a Judge (rag/answer/judge.py); by default the generator's own

    # --- lazily built parts ---
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = memoized(get_embedder(self.settings.embedding_model))
        return self._embedder

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            self._retriever = HybridRetriever(self.settings, embedder=self.embedder)
        return self._retriever

    @property
    def generator(self):
        if self._generator is None:
            from rag.llm.generate import make_generator

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
        if mode == "generate" and hits and self.settings.answer_flow == "evidence":
            timings["retrieve"] = _ms(t)
            yield from self._evidence_first(question, query, hits, documents, t0, timings, standalone, notice)
            return
        # The prompt shows sentences of the first llm_sources hits only, so generate mode ranks
        # just those (embedding sentences is most of the time before the first token); quote
        # mode, and the fallback to it, ranks them all.
        to_rank = hits[: self.settings.llm_sources] if mode == "generate" else hits
        on = self.settings.on
        ranked = rank_sentences(query, to_rank, documents, self.embedder) if hits else []
        timings["retrieve"] = _ms(t)
        if ranked:  # evidence first: the best-matching sentences, before any text is written
            yield {"event": "evidence", "stage": "ranked",
                   "quotes": [_quote(_Ranked(*r, text=" ".join(documents[hits[r[1]].chunk.doc_id].text[r[2]:r[3]].split())),
                                     hits, documents) for r in ranked[: self.settings.evidence_sentences]]}
        model = None
        raw = None
        shown: tuple = ()
        asked = question_parts(query) if mode == "generate" and on("parts") else [query]
        drafts: list = []
        origin: list[int] = []  # the part each draft answers
        pool: list[Hit] = hits
        part_hits: list[list[Hit]] = []  # each part's own retrieval (two-part questions)
        if mode == "generate" and hits:
            yield {"event": "status", "stage": "generating"}
            t = time.perf_counter()
            try:
                gen = self.generator
                model = gen.model
                raws = []
                for i, part in enumerate(asked):
                    if len(asked) == 1:
                        msgs, pool, n_shown, seen = self._prompt_and_context(query, hits, ranked)
                    else:  # each part retrieved, read and answered on its own (rag/answer/parts.py)
                        if i:
                            yield {"event": "token", "text": " "}
                        own = self.retriever.search(part_query(part, query), k, flt)
                        part_hits.append(own)
                        known = {h.chunk.id for h in pool}
                        pool = pool + [h for h in own if h.chunk.id not in known]
                        part_ranked = rank_sentences(part, own[: self.settings.llm_sources], documents, self.embedder)
                        msgs, part_pool, n_shown, seen = self._prompt_and_context(part_question(query, part), own,
                                                                                  part_ranked)
                    out = []
                    for delta in gen.stream(msgs, max_tokens=self.settings.llm_max_tokens,
                                            temperature=self.settings.llm_temperature):
                        out.append(delta)
                        yield {"event": "token", "text": delta}
                    raws.append("".join(out))
                    shown += seen
                    found = parse(raws[-1], n_shown)
                    if len(asked) > 1:
                        # a part answered with an earlier part's sentence or figures is not answered;
                        # the part's source numbers become numbers of the pool of all parts' hits
                        said = [d.text for d in drafts]
                        where = {h.chunk.id: n for n, h in enumerate(pool, start=1)}
                        found = [_renumber(d, part_pool, where) for d in found if not repeats(d.text, said, query)]
                    drafts += found
                    origin += [i] * len(found)
                raw = "\n".join(raws)
            except LLMUnavailable as e:
                notice = f"The language model did not answer ({e}); showing quoted passages instead."
                mode = "quote"
                model = None
            timings["generate"] = _ms(t)
        yield {"event": "status", "stage": "verifying"}
        t = time.perf_counter()
        removed: list = []
        evidence: tuple = ()  # the candidates the judge read, when it changed the answer
        if not hits:
            sentences, citations = [], []
        elif mode == "quote":
            if len(to_rank) < len(hits):  # fell back from generate mode
                ranked = rank_sentences(query, hits, documents, self.embedder)
            sentences, citations = quote_answer(ranked, hits, documents, self.settings.quote_threshold)
            if on("figure_rule") and misses_figure(query, [s.text for s in sentences]):
                sentences, citations = [], []  # quotes without the figure or the names asked about are no answer
        else:
            judge = llm_judge(self.settings, self._generator) if self._generator and on("verify_judge") else None
            verifier = EvidenceVerifier(self.embedder, judge, off=self._off())
            sentences, removed, citations = verify_drafts(drafts, pool, documents, verifier,
                                                          self.settings.unsupported, query, on=on)
            checker = self._judge_for(self._generator) if len(asked) == 1 else None
            if checker is not None and on("answer_check") and any(x.supported and x.citations for x in sentences):
                # true of its passage is not yet an answer: the judge reads the question with each
                # written sentence and its cited quotes ("150 nets were collected" for how many
                # were distributed), each after its headings as the verifier read it; an answer it
                # finds plainly incorrect is removed, and the rescue below then reads the
                # candidates, as for a refusal
                quotes = {c.n: reader.cited_evidence(c.quote, c.section, on("headings")) for c in citations}
                p = reader.correct_probability(query, [(x.text, [quotes[n] for n in x.citations if n in quotes])
                                                       for x in sentences if x.supported], checker)
                if p is not None and p < CORRECT_THRESHOLD:
                    sentences, gone = withdraw(sentences, f"{NOT_CORRECT} ({p:.2f})", self.settings.unsupported)
                    removed += gone
                    citations = []
            if len(asked) > 1 and any(x.supported and x.citations for x in sentences):
                # a part answered by nothing that survived: the judge reads that part's own best
                # sentences, as for a refusal (_rescue); if none answers it, it is said to be
                # missing, not left out silently
                kept = {x.text for x in sentences if x.supported and x.citations}
                answered = {i for d, i in zip(drafts, origin) if d.text in kept}
                book = CitationBook.resume(pool, documents, citations)
                where = {h.chunk.id: j for j, h in enumerate(pool)}
                for i, part in enumerate(asked):
                    if i in answered:
                        continue
                    if not on("part_rescue"):
                        sentences.append(AnswerSentence(missing_note(part), (), True, 0.0, "note"))
                        continue
                    yield {"event": "status", "stage": "judging"}
                    best, _ = self._answering(part_question(query, part), part_query(part, query),
                                              part_hits[i], documents, figure_of=part)
                    if best is None:
                        sentences.append(AnswerSentence(missing_note(part), (), True, 0.0, "note"))
                    else:
                        sentences.append(_quoted(best, where[part_hits[i][best.candidate.hit].chunk.id], book,
                                                 "quoted: the judge found this sentence answers this part"))
                citations = book.citations
        timings["verify"] = _ms(t)
        refused = not any(s.supported and s.citations for s in sentences)
        if refused and mode == "generate" and raw is not None and on("rescue"):
            # the model refused, or nothing it wrote survived: the evidence may still answer
            yield {"event": "status", "stage": "judging"}
            t = time.perf_counter()
            rescued, judged = self._rescue(query, hits, documents)
            timings["rescue"] = _ms(t)
            evidence = tuple(dict(_quote(e.candidate, hits, documents), p_answer=e.p_answer) for e in judged)
            if rescued is not None:
                sentences, citations = rescued
                refused = False
        if refused:
            sentences, citations = [], []
        timings["total"] = _ms(t0)
        answer = Answer(
            evidence=evidence,
            context=shown if mode == "generate" else (),
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

    def _off(self) -> frozenset[str]:
        """The verifier's hard checks switched off (RAG_ANSWER_OFF)."""
        return frozenset(x for x in self.settings.answer_off.split(",") if x)

    def _judge_for(self, generator):
        """The Judge: the one given to the Assistant, else the generator's own; None when RAG_JUDGE is off."""
        if not self.settings.judge:
            return None
        return self._judge if self._judge is not None else make_judge(self.settings, generator)

    def _rescue(self, query: str, hits: list[Hit], documents: dict):
        """When generation gave no supported sentence: the judge reads the best-ranked candidate
        sentences of all retrieved passages, whatever they score, and the most probable one that
        answers the question (at or above ANSWER_THRESHOLD, fitted per eval item on this one
        decision: quote the best sentence, or refuse; and holding a figure when one is asked for)
        is quoted as the answer. Returns ((sentences, citations) or None, the judged evidence)."""
        best, judged = self._answering(query, query, hits, documents, floor=0.0, threshold=ANSWER_THRESHOLD)
        if best is None:
            return None, judged
        return _quoted_answer(best, hits, documents, "quoted: the judge found this sentence answers; the written "
                                                     "answer was not supported"), judged

    def _answering(self, question: str, ranking: str, hits: list[Hit], documents: dict, figure_of: str | None = None,
                   ranked: list | None = None, floor: float | None = None, threshold: float = ANSWER_THRESHOLD):
        """(the judged candidate sentence of `hits` that best answers `question`, or None; every
        judged candidate). Candidates are ranked against `ranking` (or given, `ranked`); the best is
        the most probable at or above `threshold` (ANSWER_THRESHOLD) that holds a figure when `figure_of`
        (default: the question) asks for one, from a document naming what the question names."""
        s = self.settings
        judge = self._judge_for(self._generator)
        if judge is None:
            return None, []
        if ranked is None:
            ranked = candidates.rank(ranking, hits, documents, self.embedder, on=s.on)
        cands = self.eligible(question, ranked, hits, documents, figure_of=figure_of,
                              floor=s.quote_threshold if floor is None else floor)
        picked = reader.choose(question, cands, judge, top=s.judge_candidates, keep=s.judge_candidates,
                               threshold=threshold)
        if picked is None:
            return None, []
        ok, judged = picked
        return (ok[0] if ok else None), judged

    @staticmethod
    def eligible(question: str, ranked: list, hits: list[Hit], documents: dict, *,
                 figure_of: str | None = None, floor: float = 0.0) -> list:
        """The ranked candidates the judge reads, in order: those that could be chosen, scoring at
        least `floor`, holding a figure when `figure_of` (the part asked; default: the question)
        asks for one, from a document naming what the question names. The sentence stating an
        asked-for figure often ranks below sentences that only share the question's words, so the
        judge reads past them."""
        naming = {d for d in {h.chunk.doc_id for h in hits} if not names_not_in(question, [d], documents)}
        return [c for c in ranked if c.score >= floor and hits[c.hit].chunk.doc_id in naming
                and not misses_figure(figure_of or question, [c.text])]

    def _evidence_first(self, question: str, query: str, hits: list[Hit], documents: dict, t0: float,
                        timings: dict, standalone: str | None, notice: str | None) -> Iterator[dict]:
        """Generate mode, evidence first: rank every sentence of the retrieved passages, show the
        best at once, let the judge choose those that answer, then have the LLM write the short
        answer from the chosen evidence only, and verify it. See rag/answer/."""
        s = self.settings
        t = time.perf_counter()
        cands = candidates.rank(query, hits, documents, self.embedder, on=self.settings.on)
        timings["candidates"] = _ms(t)
        yield {"event": "evidence", "stage": "ranked",
               "quotes": [_quote(c, hits, documents) for c in cands[: s.evidence_sentences]]}
        model, raw = None, None
        removed: list = []
        try:
            gen = self.generator
            model = gen.model
            judge = self._judge_for(gen)
        except LLMUnavailable as e:
            gen, judge = None, None
            notice = f"The language model did not answer ({e}); showing quoted passages instead."
        t = time.perf_counter()
        picked = None
        if judge is not None:
            yield {"event": "status", "stage": "judging"}
            picked = reader.choose(query, cands, judge, top=s.judge_candidates, keep=s.evidence_sentences)
        chosen, judged = picked if picked is not None else (
            reader.unjudged(cands, s.evidence_sentences, s.quote_threshold), [])
        timings["judge"] = _ms(t)
        if chosen:
            yield {"event": "evidence", "stage": "chosen",
                   "quotes": [dict(_quote(e.candidate, hits, documents), p_answer=e.p_answer) for e in chosen]}
        ev_hits = [_span_hit(hits[e.candidate.hit], e.candidate, documents[hits[e.candidate.hit].chunk.doc_id])
                   for e in chosen]
        ev_passages = [_span_passage(documents[h.chunk.doc_id], e.candidate) for h, e in zip(ev_hits, chosen)]
        labels = [_label(documents[h.chunk.doc_id]) for h in ev_hits]  # how the reader's prompt names each
        differ = reader.disagreement(query, chosen)
        sentences: list[AnswerSentence] = []
        citations: list = []
        mode = "generate"
        if gen is None:
            # the LLM is down: quote mode, as in the earlier flow
            mode = "quote"
            sentences, citations = quote_answer([c.as_tuple() for c in cands], hits, documents, s.quote_threshold)
            if misses_figure(query, [x.text for x in sentences]):
                sentences, citations = [], []
        elif differ:
            book = CitationBook(ev_hits, documents)
            for e in differ:
                i = chosen.index(e)
                n = book.cite(i, Support(True, e.p_answer or 0.0, e.candidate.start, e.candidate.end))
                sentences.append(AnswerSentence(f"“{e.text}”", (n,), True, e.p_answer or 0.0, "quoted: the sources differ"))
            sentences.append(AnswerSentence(DIFFER_NOTE, (), True, 0.0, "note"))
            citations = book.citations
        elif chosen:
            yield {"event": "status", "stage": "generating"}
            t = time.perf_counter()
            parts = []
            try:
                for delta in gen.stream(reader.reader_messages(query, list(zip(labels, [e.text for e in chosen]))),
                                        max_tokens=s.llm_max_tokens, temperature=s.llm_temperature):
                    parts.append(delta)
                    yield {"event": "token", "text": delta}
                raw = "".join(parts)
            except LLMUnavailable as e:
                notice = f"The language model did not answer ({e}); showing quoted passages instead."
                gen = None
            timings["generate"] = _ms(t)
            yield {"event": "status", "stage": "verifying"}
            t = time.perf_counter()
            if gen is None:  # the LLM failed while writing: quote mode, as when it is down
                mode = "quote"
                sentences, citations = quote_answer([c.as_tuple() for c in cands], hits, documents,
                                                    s.quote_threshold)
                if misses_figure(query, [x.text for x in sentences]):
                    sentences, citations = [], []
            elif raw is not None:
                verifier = EvidenceVerifier(self.embedder, (ProbabilityJudge(judge) if s.judge_scoring == "probability"
                                                            else llm_judge(s, gen)) if judge else None)
                sentences, removed, citations = verify_drafts(parse(raw, len(ev_hits)), ev_hits, documents, verifier,
                                                              s.unsupported, query, passages=ev_passages,
                                                              figure_rule=False)
            quotable = None
            if gen is not None and not any(x.supported for x in sentences):
                # nothing written survived verification: the evidence itself, quoted, is the answer (the
                # first chosen sentence whose document names what the question names)
                quotable = next((i for i, h in enumerate(ev_hits)
                                 if not names_not_in(query, [h.chunk.doc_id], documents)), None)
            if quotable is not None:
                book = CitationBook(ev_hits, documents)
                sentences = [x for x in sentences if not x.supported]
                sentences.insert(0, _quoted(chosen[quotable], quotable, book, "quoted verbatim"))
                citations = book.citations
            elif gen is not None and misses_figure(query, [x.text for x in sentences if x.supported]):
                sentences.append(AnswerSentence(MISSING_FIGURE_NOTE, (), True, 0.0, "note"))
            timings["verify"] = _ms(t)
        refused = not any(x.supported and x.citations for x in sentences)
        if refused:
            sentences, citations = [], []
        timings["total"] = _ms(t0)
        answer = Answer(
            question=question, answer=REFUSAL if refused else render(sentences), refused=refused, mode=mode,
            model=model, sentences=tuple(sentences), citations=tuple(citations), removed=tuple(removed),
            timings=timings, standalone_question=standalone, notice=notice, raw=raw,
            evidence=tuple(dict(_quote(e.candidate, hits, documents), p_answer=e.p_answer) for e in judged),
            context=tuple({"source": documents[h.chunk.doc_id].source, "label": lab, "text": e.text}
                          for h, lab, e in zip(ev_hits, labels, chosen)),
        )
        yield {"event": "answer", "answer": answer}

    def prompt(self, query: str, hits: list[Hit], ranked: list) -> tuple[list[dict], list[Hit], int]:
        """The answer prompt for `query`, the passages renumbered so that source n of the prompt is
        pool[n - 1] (the rest follow, for repairs), and how many sources the prompt shows."""
        return self._prompt_and_context(query, hits, ranked)[:3]

    def _prompt_and_context(self, query: str, hits: list[Hit], ranked: list):
        """`prompt`'s three values, and what it shows the model as {source, text} per passage
        (Answer.context), from one selection of the context."""
        s = self.settings
        documents = self.documents()
        order, texts = select_context(ranked, hits, documents, s.llm_sources, s.llm_context_words,
                                      s.llm_context_margin)
        shown = [hits[j] for j in order]
        pool = shown + [h for j, h in enumerate(hits) if j not in order]
        context = tuple({"source": documents[h.chunk.doc_id].source, "label": label(h, s.on("headings")), "text": t}
                        for h, t in zip(shown, texts))
        return answer_messages(query, shown, texts, s.on("headings")), pool, len(shown), context

    def _standalone(self, question: str, history: list[dict], mode: str) -> tuple[str | None, str | None]:
        """A follow-up rewritten to stand alone, asking what it asks now: by the LLM in generate
        mode, else (or when the LLM's rewrite drops what the question asks) by a simple rule.

        The rewrite is the query for retrieval, sentence ranking, the answer prompt and the
        checks, so a rewrite that asks the previous question again gets the previous answer
        again: it must keep most of the question's own content words. The rule puts the question
        first and the previous question after it, as the context its "it" or "them" refers to.
        """
        from rag.index.lexical import content_terms

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


class _Ranked:
    """A (score, hit, start, end) ranking row, shaped like a Candidate for `_quote`."""

    def __init__(self, score, hit, start, end, text=""):
        self.score, self.hit, self.start, self.end, self.text = score, hit, start, end, text


DIFFER_NOTE = "The sources give different figures."
NOT_CORRECT = "the judge found it is not a correct answer to the question, according to what it cites"
MISSING_FIGURE_NOTE = "The documents do not give the figure asked for."


def _renumber(draft, pool: list[Hit], where: dict[str, int]):
    """A draft whose markers number `pool` (one part's prompt order), with its markers as the
    numbers `where` gives each chunk id (its place among all parts' hits)."""
    return replace(draft, cited=[where[pool[n - 1].chunk.id] for n in draft.cited])


def _quoted(evidence, hit_index: int, book: CitationBook, reason: str) -> AnswerSentence:
    """Judged evidence quoted as an answer sentence, cited through `book` (whose hit `hit_index`
    holds it); the quote starts where it names who is speaking (`quote_start`)."""
    c = evidence.candidate
    doc = book.documents[book.hits[hit_index].chunk.doc_id]
    start = quote_start(doc, c.start, evidence.text)
    n = book.cite(hit_index, Support(True, evidence.p_answer or 0.0, start, c.end))
    return AnswerSentence(f"“{' '.join(doc.text[start:c.end].split())}”", (n,), True, evidence.p_answer or 0.0, reason)


def _quoted_answer(evidence, hits: list[Hit], documents: dict, reason: str) -> tuple[list[AnswerSentence], list]:
    """An answer that is one judged candidate of `hits`, quoted: (sentences, citations)."""
    book = CitationBook(hits, documents)
    return [_quoted(evidence, evidence.candidate.hit, book, reason)], book.citations


def _label(doc) -> str:
    return " · ".join(x for x in (doc.symbol, doc.date) if x) or " ".join(doc.title.split()[:6])


def _quote(c, hits: list[Hit], documents: dict) -> dict:
    """A candidate as interfaces show it: the sentence, its document and exact offsets."""
    doc = documents[hits[c.hit].chunk.doc_id]
    para = doc.paragraph_at(c.start)
    return {"text": c.text, "source": doc.source, "title": doc.title, "symbol": doc.symbol, "date": doc.date,
            "paragraph": para.n if para else None, "start": c.start, "end": c.end, "score": round(c.score, 3)}


def _span_hit(hit: Hit, c, doc) -> Hit:
    """The hit narrowed to one evidence sentence: citations then quote exactly that span."""
    return replace(hit, chunk=replace(hit.chunk, start=c.start, end=c.end, text=doc.text[c.start : c.end]))


def _span_passage(doc, c) -> Passage:
    """The evidence sentence as the verifier sees it: names and figures may also come from the
    document's title, symbol and date, and from its paragraph's opening (who is speaking)."""
    return Passage(doc.text, c.start, c.end, " ".join(x for x in (doc.title, doc.symbol, doc.date, c.context) if x))


def _ms(t: float) -> float:
    return (time.perf_counter() - t) * 1000.0
