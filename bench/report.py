"""Print the Markdown tables of RESULTS.md from bench/results/*.json.

`python -m bench.report [CAPACITY.json] [--history H.json] [--healing X.json]` (file names inside bench/results/;
defaults capacity.json, history.json, healing.json).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from bench.common import ROOT

RESULTS = ROOT / "bench" / "results"
REFERENCES = ("local", "ceiling")  # same shape as the product (local activity) first, then the activity-based shape


def _load(name: str) -> Any:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def cpu_per_check(r: dict[str, Any]) -> float | None:
    """Server + worker CPU (% of one core) per check/s, i.e. CPU-seconds per 100 checks; the emulator is left out."""
    p = r["procs"]
    if not r["checks_per_s"]:
        return None
    return float(p["server"]["cpu_pct"] + p["worker"]["cpu_pct"]) / float(r["checks_per_s"])


def capacity(data: dict[str, Any]) -> list[str]:
    out = [
        "| variant | N | I (s) | checks/s expected | checks/s achieved | lag p50 (s) | lag p99 (s) | lag max (s) "
        "| events/check | WFT/check | bytes/check | server CPU % / RSS MiB | worker CPU % / RSS MiB "
        "| emulator CPU % / RSS MiB | machine busy % (2 cores, all users) | load (1/5/15 min) after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in data["runs"]:
        p = r["procs"]

        def pr(name: str, p: dict[str, Any] = p) -> str:
            return f"{p[name]['cpu_pct']} / {p[name]['rss_max_mib']:.0f}" if name in p else "–"

        lag = r["lag_s"]
        out.append(
            f"| {r['variant']} | {r['n']} | {r['interval_s']} | {r['expected_checks_per_s']} | {r['checks_per_s']} "
            f"| {lag['p50']} | {lag['p99']} | {lag['max']} | {r['events_per_check']} | {r['wft_per_check']} "
            f"| {r['bytes_per_check']} | {pr('server')} | {pr('worker')} | {pr('emulator')} "
            f"| {p.get('machine', {}).get('busy_pct', '–')} | {r['load_after']} |"
        )
    out += ["", *ratios(data)]
    prod = [r for r in data["runs"] if r["variant"] == "product"]
    if prod:
        out += [
            "",
            "| product N | checks/s (history) | emulator queries/s in window | Agora calls per recording-hour (steady) "
            "| peak requests/s per App ID (1 s bins, whole run) |",
            "|---|---|---|---|---|",
        ]
        for r in prod:
            out.append(
                f"| {r['n']} | {r['checks_per_s']} | {r.get('emulator_queries_per_s')} "
                f"| {r.get('agora_calls_per_recording_hour_steady')} | {r.get('peak_requests_per_s_per_app_id')} |"
            )
        out += ["", "Events per check by type (product):", ""]
        for r in prod:
            out.append(f"- N = {r['n']}: {r.get('events_per_check_by_type')}")
    return out


def ratios(data: dict[str, Any]) -> list[str]:
    """The product against each reference at the same N: share of checks run, lag, and cost per check."""
    by = {(r["variant"], r["n"]): r for r in data["runs"]}
    rows = [
        "| N | reference | checks/s product / reference | lag p99 product / reference (s) "
        "| CPU per check product / reference (server + worker, %·s) | capacity ratio by cost (reference / product) |",
        "|---|---|---|---|---|---|",
    ]
    for (variant, n), prod in sorted(by.items(), key=lambda kv: kv[0][1]):
        if variant != "product":
            continue
        for ref_name in REFERENCES:
            ref = by.get((ref_name, n))
            if not ref:
                continue
            cp, cr = cpu_per_check(prod), cpu_per_check(ref)
            share = round(prod["checks_per_s"] / ref["checks_per_s"], 2) if ref["checks_per_s"] else None
            ratio = round(cr / cp, 2) if cp and cr else None
            rows.append(
                f"| {n} | {ref_name} | {prod['checks_per_s']} / {ref['checks_per_s']} ({share}) "
                f"| {prod['lag_s']['p99']} / {ref['lag_s']['p99']} "
                f"| {cp and round(cp, 2)} / {cr and round(cr, 2)} | {ratio} |"
            )
    return rows if len(rows) > 2 else []


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.report")
    parser.add_argument("capacity", nargs="?", default="capacity.json")
    parser.add_argument("--history", default="history.json")
    parser.add_argument("--healing", default="healing.json")
    args = parser.parse_args()
    lines: list[str] = []
    cap = _load(args.capacity)
    if cap:
        lines += ["Machine: " + json.dumps(cap["machine"]), "", *capacity(cap), ""]
    hist = _load(args.history)
    if hist:
        lines += ["History: " + json.dumps({k: v for k, v in hist.items() if k != "per_run"}), ""]
        lines += ["| run | events | bytes | queries | of them local | workflow tasks |", "|---|---|---|---|---|---|"]
        lines += [
            f"| {i} | {r['events']} | {r['bytes']} | {r['queries']} | {r.get('queries_local', 0)} "
            f"| {r['workflow_tasks']} |"
            for i, r in enumerate(hist["per_run"])
        ]
        lines.append("")
    heal = _load(args.healing)
    if heal:
        lines += ["Healing: " + json.dumps(heal, indent=1)]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
