"""Regenerate the README's settings table and CLI reference from the code, so they cannot drift.

    python scripts/gen_docs.py          rewrite README.md in place
    python scripts/gen_docs.py --check  exit 1 if README.md is out of date (used by the tests)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def settings_table() -> str:
    from rag.settings import Settings

    rows = ["| Variable | Default | What it does |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        env = field.alias or f"RAG_{name.upper()}"
        default = field.default
        shown = "unset" if default is None else f"`{default}`"
        rows.append(f"| `{env}` | {shown} | {field.description} |")
    return "\n".join(rows)


def cli_reference() -> str:
    from rag.cli import cli

    runner = CliRunner()
    out = []

    def walk(cmd, path):
        res = runner.invoke(cli, [*path, "--help"], prog_name="rag", terminal_width=100)
        out.append(f"### `rag {' '.join(path)}`".replace(" `", "`").replace("`rag `", "`rag`") if path else "### `rag`")
        out.append("```\n" + res.output.rstrip() + "\n```")
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            walk(sub, [*path, name])

    walk(cli, [])
    return "\n\n".join(out)


def render(readme: str) -> str:
    for tag, body in (("settings", settings_table()), ("cli", cli_reference())):
        readme = re.sub(rf"(<!-- {tag}:start -->\n).*?(<!-- {tag}:end -->)",
                        lambda m: m.group(1) + body + "\n" + m.group(2), readme, flags=re.S)
    return readme


if __name__ == "__main__":
    path = ROOT / "README.md"
    current = path.read_text()
    new = render(current)
    if "--check" in sys.argv:
        if new != current:
            print("README.md is out of date: run python scripts/gen_docs.py")
            sys.exit(1)
        sys.exit(0)
    path.write_text(new)
