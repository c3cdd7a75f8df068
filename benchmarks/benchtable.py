"""One table for `make bench`: each benchmark records its figures here; scripts/bench.sh prints them at the end.

    record(figure, value, floor, goal, command): one row (value and floor in the same unit; the ratio is
    value / floor, the goal a maximum ratio, or a minimum value when `at_least` is given)
    python benchmarks/benchtable.py FILE: prints the rows of FILE as a Markdown table (README "Performance")
"""

from __future__ import annotations

import json
import os
import sys


def record(figure: str, value: float, *, unit: str, floor: float | None = None, max_ratio: float | None = None,
           at_least: float | None = None, command: str) -> None:
    ratio = value / floor if floor else None
    if max_ratio is not None:
        passed, goal = ratio is not None and ratio <= max_ratio, f"≤ {max_ratio:g}x"
    elif at_least is not None:
        passed, goal = value >= at_least, f"≥ {at_least:,.0f} {unit}"
    else:
        passed, goal = None, ""
    row = {"figure": figure, "value": value, "unit": unit, "floor": floor, "ratio": ratio, "goal": goal,
           "passed": passed, "command": command}
    if path := os.environ.get("BENCH_RESULTS"):
        with open(path, "a") as out:
            out.write(json.dumps(row) + "\n")


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return ""
    shown = f"{value:,.0f}" if value >= 100 else f"{value:.2f}"
    return f"{shown} {unit}".strip()


def table(path: str) -> str:
    with open(path) as rows_file:
        rows = [json.loads(line) for line in rows_file if line.strip()]
    lines = ["| figure | measured | floor | ratio | goal | pass | command |", "|---|---:|---:|---:|---|---|---|"]
    for row in rows:
        verdict = {True: "pass", False: "FAIL", None: ""}[row["passed"]]
        ratio = f"{row['ratio']:.2f}x" if row["ratio"] is not None else ""
        lines.append(f"| {row['figure']} | {_number(row['value'], row['unit'])} | {_number(row['floor'], row['unit'])} "
                     f"| {ratio} | {row['goal']} | {verdict} | `{row['command']}` |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(sys.argv[1]))
