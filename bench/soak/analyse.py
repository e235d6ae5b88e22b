"""The soak's analysis: invariants, coverage and gaps, from the emulator's final snapshot and the manifests.

Nothing here runs or waits: it reads what the drive handed on (`Driven`), so the same run can be analysed again.
Agora's side comes from the emulator's snapshot (task start/end times, end reasons, failover windows, every answer
it gave, every channel stay); the product's side from each workflow's manifest.
"""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.common import summary
from bench.soak.drive import ClassRun, Driven
from bench.soak.plan import ClassPlan, SoakSettings
from bench.soak.report import ClassFigures, FailoverFigures, SoakReport
from bench.soak.snapshot import TaskRecord
from workflows import policy


@dataclass
class Findings:
    """What the checks found so far, class by class."""

    violations: list[str] = field(default_factory=list)
    late: list[str] = field(default_factory=list)
    sid_unknown_orphans: list[str] = field(default_factory=list)
    uid_overlaps: list[str] = field(default_factory=list)
    kicked: list[str] = field(default_factory=list)
    unexplained: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    agora_side_overlaps: list[str] = field(default_factory=list)
    dup_count: int = 0
    dup_stopped: int = 0
    dup_max: float = 0.0
    failed: int = 0
    figures: list[ClassFigures] = field(default_factory=list)


def analyse(settings: SoakSettings, driven: Driven) -> SoakReport:
    """Check every invariant and work out each class's figures; `violations` lists what broke."""
    return _Analysis(settings, driven).report()


class _Analysis:
    """One pass over the final snapshot and the manifests, class by class."""

    def __init__(self, settings: SoakSettings, driven: Driven) -> None:
        self.s = settings
        self.d = driven
        self.state = driven.final
        self.now = driven.final.now
        self.speed = settings.speed
        # The duplicate allowance (bench/SOAK.md): an old recorder may outlive its first 404 by the failover window
        # plus 60 s, time for the workflow's probe to find it back and stop it; in emulated seconds.
        self.allowed_dup = (policy.FAILOVER_WINDOW + 60.0) * self.speed
        self.found = Findings()
        self.answer_lost: set[str] = set()
        # Per sid, in order, whether each of its event-12 callbacks (session_failover) reached the receivers.
        self.announcements: dict[str, list[bool]] = {}
        notices = driven.callbacks["notices"] if driven.callbacks is not None else []
        for notice in sorted(notices, key=lambda n: (n["sid"] or "", n["sequence"] or 0)):
            if notice["eventType"] == 12 and not notice["forged"]:
                self.announcements.setdefault(notice["sid"], []).append(bool(notice["delivered"]))

    def report(self) -> SoakReport:
        """Check every class, then sum up into the report."""
        by_channel = self.state.by_channel()
        for run in self.d.runs:
            self._check_class(run, sorted(by_channel.get(run.plan.channel, []), key=lambda t: t.started_at))
        found = self.found
        orphans_running = sum(1 for t in self.state.tasks if t.running)
        violations = found.violations
        violations += [f"late stop: {x}" for x in found.late]
        violations += [f"same uid twice: {x}" for x in found.uid_overlaps]
        violations += [f"recorder kicked by its successor: {x}" for x in found.kicked]
        violations += [f"two recorders outside a failover window: {x}" for x in found.unexplained]
        violations += [f"sid missing from the manifest: {x}" for x in found.lost]
        if orphans_running:
            violations.append(f"{orphans_running} task(s) still running in the emulator")
        callbacks = _callbacks(self.d) if self.d.callbacks is not None else None
        if callbacks is not None:
            violations += callbacks.pop("violations")
        runs = self.d.runs
        chaos = self.d.chaos
        return SoakReport(
            settings={k: str(v) if isinstance(v, Path) else v for k, v in asdict(self.s).items()},
            environment=self.d.environment,
            wall_seconds=round(self.d.wall_seconds, 1),
            worker_kills=chaos.worker_kills,
            worker_restarts_after_server_restart=chaos.worker_restarts_after_server,
            devserver_restarts=chaos.devserver_restarts,
            devserver_downtime_s=[round(x, 1) for x in chaos.devserver_downtime],
            faults_injected=dict(sorted(self.state.faults_injected.items())),
            events_applied=dict(sorted(self.d.applied.items())),
            tasks=sum(len(by_channel.get(r.plan.channel, [])) for r in runs),
            segments=sum(len(r.manifest.segments) for r in runs if r.manifest),
            workflows_failed=found.failed,
            orphans_running=orphans_running,
            late_stops=found.late,
            sid_unknown_orphans=found.sid_unknown_orphans,
            uid_overlaps=found.uid_overlaps,
            kicked_by_own_recorder=found.kicked,
            failover_duplicates=found.dup_count,
            failover_duplicates_stopped=found.dup_stopped,
            failover_duplicate_max_s=round(found.dup_max, 1),
            unexplained_overlaps=found.unexplained,
            agora_side_overlaps=found.agora_side_overlaps,
            lost_sids=found.lost,
            classes=found.figures,
            violations=violations,
            redundant=self.s.redundant,
            callbacks=callbacks,
            crash_time_lost=_crash_time_lost(found.figures) if self.s.callbacks else {"all": _losses(found.figures)},
            failovers=_failover_summary(found.figures),
            load_average=self.d.load_average,
        )

    def _check_class(self, run: ClassRun, tasks: list[TaskRecord]) -> None:
        plan = run.plan
        found = self.found
        manifest = run.manifest
        if manifest is None:
            found.violations.append(f"{plan.channel}: no manifest ({run.error})")
            return
        if manifest.phase == "failed" or run.error:
            found.failed += 1
            why = run.error or manifest.error
            found.violations.append(f"{plan.channel}: workflow ended with {manifest.phase} ({why})")
        sids = {s.sid for s in manifest.segments if s.sid}
        unknown_rids = {s.resource_id for s in manifest.segments if s.end_reason == "sid_unknown"}
        # A start whose every answer was lost or a 50x (Agora created the task but never named its sid) and that
        # the workflow left for the other uid after Agora's 3 retries: the product cannot know this task exists.
        unnamed = {
            t.resource_id
            for t in tasks
            if t.sid not in sids
            and t.resource_id not in unknown_rids
            and not any(r.op == "start" and r.status in (200, 201) for r in t.requests)
        }
        # A start Agora answered 200 whose answer died with the worker (SIGKILLed, or starved past the activity's
        # timeout), and whose retry on the same resourceId came after the task had ended: Agora answers that retry
        # 400 code 2 without a sid, so the product cannot learn it. The task ended by itself; nothing is left running.
        answer_lost = {
            t.resource_id
            for t in tasks
            if t.sid not in sids
            and t.ended_at is not None
            and any(r.op == "start" and r.status == 400 and r.at >= t.ended_at for r in t.requests)
        }
        self.answer_lost |= answer_lost
        unnamed |= answer_lost
        assert manifest.ended_at is not None
        wf_end = self.d.emulated(manifest.ended_at.timestamp())
        class_end = self.d.emulated(run.end_real)
        if plan.end_how == "duration":
            class_end = self.d.emulated(manifest.started_at.timestamp() + plan.length)
        last_end = self._check_ends(run, tasks, sids, unknown_rids, unnamed, wf_end, class_end)
        # A redundant class runs two lines of recorders side by side on purpose: the rules hold within each line.
        for line in (0, 1):
            self._check_overlaps(run, [t for t in tasks if _line(plan, t) == line], unknown_rids | unnamed)
        found.figures.append(self._figures(run, tasks, class_end, last_end))

    def _check_ends(
        self,
        run: ClassRun,
        tasks: list[TaskRecord],
        sids: set[str],
        unknown_rids: set[str],
        unnamed: set[str],
        wf_end: float,
        class_end: float,
    ) -> float:
        """Every sid is in the manifest and every task ended with its workflow; returns when the last one ended."""
        channel = run.plan.channel
        speed = self.speed
        last_end = class_end
        for task in tasks:
            end = task.end(self.now)
            last_end = max(last_end, end) if task.resource_id not in unknown_rids else last_end
            if task.sid not in sids:
                if task.resource_id in unknown_rids | unnamed:
                    why = "201/7 without sid" if task.resource_id in unknown_rids else "start answer never named it"
                    if task.resource_id in self.answer_lost:
                        why = "start answer lost with the worker; its retry found the task ended"
                    self.found.sid_unknown_orphans.append(
                        f"{channel} sid {task.sid[:8]} ({why}): ended {task.end_reason} "
                        f"{(end - class_end) / speed:+.1f}s after the class end, "
                        f"lived {(end - task.started_at) / speed:.1f}s"
                    )
                    continue
                self.found.lost.append(f"{channel} sid {task.sid} ({task.end_reason})")
            if end > wf_end + 2.0 * speed:
                self.found.late.append(
                    f"{channel} sid {task.sid[:8]}: ended {task.end_reason} "
                    f"{(end - wf_end) / speed:.1f}s after its workflow completed"
                )
        return last_end

    def _check_overlaps(self, run: ClassRun, tasks: list[TaskRecord], unknown: set[str]) -> None:
        """No uid twice at once, no recorder kicked by its successor, two recorders only after a 404 window."""
        channel = run.plan.channel
        found = self.found
        speed = self.speed
        for i, a in enumerate(tasks):
            a_end = a.end(self.now)
            for b in tasks[i + 1 :]:
                if b.started_at >= a_end:
                    continue
                overlap = (min(a_end, b.end(self.now)) - b.started_at) / speed
                if a.uid == b.uid:
                    found.uid_overlaps.append(f"{channel}: uid {a.uid} sids {a.sid[:8]}/{b.sid[:8]}")
                if {a.resource_id, b.resource_id} & unknown:
                    found.agora_side_overlaps.append(f"{channel}: sids {a.sid[:8]}/{b.sid[:8]} {overlap:.1f}s")
                    continue
                # The 404s that made the workflow give `a` up: those after its last answered query before `b`
                # started (a 50x in between does not end the workflow's 404 backoff; an answer does).
                first_404: list[float] = []
                for r in reversed([r for r in a.requests if r.op == "query" and r.at <= b.started_at]):
                    if r.status == 200:
                        break
                    if r.status == 404:
                        first_404.append(r.at)
                if first_404 and a_end <= min(first_404) + self.allowed_dup:
                    found.dup_count += 1
                    found.dup_stopped += a.end_reason == "stopped"
                    found.dup_max = max(found.dup_max, overlap)
                else:
                    why = ""
                    if first_404 and a.end_reason == "stopped":
                        since = min(first_404)
                        kills = sum(1 for k in self.d.chaos.kill_times if since <= self.d.emulated(k) <= a_end)
                        why = (
                            f": stopped by the workflow {(a_end - since - self.allowed_dup) / speed:.1f}s past the "
                            f"allowance, {kills} worker kill(s) between its first 404 and its end"
                        )
                    found.unexplained.append(
                        f"{channel}: sids {a.sid[:8]} ({a.end_reason}) and {b.sid[:8]} overlap {overlap:.1f}s{why}"
                    )
            if a.end_reason == "uid_conflict" and a.ended_at is not None:
                for other in tasks:
                    if other is not a and other.started_at == a.ended_at and other.uid == a.current_uid:
                        found.kicked.append(f"{channel}: sid {a.sid[:8]} kicked by sid {other.sid[:8]}")

    def _figures(self, run: ClassRun, tasks: list[TaskRecord], class_end: float, last_end: float) -> ClassFigures:
        """Coverage (overall and while the teacher was present), start latency, gaps and stop lag of one class."""
        speed = self.speed
        manifest = run.manifest
        assert manifest is not None
        class_start = self.d.emulated(manifest.started_at.timestamp())
        pieces = {task.sid: self._up(task) for task in tasks}
        covered = _clip(_union([p for task_pieces in pieces.values() for p in task_pieces]), class_start, class_end)
        length = max(class_end - class_start, 1e-9)
        # Each recorder crash costs the class the time until some recorder is up again (0 if another one was up).
        crashes = [t.ended_at for t in tasks if t.end_reason == "crashed" and t.ended_at is not None]
        losses = [_lost_after(covered, at, class_end) / speed for at in crashes if class_start <= at < class_end]
        stays = self.state.stays.get(run.plan.channel, [])
        teacher = [(p.joined_at, p.end()) for p in stays if p.uid == run.plan.teacher]
        present = _clip(_union(teacher), class_start, class_end)
        present_len = sum(b - a for a, b in present)
        present_covered = sum(max(0.0, min(b, d) - max(a, c)) for a, b in covered for c, d in present)
        first_up = covered[0][0] if covered else class_end
        gaps = [(b, c) for (_, b), (c, _) in itertools.pairwise(covered)]
        if covered and covered[-1][1] < class_end:
            gaps.append((covered[-1][1], class_end))
        gap_lengths = [(b - a) / speed for a, b in gaps]
        return ClassFigures(
            channel=run.plan.channel,
            end_how=run.plan.end_how,
            length_s=round(length / speed, 1),
            emulated_h=round(length / 3600.0, 2),
            tasks=len(tasks),
            segments=len(manifest.segments),
            restarts=manifest.restarts,
            coverage=round(sum(b - a for a, b in covered) / length, 4),
            coverage_present=round(present_covered / present_len, 4) if present_len else 1.0,
            start_latency_s=round((first_up - class_start) / speed, 1),
            gaps=len(gap_lengths),
            gap_total_s=round(sum(gap_lengths), 1),
            gap_max_s=round(max(gap_lengths, default=0.0), 1),
            stop_lag_s=round((last_end - class_end) / speed, 1),
            hears_callbacks=run.plan.hears_callbacks,
            redundant=run.plan.redundant,
            crash_losses_s=[round(x, 1) for x in losses],
            failovers=self._failovers(run, tasks, pieces, covered, class_start, class_end),
        )

    def _up(self, task: TaskRecord) -> list[tuple[float, float]]:
        """When a task was up: from its first status 4/5 to its end, minus its failover windows (emulated s)."""
        up_at = next((at for at, status in task.status_history if status in (4, 5)), None)
        if up_at is None:
            return []
        pieces = [(up_at, task.end(self.now))]
        for f_start, f_end in task.failover_windows:
            pieces = [p for a, b in pieces for p in ((a, min(b, f_start)), (max(a, f_end), b)) if p[0] < p[1]]
        return pieces

    def _failovers(
        self,
        run: ClassRun,
        tasks: list[TaskRecord],
        pieces: dict[str, list[tuple[float, float]]],
        covered: list[tuple[float, float]],
        class_start: float,
        class_end: float,
    ) -> list[FailoverFigures]:
        """Each migration during the class: today's gap and duplicate time, and the gap if the workflow had waited."""
        speed = self.speed
        plan = run.plan
        out = []
        for task in tasks:
            line = _line(plan, task)
            end = task.end(self.now)
            announced = self.announcements.get(task.sid, [])
            for n, (f_start, f_end) in enumerate(task.failover_windows):
                if not class_start <= f_start < class_end:
                    continue
                came_back = f_end > f_start and end > f_end
                current = not any(
                    o is not task and _line(plan, o) == line and task.started_at < o.started_at <= f_start
                    for o in tasks
                )
                # The recorders the workflow started because of this migration: a restart is decided on the 404s
                # inside the window and takes seconds to start (more under start faults); one that never came back
                # is replaced whenever the workflow learns it ended.
                until = min(end, f_end + 30.0 * speed) if came_back else f_end + 120.0 * speed
                successors = [
                    o for o in tasks if o is not task and _line(plan, o) == line and f_start <= o.started_at < until
                ]
                others_up = _union([p for o in successors for p in pieces[o.sid]])
                after = _clip(pieces[task.sid], f_start, end)
                duplicate = sum(max(0.0, min(b, d) - max(a, c)) for a, b in after for c, d in others_up)
                gap = _lost_after(covered, f_start, class_end)
                # Waiting: no successor on this line; only the other line (a redundant class) covers the migration.
                other_line = _union([p for o in tasks if _line(plan, o) != line for p in pieces[o.sid]])
                if came_back:
                    window = (f_start, min(f_end, class_end))
                    wait = window[1] - window[0] - sum(b - a for a, b in _clip(other_line, *window))
                elif successors:
                    # Not back: the workflow would have restarted once the failover window had passed, and the
                    # restart would have taken as long as today's did from its start.
                    first = min(successors, key=lambda o: o.started_at)
                    wait = gap + max(0.0, policy.FAILOVER_WINDOW * speed - (first.started_at - f_start))
                else:
                    wait = gap
                out.append(
                    FailoverFigures(
                        sid=task.sid,
                        announced=n < len(announced) and announced[n],
                        downtime_s=round((f_end - f_start) / speed, 1),
                        came_back=came_back,
                        restarted=bool(successors),
                        gap_s=round(gap / speed, 1),
                        duplicate_s=round(duplicate / speed, 1),
                        wait_gap_s=round(min(wait, class_end - f_start) / speed, 1),
                        end_reason=task.end_reason,
                        current=current,
                    )
                )
        return out


def _line(plan: ClassPlan, task: TaskRecord) -> int:
    """Which line of recorders a task belongs to: 0 for the class's uid pair, 1 for the redundant pair."""
    return 1 if task.uid in (plan.redundant_uid, plan.redundant_backup_uid) else 0


def _lost_after(covered: list[tuple[float, float]], at: float, end: float) -> float:
    """How long after `at` the class had no recorder up (0 when one was up at `at`), until `end` at most."""
    for a, b in covered:
        if a <= at < b:
            return 0.0
        if a > at:
            return min(a, end) - at
    return end - at


def _losses(figures: list[ClassFigures]) -> dict[str, Any]:
    """Class time lost per recorder crash (real seconds) over some classes."""
    values = [x for f in figures for x in f.crash_losses_s]
    return {**summary(values), "mean": round(statistics.fmean(values), 1) if values else float("nan")}


def _crash_time_lost(figures: list[ClassFigures]) -> dict[str, Any]:
    """Class time lost per recorder crash, for the classes that heard the callbacks and for those that did not."""
    return {
        "with_callbacks": _losses([f for f in figures if f.hears_callbacks]),
        "without_callbacks": _losses([f for f in figures if not f.hears_callbacks]),
    }


def _failover_group(chosen: list[FailoverFigures]) -> dict[str, Any]:
    """Count, downtime and the totals of today's gap, waiting's gap and duplicate time of some migrations."""
    return {
        "n": len(chosen),
        "downtime_mean_s": round(statistics.fmean(f.downtime_s for f in chosen), 1) if chosen else 0.0,
        "gap_s": round(sum(f.gap_s for f in chosen), 1),
        "wait_gap_s": round(sum(f.wait_gap_s for f in chosen), 1),
        "duplicate_s": round(sum(f.duplicate_s for f in chosen), 1),
    }


def _failover_summary(figures: list[ClassFigures]) -> dict[str, Any]:
    """Migrations heard (event 12 delivered) and not: today's gap and duplicates against the gap of waiting."""
    every = [f for c in figures for f in c.failovers if f.current]
    # A migration of a task the workflow had already replaced costs the class nothing more: counted apart.
    out: dict[str, Any] = {"of_replaced_tasks": sum(1 for c in figures for f in c.failovers if not f.current)}
    for group, chosen in (
        ("announced", [f for f in every if f.announced]),
        ("not_announced", [f for f in every if not f.announced]),
    ):
        back = [f for f in chosen if f.came_back]
        lost = [f for f in chosen if not f.came_back]
        out[group] = {
            "n": len(chosen),
            "came_back": len(back),
            "restarted": sum(f.restarted for f in chosen),
            "came_back_after_restart": sum(f.restarted for f in back),
            "with_duplicate": sum(f.duplicate_s > 0 for f in chosen),
            "downtime_s": summary([f.downtime_s for f in chosen]),
            "gap_s": {**summary([f.gap_s for f in chosen]), "total": round(sum(f.gap_s for f in chosen), 1)},
            "duplicate_s": {
                **summary([f.duplicate_s for f in chosen]),
                "total": round(sum(f.duplicate_s for f in chosen), 1),
            },
            "wait_gap_s": {
                **summary([f.wait_gap_s for f in chosen]),
                "total": round(sum(f.wait_gap_s for f in chosen), 1),
            },
            "came_back_restarted": _failover_group([f for f in back if f.restarted]),
            "came_back_not_restarted": _failover_group([f for f in back if not f.restarted]),
            "not_back_gap_s": round(sum(f.gap_s for f in lost), 1),
            "not_back_wait_gap_s": round(sum(f.wait_gap_s for f in lost), 1),
            "not_back_end_reasons": dict(Counter(str(f.end_reason) for f in lost)),
        }
    return out


def _callbacks(driven: Driven) -> dict[str, Any]:
    """What became of the callbacks: forged ones refused and taken by no workflow, each event taken once at most."""
    assert driven.callbacks is not None
    notices = driven.callbacks["notices"]
    forged = [n for n in notices if n["forged"]]
    forged_ids = {n["noticeId"] for n in forged}
    genuine = [n for n in notices if not n["forged"]]
    forged_answers = Counter(str(a) for n in forged for a in n["answers"])
    violations: list[str] = []
    forged_taken = 0
    acted_twice = 0
    taken = 0
    signalled = 0
    distinct_owned = 0
    for run in driven.runs:
        if not run.plan.hears_callbacks:
            continue
        manifest_sids = {s.sid for s in run.manifest.segments if s.sid} if run.manifest else set()
        ids = [notice for notice, _ in run.signals]
        signalled += len(ids)
        forged_here = forged_ids.intersection(ids)
        forged_taken += len(forged_here)
        owned = {notice for notice, sid in run.signals if sid in manifest_sids and notice not in forged_ids}
        distinct_owned += len(owned)
        taken += run.callbacks_taken or 0
        # The workflow counts each callback about its own sids once: more than it was sent distinct ones is a
        # callback acted on twice (or a forged one acted on).
        extra = (run.callbacks_taken or 0) - len(owned)
        if extra > 0:
            acted_twice += extra
            violations.append(f"{run.plan.channel}: {extra} callback(s) acted on twice")
        if forged_here:
            violations.append(f"{run.plan.channel}: {len(forged_here)} forged callback(s) reached the workflow")
    if forged_answers.get("200"):
        violations.append(f"{forged_answers['200']} forged callback(s) answered 200 by the receivers")
    receiver = driven.receiver_counts
    delivered = [n for n in genuine if n["delivered"]]
    return {
        "classes_hearing": sum(1 for r in driven.runs if r.plan.hears_callbacks),
        "callbacks": len(genuine),
        "posts": driven.callbacks["callbacksSent"],
        "delivered_distinct": len(delivered),
        "delivered_total": sum(n["delivered"] for n in genuine),
        "given_up": driven.callbacks["callbacksFailed"],
        "resent": driven.callbacks["callbacksResent"],
        "faults": dict(driven.callbacks["callbackFaults"]),
        "forged": len(forged),
        "forged_answers": dict(forged_answers),
        "receiver_bad_signature": receiver.get("bad_signature", 0),
        "forged_taken_by_workflows": forged_taken,
        "receiver_counts": dict(receiver),
        "signals_to_workflows": signalled,
        "distinct_owned_signalled": distinct_owned,
        "taken_by_workflows": taken,
        "acted_on_twice": acted_twice,
        "violations": violations,
    }


def _union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _clip(intervals: list[tuple[float, float]], lo: float, hi: float) -> list[tuple[float, float]]:
    return [(max(a, lo), min(b, hi)) for a, b in intervals if min(b, hi) > max(a, lo)]
