"""The registered eval suites (eval/suites.yaml): each suite's items file and the corpus it asks about."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from eval import EVAL_DIR, SUITES_DIR
from eval.suite import SuiteError

REGISTRY = EVAL_DIR / "suites.yaml"
ROOT = EVAL_DIR.parent


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    items: Path  # the suite file
    corpus: tuple[Path, ...]  # what is indexed for it, together
    about: str = ""


def load_registry(path: Path = REGISTRY) -> dict[str, SuiteSpec]:
    """Every registered suite by name, in file order; SuiteError names what is wrong."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise SuiteError(f"{path}: cannot read the suite registry ({' '.join(str(e).split())}).") from None
    out = {}
    for name, spec in data.items():
        if not isinstance(spec, dict) or not spec.get("items") or not spec.get("corpus"):
            raise SuiteError(f"{path}: suite {name!r} needs items (a file under eval/suites/) and corpus (a list).")
        items = SUITES_DIR / spec["items"]
        corpus = tuple(ROOT / c for c in spec["corpus"])
        missing = [str(p) for p in (items, *corpus) if not p.exists()]
        if missing:
            raise SuiteError(f"{path}: suite {name!r} names what does not exist: {', '.join(missing)}.")
        out[name] = SuiteSpec(name, items, corpus, spec.get("about", ""))
    return out


def select(names: tuple[str, ...] = ()) -> list[SuiteSpec]:
    """The named suites (all when none are named), in registry order."""
    registry = load_registry()
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise SuiteError(f"No registered suite {', '.join(unknown)}; registered: {', '.join(registry)} "
                         f"({REGISTRY.relative_to(ROOT)}).")
    return [s for n, s in registry.items() if not names or n in names]
