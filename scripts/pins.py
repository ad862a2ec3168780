"""Check and refresh the project's pins, so a fresh machine installs from the registry alone.

    python scripts/pins.py check [FILE ...]   exit 1 naming every line that is not `name==version`
                                              (default: requirements.txt constraints.txt)
    python scripts/pins.py freeze             rewrite constraints.txt from the running environment
                                              (what `make constraints` runs)

A requirement such as `pkg @ file:///tmp/wheels/pkg.whl`, `-e .`, `git+https://...` or a bare path
installs only on the machine that has that file or checkout: every other machine fails at
`pip install`. `pip freeze` writes such lines for packages installed from a local wheel, which is
how one got into constraints.txt once; `freeze` here writes `name==version` for every installed
distribution instead, and checks the result before replacing the file.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILES = ("requirements.txt", "constraints.txt")

# name[extras]==version, nothing else: no URL, no path, no range, no local version label (+cpu)
_PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,-]+\])?==[0-9][0-9A-Za-z.!]*$")
# Distributions that are the project itself, pip's own tools, or pinned in requirements.txt on purpose
_NOT_FROZEN = {"rag-citations", "pip", "setuptools", "wheel", "torch"}


@dataclass(frozen=True)
class BadPin:
    path: str
    line_no: int
    line: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line_no}: {self.line!r}: {self.why}"


def _why(requirement: str) -> str:
    low = requirement.lower()
    if low.startswith(("-e", "--editable")):
        return "an editable install of a local checkout; list the package as name==version"
    if low.startswith(("-f", "--find-links", "-i", "--index-url", "--extra-index-url")):
        return "points pip at another package source; the registry must serve every pin"
    if "file:" in low or " @ " in requirement or low.startswith(("/", "./", "../", "~")):
        return "names a local path or file: URL that exists only on the machine that wrote it; use name==version"
    if "://" in low or low.startswith(("git+", "hg+", "svn+", "bzr+")):
        return "names a URL or VCS checkout; use a name==version the registry serves"
    if "+" in low.split("==", 1)[-1]:
        return "has a local version label (+...) that the registry does not serve"
    return "is not an exact name==version pin"


def check_text(text: str, path: str) -> list[BadPin]:
    """Every line of a requirements/constraints file that is not `name==version` (comments aside)."""
    bad = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        if not _PIN.match(line):
            bad.append(BadPin(path, n, line, _why(line)))
    return bad


def check_files(paths: list[Path]) -> list[BadPin]:
    bad = []
    for p in paths:
        try:
            bad += check_text(Path(p).read_text(encoding="utf-8"), str(p))
        except OSError as e:
            bad.append(BadPin(str(p), 0, "", f"cannot be read ({e.strerror})"))
    return bad


def frozen_lines() -> list[str]:
    """`name==version` of every distribution in this environment, sorted like `pip freeze`."""
    pins = {}
    for dist in md.distributions():
        name = dist.metadata["Name"]
        if not name or name.lower() in _NOT_FROZEN:
            continue
        version = dist.version
        if "+" in version:  # a local build (e.g. torch 2.13.0+cpu): the registry cannot serve it
            print(f"warning: {name} {version} has a local version label; pin it in requirements.txt "
                  "by its registry version instead", file=sys.stderr)
            continue
        pins[name.lower()] = f"{name}=={version}"
    return [pins[k] for k in sorted(pins)]


HEADER = """\
# Exact versions of every transitive dependency, as tested. requirements.txt names what the project
# uses; this file keeps a fresh install identical. Regenerate with `make constraints` (never with a
# bare `pip freeze`, which writes local paths for packages installed from a file). torch is pinned in
# requirements.txt. Every line must be name==version: `python scripts/pins.py check` enforces it.
"""


def freeze(target: Path) -> int:
    text = HEADER + "\n".join(frozen_lines()) + "\n"
    bad = check_text(text, str(target))
    if bad:
        print("\n".join(map(str, bad)), file=sys.stderr)
        return 1
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".constraints.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, target)
    print(f"wrote {target} ({text.count(chr(10)) - HEADER.count(chr(10))} pins)")
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "check":
        files = [Path(a) for a in rest] or [ROOT / f for f in DEFAULT_FILES]
        bad = check_files(files)
        for b in bad:
            print(f"error: {b}", file=sys.stderr)
        if bad:
            print("Fix: replace each line above with name==version (for constraints.txt: make constraints).",
                  file=sys.stderr)
            return 1
        print(f"pins ok: {', '.join(str(f) for f in files)}")
        return 0
    if cmd == "freeze":
        return freeze(ROOT / "constraints.txt")
    print(f"unknown command {cmd!r}; see --help", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
