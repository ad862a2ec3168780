"""Names of collections and principals: the one rule that keeps them safe as folder names,
PostgreSQL values, HTTP headers and shell words.

A name is 1-63 characters: lower-case ASCII letters, digits, '-' and '_', starting with a
letter or a digit. So it can never hold a path separator, '..', a quote, a space or a shell
or SQL metacharacter, and a folder named after it always stays inside the data directory.
"""

from __future__ import annotations

import re

from rag.errors import ConfigError

DEFAULT_COLLECTION = "default"  # the collection every command works on without --collection
ANYONE = "anyone"  # the principal a request without a token acts as
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
RULE = "1-63 lower-case letters, digits, '-' or '_', starting with a letter or a digit"


class NameInvalid(ConfigError):
    """A collection or principal name breaks the naming rule."""


def shown(name) -> str:
    """A name as a one-line message may show it: quoted, cut to 40 characters, bytes that are not
    UTF-8 (a surrogate-escaped argv) as \\xNN and control characters escaped."""
    text = name if isinstance(name, str) else repr(name)
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    cut = text[:40] + ("…" if len(text) > 40 else "")
    quote = '"' if "'" in cut else "'"
    return f"{quote}{cut}{quote}"


def valid(name) -> bool:
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def check_collection(name) -> str:
    """`name` when it is a valid collection name; NameInvalid saying the rule otherwise."""
    if not valid(name):
        raise NameInvalid(f"Collection name {shown(name)} is not allowed: use {RULE} (e.g. science).")
    return name


def check_principal(name) -> str:
    """`name` when it is a valid principal name; NameInvalid saying the rule otherwise."""
    if not valid(name):
        raise NameInvalid(f"Principal name {shown(name)} is not allowed: use {RULE} (e.g. alice).")
    return name
