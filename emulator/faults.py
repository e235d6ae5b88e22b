"""Fault injection: scripted faults (FIFO per endpoint) and a seeded random profile."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from typing import Any

ENDPOINTS = ("acquire", "start", "query", "update", "updateLayout", "stop")
KINDS = (
    "server_error",
    "request_not_completed",
    "not_found",
    "rate_limited",
    "over_quota",
    "request_timeout",
    "bad_gateway",
    "malformed",
    "empty_sid",
    "hang",
    "accepted_then_fail",
    "omit_sid_on_duplicate",
    "worker_allocation",
    "no_worker_manager_available",
    "allocate_timeout",
    "backuped",
    "partial_stop",
    "delay",
    "custom",
)
# Faults that only make sense on one endpoint (status-codes.mdx names each of these answers for that call only).
ONLY_ON = {
    "accepted_then_fail": "start",
    "omit_sid_on_duplicate": "start",
    "worker_allocation": "start",
    "no_worker_manager_available": "acquire",
    "allocate_timeout": "acquire",
    "backuped": "stop",
    "partial_stop": "stop",
}
# Per-task rates of the profile, in events per emulated hour.
TASK_RATES = ("task.crash_per_hour", "task.failover_per_hour")
# Per-callback probabilities of Agora's callbacks (emulator/callbacks.py applies them).
CALLBACK_KINDS = ("duplicate", "reorder", "delay", "drop", "forge")
HANG_CAP_SECONDS = 120.0


class FaultError(ValueError):
    """A fault or profile specification that cannot be used."""


@dataclass
class Fault:
    """One scripted fault, consumed by the next `remaining` matching calls."""

    endpoint: str
    kind: str
    remaining: int
    cname: str | None = None
    delay: float = 0.0
    status: int | None = None
    body: Any = None
    sid: str | None = None

    def matches(self, cname: str | None, sid: str | None = None) -> bool:
        """Whether this fault applies to a call about `cname` (and, when the fault names one, about `sid`)."""
        return (self.cname is None or self.cname == cname) and (self.sid is None or self.sid == sid)


def parse_fault(spec: dict[str, Any]) -> Fault:
    """Validate a POST /_emulator/faults body."""
    endpoint = spec.get("endpoint", "*")
    kind = spec.get("kind")
    if endpoint != "*" and endpoint not in ENDPOINTS:
        raise FaultError(f"endpoint must be '*' or one of {', '.join(ENDPOINTS)}")
    if kind not in KINDS:
        raise FaultError(f"kind must be one of {', '.join(KINDS)}")
    if kind in ONLY_ON and endpoint != ONLY_ON[kind]:
        raise FaultError(f"{kind} applies to the {ONLY_ON[kind]} endpoint only")
    count = spec.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise FaultError("count must be a positive integer")
    delay = spec.get("delay", 0.0)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
        raise FaultError("delay must be a non-negative number of seconds")
    cname = spec.get("cname")
    if cname is not None and not isinstance(cname, str):
        raise FaultError("cname must be a string")
    status = spec.get("status")
    if status is not None and (not isinstance(status, int) or not 100 <= status <= 599):
        raise FaultError("status must be an HTTP status code")
    if kind == "custom" and status is None:
        raise FaultError("kind custom needs a status")
    sid = spec.get("sid")
    if sid is not None and not isinstance(sid, str):
        raise FaultError("sid must be a string")
    unknown = set(spec) - {"endpoint", "kind", "count", "delay", "cname", "sid", "status", "body"}
    if unknown:
        raise FaultError(f"unknown fields: {', '.join(sorted(unknown))}")
    return Fault(endpoint, kind, count, cname, float(delay), status, spec.get("body"), sid)


class ScriptedFaults:
    """Queues of scripted faults, one per endpoint plus '*'."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[Fault]] = {}

    def add(self, fault: Fault) -> None:
        """Queue a fault behind the others of its endpoint."""
        self._queues.setdefault(fault.endpoint, deque()).append(fault)

    def clear(self) -> None:
        """Forget all scripted faults."""
        self._queues.clear()

    def pending(self) -> list[dict[str, Any]]:
        """Faults still queued, for the state snapshot."""
        return [
            {"endpoint": f.endpoint, "kind": f.kind, "remaining": f.remaining, "cname": f.cname, "sid": f.sid}
            for queue in self._queues.values()
            for f in queue
        ]

    def take(
        self, endpoint: str, cname: str | None, kinds: frozenset[str] | None = None, sid: str | None = None
    ) -> Fault | None:
        """Consume one use of the first matching fault: the endpoint's own queue first, then '*'."""
        for key in (endpoint, "*"):
            queue = self._queues.get(key)
            if not queue:
                continue
            for fault in queue:
                if fault.matches(cname, sid) and (kinds is None or fault.kind in kinds):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        queue.remove(fault)
                    return fault
        return None


class Profile:
    """A seeded random fault profile: `<endpoint|any>.<kind>` per call, `task.*` per hour, `callback.<kind>`."""

    def __init__(self, seed: int, rates: dict[str, float]) -> None:
        for key, rate in rates.items():
            scope, _, kind = key.partition(".")
            if key in TASK_RATES or (scope == "callback" and kind in CALLBACK_KINDS):
                pass
            elif scope not in (*ENDPOINTS, "any") or kind not in KINDS or kind in ("custom", "delay"):
                raise FaultError(f"unknown profile key {key!r}")
            elif kind in ONLY_ON and scope != ONLY_ON[kind]:
                raise FaultError(f"{kind} applies to {ONLY_ON[kind]} only")
            if isinstance(rate, bool) or not isinstance(rate, int | float) or rate < 0:
                raise FaultError(f"rate of {key!r} must be a non-negative number")
            if key not in TASK_RATES and rate > 1:
                raise FaultError(f"rate of {key!r} is a probability and must be <= 1")
        self.seed = seed
        self.rates = {key: float(rate) for key, rate in sorted(rates.items())}
        self.rng = random.Random(seed)

    def draw_call(self, endpoint: str) -> str | None:
        """Roll the dice for one call; returns the fault kind to apply, if any."""
        for key, rate in self.rates.items():
            scope, _, kind = key.partition(".")
            if key in TASK_RATES or scope not in (endpoint, "any") or kind == "omit_sid_on_duplicate":
                continue
            if self.rng.random() < rate:
                return kind
        return None

    def draw_delay(self, key: str) -> float | None:
        """Emulated seconds until the next per-task event of `key`, or None when its rate is 0."""
        rate = self.rates.get(key, 0.0)
        if rate <= 0:
            return None
        return self.rng.expovariate(rate / 3600.0)

    def describe(self) -> dict[str, Any]:
        """The profile as posted, for the snapshot."""
        return {"seed": self.seed, "rates": dict(self.rates)}
