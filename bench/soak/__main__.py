"""`python -m bench.soak`: the chaos soak's command line (see bench/soak/__init__.py and bench/SOAK.md)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bench.soak import run_soak
from bench.soak.plan import PROJECT, SoakSettings
from bench.soak.report import render


def main(argv: list[str] | None = None) -> int:
    """Command line: run the soak, print the table, write the JSON report; exit 1 on a violated invariant."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description="Chaos soak: many concurrent class recordings against the dev server and the emulator over HTTP.",
    )
    parser.add_argument("--recordings", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=6.0, help="longest class in real minutes")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--speed", type=float, default=60.0, help="emulated seconds per real second")
    parser.add_argument("--check-interval", type=int, default=5, help="real seconds between checks")
    parser.add_argument("--max-idle", type=int, default=600, help="maxIdleTime in emulated seconds")
    parser.add_argument("--worker-kills", type=int, default=6)
    parser.add_argument("--start-spread", type=float, default=30.0)
    parser.add_argument("--work-dir", type=Path, default=PROJECT / "data" / "soak")
    parser.add_argument(
        "--callbacks",
        action="store_true",
        help="the emulator posts Agora's callbacks (with forged, duplicated, reordered, delayed and dropped ones) to "
        "two receivers the soak serves; every other class hears none, for comparison",
    )
    parser.add_argument("--redundant", action="store_true", help="every class a redundant recording (four uids)")
    parser.add_argument(
        "--redundant-half",
        action="store_true",
        help="half the classes redundant (crossed with the callback halves): both under the same load in one run",
    )
    parser.add_argument(
        "--failover-weight",
        type=float,
        default=1.0,
        help="weight of scripted failovers among the trouble (the others weigh 1-2); raise it to measure migrations",
    )
    parser.add_argument("--json", type=Path, help="write the full report here")
    args = parser.parse_args(argv)
    settings = SoakSettings(
        recordings=args.recordings,
        minutes=args.minutes,
        seed=args.seed,
        speed=args.speed,
        check_interval=args.check_interval,
        max_idle_time=args.max_idle,
        worker_kills=args.worker_kills,
        start_spread=args.start_spread,
        work_dir=args.work_dir,
        callbacks=args.callbacks,
        redundant=args.redundant,
        redundant_half=args.redundant_half,
        failover_weight=args.failover_weight,
    )
    report = asyncio.run(run_soak(settings))
    print(render(report, per_class=40))
    out = args.json or settings.work_dir / "report.json"
    out.write_text(report.to_json())
    print(f"full report: {out}")
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
