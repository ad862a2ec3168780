"""The one settings object. Every field can be set as an environment variable RAG_<NAME>.

Settings that change the vectors (embedding model, chunking) produce `index_fingerprint()`;
the index stores it, and a mismatch forces a rebuild with a message instead of silently
mixing incompatible vectors.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.names import DEFAULT_COLLECTION, NameInvalid, check_collection

# Bumped whenever loading, cleaning or chunking changes the text a chunk holds.
CHUNKER_VERSION = "2"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAG_", extra="forbid", frozen=True)

    home: Path = Field(Path(".rag"), description="Data directory: index, caches and models.")
    collection: str = Field(
        DEFAULT_COLLECTION,
        description="The collection commands work on (`--collection NAME` sets it for one command): each "
        "collection has its own documents, index versions, uploads and feedback. 'default' is the index in "
        "HOME/index/; another collection lives in HOME/collections/NAME/ (in the PostgreSQL store: rows under "
        "its name). Create one with `rag collections create NAME`.")

    # --- what shapes the vectors (part of the fingerprint) ---
    embedding_model: Literal["minilm", "minilm-int8"] = Field(
        "minilm",
        description="Embedding model: 'minilm' (all-MiniLM-L6-v2, run in NumPy; RAG_MINILM_BACKEND=torch runs it "
        "with sentence-transformers, same vectors) or 'minilm-int8' (the same model quantised to int8, ONNX Runtime).",
    )
    chunk_tokens: int = Field(200, ge=32, le=256, description="Maximum chunk length in model tokens.")
    chunk_overlap_tokens: int = Field(
        40, ge=0, le=128, description="Tokens of overlap when a long paragraph is split."
    )

    # --- ingest ---
    max_file_mb: float = Field(50.0, gt=0, description="Files larger than this are refused.")
    embed_batch_size: int = Field(
        16, ge=1, description="Chunks embedded per batch (16 was fastest on a 2-core CPU: bench/ingest_throughput.py).")
    ingest_workers: int | None = Field(
        None, ge=1,
        description="Worker processes that load, clean, chunk and embed files side by side (default: one per core "
        "this process may use; each embeds with one BLAS thread, the fastest split measured by "
        "bench/ingest_scaling.py). 1: all in the calling process. Under 64 KB of new files the calling process "
        "does it alone, as starting workers would cost more than it saves.")
    ingest_engine: Literal["local", "ray"] = Field(
        "local",
        description="Where ingest runs: 'local' (this machine's cores) or 'ray' (Ray tasks across a cluster's "
        "nodes: pip install -e .[ray]; docs/scaling-ingest.md).")
    ray_address: str | None = Field(
        None, description="The Ray cluster of ingest_engine 'ray': HOST:PORT of its head, or 'auto' (the default: "
        "the cluster this machine has joined).")
    ray_max_retries: int = Field(
        3, ge=0, description="Times Ray runs a part of an ingest again when the worker or node running it dies.")

    # --- index ---
    approx_threshold: int = Field(
        100_000, ge=1, description="Above this many chunks the index switches from exact to HNSW."
    )
    hnsw_m: int = Field(32, ge=4, description="HNSW graph degree.")
    hnsw_ef_search: int = Field(
        512, ge=8, le=1000,
        description="HNSW search breadth (recall vs speed), read when the index is loaded by both stores (a change "
        "needs no re-ingest). 512: on 1M SciFact-shaped vectors (bench/store_hnsw.py) recall@10 0.983 at p50 2.0 ms "
        "(FAISS) and 0.980 at 11.9 ms (pgvector; 0.974 at 7.2 ms in another build); at 128 FAISS has 0.955 but "
        "pgvector 0.903-0.931. Exact search is used below approx_threshold.")
    hnsw_ef_construction: int = Field(80, ge=8, description="HNSW build breadth.")
    keep_versions: int = Field(2, ge=1, description="Index versions kept on disk (for rollback).")

    # --- retrieval ---
    k: int = Field(6, ge=1, le=100, description="Passages retrieved per question: search results, and the pool citations are checked and repaired against.")
    fusion: Literal["rrf", "dbsf"] = Field(
        "rrf",
        description="How BM25 and dense rankings are fused: reciprocal rank fusion or "
        "distribution-based score fusion.",
    )
    rrf_k: int = Field(60, ge=1, description="RRF constant.")
    candidates: int = Field(100, ge=10, description="Candidates taken from each retriever before fusion.")
    sentence_pool: int = Field(
        20, ge=0, le=200,
        description="Chunks of the fused ranking whose sentences are scored one by one; the chunk holding the best "
        "sentence after the first k is added to them (so k+1 passages). A chunk's one answering sentence can rank "
        "it below chunks that repeat the question's setting words: with 20, the answer sentence reached the passages "
        "for 44 of the default suite's 45 answerable items (42 with k alone). 0 or <= k: off.")
    dedupe_threshold: float = Field(
        0.85, ge=0.5, le=1.0, description="Passages whose word-shingle overlap reaches this are collapsed."
    )

    # --- generation ---
    llm_base_url: str | None = Field(
        None,
        description="OpenAI-compatible endpoint (e.g. https://api.openai.com/v1, http://localhost:11434/v1). "
        "Unset: the embedded local model, served by llama-cpp-python on loopback.",
    )
    llm_api_key: str = Field("not-needed", description="API key for llm_base_url.")
    llm_model: str | None = Field(None, description="Model name at the endpoint (embedded: its GGUF name).")
    llm_timeout: float = Field(60.0, gt=0, description="Seconds before a generation request is abandoned.")
    llm_port: int = Field(8765, ge=1024, le=65535, description="Loopback port of the embedded LLM server.")
    llm_threads: int = Field(
        2, ge=1,
        description="CPU threads for the embedded LLM. On a 2-core machine that is busy with other work, 1 is "
        "faster: measured under load, 2 threads generated 0.62 tokens/s and 1 thread 5.6 (llama.cpp's threads wait "
        "for each other when one is descheduled).")
    llm_ctx: int = Field(4096, ge=512, description="Context window of the embedded LLM, in tokens.")
    llm_start_timeout: float = Field(120.0, gt=0, description="Seconds to wait for the embedded LLM server to become healthy.")
    llm_cache_mb: int = Field(256, ge=0, description="RAM for the embedded server's prompt-state cache, in MiB (every byte it keeps is counted).")
    llm_idle_minutes: float = Field(
        15.0, ge=0,
        description="The embedded LLM server stops itself after this many minutes without a request, giving its "
        "memory back (0: never); the next command that needs it starts it again.")
    llm_max_tokens: int = Field(350, ge=16, description="Maximum tokens generated per answer.")
    llm_temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature.")
    # --- answering ---
    mode: Literal["generate", "quote"] = Field(
        "generate", description="'generate': the LLM writes a cited answer; 'quote': best sentences quoted verbatim, no LLM."
    )
    unsupported: Literal["remove", "flag"] = Field(
        "remove", description="What happens to an answer sentence no source supports: removed, or kept and flagged."
    )
    judge: bool = Field(True, description="Use the LLM's yes/no probability as a judge: which candidate sentences answer "
                        "the question, and whether a passage states a written sentence (unless near-verbatim).")
    answer_flow: Literal["evidence", "context"] = Field(
        "context",
        description="Generate mode's flow. 'context': the LLM reads the best sentences of the top passages and "
        "writes a cited answer, which is then verified (the measured default). 'evidence': the judge's "
        "yes-probability picks the sentences that answer, they are shown at once, and the LLM writes the short "
        "answer from them only (on the suites' dev halves it passes 45 items of 113, the context flow 79: "
        "docs/answer-stage.md).")
    judge_scoring: Literal["text", "probability"] = Field(
        "text",
        description="How the verifier's judge decides: 'text' parses the model's one-word yes/no (what the "
        "eval baselines were measured with); 'probability' compares its yes-probability (next-token logits) "
        "with a bar chosen on the suites' dev halves, where it passes the same items (docs/answer-stage.md).")
    judge_candidates: int = Field(
        5, ge=1, le=20,
        description="Candidate sentences (the best-ranked of all retrieved passages) the judge reads per question.")
    evidence_sentences: int = Field(
        3, ge=1, le=10, description="Most evidence sentences an answer is written from (those the judge accepts).")
    llm_sources: int = Field(
        4, ge=1, le=20,
        description="Passages the LLM's context is drawn from; all k retrieved passages are still used to check and repair citations.",
    )
    llm_context_words: int = Field(
        200, ge=10, le=2000,
        description="Words of context the LLM reads: the most relevant sentences of those passages, best first. "
        "200 holds all asked-for facts for 85% of the default suite's answerable questions and 81% of the "
        "SciFact suite's (80 words: 73% and 68%); prompt evaluation sets the time to the first token "
        "(bench/answer_latency.py), and the evidence is shown before it. Reading more (300 words, or all "
        "retrieved passages) passes fewer dev items: docs/answer-stage.md.",
    )
    llm_context_margin: float = Field(
        2.0, ge=0, le=2,
        description="Sentences scoring more than this below the best one are left out of the LLM's context, "
        "even when the word budget has room. 2 (the default) leaves none out: a lower margin buys a faster "
        "first token by cutting facts from what the model reads.",
    )
    answer_off: str = Field(
        "", pattern=r"^[a-z_,\s]*$",
        description="Answer-stage steps switched off, comma-separated (names in rag/answer/steps.py). For "
        "measuring what a step adds (rag eval ablate); leave empty in use.")
    quote_threshold: float = Field(
        0.5, ge=0, le=1, description="Quote mode refuses when no sentence scores this much against the question."
    )
    # --- HTTP API (rag serve) ---
    api_token: SecretStr | None = Field(
        None,
        description="The operator's bearer token for `rag serve`: reads and writes (upload, remove) every "
        "collection. Unset, and no principal granted writing (rag access grant NAME COLLECTION --write): write "
        "endpoints are refused.",
    )
    api_read_token: SecretStr | None = Field(
        None,
        description="Bearer token that reads (ask, search, documents, status) every collection over `rag serve`; "
        "RAG_API_TOKEN is accepted too. Unset, and no access configured (rag access): the default collection's "
        "reads are open, as before collections existed.",
    )
    ui_token: SecretStr | None = Field(
        None,
        description="The token the web UI acts with (a principal's token from `rag access token NAME`, or "
        "RAG_API_TOKEN / RAG_API_READ_TOKEN's value): its collection picker offers the collections that token "
        "may read, and it writes only where it may write. Unset: while no principal is configured the UI may "
        "use every collection (as before collections had access rules); once one is, it acts as 'anyone'.")
    upload_max_mb: float = Field(20.0, gt=0, description="Largest file `rag serve` accepts as an upload, in MB.")
    api_answer_timeout: float = Field(
        120.0, gt=0,
        description="Seconds `rag serve` lets the LLM write one answer before falling back to quoted passages.",
    )
    models_dir_override: Path | None = Field(
        None,
        alias="RAG_MODELS_DIR",
        description="Where the assembled GGUF model is kept (default: HOME/models).",
    )
    # --- shared store: PostgreSQL (rag/index/postgres.py) ---
    store_url: SecretStr | None = Field(
        None,
        description="PostgreSQL URL (postgresql://user:pass@host:5432/db) of a shared index: pgvector HNSW and "
        "full-text search. Unset: the index is a directory in HOME (the embedded default).",
    )
    store_read_url: SecretStr | None = Field(
        None,
        description="Optional URL of a read replica (a streaming standby): searches and answers read there, "
        "ingest writes to store_url.",
    )
    store_schema: str = Field(
        "rag", pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL schema holding the index tables (one index per schema).",
    )
    store_connect_timeout: float = Field(
        5.0, gt=0, description="Seconds to wait for the PostgreSQL server before reporting it unreachable.")

    @field_validator("answer_off")
    @classmethod
    def _known_steps(cls, value: str) -> str:
        from rag.answer.steps import STEPS, check_names

        names = [n for n in (x.strip() for x in value.split(",")) if n]
        if bad := check_names(names):
            raise ValueError(f"unknown answer step(s) {', '.join(bad)}; known: {', '.join(STEPS)}")
        return ",".join(names)

    def on(self, step: str) -> bool:
        """Whether an answer-stage step (rag/answer/steps.py) runs: all do unless RAG_ANSWER_OFF names it."""
        return step not in self.answer_off.split(",")

    @field_validator("collection")
    @classmethod
    def _collection_name(cls, value: str) -> str:
        try:
            return check_collection(value)
        except NameInvalid as e:  # pydantic reports ValueErrors
            raise ValueError(str(e)) from None

    def for_collection(self, name: str) -> "Settings":
        """These settings, working on collection `name` (checked against the naming rule)."""
        return self if name == self.collection else self.model_copy(update={"collection": check_collection(name)})

    def index_fingerprint(self) -> str:
        """Hash of every setting that changes the stored chunks or vectors."""
        blob = json.dumps(self.shaping(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def shaping(self) -> dict:
        """The settings that shape chunks and vectors, as stored in the index manifest."""
        return {
            "embedding_model": self.embedding_model,
            "chunk_tokens": self.chunk_tokens,
            "chunk_overlap_tokens": self.chunk_overlap_tokens,
            "chunker_version": CHUNKER_VERSION,
        }

    @property
    def collection_home(self) -> Path:
        """The folder of this collection's files: HOME itself for 'default' (the layout it always had),
        HOME/collections/NAME for any other."""
        if self.collection == DEFAULT_COLLECTION:
            return self.home
        return self.home / "collections" / self.collection

    @property
    def index_dir(self) -> Path:
        return self.collection_home / "index"

    @property
    def uploads_dir(self) -> Path:
        """Where uploaded files are kept (the web UI and the HTTP API share it), per collection."""
        return self.collection_home / "uploads"

    @property
    def models_dir(self) -> Path:
        return self.models_dir_override or (self.home / "models")


def get_settings(**overrides) -> Settings:
    """Settings from the environment, with explicit overrides (CLI flags) on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
