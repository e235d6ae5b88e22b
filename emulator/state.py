"""The emulated service: all state and behaviour of one Agora Cloud Recording App ID.

Nothing runs in the background. Every request and every state read first "settles" the running tasks up
to the current emulated time: idle exits, uid conflicts and profile crashes/failovers are computed from the
recorded channel history, so a frozen, manually advanced or sped-up clock all work the same way.
"""

from __future__ import annotations

import base64
import hmac
import json
import math
import random
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from emulator.clock import Clock
from emulator.config import EmulatorConfig
from emulator.faults import HANG_CAP_SECONDS, Fault, FaultError, Profile, ScriptedFaults, parse_fault
from emulator.validation import (
    MODES,
    ServiceError,
    StartSpec,
    Subscription,
    bad,
    check_uid,
    get_obj,
    lists_for,
    parse_envelope,
    subscriptions,
    validate_acquire,
    validate_layout,
    validate_start,
    validate_storage,
)

_PREFIX = r"^/v1/apps/(?P<appid>[^/]+)/cloud_recording"
_START = r"/resourceid/(?P<resource_id>[^/]+)/mode/(?P<mode>[^/]+)/start$"
_TASK = r"/resourceid/(?P<resource_id>[^/]+)/sid/(?P<sid>[^/]+)/mode/(?P<mode>[^/]+)"
ROUTES: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("POST", "acquire", re.compile(_PREFIX + r"/acquire$")),
    ("POST", "start", re.compile(_PREFIX + _START)),
    ("GET", "query", re.compile(_PREFIX + _TASK + r"/query$")),
    ("POST", "update", re.compile(_PREFIX + _TASK + r"/update$")),
    ("POST", "updateLayout", re.compile(_PREFIX + _TASK + r"/updateLayout$")),
    ("POST", "stop", re.compile(_PREFIX + _TASK + r"/stop$")),
)
_COMMANDS = {
    "query": "QueryCloudRecorder",
    "update": "UpdateCloudRecorder",
    "updateLayout": "UpdateCloudRecorderLayout",
    "stop": "StopCloudRecorder",
}
# Characters that Agora replaces with "-" in web-mode file names (reference §6).
_WEB_NAME_CHARS = re.compile(r"[!@#$%^&*()+_.=\[\]{}~|,;:?<>]")
SELF_EXITS = frozenset({"idle", "uid_conflict", "failover_limit", "start_timeout"})
MAX_FAILOVERS = 3
RATE_WINDOW_SECONDS = 1.0


class ControlError(Exception):
    """A bad control-API call: HTTP status plus message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class ApiResponse:
    """What the HTTP layer should send, and how long to wait before sending it (real seconds)."""

    status: int
    body: Any = None
    raw: bytes | None = None
    media_type: str = "application/json"
    delay: float = 0.0
    hang: bool = False

    def content(self) -> bytes:
        """The encoded body."""
        if self.raw is not None:
            return self.raw
        return json.dumps(self.body, separators=(",", ":")).encode()


def gateway(status: int, message: str) -> ApiResponse:
    """A gateway error body `{"message": ...}`."""
    return ApiResponse(status, {"message": message})


def service(status: int, code: int, reason: str) -> ApiResponse:
    """A service error body `{"code", "reason"}`."""
    return ApiResponse(status, {"code": code, "reason": reason})


@dataclass
class Presence:
    """One stay of a user in a channel."""

    uid: str
    role: str
    joined_at: float
    left_at: float | None = None

    def end(self) -> float:
        """When the stay ended (infinity while present)."""
        return math.inf if self.left_at is None else self.left_at


@dataclass
class Resource:
    """A resourceId handed out by acquire."""

    resource_id: str
    cname: str
    uid: str
    scene: int
    created_at: float
    expired_hour: int
    # Holds a full start clientRequest (storage keys, token): kept out of the repr.
    start_parameter: dict[str, Any] | None = field(repr=False)
    sid: str | None = None


@dataclass
class Task:
    """One recording task (a started resource)."""

    sid: str
    resource_id: str
    cname: str
    uid: str
    mode: str
    started_at: float
    spec: StartSpec
    current_uid: str
    uid_since: float
    ended_at: float | None = None
    end_reason: str | None = None
    terminal: list[tuple[float, int]] = field(default_factory=list)
    failover_windows: list[tuple[float, float]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    updates: int = 0
    update_history: list[dict[str, Any]] = field(default_factory=list)
    next_crash_at: float | None = None
    next_failover_at: float | None = None

    @property
    def running(self) -> bool:
        """Whether the task has not exited (a task in a failover window is still running)."""
        return self.ended_at is None

    def in_failover(self, now: float) -> bool:
        """Whether `now` falls in a failover window."""
        return any(start <= now < end for start, end in self.failover_windows)

    def returned_failovers(self, at: float) -> int:
        """How many failovers had completed (task back) by `at`."""
        return sum(1 for _, end in self.failover_windows if end <= at)


@dataclass
class FileEntry:
    """One recorded file as query and stop report it."""

    name: str
    track: str
    uid: str
    mixed: bool
    slice_start_ms: int


class Emulator:
    """The whole state and logic of one emulated App ID; the ASGI layer is thin over it."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.clock = Clock(self.config.speed)
        self._expected_auth = "Basic " + base64.b64encode(
            f"{self.config.customer_id}:{self.config.customer_secret.get_secret_value()}".encode()
        ).decode("ascii")
        self.closed = False
        self._reset_state()

    # ----------------------------------------------------------------------------------------- state
    def _reset_state(self) -> None:
        self._rng = random.Random(self.config.seed)
        self.resources: dict[str, Resource] = {}
        self.tasks: dict[str, Task] = {}
        self.presences: dict[str, list[Presence]] = {}
        self.faults = ScriptedFaults()
        self.profile: Profile | None = None
        self.faults_injected: dict[str, int] = {}
        self.request_count = 0
        self._omit_sid = 0
        self._recent: deque[float] = deque()

    def reset(self) -> None:
        """Forget tasks, resources, channels, faults and counters (the clock keeps running)."""
        self._reset_state()

    def close(self) -> None:
        """Mark the service as shutting down so hanging requests answer at once."""
        self.closed = True

    def _count_fault(self, kind: str) -> None:
        self.faults_injected[kind] = self.faults_injected.get(kind, 0) + 1

    def _new_resource_id(self) -> str:
        return base64.urlsafe_b64encode(self._rng.randbytes(150)).decode("ascii").rstrip("=")

    def _new_sid(self) -> str:
        return f"{self._rng.getrandbits(128):032x}"

    def _new_uid(self) -> str:
        return str(self._rng.randint(1_000_000_000, 4_294_967_295))

    # -------------------------------------------------------------------------------------- channels
    def _present(self, cname: str) -> list[Presence]:
        return [p for p in self.presences.get(cname, []) if p.left_at is None]

    def join(self, cname: str, uid: str, role: str = "host") -> None:
        """A user joins a channel; joining twice is a no-op."""
        if role not in ("host", "audience"):
            raise ControlError(400, "role must be host or audience")
        try:
            check_uid(uid)
        except ServiceError as exc:
            raise ControlError(400, exc.reason) from None
        self.settle()
        if any(p.uid == uid for p in self._present(cname)):
            return
        self.presences.setdefault(cname, []).append(Presence(uid, role, self.clock.now()))
        self.settle()

    def leave(self, cname: str, uid: str) -> bool:
        """A user leaves a channel; returns whether they were in it."""
        self.settle()
        for presence in self._present(cname):
            if presence.uid == uid:
                presence.left_at = self.clock.now()
                return True
        return False

    def _publishers(self, task: Task) -> list[Presence]:
        """Stays that count as somebody publishing: any role in communication, hosts in live."""
        stays = self.presences.get(task.cname, [])
        if task.spec.channel_type == 1:
            return [p for p in stays if p.role == "host"]
        return list(stays)

    # ------------------------------------------------------------------------------------- lifecycle
    def _end_limit(self, task: Task) -> float:
        return math.inf if task.ended_at is None else task.ended_at

    def _ready_at(self, task: Task) -> float:
        return task.started_at + self.config.startup_seconds

    def _first_publish(self, task: Task, uid: str | None = None) -> float | None:
        """When recording of media first began (after start-up), overall or for one uid."""
        ready = self._ready_at(task)
        limit = self._end_limit(task)
        if task.mode == "web":
            return ready if ready <= limit else None
        best: float | None = None
        for stay in self._publishers(task):
            if uid is not None and stay.uid != uid:
                continue
            if uid is None and not (task.spec.audio.covers(stay.uid) or task.spec.video.covers(stay.uid)):
                continue
            if stay.end() <= ready:
                continue
            begin = max(stay.joined_at, ready)
            if begin <= limit and (best is None or begin < best):
                best = begin
        return best

    def _first_slice(self, task: Task) -> float | None:
        begin = self._first_publish(task)
        return None if begin is None else begin + self.config.slice_seconds

    def _published(self, task: Task) -> bool:
        """Whether anybody published while the task ran (web pages always produce media)."""
        if task.mode == "web":
            return True
        limit = self._end_limit(task)
        return any(p.end() > task.started_at and p.joined_at <= limit for p in self._publishers(task))

    def status_history(self, task: Task, now: float) -> list[tuple[float, int]]:
        """Status changes up to `now`, computed from the clock (reference §3)."""
        limit = min(now, self._end_limit(task))
        startup = self.config.startup_seconds
        history = [(task.started_at, 0)]
        for step in range(1, 5):
            at = task.started_at + startup * step / 4
            if at <= limit:
                history.append((at, step))
        first_slice = self._first_slice(task)
        if first_slice is not None and first_slice <= limit:
            history.append((first_slice, 5))
        history.extend((at, status) for at, status in task.terminal if at <= now)
        return history

    def _idle_exit_at(self, task: Task) -> float | None:
        """When the channel has first been idle for maxIdleTime since the start (may lie in the future)."""
        if task.mode == "web":
            return None
        idle_from = task.started_at
        max_idle = task.spec.max_idle_time
        for stay in sorted(self._publishers(task), key=lambda p: p.joined_at):
            if stay.end() <= idle_from:
                continue
            if stay.joined_at > idle_from:
                if stay.joined_at - idle_from >= max_idle:
                    return idle_from + max_idle
            idle_from = max(idle_from, stay.end())
            if idle_from == math.inf:
                return None
        return idle_from + max_idle

    def _uid_conflict_at(self, task: Task) -> float | None:
        """When a channel user with the recorder's current uid first shared the channel with it."""
        best: float | None = None
        for stay in self.presences.get(task.cname, []):
            if stay.uid == task.current_uid and stay.end() > task.uid_since:
                at = max(stay.joined_at, task.uid_since)
                if best is None or at < best:
                    best = at
        return best

    def _end(self, task: Task, at: float, reason: str) -> None:
        task.ended_at = at
        task.end_reason = reason
        if reason in ("stopped", "idle"):
            upload = self.config.upload_seconds if reason == "stopped" else 0.0
            task.terminal = [(at, 6), (at + upload, 7), (at + upload, 8)]
        else:
            task.terminal = [(at, 20)]

    def _failover(self, task: Task, at: float, downtime: float) -> None:
        """Migrate the task: 404 for `downtime`, then back under a new uid; the 4th migration ends it."""
        self._count_fault("failover")
        if len(task.failover_windows) >= MAX_FAILOVERS:
            task.failover_windows.append((at, at))
            self._end(task, at, "failover_limit")
            return
        task.failover_windows.append((at, at + downtime))
        task.current_uid = self._new_uid()
        task.uid_since = at + downtime
        if self.profile is not None:
            delay = self.profile.draw_delay("task.failover_per_hour")
            task.next_failover_at = None if delay is None else at + downtime + delay

    def settle(self) -> None:
        """Apply every self-triggered event (idle, uid conflict, profile crash/failover) up to now."""
        now = self.clock.now()
        for task in self.tasks.values():
            while task.running:
                events: list[tuple[float, str]] = []
                for at, what in (
                    (self._idle_exit_at(task), "idle"),
                    (self._uid_conflict_at(task), "uid_conflict"),
                    (task.next_crash_at, "crashed"),
                    (task.next_failover_at, "failover"),
                ):
                    if at is not None and at <= now:
                        events.append((at, what))
                if not events:
                    break
                at, what = min(events)
                if what == "failover":
                    task.next_failover_at = None
                    self._failover(task, at, self.config.failover_downtime_seconds)
                else:
                    if what == "crashed":
                        self._count_fault("crash")
                    self._end(task, at, what)

    # ------------------------------------------------------------------------------------ file lists
    def _file_base(self, task: Task) -> str:
        if task.mode == "web":
            return f"{task.sid}_{_WEB_NAME_CHARS.sub('-', task.cname)}"
        return f"{task.sid}_{task.cname}"

    def _name(self, task: Task, epoch: int, file_name: str) -> str:
        prefix = f"bak{epoch - 1}_" if epoch > 0 else ""
        return "/".join([*task.spec.prefix, prefix + file_name])

    def files(self, task: Task, at: float, flush: bool = False, epoch: int | None = None) -> list[FileEntry]:
        """Files that exist at `at` (all started ones when `flush`, as after a stop's upload)."""
        epoch = task.returned_failovers(at) if epoch is None else epoch
        slice_len = self.config.slice_seconds
        base = self._file_base(task)
        if task.mode == "individual":
            entries: list[FileEntry] = []
            uids = sorted({p.uid for p in self._publishers(task)}, key=lambda u: (len(u), u))
            for uid in uids:
                begin = self._first_publish(task, uid)
                if begin is None or begin > at or (not flush and begin + slice_len > at):
                    continue
                ms = int(begin * 1000)
                for track, rule in (("audio", task.spec.audio), ("video", task.spec.video)):
                    if rule.covers(uid):
                        name = self._name(task, epoch, f"{base}__uid_s_{uid}__uid_e_{track}.m3u8")
                        entries.append(FileEntry(name, track, uid, False, ms))
            return entries
        begin = self._first_publish(task)
        if begin is None or begin > at or (not flush and begin + slice_len > at):
            return []
        ms = int(begin * 1000)
        entries = [FileEntry(self._name(task, epoch, f"{base}.m3u8"), "audio_and_video", "0", True, ms)]
        if "mp4" in task.spec.av_file_types:
            mp4 = self._name(task, epoch, f"{base}_0.mp4")
            entries.append(FileEntry(mp4, "audio_and_video", "0", True, ms))
        return entries

    def file_names(self, task: Task, now: float) -> list[str]:
        """Every file name the task produced so far, across failover epochs."""
        names: list[str] = []
        limit = min(now, self._end_limit(task))
        windows = [w for w in task.failover_windows if w[1] <= limit]
        boundaries = [w[0] for w in windows] + [limit]
        for epoch, at in enumerate(boundaries):
            entries = self.files(task, at, flush=task.ended_at is not None and at == limit, epoch=epoch)
            if task.spec.snapshot:
                names.extend(e.name.replace("__uid_e_video.m3u8", "__uid_e_video.jpg") for e in entries)
            else:
                names.extend(e.name for e in entries)
        return list(dict.fromkeys(names))

    def _file_list(self, task: Task, entries: list[FileEntry]) -> dict[str, Any]:
        if task.mode == "mix" and task.spec.av_file_types == ["hls"]:
            return {"fileListMode": "string", "fileList": entries[0].name if entries else ""}
        return {
            "fileListMode": "json",
            "fileList": [
                {
                    "fileName": e.name,
                    "trackType": e.track,
                    "uid": e.uid,
                    "mixedAllUser": e.mixed,
                    "isPlayable": True,
                    "sliceStartTime": e.slice_start_ms,
                }
                for e in entries
            ],
        }

    def _web_state(self, task: Task, entries: list[FileEntry], state: str) -> dict[str, Any]:
        return {
            "serviceName": "web_recorder_service",
            "payload": {
                "fileList": [{"filename": e.name, "sliceStartTime": e.slice_start_ms} for e in entries],
                "onhold": task.spec.onhold,
                "state": state,
            },
        }

    # -------------------------------------------------------------------------------------- snapshot
    def task_view(self, task: Task, now: float) -> dict[str, Any]:
        """One task as GET /_emulator/state shows it."""
        history = self.status_history(task, now)
        return {
            "sid": task.sid,
            "resourceId": task.resource_id,
            "cname": task.cname,
            "uid": task.uid,
            "currentUid": task.current_uid,
            "mode": task.mode,
            "status": history[-1][1],
            "statusHistory": [[at, status] for at, status in history],
            "startedAt": task.started_at,
            "endedAt": task.ended_at,
            "endReason": task.end_reason,
            "running": task.running,
            "inFailover": task.running and task.in_failover(now),
            "failovers": len(task.failover_windows),
            "fileNames": self.file_names(task, now),
            "maxIdleTime": task.spec.max_idle_time,
            "requests": list(task.requests),
            "updates": task.updates,
            "updateHistory": list(task.update_history),
        }

    def snapshot(self) -> dict[str, Any]:
        """The whole state, as GET /_emulator/state returns it."""
        self.settle()
        now = self.clock.now()
        channels = {
            cname: {"users": [{"uid": p.uid, "role": p.role, "joinedAt": p.joined_at} for p in present]}
            for cname in self.presences
            if (present := self._present(cname))
        }
        return {
            "now": now,
            "speed": self.clock.speed,
            "tasks": [self.task_view(task, now) for task in self.tasks.values()],
            "channels": channels,
            "faultsInjected": dict(self.faults_injected),
            "pendingFaults": self.faults.pending(),
            "profile": None if self.profile is None else self.profile.describe(),
            "requestCount": self.request_count,
        }

    # ------------------------------------------------------------------------------- control actions
    def _task_or_404(self, sid: str) -> Task:
        self.settle()
        task = self.tasks.get(sid)
        if task is None or not task.running:
            raise ControlError(404, f"no running task with sid {sid}")
        return task

    def crash(self, sid: str) -> None:
        """The recorder process dies: status 20, endReason "crashed"."""
        task = self._task_or_404(sid)
        self._count_fault("crash")
        self._end(task, self.clock.now(), "crashed")

    def failover(self, sid: str, downtime: float | None = None) -> None:
        """Start a high-availability migration of the task now."""
        if downtime is None:
            downtime = self.config.failover_downtime_seconds
        if isinstance(downtime, bool) or not isinstance(downtime, int | float) or not 0 <= downtime <= 90:
            raise ControlError(400, "downtime must be a number of seconds in [0, 90]")
        task = self._task_or_404(sid)
        if task.in_failover(self.clock.now()):
            raise ControlError(409, "the task is already failing over")
        self._failover(task, self.clock.now(), float(downtime))

    def inject(self, spec: dict[str, Any]) -> None:
        """Queue a scripted fault (the body of POST /_emulator/faults)."""
        try:
            fault = parse_fault(spec)
        except FaultError as exc:
            raise ControlError(400, str(exc)) from None
        if fault.kind == "omit_sid_on_duplicate":
            self._omit_sid += fault.remaining
        else:
            self.faults.add(fault)

    def clear_faults(self) -> None:
        """Drop scripted faults and the random profile."""
        self.faults.clear()
        self.profile = None
        self._omit_sid = 0
        for task in self.tasks.values():
            task.next_crash_at = task.next_failover_at = None

    def set_profile(self, seed: int, rates: dict[str, float]) -> None:
        """Install a seeded random fault profile (replacing any previous one)."""
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ControlError(400, "seed must be an integer")
        if not isinstance(rates, dict):
            raise ControlError(400, "rates must be an object")
        try:
            self.profile = Profile(seed, rates)
        except FaultError as exc:
            raise ControlError(400, str(exc)) from None
        self.settle()
        now = self.clock.now()
        for task in self.tasks.values():
            if task.running:
                self._draw_task_events(task, now)

    def _draw_task_events(self, task: Task, now: float) -> None:
        task.next_crash_at = task.next_failover_at = None
        if self.profile is None:
            return
        crash = self.profile.draw_delay("task.crash_per_hour")
        failover = self.profile.draw_delay("task.failover_per_hour")
        task.next_crash_at = None if crash is None else now + crash
        task.next_failover_at = None if failover is None else now + failover

    def advance(self, seconds: float) -> float:
        """Move the emulated clock forward."""
        return self.clock.advance(seconds)

    # ------------------------------------------------------------------------------------- HTTP entry
    def _rate_limited(self) -> bool:
        qps = self.config.rate_limit_qps
        if qps <= 0:
            return False
        real = time.monotonic()
        while self._recent and real - self._recent[0] >= RATE_WINDOW_SECONDS:
            self._recent.popleft()
        if len(self._recent) >= qps:
            return True
        self._recent.append(real)
        return False

    def _auth_error(self, authorization: str | None) -> ApiResponse | None:
        if authorization is None:
            return gateway(401, "Unauthorized")
        if not hmac.compare_digest(authorization.encode(), self._expected_auth.encode()):
            return gateway(401, "Invalid authentication credentials")
        return None

    def handle(
        self, method: str, path: str, authorization: str | None, content_type: str | None, body: bytes
    ) -> ApiResponse:
        """Answer one request to the Agora API surface."""
        self.request_count += 1
        for route_method, route_op, pattern in ROUTES:
            match = pattern.match(path)
            if match and method == route_method:
                op = route_op
                break
        else:
            return gateway(404, "no Route matched with those values")
        params = match.groupdict()
        denied = self._auth_error(authorization)
        if denied is not None:
            return denied
        if params["appid"] != self.config.app_id:
            return gateway(400, "appid is invalid")
        if self._rate_limited():
            return gateway(429, "API rate limit exceeded")
        self.settle()
        payload: Any = None
        if method == "POST":
            if content_type is None or content_type.split(";")[0].strip().lower() != "application/json":
                return service(400, 8, "Content-Type must be application/json")
            try:
                payload = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                return service(400, 8, "request body is not valid JSON")
        task = self.tasks.get(params.get("sid") or "")
        cname = payload.get("cname") if isinstance(payload, dict) else None
        if task is not None:
            cname = task.cname
        response = self._apply_faults(op, params, cname, payload)
        if response is None:
            try:
                response = self._dispatch(op, params, payload)
            except ServiceError as exc:
                response = ApiResponse(exc.http_status, exc.body())
        task = self.tasks.get(params.get("sid") or "") or self._task_of_resource(params.get("resource_id"))
        if task is not None and op != "acquire":
            entry = {"at": self.clock.now(), "method": method, "op": op, "status": response.status}
            task.requests.append(entry)
        return response

    def _task_of_resource(self, resource_id: str | None) -> Task | None:
        resource = self.resources.get(resource_id or "")
        return None if resource is None or resource.sid is None else self.tasks.get(resource.sid)

    # ----------------------------------------------------------------------------------------- faults
    def _apply_faults(self, op: str, params: dict[str, str], cname: str | None, payload: Any) -> ApiResponse | None:
        fault = self.faults.take(op, cname, sid=params.get("sid"))
        if fault is None and self.profile is not None:
            kind = self.profile.draw_call(op)
            if kind is not None:
                fault = Fault(op, kind, 1)
        if fault is None:
            return None
        self._count_fault(fault.kind)
        if fault.kind == "delay":
            response = self._dispatch_safely(op, params, payload)
        elif fault.kind == "accepted_then_fail":
            response = self._dispatch_safely(op, params, payload)
            if response.status == 200:
                response = service(503, 500, "internal_error")
        else:
            response = self._fault_response(fault, op, params, payload)
        if fault.status is not None:
            response = ApiResponse(fault.status, fault.body if fault.body is not None else response.body)
            if isinstance(fault.body, str):
                response = ApiResponse(fault.status, raw=fault.body.encode(), media_type="text/plain")
        response.delay = max(response.delay, fault.delay)
        return response

    def _dispatch_safely(self, op: str, params: dict[str, str], payload: Any) -> ApiResponse:
        try:
            return self._dispatch(op, params, payload)
        except ServiceError as exc:
            return ApiResponse(exc.http_status, exc.body())

    def _fault_response(self, fault: Fault, op: str, params: dict[str, str], payload: Any) -> ApiResponse:
        kind = fault.kind
        if kind == "server_error":
            return service(503, 500, "internal_error")
        if kind == "request_not_completed":
            return service(206, 65, "request not completed")
        if kind == "not_found":
            return self._not_found(op, params, payload)
        if kind == "rate_limited":
            return gateway(429, "API rate limit exceeded")
        if kind == "over_quota":
            return service(400, 406, "vendor_over_load")
        if kind == "request_timeout":
            return service(504, 62, "request timeout")
        if kind == "bad_gateway":
            html = b"<html><head><title>502 Bad Gateway</title></head><body>bad gateway</body></html>"
            return ApiResponse(502, raw=html, media_type="text/html")
        if kind == "malformed":
            return ApiResponse(200, raw=b'{"resourceId": "abc", "sid": ', media_type="application/json")
        if kind == "empty_sid":
            return ApiResponse(500, {"resourceId": params.get("resource_id", ""), "sid": "", "code": 15})
        if kind == "hang":
            response = service(504, 62, "request timeout")
            response.hang = True
            response.delay = HANG_CAP_SECONDS
            return response
        return service(fault.status or 500, 500, "internal_error")

    def _not_found(self, op: str, params: dict[str, str], payload: Any) -> ApiResponse:
        """The 404 body captured from the real service (reference §4)."""
        task = self.tasks.get(params.get("sid", ""))
        body_cname = payload.get("cname") if isinstance(payload, dict) else None
        body_uid = payload.get("uid") if isinstance(payload, dict) else None
        return ApiResponse(
            404,
            {
                "cname": task.cname if task else body_cname or "",
                "uid": task.uid if task else body_uid or "",
                "resourceId": params.get("resource_id", ""),
                "sid": params.get("sid", ""),
                "code": 404,
                "serverResponse": {
                    "command": _COMMANDS.get(op, op),
                    "payload": {"message": "failed to find worker"},
                    "subscribeModeBitmask": 1,
                    "vid": "1209",
                },
            },
        )

    # ------------------------------------------------------------------------------------ operations
    def _dispatch(self, op: str, params: dict[str, str], payload: Any) -> ApiResponse:
        if op == "acquire":
            return self._acquire(payload)
        if params["mode"] not in MODES:
            raise bad("mode", "must be individual, mix or web")
        if op == "start":
            return self._start(params["resource_id"], params["mode"], payload)
        return self._task_op(op, params, payload)

    def _acquire(self, payload: Any) -> ApiResponse:
        request = validate_acquire(payload)
        running = sum(1 for t in self.tasks.values() if t.running)
        if self.config.max_concurrent and running >= self.config.max_concurrent:
            raise ServiceError(406, "vendor_over_load")
        resource = Resource(
            self._new_resource_id(),
            request.cname,
            request.uid,
            request.scene,
            self.clock.now(),
            request.resource_expired_hour,
            request.start_parameter,
        )
        self.resources[resource.resource_id] = resource
        body = {"resourceId": resource.resource_id, "cname": resource.cname, "uid": resource.uid}
        return ApiResponse(200, body)

    def _start(self, resource_id: str, mode: str, payload: Any) -> ApiResponse:
        cname, uid, cr = parse_envelope(payload)
        resource = self.resources.get(resource_id)
        if resource is None:
            raise bad("resourceId", "unknown or unparsable")
        if cname != resource.cname or uid != resource.uid:
            raise ServiceError(432, "cname/uid do not match the resourceId")
        now = self.clock.now()
        if resource.sid is not None:
            task = self.tasks[resource.sid]
            if not task.running:
                raise bad("resourceId", "already used by a task that has ended; acquire a new one")
            body = {"code": 7, "reason": "already started", "resourceId": resource_id, "sid": task.sid}
            body.update(cname=task.cname, uid=task.uid)
            omit = self._omit_sid > 0
            if not omit and self.profile is not None:
                omit = self.profile.rng.random() < self.profile.rates.get("start.omit_sid_on_duplicate", 0.0)
            if omit:
                self._omit_sid = max(0, self._omit_sid - 1)
                self._count_fault("omit_sid_on_duplicate")
                del body["sid"]
            return ApiResponse(201, body)
        if now - resource.created_at > self.config.resource_ttl_seconds:
            raise ServiceError(433, "resource expired")
        if (mode == "web") != (resource.scene == 1):
            raise bad("mode", f"does not fit the scene {resource.scene} given to acquire")
        if resource.scene == 2 and mode != "individual":
            raise bad("mode", "scene 2 is for individual mode only")
        if resource.start_parameter is not None and resource.start_parameter != cr:
            raise bad("clientRequest", "does not match the startParameter given to acquire")
        spec = validate_start(mode, cr, token_required=self.config.app_certificate is not None)
        for other in self.tasks.values():
            if other.running and other.cname == cname and other.uid == uid:
                raise ServiceError(53, "task conflict")
        sid = self._new_sid()
        task = Task(sid, resource_id, resource.cname, resource.uid, mode, now, spec, resource.uid, now)
        for other in self.tasks.values():
            # Two clients with the same uid kick each other out; the one already in the channel goes.
            if other.running and other.cname == task.cname and other.current_uid == task.uid:
                self._end(other, now, "uid_conflict")
        resource.sid = sid
        self.tasks[sid] = task
        self._draw_task_events(task, now)
        self.settle()
        return ApiResponse(200, {"cname": task.cname, "uid": task.uid, "resourceId": resource_id, "sid": sid})

    def _task_op(self, op: str, params: dict[str, str], payload: Any) -> ApiResponse:
        task = self.tasks.get(params["sid"])
        if task is None or task.resource_id != params["resource_id"]:
            return self._not_found(op, params, payload)
        if params["mode"] != task.mode:
            raise bad("mode", f"the task runs in {task.mode} mode")
        cr: dict[str, Any] = {}
        if op != "query":
            cname, uid, cr = parse_envelope(payload)
            if cname != task.cname or uid != task.uid:
                raise ServiceError(432, "cname/uid do not match the resourceId")
        now = self.clock.now()
        if op == "stop":
            return self._stop(task, params, cr, now)
        if not task.running or task.in_failover(now):
            return self._not_found(op, params, payload)
        ids = {"cname": task.cname, "uid": task.uid, "resourceId": task.resource_id, "sid": task.sid}
        if op == "query":
            return ApiResponse(200, {**ids, "serverResponse": self._query_response(task, now)})
        if op == "update":
            self._update(task, cr)
        else:
            if task.mode != "mix":
                raise bad("mode", "updateLayout is for mix mode only")
            task.spec.layout = validate_layout(cr, "clientRequest", code=1028)
        task.updates += 1
        task.update_history.append({"at": now, "op": op, "clientRequest": _redact(cr)})
        return ApiResponse(200, ids)

    def _query_response(self, task: Task, now: float) -> dict[str, Any]:
        history = self.status_history(task, now)
        status = history[-1][1]
        entries = self.files(task, now)
        first_slice = self._first_publish(task)
        slice_ms = int(first_slice * 1000) if first_slice is not None and entries else 0
        if task.mode == "web":
            state = "inProgress" if status >= 4 else "init"
            return {"status": status, "extensionServiceState": [self._web_state(task, entries, state)]}
        if task.spec.snapshot:
            return {"status": status, "sliceStartTime": slice_ms}
        return {"status": status, **self._file_list(task, entries), "sliceStartTime": slice_ms}

    def _update(self, task: Task, cr: dict[str, Any]) -> None:
        sub = get_obj(cr, "streamSubscribe", "clientRequest.streamSubscribe")
        if sub is not None:
            if task.mode == "web":
                raise bad("clientRequest.streamSubscribe", "is for individual and mix mode")
            path = "clientRequest.streamSubscribe"
            audio = get_obj(sub, "audioUidList", f"{path}.audioUidList")
            video = get_obj(sub, "videoUidList", f"{path}.videoUidList")
            lists_a = lists_for(audio, "Audio", f"{path}.audioUidList") if audio is not None else (None, None)
            lists_v = lists_for(video, "Video", f"{path}.videoUidList") if video is not None else (None, None)
            task.spec.audio, task.spec.video = subscriptions(lists_a, lists_v, task.spec.stream_types, path)
        web = get_obj(cr, "webRecordingConfig", "clientRequest.webRecordingConfig")
        if web is not None:
            if task.mode != "web":
                raise bad("clientRequest.webRecordingConfig", "is for web mode only")
            if not isinstance(web.get("onhold"), bool):
                raise bad("clientRequest.webRecordingConfig.onhold", "must be a boolean")
            task.spec.onhold = web["onhold"]
        rtmp = get_obj(cr, "rtmpPublishConfig", "clientRequest.rtmpPublishConfig")
        if rtmp is not None:
            if task.mode != "web":
                raise bad("clientRequest.rtmpPublishConfig", "is for web mode only")
            outputs = rtmp.get("outputs")
            if not isinstance(outputs, list) or len(outputs) > 1:
                raise bad("clientRequest.rtmpPublishConfig.outputs", "at most one output")
        validate_storage(cr, "clientRequest.storageConfig", required=False)

    def _stop(self, task: Task, params: dict[str, str], cr: dict[str, Any], now: float) -> ApiResponse:
        async_stop = cr.get("async_stop", False)
        if not isinstance(async_stop, bool):
            raise bad("clientRequest.async_stop", "must be a boolean")
        if not task.running:
            assert task.ended_at is not None
            recent = now - task.ended_at <= self.config.exit_grace_seconds
            if recent and (task.end_reason == "stopped" or task.end_reason in SELF_EXITS):
                raise ServiceError(49, "invalid operation")
            return self._not_found("stop", params, cr)
        if task.in_failover(now):
            return self._not_found("stop", params, cr)
        self._end(task, now, "stopped")
        if not self._published(task):
            return service(206, 435, "no recorded data")
        entries = self.files(task, now, flush=True)
        uploading = "unknown" if async_stop else "uploaded"
        server: dict[str, Any]
        if task.mode == "web":
            server = {
                "extensionServiceState": [
                    {"serviceName": "upload_service", "payload": {"uploadingStatus": uploading}},
                    self._web_state(task, entries, "exit"),
                ]
            }
        elif task.spec.snapshot:
            server = {"uploadingStatus": uploading}
        else:
            server = {**self._file_list(task, entries), "uploadingStatus": uploading}
        ids = {"cname": task.cname, "uid": task.uid, "resourceId": task.resource_id, "sid": task.sid}
        delay = 0.0 if async_stop else self.clock.real_seconds(self.config.upload_seconds)
        return ApiResponse(200, {**ids, "serverResponse": server}, delay=delay)


def _redact(cr: dict[str, Any]) -> dict[str, Any]:
    """Drop storage credentials before keeping a request in the task's history."""
    clean = dict(cr)
    if isinstance(clean.get("storageConfig"), dict):
        clean["storageConfig"] = {
            k: ("***" if k in ("accessKey", "secretKey", "stsToken") else v) for k, v in clean["storageConfig"].items()
        }
    return clean


__all__ = ["ApiResponse", "ControlError", "Emulator", "Subscription"]
