"""Chaos soak: many concurrent class recordings against the real Temporal dev server and the emulator over HTTP.

A seeded fault profile mixes every fault the emulator can inject, each class gets its own scripted trouble (50x bursts
on start and query, 206/65, 429, 404 windows, recorder crashes, failovers, teacher breaks shorter and longer than
maxIdleTime, a real user taking the recorder's uid), the worker is SIGKILLed and restarted several times and the dev
server is killed and restarted once on its database file. At the end the invariants are checked from the emulator's
state snapshot and the workflows' manifests, and coverage and gaps are printed as a table.

    python -m bench.soak --recordings 200 --minutes 6 --seed 7

Time is compressed: the emulator's clock runs `speed` times faster than real time, so a class of a few real minutes is
hours of emulated Agora time, while the workflow's timers (checks, backoffs, failover window) run in real time on the
dev server. Durations that the workflow experiences through Agora's answers in real time (a resourceId's 5-minute life,
the stop grace) are scaled by `speed` so that they keep their real-time meaning. See bench/SOAK.md.

One module per stage: `plan` (settings, class plans, chaos schedule), `drive` (processes, classes, worker kills,
dev-server restart), `analyse` (invariants and figures), `report` (text and JSON), `__main__` (the command line);
`compare` sets two reports of one plan side by side, or the two halves of a `--redundant-half` run.
"""

from bench.soak.analyse import analyse
from bench.soak.drive import Driver
from bench.soak.plan import SoakSettings
from bench.soak.report import SoakReport, render


async def run_soak(settings: SoakSettings) -> SoakReport:
    """Run one soak and return its report."""
    return analyse(settings, await Driver(settings).run())


__all__ = ["SoakReport", "SoakSettings", "render", "run_soak"]
