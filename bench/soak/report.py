"""The soak's report: its fields, a readable table with the invariant summary, and the JSON form."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class FailoverFigures:
    """One high-availability migration of a recorder and what it cost the class (real seconds).

    `gap_s` and `duplicate_s` are today's behaviour: the workflow treats the migration's 404s like any other, so after
    the 404 backoff it starts a recorder on the other uid, and the migrated task, once back, runs beside it until the
    failover probe stops it. `wait_gap_s` is what waiting for an announced migration would have cost: its downtime
    when it came back, else the failover window plus the class's start latency (no duplicate either way).
    """

    sid: str
    announced: bool  # Agora's event 12 (session_failover) reached the receivers
    downtime_s: float  # the emulator's failover window: query answered 404 for this long
    came_back: bool  # the task was up again after the window (not ended by the 4th migration, a crash or a stop)
    restarted: bool  # the workflow started another recorder on this line while the task migrated or after
    gap_s: float  # class time without any recorder up, from the window's start
    duplicate_s: float  # time the migrated task, back, was up beside a recorder started after the window began
    wait_gap_s: float
    end_reason: str | None
    # The task was its line's newest recorder when the migration began (not one the workflow had already replaced).
    current: bool = True


@dataclass
class ClassFigures:
    """Coverage and gaps of one class, in real seconds unless named otherwise."""

    channel: str
    end_how: str
    length_s: float
    emulated_h: float
    tasks: int
    segments: int
    restarts: int
    coverage: float
    coverage_present: float
    start_latency_s: float
    gaps: int
    gap_total_s: float
    gap_max_s: float
    stop_lag_s: float
    hears_callbacks: bool = False
    redundant: bool = False
    # Per recorder crash: real seconds until some recorder of the class was up again (0 if one still was).
    crash_losses_s: list[float] = field(default_factory=list)
    failovers: list[FailoverFigures] = field(default_factory=list)


@dataclass
class SoakReport:
    """Everything the soak measured; `violations` must be empty."""

    settings: dict[str, Any]
    environment: dict[str, Any]
    wall_seconds: float
    worker_kills: int
    worker_restarts_after_server_restart: int
    devserver_restarts: int
    devserver_downtime_s: list[float]
    faults_injected: dict[str, int]
    events_applied: dict[str, int]
    tasks: int
    segments: int
    workflows_failed: int
    orphans_running: int
    late_stops: list[str]
    sid_unknown_orphans: list[str]
    uid_overlaps: list[str]
    kicked_by_own_recorder: list[str]
    failover_duplicates: int
    failover_duplicates_stopped: int
    failover_duplicate_max_s: float
    unexplained_overlaps: list[str]
    agora_side_overlaps: list[str]
    lost_sids: list[str]
    classes: list[ClassFigures]
    violations: list[str]
    redundant: bool = False
    # With callbacks: what became of them (forged refused, none acted on twice); None without.
    callbacks: dict[str, Any] | None = None
    # Class time lost per recorder crash, by whether the class heard the callbacks.
    crash_time_lost: dict[str, Any] = field(default_factory=dict)
    # High-availability migrations, announced (event 12 heard) or not: today's gap and duplicates against waiting.
    failovers: dict[str, Any] = field(default_factory=dict)
    # Load averages (1 min) over the run: the machine is shared.
    load_average: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """The report as JSON."""
        return json.dumps(asdict(self), indent=2, default=str)


def render(report: SoakReport, *, per_class: int | None = None) -> str:
    """The report as a readable text table plus the invariant summary."""
    lines = []
    rows = report.classes
    shown = rows if per_class is None or len(rows) <= per_class else sorted(rows, key=lambda r: r.coverage)[:per_class]
    head = (
        f"{'channel':<16} {'end':<8} {'len s':>6} {'emu h':>5} {'tasks':>5} {'segs':>4} {'rst':>3} {'cover':>6} "
        f"{'cov@p':>6} {'lat s':>5} {'gaps':>4} {'gap s':>6} {'max s':>6} {'lag s':>6}"
    )
    if shown is not rows:
        lines.append(f"the {len(shown)} classes with the lowest coverage (of {len(rows)}):")
    lines.append(head)
    for r in shown:
        lines.append(
            f"{r.channel:<16} {r.end_how:<8} {r.length_s:>6.0f} {r.emulated_h:>5.2f} {r.tasks:>5} {r.segments:>4} "
            f"{r.restarts:>3} {r.coverage:>6.1%} {r.coverage_present:>6.1%} {r.start_latency_s:>5.1f} {r.gaps:>4} "
            f"{r.gap_total_s:>6.1f} {r.gap_max_s:>6.1f} {r.stop_lag_s:>6.1f}"
        )
    cov = [r.coverage for r in rows] or [0.0]
    covp = [r.coverage_present for r in rows] or [0.0]
    gaps = [r.gap_max_s for r in rows] or [0.0]
    lags = [r.stop_lag_s for r in rows] or [0.0]
    lines += [
        "",
        f"classes {len(rows)}  emulated class hours {sum(r.emulated_h for r in rows):.1f}  tasks {report.tasks}  "
        f"segments {report.segments}  wall {report.wall_seconds:.0f}s",
        f"coverage min {min(cov):.1%} median {statistics.median(cov):.1%}  |  while the teacher was present: "
        f"min {min(covp):.1%} median {statistics.median(covp):.1%}",
        f"gaps {sum(r.gaps for r in rows)} total {sum(r.gap_total_s for r in rows):.0f}s  longest {max(gaps):.1f}s  "
        f"median longest per class {statistics.median(gaps):.1f}s",
        f"stop lag after class end: median {statistics.median(lags):.1f}s max {max(lags):.1f}s",
        f"worker kills {report.worker_kills}  dev-server restarts {report.devserver_restarts} "
        f"(down {report.devserver_downtime_s}s)  worker restarts after server restart "
        f"{report.worker_restarts_after_server_restart}",
        f"faults injected: {report.faults_injected}",
        f"events applied: {report.events_applied}",
        f"orphans running {report.orphans_running}  late stops {len(report.late_stops)}  "
        f"same-uid overlaps {len(report.uid_overlaps)}  kicked by own recorder {len(report.kicked_by_own_recorder)}  "
        f"unexplained double recorders {len(report.unexplained_overlaps)}  lost sids {len(report.lost_sids)}",
        f"failover duplicates {report.failover_duplicates} "
        f"(stopped by the workflow {report.failover_duplicates_stopped}, "
        f"longest overlap {report.failover_duplicate_max_s}s)  "
        f"sid-unknown orphans {len(report.sid_unknown_orphans)} "
        f"(overlapping another recorder: {len(report.agora_side_overlaps)})"
        f"  failed workflows {report.workflows_failed}",
    ]
    for group, lost in report.crash_time_lost.items():
        measured = f": mean {lost['mean']}s median {lost['p50']}s p90 {lost['p90']}s max {lost['max']}s"
        suffix = measured if lost["n"] else ""
        lines.append(f"class time lost per recorder crash ({group.replace('_', ' ')}): n {lost['n']}{suffix}")
    for group, f in report.failovers.items():
        if not isinstance(f, dict):
            lines.append(f"failovers {group.replace('_', ' ')}: {f}")
            continue
        if not f["n"]:
            lines.append(f"failovers ({group.replace('_', ' ')}): none")
            continue
        lines.append(
            f"failovers ({group.replace('_', ' ')}): {f['n']}, {f['came_back']} came back, restarted on the other uid "
            f"{f['restarted']} ({f['came_back_after_restart']} of them came back too: {f['with_duplicate']} with two "
            f"recorders); downtime p50 {f['downtime_s']['p50']}s max {f['downtime_s']['max']}s; today: gap total "
            f"{f['gap_s']['total']}s (p50 {f['gap_s']['p50']}s max {f['gap_s']['max']}s), duplicate total "
            f"{f['duplicate_s']['total']}s (max {f['duplicate_s']['max']}s); waiting: gap total "
            f"{f['wait_gap_s']['total']}s (max {f['wait_gap_s']['max']}s), no duplicate; not back: gap "
            f"{f['not_back_gap_s']}s today against {f['not_back_wait_gap_s']}s waiting {f['not_back_end_reasons']}"
        )
        for part in ("came_back_restarted", "came_back_not_restarted"):
            g = f[part]
            lines.append(
                f"  {part.replace('_', ' ')}: {g['n']}, downtime mean {g['downtime_mean_s']}s; gap {g['gap_s']}s today "
                f"against {g['wait_gap_s']}s waiting; duplicate {g['duplicate_s']}s"
            )
    if report.load_average:
        la = report.load_average
        lines.append(f"load average (1 min): start {la['start']} mean {la['mean']} max {la['max']} end {la['end']}")
    if report.redundant:
        lines.append("redundant: every class ran two lines of recorders (four uids)")
    if any(r.redundant for r in rows) and not all(r.redundant for r in rows):
        for flag, name in ((True, "redundant"), (False, "one line")):
            same = [r for r in rows if r.redundant is flag]
            lines.append(
                f"{name}: {len(same)} classes, coverage median {statistics.median(r.coverage for r in same):.1%} "
                f"min {min(r.coverage for r in same):.1%}; gaps {sum(r.gaps for r in same)}, "
                f"{sum(r.length_s * (1 - r.coverage) for r in same):.0f}s without a recorder of "
                f"{sum(r.length_s for r in same):.0f}s"
            )
    cb = report.callbacks
    if cb is not None:
        lines += [
            f"callbacks ({cb['classes_hearing']} classes hear them): {cb['callbacks']} events, {cb['posts']} posts, "
            f"{cb['delivered_distinct']} delivered ({cb['delivered_total']} deliveries answered 200), "
            f"{cb['resent']} resent, {cb['given_up']} given up; faults {cb['faults']}",
            f"forged callbacks {cb['forged']}: answered {cb['forged_answers']}, receivers' bad_signature "
            f"{cb['receiver_bad_signature']}, taken by workflows {cb['forged_taken_by_workflows']}",
            f"taken by workflows {cb['taken_by_workflows']} of {cb['distinct_owned_signalled']} distinct callbacks "
            f"about their sids ({cb['signals_to_workflows']} signals); acted on twice {cb['acted_on_twice']}; "
            f"receivers {cb['receiver_counts']}",
        ]
    lines += [f"  sid unknown: {x}" for x in report.sid_unknown_orphans]
    lines += [f"VIOLATION: {v}" for v in report.violations] or ["all invariants hold"]
    return "\n".join(lines)
