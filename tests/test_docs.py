"""The documentation as a reader meets it: short README first, generated pages current, Markdown
that renders, links that resolve, figures that come from results files, no development diary.

Markdown is rendered with markdown-it-py (CommonMark plus tables), the parser behind most Python
Markdown tooling, so "renders as a heading" means what a reader's viewer shows.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import gen_docs  # noqa: E402

README = ROOT / "README.md"
# Corpora are data the assistant indexes, not the project's prose.
DATA = ("docs_raw/", "eval/corpora/")


def project_files(*patterns: str) -> list[Path]:
    """Tracked and new (not ignored) files matching the git pathspecs, outside the corpora."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", *patterns],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout.split("\n")
    return [ROOT / p for p in sorted(set(out)) if p and not p.startswith(DATA) and (ROOT / p).is_file()]


def markdown_files() -> list[Path]:
    return project_files("*.md")


def parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table")


# --- the README -------------------------------------------------------------------------------------


def test_readme_is_short():
    size = len(README.read_bytes())
    assert size <= 12 * 1024, f"README.md is {size} bytes; move detail to docs/ (limit 12 KB)"


def test_readme_opens_with_the_two_setup_commands():
    """The first code block a reader meets is the set-up: `make run`, then `make test`."""
    tokens = parser().parse(README.read_text())
    first = next(t for t in tokens if t.type in ("fence", "code_block"))
    assert first.info.strip() == "bash"
    commands = [line.split("#")[0].strip() for line in first.content.strip().splitlines()]
    assert commands == ["make run", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    headings = [t for t in tokens if t.type == "heading_open"]
    assert len([h for h in headings if h.tag == "h2" and h.map[0] < first.map[0]]) <= 1, \
        "the set-up must come right after the introduction"


def test_readme_links_the_docs():
    text = README.read_text()
    for page in ("docs/architecture.md", "docs/answer-stage.md", "docs/evaluation.md", "docs/team.md",
                 "docs/settings.md", "docs/cli.md", "docs/measurements.md", "docs/collections.md",
                 "docs/scaling-ingest.md", "docs/screenshot.png"):
        assert f"({page}" in text, f"README.md does not link {page}"


# --- generated files ---------------------------------------------------------------------------------


def test_generated_docs_match_code_and_results():
    out = subprocess.run([sys.executable, "scripts/gen_docs.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_figures_in_the_docs_come_from_results_files():
    results = gen_docs.load_results()
    block = README.read_text().split(gen_docs.FIGURES_START, 1)[1].split(gen_docs.FIGURES_END, 1)[0]
    assert not gen_docs.unsourced_figures(block, results)
    assert not gen_docs.unsourced_figures(gen_docs.MEASUREMENTS_MD.read_text(), results)


def _fake_results(tmp_path: Path) -> Path:
    """Results files shaped as their scripts write them, with made-up figures."""
    meta = {"date": "2030-01-02T03:04:05Z", "script": "bench/x.py", "argv": [], "nice": 0,
            "git": {"commit": "abcdef1234567890", "dirty": False},
            "machine": {"cpu": "Test CPU", "cores": 4, "cpu_flags": ["avx2"], "ram_gb": 15.5, "python": "3.11.7"},
            "load_average": {"start": [0.25, 0.2, 0.1], "end": [1.75, 0.5, 0.2]}}
    halves = {"dev": {"items": 30, "passing": 25, "pass_rate": 0.8333, "refusal_accuracy": 0.9,
                      "false_refusals": 0.04, "answer_in_shown": 0.91, "latency_p50_ms": 10450.0},
              "test": {"items": 29, "passing": 24, "pass_rate": 0.8276, "refusal_accuracy": 0.875,
                       "false_refusals": 0.045, "answer_in_shown": 0.9, "latency_p50_ms": 11020.0}}
    files = {
        "answer_quality": {"meta": meta, "mode": "generate", "suites": {"default": halves, "other": halves},
                           "macro": {"dev": {**halves["dev"], "suites": 2}, "test": {**halves["test"], "suites": 2}}},
        # the other naming of the same figures: items_passing and n instead of pass_rate and items
        "answer_quality_quote": {"meta": meta, "mode": "quote",
                                 "suites": {"default": {"test": {"items_passing": 0.7012, "refusal_accuracy": 0.86,
                                                                 "false_refusals": 0.156, "n": 29}}},
                                 "macro": {"test": {"items_passing": 0.7012, "refusal_accuracy": 0.86,
                                                    "false_refusals": 0.156}}},
        "answer_latency": {"meta": meta, "versions": {"base (abc1234)": "abc1234", "new (WORKTREE)": "WORKTREE"},
                           "summary": {"base (abc1234)": {"answers": 24, "passed": 18, "total_p50_s": 9.96,
                                                          "total_p95_s": 14.2, "ttft_p50_s": 3.76,
                                                          "first_evidence_p50_s": 0.37},
                                       "new (WORKTREE)": {"answers": 24, "passed": 19, "total_p50_s": 7.5,
                                                          "total_p95_s": 11.25, "ttft_p50_s": 3.5,
                                                          "first_evidence_p50_s": 0.37}},
                           "ratio_new_to_base": {"total_p50_s": 0.753}},
        "something_new": {"meta": meta, "summary": {"throughput": 123.4}, "workers": 8},
    }
    for name, data in files.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(data))
    return tmp_path


def test_measurements_page_shows_each_run_and_its_figures(tmp_path):
    results = gen_docs.load_results(_fake_results(tmp_path))
    page = gen_docs.measurements_doc(results)
    for expected in ("2030-01-02 03:04:05 UTC", "`abcdef1`", "Test CPU, 4 cores", "0.250 at the start, 1.75 at the end",
                     "| `default` | test | 0.828 (24 of 29) | 0.875 | 0.045 | 0.900 | 11.0 s |",
                     "| **macro over 2 suites** | test |", "| `default` | test | 0.701 |",
                     "| base (abc1234) | 24 | 18 | 9.96 s | 14.2 s | 3.76 s | 0.370 s |",
                     "## `something_new.json`", "| `summary.throughput` | 123 |", "| `workers` | 8 |",
                     "## Not yet measured", "`python bench/ingest_scaling.py`"):
        assert expected in page, expected
    assert not gen_docs.unsourced_figures(page, results)
    block = gen_docs.figures_block(results)
    assert "items passing 0.828, test half, mean over 2 suites" in block
    assert "(docs/measurements.md#answer-quality-generated-answers)" in block
    assert "| Ingest throughput | not yet measured |" in block
    assert not gen_docs.unsourced_figures(block, results)


def test_a_hand_edited_figure_is_caught(tmp_path):
    """Both checks catch a number typed into the tables: regeneration differs, and the number is in no file."""
    results = gen_docs.load_results(_fake_results(tmp_path))
    for text in (gen_docs.measurements_doc(results), gen_docs.figures_block(results)):
        edited = text.replace("0.828", "0.913", 1)
        assert edited != text
        assert edited != gen_docs.measurements_doc(results) and edited != gen_docs.figures_block(results)
        assert gen_docs.unsourced_figures(edited, results) == ["0.913"]
    real = gen_docs.load_results()
    page = gen_docs.MEASUREMENTS_MD.read_text()
    figures = [f for line in page.splitlines() if line.startswith("| `") for f in gen_docs._figures(line)]
    if figures:  # the committed page: change its first figure and the check names it
        edited = page.replace(figures[0], "98765.4", 1)
        assert "98765.4" in gen_docs.unsourced_figures(edited, real)


def test_a_file_of_unexpected_shape_is_listed_not_fatal(tmp_path):
    (tmp_path / "answer_latency.json").write_text(json.dumps({"summary": [1, 2], "count": 3}))
    page = gen_docs.measurements_doc(gen_docs.load_results(tmp_path))
    assert "## Answer latency" in page and "not recorded" in page


# --- Markdown as a reader sees it ------------------------------------------------------------------------


def headings_and_anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of a Markdown file (a repeated heading gets -1, -2 ...)."""
    anchors, seen = set(), {}
    tokens = parser().parse(path.read_text())
    for i, t in enumerate(tokens):
        if t.type == "heading_open":
            inline = tokens[i + 1]
            text = "".join(c.content for c in inline.children or [] if c.type in ("text", "code_inline"))
            base = gen_docs.slug(text)
            n = seen.get(base, 0)
            seen[base] = n + 1
            anchors.add(base if n == 0 else f"{base}-{n}")
    return anchors


def links(tokens) -> list[str]:
    out = []
    for t in tokens:
        for child in [t, *(t.children or [])]:
            if child.type == "link_open":
                out.append(child.attrs.get("href", ""))
            elif child.type == "image":
                out.append(child.attrs.get("src", ""))
    return out


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_markdown_renders(path):
    text = path.read_text()
    lines = text.splitlines()
    tokens = parser().parse(text)
    problems = []
    # code: fenced and indented blocks, where a '#' line is not a heading
    code = set()
    for t in tokens:
        if t.type in ("fence", "code_block", "html_block") and t.map:
            code.update(range(*t.map))
        if t.type == "fence":
            last = lines[t.map[1] - 1].strip() if t.map[1] - 1 < len(lines) else ""
            closed = t.map[1] - t.map[0] >= 2 and last.startswith(t.markup) and set(last) <= set(t.markup[0])
            if not closed:
                problems.append(f"line {t.map[0] + 1}: code fence never closed")
    heading_lines = {t.map[0] for t in tokens if t.type == "heading_open"}
    for i, line in enumerate(lines):
        if i not in code and re.match(r" {0,3}#", line) and i not in heading_lines:
            problems.append(f"line {i + 1}: {line[:60]!r} looks like a heading but does not render as one")
    anchors = {path: headings_and_anchors(path)}
    for href in links(tokens):
        if not href or re.match(r"[a-z][a-z0-9+.-]*:", href):
            continue  # absolute URLs (https:, mailto:) are not checked offline
        target, _, anchor = href.partition("#")
        dest = (path.parent / target).resolve() if target else path
        if not dest.exists():
            problems.append(f"link {href!r}: {target} does not exist")
            continue
        if ROOT in path.parents and ROOT not in dest.parents:
            problems.append(f"link {href!r} leaves the repository")
        if anchor and dest.suffix == ".md":
            if dest not in anchors:
                anchors[dest] = headings_and_anchors(dest)
            if anchor not in anchors[dest]:
                problems.append(f"link {href!r}: no heading with anchor #{anchor} in {dest.name}")
    assert not problems, "\n".join(problems)


def test_markdown_checks_catch_what_they_should(tmp_path):
    """The render test on a broken page: an unrendered heading, an open fence, a dead link and anchor."""
    bad = tmp_path / "bad.md"
    bad.write_text("# Title\n\n###`rag ask`\n\n[gone](missing.md) [here](#nowhere) [ok](#title)\n\n```bash\nmake run\n")
    with pytest.raises(AssertionError) as err:
        test_markdown_renders(bad)
    message = str(err.value)
    assert "does not render as one" in message and "never closed" in message
    assert "missing.md does not exist" in message and "#nowhere" in message and "#title" not in message


def test_architecture_diagram_matches_the_folders():
    """Every package of the tree is in the diagram, and every path the diagram names exists."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    diagram = next(t.content for t in parser().parse(text) if t.type == "fence")
    packages = {f"rag/{p.name}/" for p in (ROOT / "rag").iterdir() if (p / "__init__.py").exists()}
    packages |= {"embeddings/", "ui/", "eval/", "bench/", "rag/pipeline.py", "rag/cli.py"}
    missing = sorted(p for p in packages if p not in diagram)
    assert not missing, f"not in the architecture diagram: {missing}"
    named = re.findall(r"\b((?:rag|ui|eval|embeddings|bench)/[\w/]*(?:\.py)?)", diagram)
    dead = sorted({p for p in named if not (ROOT / p).exists()})
    assert not dead, f"the architecture diagram names paths that do not exist: {dead}"


def test_architecture_table_cells_are_short():
    """The stage table says what each stage does in a line or two; detail belongs in its own page."""
    for line in (ROOT / "docs" / "architecture.md").read_text().splitlines():
        if line.startswith("|"):
            for c in line.strip("|").split(" | "):
                assert len(c) <= 240, f"table cell of {len(c)} characters: {c[:80]}..."


# --- no development diary -------------------------------------------------------------------------------

_ORDINALS = ("first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth "
             "fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth").split()
_WORK = "sessions?"
# Three shapes of numbering a period of work (examples in test_diary_wording_is_caught): an ordinal
# word before the noun, the noun before a number, and "in/by/... the" with a numeric ordinal.
DIARY = re.compile(
    rf"\b(?:{'|'.join(_ORDINALS)})[- ]{_WORK}\b"
    rf"|\b{_WORK} \d+\b"
    rf"|\b(?:in|by|since|from|until|before|after|of) the \d+(?:st|nd|rd|th) {_WORK}\b",
    re.I)


def diary_lines(text: str) -> list[tuple[int, str]]:
    return [(i, line.strip()) for i, line in enumerate(text.splitlines(), 1) if DIARY.search(line)]


def _diary_in(files: list[Path]) -> list[str]:
    return [f"{p.relative_to(ROOT)}:{i}: {line[:100]}"
            for p in files for i, line in diary_lines(p.read_text(errors="replace"))]


def diary_candidates() -> list[Path]:
    return project_files("*.py", "*.md", "*.yaml", "*.yml", "*.sh", "Makefile", ".ci/run")


def test_no_development_diary():
    """Code, comments and docs say what the code does and why, never which period of work changed it."""
    found = _diary_in(diary_candidates())
    assert not found, "numbered-period wording:\n" + "\n".join(found)




@pytest.mark.parametrize("wording", [
    "the four" + "teenth session's code", "Sixth-" + "session defaults", "measured in session" + " 9",
    "runs of sessions" + " 15-18", "fixed in the 14th" + " session", "(nine" + "teenth session)"])
def test_diary_wording_is_caught(wording):
    assert diary_lines(f"x = 1  # {wording}")


@pytest.mark.parametrize("text", [
    "This session's conversation and the questions waiting to join it.",
    "A new browser session (a new conversation) on the chat page",
    "Plenary Meeting, 76th Session", "Eightieth Session,", "in the morning session of the 2025 meeting"])
def test_ordinary_sessions_are_not_diary(text):
    assert not diary_lines(text)


def test_changelog_lists_changes_not_eval_items():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert not re.findall(r"\b[qsv]\d{3}\b", text), "the changelog names eval items; say what changed for users"
