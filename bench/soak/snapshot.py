"""The emulator as the soak sees it: typed records read from its public state snapshot (GET /_emulator/state).

The soak drives the emulator through its documented control actions and reads it only through `snapshot()`, the
same data as GET /_emulator/state (README, "Control API and fault injection"), so what it checks is what any
client of the emulator could check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Answer:
    """One API call the emulator answered about a task: when (emulated), which operation, which HTTP status."""

    at: float
    op: str
    status: int


@dataclass(frozen=True)
class TaskRecord:
    """One Agora task as the snapshot shows it (times in emulated seconds)."""

    sid: str
    resource_id: str
    cname: str
    uid: str
    current_uid: str
    started_at: float
    ended_at: float | None
    end_reason: str | None
    running: bool
    in_failover: bool
    status_history: list[tuple[float, int]]
    failover_windows: list[tuple[float, float]]
    requests: list[Answer]

    def end(self, now: float) -> float:
        """When the task ended, or `now` while it runs."""
        return self.ended_at if self.ended_at is not None else now


@dataclass(frozen=True)
class Stay:
    """One stay of a user in a channel."""

    uid: str
    role: str
    joined_at: float
    left_at: float | None

    def end(self) -> float:
        """When the stay ended (infinity while present)."""
        return math.inf if self.left_at is None else self.left_at


@dataclass(frozen=True)
class PendingFault:
    """A scripted fault still queued."""

    endpoint: str
    kind: str
    remaining: int
    cname: str | None
    sid: str | None


@dataclass(frozen=True)
class EmulatorState:
    """One snapshot: the emulated time it was taken at, the tasks, every channel stay and the faults."""

    now: float
    tasks: list[TaskRecord]
    stays: dict[str, list[Stay]]
    faults_injected: dict[str, int]
    pending_faults: list[PendingFault]

    @classmethod
    def read(cls, snapshot: dict[str, Any]) -> EmulatorState:
        """Parse `Emulator.snapshot()` (or the JSON of GET /_emulator/state)."""
        return cls(
            now=snapshot["now"],
            tasks=[_task(t) for t in snapshot["tasks"]],
            stays={
                cname: [Stay(s["uid"], s["role"], s["joinedAt"], s["leftAt"]) for s in stays]
                for cname, stays in snapshot["channelHistory"].items()
            },
            faults_injected=dict(snapshot["faultsInjected"]),
            pending_faults=[
                PendingFault(f["endpoint"], f["kind"], f["remaining"], f["cname"], f["sid"])
                for f in snapshot["pendingFaults"]
            ],
        )

    def by_channel(self) -> dict[str, list[TaskRecord]]:
        """Tasks grouped by channel, in the order the emulator lists them."""
        out: dict[str, list[TaskRecord]] = {}
        for task in self.tasks:
            out.setdefault(task.cname, []).append(task)
        return out

    def live(self, cname: str) -> list[TaskRecord]:
        """Recorders of `cname` that are up (running and not inside a failover window), oldest first."""
        live = (t for t in self.tasks if t.cname == cname and t.running and not t.in_failover)
        return sorted(live, key=lambda t: t.started_at)


def _task(view: dict[str, Any]) -> TaskRecord:
    return TaskRecord(
        sid=view["sid"],
        resource_id=view["resourceId"],
        cname=view["cname"],
        uid=view["uid"],
        current_uid=view["currentUid"],
        started_at=view["startedAt"],
        ended_at=view["endedAt"],
        end_reason=view["endReason"],
        running=view["running"],
        in_failover=view["inFailover"],
        status_history=[(at, status) for at, status in view["statusHistory"]],
        failover_windows=[(start, end) for start, end in view["failoverWindows"]],
        requests=[Answer(r["at"], r["op"], r["status"]) for r in view["requests"]],
    )
