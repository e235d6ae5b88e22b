"""Fault injection at work: which fault a call meets, what it then answers, and the profile's per-task events.

emulator/faults.py says what a fault or a profile is; this module holds the faults of one emulator instance and
applies them. It never touches tasks itself: the service it fronts answers the calls that a fault lets through
(a `delay`, an `accepted_then_fail`, a `backuped` or `partial_stop` stop) and supplies the 404 body, which names
the task's cname and uid.
"""

from __future__ import annotations

from typing import Any, Protocol

from emulator.answers import ApiResponse, gateway, service, with_uploading_status
from emulator.faults import HANG_CAP_SECONDS, Fault, Profile, ScriptedFaults, parse_fault


class Service(Protocol):
    """The recording service behind the faults."""

    def answer(self, op: str, params: dict[str, str], payload: Any) -> ApiResponse:
        """Process the call and answer it as Agora would."""
        ...

    def not_found(self, op: str, params: dict[str, str], payload: Any) -> ApiResponse:
        """Agora's 404 for this call."""
        ...


class Injector:
    """Scripted faults, the random profile and the count of every fault fired, for one emulator."""

    def __init__(self) -> None:
        self.scripted = ScriptedFaults()
        self.profile: Profile | None = None
        self.injected: dict[str, int] = {}
        # Scripted `omit_sid_on_duplicate` uses left: they act inside start's duplicate answer, not as a whole answer.
        self._omit_sid = 0

    def count(self, kind: str) -> None:
        """Count one fault (or crash/failover event) in `faultsInjected`."""
        self.injected[kind] = self.injected.get(kind, 0) + 1

    def inject(self, spec: dict[str, Any]) -> None:
        """Queue a scripted fault (the body of POST /_emulator/faults); raises `FaultError` when it is unusable."""
        fault = parse_fault(spec)
        if fault.kind == "omit_sid_on_duplicate":
            self._omit_sid += fault.remaining
        else:
            self.scripted.add(fault)

    def clear(self) -> None:
        """Drop scripted faults and the random profile."""
        self.scripted.clear()
        self.profile = None
        self._omit_sid = 0

    def install(self, seed: int, rates: dict[str, float]) -> None:
        """Install a seeded random profile; raises `FaultError` when a rate is unusable."""
        self.profile = Profile(seed, rates)

    def omit_sid_on_duplicate(self) -> bool:
        """Whether this 201/7 "already started" answer loses its sid (scripted uses first, then the profile)."""
        omit = self._omit_sid > 0
        if not omit and self.profile is not None:
            omit = self.profile.rng.random() < self.profile.rates.get("start.omit_sid_on_duplicate", 0.0)
        if omit:
            self._omit_sid = max(0, self._omit_sid - 1)
            self.count("omit_sid_on_duplicate")
        return omit

    def task_events(self) -> tuple[float | None, float | None]:
        """Emulated seconds until a new task's crash and failover under the profile (None: never)."""
        if self.profile is None:
            return None, None
        crash = self.profile.draw_delay("task.crash_per_hour")
        failover = self.profile.draw_delay("task.failover_per_hour")
        return crash, failover

    def next_failover(self) -> float | None:
        """Emulated seconds from a task's return until its next failover under the profile (None: never)."""
        return None if self.profile is None else self.profile.draw_delay("task.failover_per_hour")

    def apply(
        self, op: str, params: dict[str, str], cname: str | None, payload: Any, target: Service
    ) -> ApiResponse | None:
        """The answer of the fault this call meets (scripted first, then the profile), or None when it meets none."""
        fault = self.scripted.take(op, cname, sid=params.get("sid"))
        if fault is None and self.profile is not None:
            kind = self.profile.draw_call(op)
            if kind is not None:
                fault = Fault(op, kind, 1)
        if fault is None:
            return None
        self.count(fault.kind)
        if fault.kind == "delay":
            response = target.answer(op, params, payload)
        elif fault.kind == "accepted_then_fail":
            response = target.answer(op, params, payload)
            if response.status == 200:
                response = service(500, 500, "internal_error")
        elif fault.kind in ("backuped", "partial_stop"):
            # The stop happens; only its answer changes: some files went through Agora's backup cloud, and a
            # partial stop also answers 206 (the old docs: files in the backup, or the process not over).
            response = target.answer(op, params, payload)
            if response.status == 200:
                status = 206 if fault.kind == "partial_stop" else 200
                body = with_uploading_status(response.body, "backuped")
                response = ApiResponse(status, body, delay=response.delay)
        elif fault.kind == "not_found":
            response = target.not_found(op, params, payload)
        else:
            response = fault_response(fault, op, params)
        if fault.status is not None:
            response = ApiResponse(fault.status, fault.body if fault.body is not None else response.body)
            if isinstance(fault.body, str):
                response = ApiResponse(fault.status, raw=fault.body.encode(), media_type="text/plain")
        response.delay = max(response.delay, fault.delay)
        return response

    def view(self) -> dict[str, Any]:
        """The fault part of the state snapshot."""
        return {
            "faultsInjected": dict(self.injected),
            "pendingFaults": self.scripted.pending(),
            "profile": None if self.profile is None else self.profile.describe(),
        }


def _request_timeout(op: str) -> ApiResponse:
    """Code 62: start answers it with 500, the other calls with 504 (status-codes.mdx)."""
    return service(500 if op == "start" else 504, 62, "request timeout")


def fault_response(fault: Fault, op: str, params: dict[str, str]) -> ApiResponse:
    """The answer of a fault kind that replaces the call's own answer (all but those that let the call through)."""
    kind = fault.kind
    if kind == "server_error":
        return service(500, 500, "internal_error")
    if kind == "worker_allocation":
        return service(500, 502, "Failed to allocate worker")
    if kind == "no_worker_manager_available":
        return service(500, 501, "no_worker_manager_available")
    if kind == "allocate_timeout":
        return service(500, 504, "allocate_timeout")
    if kind == "request_not_completed":
        return service(206, 65, "request not completed")
    if kind == "rate_limited":
        return gateway(429, "API rate limit exceeded")
    if kind == "over_quota":
        return service(400, 406, "vendor_over_load")
    if kind == "request_timeout":
        return _request_timeout(op)
    if kind == "bad_gateway":
        html = b"<html><head><title>502 Bad Gateway</title></head><body>bad gateway</body></html>"
        return ApiResponse(502, raw=html, media_type="text/html")
    if kind == "malformed":
        return ApiResponse(200, raw=b'{"resourceId": "abc", "sid": ', media_type="application/json")
    if kind == "empty_sid":
        return ApiResponse(500, {"resourceId": params.get("resource_id", ""), "sid": "", "code": 15})
    if kind == "hang":
        response = _request_timeout(op)
        response.hang = True
        response.delay = HANG_CAP_SECONDS
        return response
    return service(fault.status or 500, 500, "internal_error")
