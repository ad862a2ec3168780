"""Reports of a run: Markdown for terminals and pull requests, one self-contained HTML page.

The HTML page draws its plots as inline SVG written here (no plotting library, no network):
metrics over the saved runs, the per-tag breakdown, and the latency distribution.
"""

from __future__ import annotations

import html as _html
import re

from eval.compare import Comparison
from eval.metrics import BY_NAME, METRICS

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"]
OVER_RUNS = ("accuracy", "facts", "citation_recall", "citation_precision", "faithfulness", "retrieval_hit",
             "answer_in_context")
TAG_METRICS = ("pass_rate", "facts", "citation_recall")
TAG_EXTRA = ("answer_in_context", "refusal_accuracy")


def fmt(name: str, v, signed: bool = False) -> str:
    if v is None:
        return "n/a"
    if BY_NAME.get(name) and BY_NAME[name].kind == "ms":
        return f"{v:+.0f} ms" if signed else f"{v:.0f} ms"
    return f"{v:+.3f}" if signed else f"{v:.3f}"


def _meta(run: dict) -> list[tuple[str, str]]:
    git = run.get("git") or {}
    commit = (git.get("commit") or "unknown")[:10] + (" (uncommitted changes)" if git.get("dirty") else "")
    return [("Suite", f"{run['suite']['path']} ({run['suite']['items']} items, hash {run['suite']['hash']})"),
            ("Mode", f"{run['mode']}, k={run.get('k')}, LLM judge {'on' if run.get('judge') else 'off'}"),
            ("Model", str(run.get("model") or "none")), ("Commit", commit),
            ("Corpus", f"{len(run['corpus']['documents'])} documents, hash {run['corpus']['hash']}"),
            ("Index", f"{run['index']['embedding_model']}, fingerprint {run['settings']['index_fingerprint']}"),
            ("Run", f"{run['id']}, {run['seconds']:.0f} s" + (f", {run['repeat']} repeats" if run.get("repeat", 1) > 1 else ""))]


def _metric_rows(run: dict, cmp: Comparison | None) -> list[list[str]]:
    by = {r["metric"]: r for r in cmp.rows} if cmp else {}
    std = run.get("metrics_std") or {}
    rows = []
    for m in METRICS:
        v = fmt(m.name, run["metrics"].get(m.name))
        if std.get(m.name) is not None:
            v += f" ± {fmt(m.name, std[m.name])}"
        row = [m.label, v]
        if cmp:
            r = by[m.name]
            row += [fmt(m.name, r["baseline"]), fmt(m.name, r["delta"], signed=True), r["tolerance"],
                    "FAIL" if r["failed"] else "ok"]
        rows.append(row)
    return rows


def _tag_rows(run: dict) -> list[list[str]]:
    return [[t, str(m["items"])] + [fmt(n, m.get(n)) for n in TAG_METRICS + TAG_EXTRA]
            for t, m in run["by_tag"].items()]


def _item_rows(run: dict, cmp: Comparison | None) -> list[list[str]]:
    status = {x["id"]: x for x in cmp.items} if cmp else {}
    order = [x["id"] for x in cmp.items] if cmp else [r["id"] for r in run["items"]]
    by_id = {r["id"]: r for r in run["items"]}
    rows = []
    for i in order:
        r = by_id[i]
        st = status.get(i, {}).get("status") or ("pass" if r["passed"] else "FAIL")
        if status.get(i, {}).get("documents_changed"):
            st += " (document changed)"
        answer = r.get("error") or " ".join((r.get("answer") or "").split())
        rows.append([i, st, fmt("facts", r.get("facts")), fmt("x", r.get("documents_cited")),
                     fmt("x", (r.get("answer_in_context") or {}).get("hit")),
                     fmt("x", r.get("citation_recall")), fmt("x", r.get("citation_precision")),
                     fmt("latency_p50_ms", r.get("latency_ms")), answer[:140] + ("…" if len(answer) > 140 else "")])
    return rows


ITEM_HEAD = ["Item", "Status", "Facts", "Docs cited", "Answer in context", "Cit. recall", "Cit. precision", "Latency",
             "Answer"]
TAG_HEAD = ["Tag", "Items", "Passing", "Facts", "Cit. recall", "Answer in context", "Refusal acc."]


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    esc = lambda s: str(s).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _verdict(cmp: Comparison | None) -> list[str]:
    if cmp is None:
        return []
    out = [f"**Baseline** {cmp.baseline_path}: " + ("**FAILED**" if cmp.failed else "passed") + "."]
    out += [f"- fails: {f}" for f in cmp.failures] + [f"- warning: {w}" for w in cmp.warnings]
    return out


def markdown(run: dict, cmp: Comparison | None = None) -> str:
    """The run as Markdown: metadata, metrics (with deltas), changed documents, tags, items."""
    head = ["Metric", "Value"] + (["Baseline", "Δ", "Tolerance", "Gate"] if cmp else [])
    parts = [f"# Eval run {run['id']}", "", *[f"- {k}: {v}" for k, v in _meta(run)], ""]
    parts += _verdict(cmp) + ([""] if cmp else [])
    parts += ["## Metrics", "", _md_table(head, _metric_rows(run, cmp)), ""]
    if cmp and cmp.changed_documents:
        parts += ["## Expected documents changed since the baseline", ""]
        parts += [f"- {c['id']}: {c['document']} {c['status']}" for c in cmp.changed_documents] + [""]
    parts += ["## By tag", "", _md_table(TAG_HEAD, _tag_rows(run)), ""]
    parts += ["## Items", "", _md_table(ITEM_HEAD, _item_rows(run, cmp)), ""]
    return "\n".join(parts)


# --- SVG --------------------------------------------------------------------------------------

def _e(s) -> str:
    return _html.escape(str(s), quote=True)


def _short(run_id: str) -> str:
    """20250102T183005Z -> 01-02 18:30 (run ids are UTC timestamps)."""
    m = re.fullmatch(r"\d{4}(\d\d)(\d\d)T(\d\d)(\d\d)\d\dZ(?:-\d+)?", run_id)
    return f"{m[1]}-{m[2]} {m[3]}:{m[4]}" if m else run_id[-13:]


def svg_lines(series: dict[str, list[float | None]], labels: list[str], title: str,
              width: int = 640, height: int = 260, ymax: float = 1.0) -> str:
    """A line chart of 0..ymax values over labelled x positions, with a legend."""
    left, right, top, bottom = 40, 150, 28, 40
    w, h = width - left - right, height - top - bottom
    n = max(len(labels), 1)
    x = lambda i: left + (w * (i + 0.5) / n)  # noqa: E731
    y = lambda v: top + h - h * (v / ymax if ymax else 0)  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
           f'aria-label="{_e(title)}"><title>{_e(title)}</title>',
           f'<text x="{left}" y="16" font-size="13" font-weight="bold">{_e(title)}</text>']
    for t in (0, 0.25, 0.5, 0.75, 1.0):
        out.append(f'<line x1="{left}" x2="{left + w}" y1="{y(t * ymax):.1f}" y2="{y(t * ymax):.1f}" stroke="#ddd"/>'
                   f'<text x="{left - 4}" y="{y(t * ymax) + 4:.1f}" font-size="10" text-anchor="end">{t * ymax:g}</text>')
    step = max(1, n // 8)
    for i, lab in enumerate(labels):
        if i % step == 0 or i == n - 1:
            out.append(f'<text x="{x(i):.1f}" y="{top + h + 14}" font-size="9" text-anchor="middle">{_e(_short(lab))}</text>')
    for k, (name, vals) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        pts = [(x(i), y(v)) for i, v in enumerate(vals) if v is not None]
        if len(pts) > 1:
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="'
                       + " ".join(f"{a:.1f},{b:.1f}" for a, b in pts) + '"/>')
        out += [f'<circle class="point" cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{color}"/>' for a, b in pts]
        ly = top + 12 + 16 * k
        out.append(f'<rect x="{left + w + 12}" y="{ly - 8}" width="10" height="10" fill="{color}"/>'
                   f'<text x="{left + w + 26}" y="{ly + 1}" font-size="11">{_e(name)}</text>')
    return "\n".join(out + ["</svg>"])


def svg_bars(groups: list[str], series: dict[str, list[float | None]], title: str, width: int = 640) -> str:
    """Horizontal grouped bars (values 0..1), one group per label."""
    left, bar, gap, top = 130, 9, 8, 40
    per = bar * len(series) + gap
    height = top + per * len(groups) + 10
    w = width - left - 60
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
           f'aria-label="{_e(title)}"><title>{_e(title)}</title>',
           f'<text x="4" y="16" font-size="13" font-weight="bold">{_e(title)}</text>']
    for k, name in enumerate(series):
        out.append(f'<rect x="{left + 110 * k}" y="22" width="10" height="10" fill="{PALETTE[k]}"/>'
                   f'<text x="{left + 110 * k + 14}" y="31" font-size="11">{_e(name)}</text>')
    for g, label in enumerate(groups):
        y0 = top + g * per
        out.append(f'<text x="{left - 6}" y="{y0 + per / 2:.1f}" font-size="10" text-anchor="end">{_e(label)}</text>')
        for k, vals in enumerate(series.values()):
            v = vals[g]
            if v is None:
                continue
            out.append(f'<rect class="bar" x="{left}" y="{y0 + k * bar}" width="{w * v:.1f}" height="{bar - 1}" '
                       f'fill="{PALETTE[k]}"><title>{_e(label)}: {v:.3f}</title></rect>')
    return "\n".join(out + ["</svg>"])


def svg_histogram(values: list[float], title: str, markers: dict[str, float | None], bins: int = 20,
                  width: int = 640, height: int = 220, unit: str = "s") -> str:
    """A histogram with vertical marker lines (e.g. p50 and p95)."""
    left, top, bottom = 40, 28, 36
    w, h = width - left - 20, height - top - bottom
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
           f'aria-label="{_e(title)}"><title>{_e(title)}</title>',
           f'<text x="{left}" y="16" font-size="13" font-weight="bold">{_e(title)}</text>']
    if values:
        hi = max(values) * 1.05 or 1.0
        counts = [0] * bins
        for v in values:
            counts[min(bins - 1, int(v / hi * bins))] += 1
        cmax = max(counts)
        for i, c in enumerate(counts):
            bh = h * c / cmax
            out.append(f'<rect class="bar" x="{left + w * i / bins:.1f}" y="{top + h - bh:.1f}" width="{w / bins - 1:.1f}" '
                       f'height="{bh:.1f}" fill="#1f77b4"><title>{c} item(s)</title></rect>')
        for t in range(5):
            v = hi * t / 4
            out.append(f'<text x="{left + w * t / 4:.1f}" y="{top + h + 14}" font-size="10" text-anchor="middle">'
                       f'{v:.1f} {unit}</text>')
        for k, (name, v) in enumerate(markers.items()):
            if v is None:
                continue
            mx = left + w * v / hi
            out.append(f'<line x1="{mx:.1f}" x2="{mx:.1f}" y1="{top}" y2="{top + h}" stroke="{PALETTE[k + 1]}" '
                       f'stroke-dasharray="4 3" stroke-width="2"/><text x="{mx + 3:.1f}" y="{top + 10 + 12 * k}" '
                       f'font-size="10" fill="{PALETTE[k + 1]}">{_e(name)} {v:.1f} {unit}</text>')
    return "\n".join(out + ["</svg>"])


# --- HTML -------------------------------------------------------------------------------------

CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 12px}
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;
vertical-align:top}th{background:#f3f3f3}.FAIL,.fail{color:#b00;font-weight:bold}.ok{color:#070}
figure{margin:12px 0}.warn{color:#a60}code{background:#f3f3f3;padding:0 3px}"""


def _html_table(head: list[str], rows: list[list[str]]) -> str:
    def cell(c):
        cls = " class=\"fail\"" if str(c).startswith(("FAIL", "newly failing", "still failing")) else ""
        return f"<td{cls}>{_e(c)}</td>"
    return ("<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"
            + "".join("<tr>" + "".join(cell(c) for c in r) + "</tr>" for r in rows) + "</table>")


def html(run: dict, cmp: Comparison | None = None, history: list[dict] = ()) -> str:
    """A self-contained page: the Markdown's content plus three inline SVG plots."""
    runs = sorted([r for r in history if r["id"] != run["id"]] + [run], key=lambda r: r["id"])
    over = svg_lines({BY_NAME[n].label: [r["metrics"].get(n) for r in runs] for n in OVER_RUNS},
                     [r["id"] for r in runs], f"Metrics over {len(runs)} run(s)")
    tags = list(run["by_tag"])
    bars = svg_bars(tags, {BY_NAME[n].label: [run["by_tag"][t].get(n) for t in tags] for n in TAG_METRICS},
                    "By tag")
    lat = [r["latency_ms"] / 1000 for r in run["items"] if r.get("latency_ms") is not None]
    p50, p95 = run["metrics"].get("latency_p50_ms"), run["metrics"].get("latency_p95_ms")
    hist = svg_histogram(lat, f"Latency distribution ({len(lat)} answers)",
                         {"p50": p50 / 1000 if p50 is not None else None, "p95": p95 / 1000 if p95 is not None else None})
    head = ["Metric", "Value"] + (["Baseline", "Δ", "Tolerance", "Gate"] if cmp else [])
    body = [f"<h1>Eval run {_e(run['id'])}</h1>", "<ul>" + "".join(f"<li><b>{_e(k)}</b>: {_e(v)}</li>"
                                                                    for k, v in _meta(run)) + "</ul>"]
    if cmp:
        body.append(f"<p><b>Baseline</b> {_e(cmp.baseline_path)}: "
                    + ("<span class='fail'>FAILED</span>" if cmp.failed else "<span class='ok'>passed</span>") + "</p>")
        body += [f"<p class='fail'>fails: {_e(f)}</p>" for f in cmp.failures]
        body += [f"<p class='warn'>warning: {_e(w)}</p>" for w in cmp.warnings]
    body += ["<h2>Metrics</h2>", _html_table(head, _metric_rows(run, cmp)), f"<figure>{over}</figure>"]
    if cmp and cmp.changed_documents:
        body.append("<h2>Expected documents changed since the baseline</h2><ul>" + "".join(
            f"<li>{_e(c['id'])}: {_e(c['document'])} {_e(c['status'])}</li>" for c in cmp.changed_documents) + "</ul>")
    body += ["<h2>By tag</h2>", f"<figure>{bars}</figure>", _html_table(TAG_HEAD, _tag_rows(run)),
             "<h2>Latency</h2>", f"<figure>{hist}</figure>",
             "<h2>Items</h2>", _html_table(ITEM_HEAD, _item_rows(run, cmp))]
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Eval run {_e(run['id'])}</title>"
            f"<style>{CSS}</style></head><body>" + "\n".join(body) + "</body></html>")
