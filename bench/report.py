"""Print the Markdown tables of RESULTS.md from bench/results/*.json (`python -m bench.report`)."""

from __future__ import annotations

import json
import sys
from typing import Any

from bench.common import ROOT

RESULTS = ROOT / "bench" / "results"


def _load(name: str) -> Any:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


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
    prod = [r for r in data["runs"] if r["variant"] == "product"]
    if prod:
        out += [
            "",
            "| product N | emulator queries/s in window | Agora calls per recording-hour (steady) "
            "| peak requests/s per "
            "App ID (1 s bins, whole run) |",
            "|---|---|---|---|",
        ]
        for r in prod:
            out.append(
                f"| {r['n']} | {r.get('emulator_queries_per_s')} | {r.get('agora_calls_per_recording_hour_steady')} "
                f"| {r.get('peak_requests_per_s_per_app_id')} |"
            )
    return out


def main() -> None:
    lines: list[str] = []
    cap = _load(sys.argv[1] if len(sys.argv) > 1 else "capacity.json")
    if cap:
        lines += ["Machine: " + json.dumps(cap["machine"]), "", *capacity(cap), ""]
    hist = _load("history.json")
    if hist:
        lines += ["History: " + json.dumps({k: v for k, v in hist.items() if k != "per_run"}), ""]
        lines += ["| run | events | bytes | queries | workflow tasks |", "|---|---|---|---|---|"]
        lines += [
            f"| {i} | {r['events']} | {r['bytes']} | {r['queries']} | {r['workflow_tasks']} |"
            for i, r in enumerate(hist["per_run"])
        ]
        lines.append("")
    heal = _load("healing.json")
    if heal:
        lines += ["Healing: " + json.dumps(heal, indent=1)]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
