"""Reports: Markdown tables and a self-contained HTML page with its three plots."""

from __future__ import annotations

import re

from eval.compare import Tolerances, compare
from eval.report import html, markdown, svg_histogram
from test_eval_compare import item, make_run


def _runs():
    base = make_run([item(f"q{i}", latency=1000 + 100 * i, tags=("a", "b") if i % 2 else ("a",)) for i in range(8)],
                    id="20250101T000000Z")
    cur = make_run([item("q0", passed=False, tags=("a",)), item("q1", tags=("a", "b")), item("q2", passed=False, tags=("a",))]
                   + [item(f"q{i}", latency=1500 + 100 * i, tags=("a", "b") if i % 2 else ("a",)) for i in range(3, 8)],
                   id="20250102T000000Z")
    return base, cur


def test_markdown_has_metrics_deltas_tags_and_items():
    base, cur = _runs()
    md = markdown(cur, compare(cur, base, Tolerances.load(), baseline_path="base.json"))
    assert md.startswith("# Eval run 20250102T000000Z")
    assert "| Facts stated | 0.750 | 1.000 | -0.250 | 0.13 | FAIL |" in md
    assert "**Baseline** base.json: **FAILED**" in md
    assert "## By tag" in md and "| a | 8 |" in md
    items = md.split("## Items")[1]
    assert items.index("| q0 | newly failing") < items.index("| q1 | passing")


def test_html_is_self_contained_with_plots():
    base, cur = _runs()
    page = html(cur, compare(cur, base, Tolerances.load()), history=[base])
    assert page.startswith("<!doctype html>") and page.count("<svg") == 3
    assert "Metrics over 2 run(s)" in page and "By tag" in page and "Latency distribution (8 answers)" in page
    over = re.findall(r"<svg.*?</svg>", page, re.S)[0]
    assert "Metrics over" in over
    assert over.count('class="point"') == 2 * 6  # six metrics, two runs each
    assert page.count('class="bar"') >= 8
    # nothing fetched from elsewhere: the only URL is the SVG namespace
    assert set(re.findall(r"https?://[^\s\"']+", page)) == {"http://www.w3.org/2000/svg"}
    assert "<script" not in page


def test_histogram_markers_and_escaping():
    svg = svg_histogram([1.0, 2.0, 2.5, 9.0], "Latency <ms>", {"p50": 2.25, "p95": 8.0})
    assert "Latency &lt;ms&gt;" in svg and "p50 2.2 s" in svg and "p95 8.0 s" in svg
    assert svg.count('class="bar"') == 20
