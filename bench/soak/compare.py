"""Two soak reports of one plan side by side, class by class: `python -m bench.soak.compare BASE.json OTHER.json`;
with one report of a `--redundant-half` run, its redundant classes against the others.

Made for the redundancy comparison (bench/SOAK.md, run 8): the same seed and plan run once with one recorder per class
and once with two lines of recorders, so each class meets the same scripted trouble in both runs and the difference
per class is the redundancy's, not the plan's (class coverage varies far more from class to class than between runs).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any


def _classes(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["channel"]: c for c in report["classes"]}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else float("nan")


def figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Coverage, gaps and class time without a recorder of some classes (rows of a report's `classes`)."""
    cov = [r["coverage"] for r in rows]
    return {
        "classes": len(rows),
        "coverage_min": round(min(cov), 4),
        "coverage_p10": round(_pct(cov, 10), 4),
        "coverage_median": round(statistics.median(cov), 4),
        "coverage_mean": round(statistics.fmean(cov), 4),
        "coverage_present_median": round(statistics.median(r["coverage_present"] for r in rows), 4),
        "class_time_without_recorder_s": round(sum(r["length_s"] * (1 - r["coverage"]) for r in rows), 1),
        "class_time_s": round(sum(r["length_s"] for r in rows), 1),
        "gaps": sum(r["gaps"] for r in rows),
        "gap_max_s": max(r["gap_max_s"] for r in rows),
        "gap_max_median_s": statistics.median(r["gap_max_s"] for r in rows),
        "classes_without_gap": sum(1 for r in rows if r["gaps"] == 0),
        "start_latency_median_s": statistics.median(r["start_latency_s"] for r in rows),
        "tasks": sum(r["tasks"] for r in rows),
        "crash_losses_s_mean": round(statistics.fmean(x for r in rows for x in r["crash_losses_s"]), 1)
        if any(r["crash_losses_s"] for r in rows)
        else None,
    }


def split(report: dict[str, Any]) -> dict[str, Any]:
    """One run with half its classes redundant (--redundant-half): the redundant half against the other."""
    rows = report["classes"]
    return {
        "redundant": figures([r for r in rows if r.get("redundant")]),
        "one_line": figures([r for r in rows if not r.get("redundant")]),
    }


def compare(base: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """Coverage, gaps and class time without a recorder of the classes both reports hold, and the paired change."""
    a, b = _classes(base), _classes(other)
    channels = sorted(set(a) & set(b))
    out: dict[str, Any] = {"classes": len(channels)}
    out["base"] = figures([a[c] for c in channels])
    out["other"] = figures([b[c] for c in channels])
    diff = [b[c]["coverage"] - a[c]["coverage"] for c in channels]
    out["paired_coverage_change"] = {
        "median": round(statistics.median(diff), 4),
        "mean": round(statistics.fmean(diff), 4),
        "min": round(min(diff), 4),
        "max": round(max(diff), 4),
        "classes_better": sum(1 for d in diff if d > 0.005),
        "classes_worse": sum(1 for d in diff if d < -0.005),
    }
    return out


def main(argv: list[str] | None = None) -> int:
    """Print the comparison as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.soak.compare", description=__doc__)
    parser.add_argument("base", type=Path)
    parser.add_argument("other", type=Path, nargs="?", help="omitted: split BASE's classes by redundancy")
    args = parser.parse_args(argv)
    base = json.loads(args.base.read_text())
    out = split(base) if args.other is None else compare(base, json.loads(args.other.read_text()))
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
