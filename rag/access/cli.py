"""`rag collections` and `rag access`: the collections of a deployment and who may use them."""

from __future__ import annotations

import json
import sys

import click

from rag.names import ANYONE, check_collection, check_principal
from rag.settings import get_settings
from rag.types import READ, WRITE


def _name(check):
    """A click callback checking a name before anything is opened; NameInvalid is a one-line error."""
    def callback(ctx, param, value):
        return None if value is None else check(value)
    return callback


# --- collections --------------------------------------------------------------------------------


@click.group("collections", invoke_without_command=True)
@click.pass_context
def collections_group(ctx):
    """Named collections: each has its own documents, index versions, uploads and feedback.

    Without a subcommand: the list. Every command that reads or writes documents takes
    --collection NAME (ingest, ask, search, chat, status, eval); without it, 'default'.

    \b
      rag collections                        list them, with documents and live version
      rag collections create science         a new, empty collection
      rag ingest papers/ --collection science
      rag collections delete science         asks first; --yes for scripts
      rag collections migrate                take over an index made before collections existed
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_cmd)


def _summary(settings, name: str) -> dict:
    from rag.errors import RagError
    from rag.index import open_store

    store = open_store(settings.for_collection(name))
    out = {"name": name, "documents": 0, "chunks": 0, "version": None, "location": store.location}
    try:
        version = store.current()
        if version:
            m = store.manifest(version)
            out.update(documents=m["counts"]["documents"], chunks=m["counts"]["chunks"], version=version)
    except RagError as e:
        out["error"] = str(e)
    return out


@collections_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def list_cmd(as_json=False):
    """Every collection: documents, chunks and live index version."""
    from rag.index.collections import open_catalog

    settings = get_settings()
    rows = [_summary(settings, n) for n in open_catalog(settings).names()]
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        hint = "" if r["name"] == "default" else f" --collection {r['name']}"
        state = r.get("error") or (f"{r['documents']} documents, {r['chunks']} chunks, version {r['version']}"
                                   if r["version"] else f"empty (rag ingest PATH...{hint})")
        click.echo(f"{r['name']:<{width}}  {state}")


@collections_group.command("create")
@click.argument("name", callback=_name(check_collection))
def create_cmd(name):
    """Create the empty collection NAME (1-63 lower-case letters, digits, '-' or '_')."""
    from rag.index.collections import open_catalog

    open_catalog(get_settings()).create(name)
    click.echo(f"Created collection {name!r}. Index documents into it: rag ingest PATH... --collection {name}")
    click.echo(f"Give access to it: rag access grant PRINCIPAL {name} [--write]")


@collections_group.command("delete")
@click.argument("name", callback=_name(check_collection))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (scripts).")
def delete_cmd(name, yes):
    """Delete collection NAME with its documents, index versions, uploads, feedback and grants.

    This cannot be undone: the files it was indexed from are not touched, so `rag ingest` can build
    it again. Asks for confirmation unless --yes is given.
    """
    from rag.access.principals import open_access
    from rag.errors import CollectionMissing
    from rag.index.collections import open_catalog

    settings = get_settings()
    catalog = open_catalog(settings)
    if not catalog.exists(name):
        raise CollectionMissing(name)
    if not yes:
        info = _summary(settings, name)
        if not sys.stdin.isatty():
            raise click.UsageError(f"Refusing to delete collection {name!r} without confirmation: add --yes.")
        click.confirm(f"Delete collection {name!r} ({info['documents']} documents) with its index, uploads, "
                      "feedback and grants? This cannot be undone", abort=True)
    gone = catalog.delete(name)
    open_access(settings).forget_collection(name)
    n = gone.get("documents")
    click.echo(f"Deleted collection {name!r}" + (f" ({n} documents)." if n is not None else "."))


@collections_group.command("migrate")
def migrate_cmd():
    """Take over an index made before collections existed, as the collection 'default'.

    Nothing is re-read or re-embedded. A directory store needs nothing (HOME/index/ is the
    default collection as it is); a PostgreSQL database is upgraded in one transaction (any
    writer does this on its own the first time; this says what it did). Safe to run again.
    """
    from rag.index.collections import open_catalog

    settings = get_settings()
    done = open_catalog(settings).migrate()
    if done:
        for line in done:
            click.echo(line)
    elif settings.store_url:
        click.echo("Nothing to migrate: the database already has collections.")
    else:
        click.echo(f"Nothing to migrate: {settings.home / 'index'} is the collection 'default' as it is.")


# --- access -------------------------------------------------------------------------------------


@click.group("access")
def access_group():
    """Who may read and write which collection over the HTTP API and in the web UI.

    A principal is a name with a token (only its sha256 is stored) and grants: read, or read and
    write, per collection. 'anyone' stands for requests without a token: granting it a collection
    opens that collection's reads. While nothing is configured, the default collection stays open
    to reads as before (unless RAG_API_READ_TOKEN is set); RAG_API_TOKEN keeps reading and writing
    everything, RAG_API_READ_TOKEN reading everything. Access is stored in RAG_HOME/access.json, or
    in the PostgreSQL store's schema when RAG_STORE_URL is set. The CLI itself is not restricted:
    whoever runs it has the data directory.

    \b
      rag access grant alice science            alice may read science
      rag access grant bob science --write      bob may read and write it
      rag access token alice                    a new token for alice (the old one stops working)
      rag access revoke alice science           no more access to science
      rag access revoke alice                   alice, her token and her grants are gone
      rag access grant anyone handbook          reads of handbook need no token
      rag access list                           principals and grants
      rag access log --collection science       who asked what (question hashes) and what was cited
    """


def _collection_exists(settings, name: str) -> None:
    from rag.index.collections import require

    require(settings.for_collection(name))


@access_group.command("grant")
@click.argument("principal", callback=_name(check_principal))
@click.argument("collection", callback=_name(check_collection))
@click.option("--write", is_flag=True, help="Reading and writing (uploads, removals); without it, reading only.")
def grant_cmd(principal, collection, write):
    """Allow PRINCIPAL to read COLLECTION (and write it, with --write).

    A new principal is created; give it a token with `rag access token PRINCIPAL`. PRINCIPAL
    'anyone' opens the collection's reads to requests without a token.
    """
    from rag.access.principals import open_access

    settings = get_settings()
    _collection_exists(settings, collection)
    store = open_access(settings)
    p = store.grant(principal, collection, WRITE if write else READ)
    what = "read and write" if write else "read"
    click.echo(f"{principal} may now {what} {collection!r}.")
    if principal != ANYONE and p.token_sha256 is None:
        click.echo(f"{principal} has no token yet: rag access token {principal}")


@access_group.command("revoke")
@click.argument("principal", callback=_name(check_principal))
@click.argument("collection", required=False, callback=_name(check_collection))
@click.option("--write", "write_only", is_flag=True, help="Take away writing only; reading stays.")
def revoke_cmd(principal, collection, write_only):
    """Take away PRINCIPAL's access to COLLECTION; without COLLECTION, remove PRINCIPAL with its
    token and every grant. Takes effect on the next request."""
    from rag.access.principals import open_access

    if write_only and collection is None:
        raise click.UsageError("--write needs a COLLECTION: rag access revoke PRINCIPAL COLLECTION --write")
    open_access(get_settings()).revoke(principal, collection, write_only=write_only)
    if collection is None:
        click.echo(f"Removed {principal}: its token no longer works and it has no grants.")
    else:
        click.echo(f"{principal} may no longer {'write' if write_only else 'read or write'} {collection!r}.")


@access_group.command("token")
@click.argument("principal", callback=_name(check_principal))
def token_cmd(principal):
    """Issue a new token for PRINCIPAL and print it (once: only its hash is kept).

    The principal's previous token stops working at once. Send it as
    `Authorization: Bearer TOKEN`, or set RAG_UI_TOKEN to it for the web UI.
    """
    from rag.access.principals import open_access

    token = open_access(get_settings()).issue_token(principal)
    if sys.stdout.isatty():
        click.echo(f"Token for {principal} (shown once; the previous one no longer works):", err=True)
    click.echo(token)


@access_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON (token hashes left out).")
def list_access_cmd(as_json):
    """Principals, whether they have a token, and their grants."""
    from rag.access.policy import Policy

    settings = get_settings()
    policy = Policy(settings)
    principals = policy.principals()
    rows = [{"name": p.name, "token": p.token_sha256 is not None, "token_issued_at": p.token_issued_at,
             "grants": dict(p.grants)} for p in principals.values()]
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    click.echo(f"Stored in {policy.access.location}")
    if not rows:
        open_note = ("the default collection is open to reads" if settings.api_read_token is None
                     else "reads need RAG_API_READ_TOKEN or RAG_API_TOKEN")
        click.echo(f"No access configured: {open_note}; writes need RAG_API_TOKEN. "
                   "Grant some with: rag access grant PRINCIPAL COLLECTION [--write]")
    for r in rows:
        grants = ", ".join(f"{c} ({a})" for c, a in sorted(r["grants"].items())) or "no grants"
        token = "" if r["name"] == ANYONE else ("  token issued " + (r["token_issued_at"] or "?")
                                                if r["token"] else "  no token (rag access token " + r["name"] + ")")
        click.echo(f"{r['name']}: {grants}{token}")


@access_group.command("log")
@click.option("--collection", metavar="NAME", default=None, callback=_name(check_collection), help="Only this collection.")
@click.option("--principal", metavar="NAME", default=None, help="Only this principal (or RAG_API_TOKEN, anyone...).")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True, help="The last N entries.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line, as stored.")
def log_cmd(collection, principal, limit, as_json):
    """The audit log: each answer the HTTP API gave (who, which collection, when, the sha256 of
    the question and the ids of the cited documents), newest last. Kept in RAG_HOME/audit.jsonl."""
    from collections import deque

    from rag.access import audit

    settings = get_settings()
    entries = deque((e for e in audit.read(settings)
                     if (collection is None or e.collection == collection)
                     and (principal is None or e.principal == principal)), maxlen=limit)
    if as_json:
        for e in entries:
            click.echo(json.dumps(e.to_dict(), ensure_ascii=False))
        return
    if not entries:
        click.echo(f"No answers logged{' for these filters' if collection or principal else ''} "
                   f"in {audit.path(settings)}.")
    for e in entries:
        cited = ", ".join(d[:12] for d in e.cited) or ("refused" if e.refused else "no citations")
        click.echo(f"{e.time}  {e.principal}  {e.collection}  {e.route}  q={e.question_sha256[:12]}  {cited}")
