"""The `rag` command. Each subcommand is a thin shell over the Python API.

Errors from the project (RagError) print as one line and exit non-zero; RAG_DEBUG=1 shows
the traceback instead.
"""

from __future__ import annotations

import json
import os
import sys

import click
from pydantic import ValidationError

from rag.errors import RagError
from rag.settings import get_settings
from rag.types import SearchFilter

FILTER_KEYS = {"doc": "documents", "symbol": "symbol", "from": "date_from", "to": "date_to"}


def parse_filters(values: tuple[str, ...]) -> SearchFilter:
    """`doc=NAME` (repeatable), `symbol=GA/12734`, `from=2025-01-01`, `to=2025-12-31`."""
    docs: list[str] = []
    kw: dict = {}
    for v in values:
        key, sep, val = v.partition("=")
        key = key.strip().lower()
        if not sep or key not in FILTER_KEYS or not val.strip():
            raise click.BadParameter(
                f"{v!r}: expected KEY=VALUE with KEY one of {', '.join(FILTER_KEYS)} "
                "(e.g. --filter doc=GA-12734 --filter from=2025-01-01)",
                param_hint="--filter",
            )
        val = val.strip()
        if key == "doc":
            docs.append(val)
        elif key in ("from", "to"):
            import datetime

            try:
                datetime.date.fromisoformat(val)
            except ValueError:
                raise click.BadParameter(f"{v!r}: dates are YYYY-MM-DD", param_hint="--filter") from None
            kw[FILTER_KEYS[key]] = val
        else:
            kw[FILTER_KEYS[key]] = val
    return SearchFilter(documents=tuple(docs), **kw)


def _collection_name(ctx, param, value):
    """--collection NAME, checked against the naming rule before anything is opened (a one-line error)."""
    from rag.names import check_collection

    return None if value is None else check_collection(value)


collection_option = click.option(
    "--collection", metavar="NAME", default=None, callback=_collection_name,
    help="The collection to work on (default: RAG_COLLECTION, else 'default'). List them: rag collections; "
    "create one: rag collections create NAME.")


def collection_settings(collection: str | None = None):
    """The settings for `collection` (None: RAG_COLLECTION or 'default'), which must exist."""
    from rag.index.collections import require

    settings = get_settings()
    return require(settings.for_collection(collection) if collection else settings)


filter_option = click.option(
    "--filter", "filters", multiple=True, metavar="KEY=VALUE",
    help="Restrict to documents: doc=NAME (id, path or title words; repeatable), "
    "symbol=GA/12734 (own or referenced), from=YYYY-MM-DD, to=YYYY-MM-DD.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="rag-citations")
def cli():
    """Answer questions from your documents, with every claim cited and checked.

    \b
    Typical session:
      rag ingest docs_raw/          index a folder (incremental: re-run after changes)
      rag search "forced labour"    see which passages match
      rag status                    what is indexed, with which model and settings
      rag ask "question"            a short answer, every sentence cited and checked
      rag chat                      a conversation with follow-up questions
      rag ui                        the web UI: chat, sources, corpus, briefing export
      rag serve                     the HTTP API (and an OpenAI-compatible endpoint)
      rag eval                      run the evaluation suite (a CI gate with --baseline)

    \b
    Collections and access (several corpora in one deployment):
      rag collections create science            a new, empty collection
      rag ingest papers/ --collection science   index into it (ask, search, chat, eval take it too)
      rag access grant alice science --write    alice may read and write it
      rag access token alice                    her token for the HTTP API and the UI

    The data directory is RAG_HOME (default: .rag in the current directory). Every setting
    can be given as an environment variable RAG_<NAME>; see README.md for the list.
    """


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--rebuild", is_flag=True, help="Discard the index and re-read every file from scratch.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@collection_option
@click.option("--engine", type=click.Choice(["local", "ray"]), default=None,
              help="local: this machine's cores (default, RAG_INGEST_ENGINE); ray: tasks on a Ray cluster.")
@click.option("--address", default=None, metavar="auto|HOST:PORT",
              help="The Ray cluster's head for --engine ray (default: auto, the cluster this machine has joined).")
@click.option("--workers", type=click.IntRange(1, 1024), default=None,
              help="Worker processes of the local engine (default: one per core, RAG_INGEST_WORKERS).")
def ingest(paths, rebuild, as_json, quiet, collection, engine, address, workers):
    """Index files and folders (.txt .md .html .pdf .docx).

    Incremental: unchanged files are skipped, changed files replaced, and files that were
    indexed from a folder named here but no longer exist are removed. Files that fail are
    reported one per line; everything else is still indexed and nothing indexed before is lost.
    Exit status: 0 if every file was indexed, 1 if some failed.

    Files are loaded, chunked and embedded on every core of this machine, or as Ray tasks across
    a cluster with --engine ray (every node must see the files at the same path; with
    RAG_STORE_URL the nodes write into PostgreSQL directly). A bar shows files and chunks done,
    the rate and the time left when stderr is a terminal (not with --json or --quiet).

    \b
    Examples:
      rag ingest docs_raw/
      rag ingest report.pdf notes/ --json
      rag ingest papers/ --collection science
      rag ingest /shared/archive --engine ray --address 10.0.0.5:6379
    """
    from rag.ingest import ingest as run_ingest

    settings = collection_settings(collection)
    chosen = {"ingest_engine": engine, "ray_address": address, "ingest_workers": workers}
    settings = settings.model_copy(update={k: v for k, v in chosen.items() if v is not None})
    if address and settings.ingest_engine != "ray":
        raise click.UsageError("--address names a Ray cluster: use it with --engine ray")
    report = run_ingest(list(paths), settings, rebuild=rebuild, progress=False if quiet or as_json else None)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        for source, why in report.failed:
            click.echo(f"failed: {source}: {why}", err=True)
        for source, why in report.skipped:
            click.echo(f"skipped: {source}: {why}", err=True)
        click.echo(report.summary())
    sys.exit(1 if report.failed else 0)


@cli.command()
@click.argument("query")
@click.option("--k", "k", type=click.IntRange(1, 100), default=None, help="Number of passages (default: RAG_K); hybrid search adds the passage holding the best-matching sentence of the next ones (RAG_SENTENCE_POOL).")
@filter_option
@click.option("--mode", type=click.Choice(["hybrid", "bm25", "dense"]), default="hybrid", show_default=True,
              help="Retriever to use.")
@click.option("--json", "as_json", is_flag=True, help="Print hits as a JSON list.")
@collection_option
def search(query, k, filters, mode, as_json, collection):
    """Show the passages that best match QUERY (no LLM involved).

    \b
    Examples:
      rag search "how many States Parties" --k 3
      rag search "technology" --filter from=2025-01-01 --json
    """
    from rag.index.retrieve import HybridRetriever

    settings = collection_settings(collection)
    flt = parse_filters(filters)
    hits = HybridRetriever(settings, mode=mode).search(query, k or settings.k, flt)
    if as_json:
        click.echo(json.dumps([h.to_dict() for h in hits], indent=2, ensure_ascii=False))
        return
    if not hits:
        click.echo("No passages match." + ("" if flt.is_empty() else " Try fewer filters."))
    for n, h in enumerate(hits, start=1):
        c = h.chunk
        where = f"{c.source}:{c.start}-{c.end}"
        para = f" ¶{c.paragraph}" + (f"-{c.paragraph_end}" if c.paragraph_end != c.paragraph else "")
        label = " · ".join(x for x in (h.title, h.symbol, h.date) if x)
        click.echo(click.style(f"[{n}] {h.score:.4f}  {label}", bold=True))
        click.echo(f"    {where}{para}" + (f"  § {c.section}" if c.section else ""))
        text = " ".join(c.text.split())
        click.echo("    " + (text[:400] + ("…" if len(text) > 400 else "")) + "\n")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--verify", is_flag=True, help="Check every index file against its checksum.")
@collection_option
def status(as_json, verify, collection):
    """What is indexed: documents, chunks, index kind, model and settings fingerprint."""
    from rag.status import index_status

    settings = collection_settings(collection)
    info = index_status(settings, verify=verify)
    if as_json:
        click.echo(json.dumps({**info, "collection": settings.collection}, indent=2, ensure_ascii=False))
        return
    if settings.collection != "default":
        click.echo(f"Collection:  {settings.collection}")
    click.echo(f"Index:       {info['path']}")
    click.echo(f"Version:     {info['version']} (built {info['built_at']})")
    click.echo(f"Documents:   {info['documents']}")
    click.echo(f"Chunks:      {info['chunks']}")
    click.echo(f"Index kind:  {info['index_kind']}")
    click.echo(f"Model:       {info['model']} ({info['dimension']} dimensions)")
    click.echo(f"Fingerprint: {info['fingerprint']}" + ("" if info["fingerprint_ok"] else
               f"  (settings now give {info['settings_fingerprint']}: the next ingest rebuilds)"))
    if verify:
        click.echo("Checksums:   all files match")
    for d in info["files"]:
        meta = " · ".join(x for x in (d.get("symbol"), d.get("date")) if x)
        click.echo(f"  {d['source']}  ({d['chunks']} chunks){'  ' + meta if meta else ''}")


def _print_answer(answer, show_removed: bool = True) -> None:
    if answer.notice:
        click.echo(click.style(f"note: {answer.notice}", fg="yellow"), err=True)
    click.echo(answer.answer)
    if answer.citations:
        click.echo("\nSources:")
    for c in answer.citations:
        meta = " · ".join(x for x in (c.symbol, c.date) if x)
        where = f"{c.source}:{c.start}-{c.end}" + (f" ¶{c.paragraph}" if c.paragraph else "")
        click.echo(f"  [{c.n}] {c.title}" + (f" ({meta})" if meta else ""))
        click.echo(f"      {where}" + (f"  § {c.section}" if c.section else ""))
        click.echo(f"      “{' '.join(c.quote.split())}”")
    if show_removed and answer.removed:
        click.echo(click.style(f"\nRemoved {len(answer.removed)} unsupported sentence(s):", fg="yellow"), err=True)
        for r in answer.removed:
            click.echo(click.style(f"  - {r.text} ({r.reason})", fg="yellow"), err=True)


def _run(assistant, question: str, *, as_json: bool, stream: bool, **kw):
    """Ask, streaming progress and draft tokens to stderr when it is a terminal."""
    answer = None
    drafting = False
    for ev in assistant.events(question, **kw):
        if ev["event"] == "status" and stream:
            click.echo(click.style(f"… {ev['stage']}", dim=True), err=True)
        elif ev["event"] == "evidence" and stream:
            what = "best-matching sentences" if ev["stage"] == "ranked" else "evidence that answers"
            click.echo(click.style(f"… {what}:", dim=True), err=True)
            for q in ev["quotes"]:
                where = " · ".join(str(x) for x in (q.get("symbol") or q.get("title"), q.get("date")) if x)
                para = f" ¶{q['paragraph']}" if q.get("paragraph") else ""
                click.echo(f"    “{q['text']}” ({where}{para})", err=True)
        elif ev["event"] == "token" and stream:
            drafting = True
            click.echo(click.style(ev["text"], dim=True), err=True, nl=False)
        elif ev["event"] == "answer":
            answer = ev["answer"]
    if drafting:
        click.echo(click.style("\n… verified answer:", dim=True), err=True)
    if as_json:
        click.echo(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
    else:
        _print_answer(answer)
    return answer


mode_option = click.option("--mode", type=click.Choice(["generate", "quote"]), default=None,
                           help="generate: the LLM writes a cited answer (default, RAG_MODE); "
                           "quote: best sentences quoted verbatim, no LLM.")


@cli.command()
@click.argument("question")
@mode_option
@click.option("--k", "k", type=click.IntRange(1, 20), default=None, help="Passages given to the model (RAG_K).")
@filter_option
@click.option("--json", "as_json", is_flag=True, help="Print the answer as one JSON object (schema in README).")
@collection_option
def ask(question, mode, k, filters, as_json, collection):
    """Answer QUESTION from the indexed documents, every sentence cited and checked.

    Each sentence is verified against the passage it cites: figures, quoted words and names
    must appear there, and the passage must say the same thing. A wrongly cited sentence is
    re-cited to the passage that supports it; an unsupported one is removed (RAG_UNSUPPORTED=flag
    keeps it, marked). When nothing is supported the answer is "The documents do not say."
    If the LLM cannot be reached, the answer falls back to quoted passages and says so.

    \b
    Examples:
      rag ask "How many States Parties does the Trafficking in Persons Protocol have?"
      rag ask "What did Sweden do in 1999?" --mode quote
      rag ask "What did the hearing recommend on technology?" --filter doc=hearing --json
      rag ask "Which enzyme was measured?" --collection science
    """
    from rag.pipeline import Assistant

    settings = collection_settings(collection)
    _run(Assistant(settings), question, as_json=as_json, stream=sys.stderr.isatty() and not as_json,
         mode=mode, k=k, flt=parse_filters(filters))


@cli.command()
@mode_option
@filter_option
@collection_option
def chat(mode, filters, collection):
    """A conversation in the terminal; follow-up questions are understood.

    Type a question and press Enter. /quote and /generate switch modes, /clear forgets the
    conversation, /quit (or Ctrl-D) leaves.
    """
    from rag.pipeline import Assistant

    assistant = Assistant(collection_settings(collection))
    flt = parse_filters(filters)
    history: list[dict] = []
    click.echo("Ask about the documents. /quit to leave, /clear to start over, /quote or /generate to switch mode.")
    while True:
        try:
            question = input("\n> ").strip()
        except EOFError:
            click.echo()
            return
        if not question:
            continue
        if question in ("/quit", "/exit"):
            return
        if question == "/clear":
            history.clear()
            click.echo("(conversation cleared)")
            continue
        if question in ("/quote", "/generate"):
            mode = question[1:]
            click.echo(f"(mode: {mode})")
            continue
        answer = _run(assistant, question, as_json=False, stream=True, mode=mode, flt=flt, history=history)
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.answer}]


@cli.command()
@click.option("--port", type=click.IntRange(1024, 65535), default=8501, show_default=True, help="Loopback port.")
@click.option("--open-browser", is_flag=True, help="Open a browser window on start.")
def ui(port, open_browser):
    """Start the web UI (Streamlit) on http://127.0.0.1:PORT.

    Chat with cited answers, check each cited passage, manage the corpus (upload, re-index,
    remove), and export answers as a briefing (Markdown or DOCX). Indexes docs_raw/ on first
    start if the index is empty.
    """
    from ui.launch import launch

    sys.exit(launch(port=port, headless=not open_browser))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback exposes the documents: set RAG_API_READ_TOKEN.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="TCP port.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True, help="Server log verbosity.")
def serve(host, port, log_level):
    """Serve the HTTP API (FastAPI) on http://HOST:PORT; the schema is at /docs and /openapi.json.

    \b
    Endpoints:
      GET  /health                 index loads and matches its checksums (503 + fix if not)
      GET  /status                 what is indexed, model, settings fingerprint
      GET  /documents              the indexed documents
      POST /documents              upload files (multipart; needs RAG_API_TOKEN)
      DELETE /documents/{doc_id}   remove a document (needs RAG_API_TOKEN)
      POST /search                 matching passages, no LLM
      POST /ask                    a cited, verified answer (JSON)
      POST /ask/stream             the same as server-sent events (status, token, answer)
      POST /v1/chat/completions    OpenAI-compatible, streaming or not, with citations
      GET  /collections            the collections the token may read
      POST /feedback               rate an answer (kept with its collection)
      POST /export                 answers as a briefing (Markdown or DOCX) naming their collection

    Every route but /health works on one collection: the X-Rag-Collection header names it (default:
    'default'); /v1/chat/completions also takes it in the model name, e.g. "rag:science". A
    collection the token may not read answers 404, exactly like one that does not exist.

    Tokens: RAG_API_TOKEN reads and writes every collection; RAG_API_READ_TOKEN reads every
    collection; a principal's token (rag access token NAME) what its grants allow. Without a token
    only the collections granted to 'anyone' can be read, and, while no access is configured and
    RAG_API_READ_TOKEN is unset, the default collection (as before collections existed). Writes are
    refused while no token could write. Every answer is logged to RAG_HOME/audit.jsonl (rag access
    log). Uploads are limited to RAG_UPLOAD_MAX_MB and kept in the collection's uploads/ folder.
    Answers that the LLM does not finish within RAG_API_ANSWER_TIMEOUT seconds, or that fail, fall
    back to quoted passages with a notice.

    \b
    Examples:
      rag serve
      RAG_API_TOKEN=secret rag serve --port 8080
      curl -s localhost:8000/ask -H 'content-type: application/json' -d '{"question": "..."}'
      curl -s localhost:8000/documents -H "Authorization: Bearer secret" -F file=@report.pdf
      curl -s localhost:8000/ask -H "Authorization: Bearer $TOKEN" -H "X-Rag-Collection: science" \\
           -H 'content-type: application/json' -d '{"question": "..."}'
    """
    from rag.server import serve as run_server

    run_server(get_settings(), host=host, port=port, log_level=log_level)


@cli.group()
def llm():
    """The embedded LLM server (llama-cpp-python on loopback, started on first use)."""


@llm.command("start")
def llm_start():
    """Assemble the packaged model if needed and start (or reuse) the server."""
    from rag.llm.server import EmbeddedServer

    url = EmbeddedServer(get_settings()).ensure_running()
    click.echo(f"Embedded LLM ready at {url}")


@llm.command("stop")
def llm_stop():
    """Stop the embedded server if it runs."""
    from rag.llm.server import EmbeddedServer

    click.echo("Stopped." if EmbeddedServer(get_settings()).stop() else "No embedded server was running.")


@llm.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def llm_status(as_json):
    """Whether the embedded server runs, where, its memory, how long it has been idle.

    The server stops itself after RAG_LLM_IDLE_MINUTES without a request (rss_mb and idle_s show
    how close it is); any command that needs it starts it again.
    """
    from rag.llm.server import EmbeddedServer

    settings = get_settings()
    info = EmbeddedServer(settings).status()
    if settings.llm_base_url:
        info["note"] = f"RAG_LLM_BASE_URL is set: answers use {settings.llm_base_url}, not the embedded server"
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    for key, val in info.items():
        click.echo(f"{key + ':':<13} {val}")


from eval.cli import eval_group  # noqa: E402  (the eval harness is a subcommand group of its own)
from rag.access.cli import access_group, collections_group  # noqa: E402

cli.add_command(eval_group)
cli.add_command(collections_group)
cli.add_command(access_group)


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="rag", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except RagError as e:
        if os.environ.get("RAG_DEBUG"):
            raise
        click.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except ValidationError as e:  # a RAG_ variable with a value the settings refuse
        if os.environ.get("RAG_DEBUG"):
            raise
        err = e.errors()[0]
        name = "RAG_" + str(err["loc"][0]).upper() if err.get("loc") else "a RAG_ variable"
        click.echo(f"error: invalid setting {name}: {err['msg'].removeprefix('Value error, ')}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
