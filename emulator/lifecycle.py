"""The recording service of one App ID: resources, tasks and channels, and the rules that move them in time.

Nothing runs in the background. Every request and every state read first "settles" the running tasks up to the
current emulated time: idle exits, uid conflicts and profile crashes/failovers are computed from the recorded
channel history, so a frozen, manually advanced or sped-up clock all work the same way.
"""

from __future__ import annotations

import base64
import math
import random
from typing import Any

from emulator.answers import ApiResponse, not_found, service
from emulator.clock import Clock
from emulator.config import EmulatorConfig
from emulator.files import FileEntry, MediaStart, file_names, files, query_files, stop_server_response, web_state
from emulator.injection import Injector
from emulator.records import Presence, Resource, Task
from emulator.validation import (
    MODES,
    ServiceError,
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

SELF_EXITS = frozenset({"idle", "uid_conflict", "failover_limit", "start_timeout", "max_recording_hour"})
# Exits that go through 6, 7, 8 (the others end in 20).
NORMAL_EXITS = frozenset({"stopped", "idle", "max_recording_hour"})
MAX_FAILOVERS = 3
HOUR = 3600.0


class ControlError(Exception):
    """A bad control-API call: HTTP status plus message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Lifecycle:
    """Resources, tasks and channel stays of one App ID; its random ids come from its own seeded generator."""

    def __init__(self, config: EmulatorConfig, clock: Clock, injector: Injector) -> None:
        self.config = config
        self.clock = clock
        self.injector = injector
        self._rng = random.Random(config.seed)
        self.resources: dict[str, Resource] = {}
        self.tasks: dict[str, Task] = {}
        self.presences: dict[str, list[Presence]] = {}
        # Bumped on every change to a channel or its tasks, so the callbacks recompute only what changed.
        self.versions: dict[str, int] = {}

    def touch(self, cname: str) -> None:
        """Note that a channel or one of its tasks changed."""
        self.versions[cname] = self.versions.get(cname, 0) + 1

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
        self.touch(cname)
        self.settle()

    def leave(self, cname: str, uid: str) -> bool:
        """A user leaves a channel; returns whether they were in it."""
        self.settle()
        for presence in self._present(cname):
            if presence.uid == uid:
                presence.left_at = self.clock.now()
                self.touch(cname)
                return True
        return False

    def _publishers(self, task: Task) -> list[Presence]:
        """Stays that count as somebody publishing: any role in communication, hosts in live."""
        stays = self.presences.get(task.cname, [])
        if task.spec.channel_type == 1:
            return [p for p in stays if p.role == "host"]
        return list(stays)

    # ---------------------------------------------------------------------------------------- timing
    def _first_publish(self, task: Task, uid: str | None = None) -> float | None:
        """When recording of media first began (after start-up), overall or for one uid."""
        ready = task.started_at + self.config.startup_seconds
        limit = task.end_limit()
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

    def media(self, task: Task) -> MediaStart:
        """When media first flowed for the task, and per publishing uid in individual mode."""
        by_uid: dict[str, float | None] = {}
        if task.mode == "individual":
            by_uid = {uid: self._first_publish(task, uid) for uid in {p.uid for p in self._publishers(task)}}
        return MediaStart(self._first_publish(task), by_uid)

    def _published(self, task: Task) -> bool:
        """Whether anybody published while the task ran (web pages always produce media)."""
        if task.mode == "web":
            return True
        limit = task.end_limit()
        return any(p.end() > task.started_at and p.joined_at <= limit for p in self._publishers(task))

    def status_history(self, task: Task, now: float) -> list[tuple[float, int]]:
        """Status changes up to `now`, computed from the clock (reference §3)."""
        limit = min(now, task.end_limit())
        startup = self.config.startup_seconds
        history = [(task.started_at, 0)]
        for step in range(1, 5):
            at = task.started_at + startup * step / 4
            if at <= limit:
                history.append((at, step))
        first_publish = self._first_publish(task)
        if first_publish is not None and first_publish + self.config.slice_seconds <= limit:
            history.append((first_publish + self.config.slice_seconds, 5))
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

    # ---------------------------------------------------------------------------------------- events
    def _max_recording_end(self, task: Task) -> float | None:
        """When a web page recorder stops by itself: maxRecordingHour after its start."""
        hours = task.spec.max_recording_hour
        return None if hours is None else task.started_at + hours * HOUR

    def _end(self, task: Task, at: float, reason: str) -> None:
        task.ended_at = at
        task.end_reason = reason
        self.touch(task.cname)
        if reason in NORMAL_EXITS:
            upload = self.config.upload_seconds if reason == "stopped" else 0.0
            task.terminal = [(at, 6), (at + upload, 7), (at + upload, 8)]
        else:
            task.terminal = [(at, 20)]

    def _exited_at(self, task: Task) -> float:
        """When the task is fully gone: a stopped task once its upload is done, any other at its end."""
        assert task.ended_at is not None
        upload = self.config.upload_seconds if task.end_reason == "stopped" else 0.0
        return task.ended_at + upload

    def _uploading(self, task: Task, now: float) -> bool:
        """Whether a stopped task is still uploading its files (Agora answers 501 "service exiting" meanwhile)."""
        return task.end_reason == "stopped" and now < self._exited_at(task)

    def _failover(self, task: Task, at: float, downtime: float) -> None:
        """Migrate the task: 404 for `downtime`, then back under a new uid; the 4th migration ends it."""
        self.injector.count("failover")
        self.touch(task.cname)
        if len(task.failover_windows) >= MAX_FAILOVERS:
            task.failover_windows.append((at, at))
            self._end(task, at, "failover_limit")
            return
        task.failover_windows.append((at, at + downtime))
        task.current_uid = self._new_uid()
        task.failover_uids.append(task.current_uid)
        task.uid_since = at + downtime
        delay = self.injector.next_failover()
        task.next_failover_at = None if delay is None else at + downtime + delay

    def settle(self) -> float:
        """Apply every self-triggered event (idle, uid conflict, profile crash/failover) up to now; returns that now."""
        now = self.clock.now()
        for task in self.tasks.values():
            while task.running:
                events: list[tuple[float, str]] = []
                for at, what in (
                    (self._idle_exit_at(task), "idle"),
                    (self._uid_conflict_at(task), "uid_conflict"),
                    (self._max_recording_end(task), "max_recording_hour"),
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
                        self.injector.count("crash")
                    self._end(task, at, what)
        return now

    def draw_events(self, task: Task, now: float) -> None:
        """Draw the task's next profile crash and failover from `now` (none without a profile)."""
        crash, failover = self.injector.task_events()
        task.next_crash_at = None if crash is None else now + crash
        task.next_failover_at = None if failover is None else now + failover

    def redraw_events(self) -> None:
        """Draw new profile events for every running task, from now (after a new profile is installed)."""
        self.settle()
        now = self.clock.now()
        for task in self.tasks.values():
            if task.running:
                self.draw_events(task, now)

    def forget_events(self) -> None:
        """Cancel every pending profile crash and failover (the profile was cleared)."""
        for task in self.tasks.values():
            task.next_crash_at = task.next_failover_at = None

    def _task_or_404(self, sid: str) -> Task:
        self.settle()
        task = self.tasks.get(sid)
        if task is None or not task.running:
            raise ControlError(404, f"no running task with sid {sid}")
        return task

    def crash(self, sid: str) -> None:
        """The recorder process dies: status 20, endReason "crashed"."""
        task = self._task_or_404(sid)
        self.injector.count("crash")
        self._end(task, self.clock.now(), "crashed")

    def failover(self, sid: str, downtime: float) -> None:
        """Start a high-availability migration of the task now."""
        task = self._task_or_404(sid)
        if task.in_failover(self.clock.now()):
            raise ControlError(409, "the task is already failing over")
        self._failover(task, self.clock.now(), downtime)

    # ------------------------------------------------------------------------------------ operations
    def task_of(self, params: dict[str, str]) -> Task | None:
        """The task a call is about: by its sid, else by the task its resourceId started."""
        task = self.tasks.get(params.get("sid") or "")
        if task is not None:
            return task
        resource = self.resources.get(params.get("resource_id") or "")
        return None if resource is None or resource.sid is None else self.tasks.get(resource.sid)

    def cname_of(self, params: dict[str, str], payload: Any) -> str | None:
        """The channel a call is about, for fault filters: its task's, else the one its body names."""
        task = self.tasks.get(params.get("sid") or "")
        if task is not None:
            return task.cname
        cname = payload.get("cname") if isinstance(payload, dict) else None
        return cname if isinstance(cname, str) else None

    def not_found(self, op: str, params: dict[str, str], payload: Any) -> ApiResponse:
        """Agora's 404: it names the task's cname and uid when the sid is known, else those of the body."""
        task = self.tasks.get(params.get("sid", ""))
        body_cname = payload.get("cname") if isinstance(payload, dict) else None
        body_uid = payload.get("uid") if isinstance(payload, dict) else None
        if task is not None:
            return not_found(op, params, task.cname, task.uid)
        return not_found(op, params, body_cname or "", body_uid or "")

    def answer(self, op: str, params: dict[str, str], payload: Any) -> ApiResponse:
        """Process one admitted call; a `ServiceError` becomes its error answer."""
        try:
            return self._dispatch(op, params, payload)
        except ServiceError as exc:
            return ApiResponse(exc.http_status, exc.body())

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
        # Web page recording counts against its own quota, the other modes against theirs.
        web = request.scene == 1
        limit = self.config.max_concurrent_web if web else self.config.max_concurrent
        running = sum(1 for t in self.tasks.values() if t.running and (t.mode == "web") == web)
        if limit and running >= limit:
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
            raise ServiceError(1001, "resourceId unparsable")
        if cname != resource.cname or uid != resource.uid:
            raise ServiceError(432, "cname/uid do not match the resourceId")
        now = self.clock.now()
        if resource.sid is not None:
            task = self.tasks[resource.sid]
            if not task.running:
                raise bad("resourceId", "already used by a task that has ended; acquire a new one")
            body = {"code": 7, "reason": "already started", "resourceId": resource_id, "sid": task.sid}
            body.update(cname=task.cname, uid=task.uid)
            if self.injector.omit_sid_on_duplicate():
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
        spec = validate_start(
            mode, cr, token_required=self.config.app_certificate is not None, expired_hour=resource.expired_hour
        )
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
        self.draw_events(task, now)
        self.settle()
        return ApiResponse(200, {"cname": task.cname, "uid": task.uid, "resourceId": resource_id, "sid": sid})

    def _task_of_call(self, params: dict[str, str]) -> Task:
        """The task a query/update/updateLayout/stop names: its resourceId must be known and must hold that sid."""
        resource = self.resources.get(params["resource_id"])
        if resource is None:
            raise ServiceError(1001, "resourceId unparsable")
        if resource.sid is None or resource.sid != params["sid"]:
            raise ServiceError(1003, "appid or sid does not match the resourceId")
        task = self.tasks[resource.sid]
        # acquire.mdx: resourceExpiredHour counts from the sid; after it only these calls are refused, and the
        # recorder itself goes on until it leaves by itself.
        if self.clock.now() >= task.started_at + resource.expired_hour * HOUR:
            raise ServiceError(433, "resource expired")
        return task

    def _task_op(self, op: str, params: dict[str, str], payload: Any) -> ApiResponse:
        task = self._task_of_call(params)
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
        if self._uploading(task, now):
            raise ServiceError(501, "service exiting")
        ids = {"cname": task.cname, "uid": task.uid, "resourceId": task.resource_id, "sid": task.sid}
        if not task.running:
            # The final status (8, or 20) stays visible to query a short while before the task is forgotten.
            if op == "query" and now < self._exited_at(task) + self.config.exit_visible_seconds:
                return ApiResponse(200, {**ids, "serverResponse": self._query_response(task, now)})
            return self.not_found(op, params, payload)
        if task.in_failover(now):
            return self.not_found(op, params, payload)
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

    def files(self, task: Task, at: float, flush: bool = False, epoch: int | None = None) -> list[FileEntry]:
        """Files that exist at `at` (all started ones when `flush`, as after a stop's upload)."""
        return files(task, self.media(task), at, self.config.slice_seconds, flush=flush, epoch=epoch)

    def file_names(self, task: Task, now: float) -> list[str]:
        """Every file name the task produced so far, across failover epochs."""
        return file_names(task, self.media(task), now, self.config.slice_seconds)

    def _query_response(self, task: Task, now: float) -> dict[str, Any]:
        history = self.status_history(task, now)
        status = history[-1][1]
        media = self.media(task)
        # An exited task reports every file it started, as its stop (or last upload) flushed them.
        entries = files(task, media, now, self.config.slice_seconds, flush=not task.running)
        slice_ms = int(media.overall * 1000) if media.overall is not None and entries else 0
        if task.mode == "web":
            state = "exit" if not task.running else "inProgress" if status >= 4 else "init"
            return {"status": status, "extensionServiceState": [web_state(task, entries, state)]}
        if task.spec.snapshot:
            return {"status": status, "sliceStartTime": slice_ms}
        return {"status": status, **query_files(task, entries, slice_ms)}

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
            # A stop while the first one's upload still runs is a duplicate stop too, however long the upload.
            recent = now - task.ended_at <= self.config.exit_grace_seconds or self._uploading(task, now)
            if recent and (task.end_reason == "stopped" or task.end_reason in SELF_EXITS):
                raise ServiceError(49, "invalid operation")
            return self.not_found("stop", params, cr)
        if task.in_failover(now):
            return self.not_found("stop", params, cr)
        self._end(task, now, "stopped")
        if not self._published(task):
            return service(206, 435, "no recorded data")
        entries = self.files(task, now, flush=True)
        ids = {"cname": task.cname, "uid": task.uid, "resourceId": task.resource_id, "sid": task.sid}
        if async_stop:
            return ApiResponse(200, {**ids, "serverResponse": stop_server_response(task, entries, "unknown")})
        wait = self.config.sync_stop_wait_seconds
        if self.config.upload_seconds > wait:
            # Agora stops waiting for the upload: the recorder has stopped, its files are still on their way.
            server = stop_server_response(task, entries, "uploading")
            body = {"code": 50, "reason": "upload timeout", "serverResponse": server}
            return ApiResponse(206, body, delay=self.clock.real_seconds(wait))
        server = stop_server_response(task, entries, "uploaded")
        delay = self.clock.real_seconds(self.config.upload_seconds)
        return ApiResponse(200, {**ids, "serverResponse": server}, delay=delay)

    def note_stop_answer(self, params: dict[str, str], response: ApiResponse) -> None:
        """Keep the uploadingStatus a stop answered on its task: the upload callbacks (31, 32) follow it."""
        task = self.task_of(params)
        server = response.body.get("serverResponse") if isinstance(response.body, dict) else None
        if task is None or task.ended_at is None or not isinstance(server, dict):
            return
        status = server.get("uploadingStatus")
        for state in server.get("extensionServiceState", []):
            if isinstance(state, dict) and state.get("serviceName") == "upload_service":
                status = state.get("payload", {}).get("uploadingStatus")
        if isinstance(status, str) and task.stop_uploading is None:
            task.stop_uploading = status
            self.touch(task.cname)

    def record_request(self, method: str, op: str, params: dict[str, str], status: int) -> None:
        """Keep an answered call in its task's `requests` (acquire belongs to no task yet)."""
        task = self.task_of(params)
        if task is not None and op != "acquire":
            task.requests.append({"at": self.clock.now(), "method": method, "op": op, "status": status})

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
            "failoverWindows": [[start, end] for start, end in task.failover_windows],
            "fileNames": self.file_names(task, now),
            "maxIdleTime": task.spec.max_idle_time,
            "requests": list(task.requests),
            "updates": task.updates,
            "updateHistory": list(task.update_history),
        }

    def view(self, cname: str | None = None) -> dict[str, Any]:
        """The tasks and channels part of the state snapshot, settled to now; only those of `cname` when given."""
        self.settle()
        now = self.clock.now()
        names = list(self.presences) if cname is None else [cname] if cname in self.presences else []
        channels = {
            name: {"users": [{"uid": p.uid, "role": p.role, "joinedAt": p.joined_at} for p in present]}
            for name in names
            if (present := self._present(name))
        }
        history = {
            name: [
                {"uid": p.uid, "role": p.role, "joinedAt": p.joined_at, "leftAt": p.left_at}
                for p in self.presences[name]
            ]
            for name in names
        }
        tasks = [task for task in self.tasks.values() if cname is None or task.cname == cname]
        return {
            "now": now,
            "tasks": [self.task_view(task, now) for task in tasks],
            "channels": channels,
            "channelHistory": history,
        }


def _redact(cr: dict[str, Any]) -> dict[str, Any]:
    """Drop storage credentials before keeping a request in the task's history."""
    clean = dict(cr)
    if isinstance(clean.get("storageConfig"), dict):
        clean["storageConfig"] = {
            k: ("***" if k in ("accessKey", "secretKey", "stsToken") else v) for k, v in clean["storageConfig"].items()
        }
    return clean
