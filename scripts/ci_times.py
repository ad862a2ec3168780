"""Wall time per test module from a pytest JUnit XML report, slowest first (printed by .ci/run).

    python3 scripts/ci_times.py report.xml
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import defaultdict


def module_times(path: str) -> list[tuple[str, float, int]]:
    """(module, seconds, tests) for every test module in the report, slowest first."""
    totals: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for case in ET.parse(path).getroot().iter("testcase"):
        module = case.get("classname", "?").split(".")
        name = ".".join(module[:2]) if module[0] == "tests" else module[0]
        totals[name] += float(case.get("time") or 0.0)
        counts[name] += 1
    return sorted(((m, t, counts[m]) for m, t in totals.items()), key=lambda x: -x[1])


if __name__ == "__main__":
    rows = module_times(sys.argv[1])
    for module, seconds, n in rows:
        print(f"{module:<40} {seconds:6.0f} s  ({n} tests)")
    print(f"{'all tests':<40} {sum(t for _, t, _ in rows):6.0f} s")
