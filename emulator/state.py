"""The emulated service of one Agora Cloud Recording App ID, as one object the ASGI layer, tests and benchmarks use.

`Emulator` is a thin facade over the parts that each hold one concern:

    gateway.py    routes, Basic auth, App ID, rate limit, JSON body  (answered before the service sees a call)
    injection.py  scripted faults and the random profile at work      (faults.py: what a fault is)
    lifecycle.py  resources, tasks, channels and their rules in time  (records.py: the records it keeps)
    files.py      file names and fileList shapes
    answers.py    the answer record and Agora's error bodies
    notices.py    the callbacks (NCS) each task causes, in emulated time
    callbacks.py  posting them: signatures, resends, callback faults   (a background task per instance)

All state is per instance; `reset()` builds the parts afresh (the clock keeps its time).
"""

from __future__ import annotations

from typing import Any

from emulator.answers import ApiResponse
from emulator.callbacks import CallbackError, CallbackSender
from emulator.clock import Clock
from emulator.config import EmulatorConfig
from emulator.faults import FaultError, Profile, ScriptedFaults
from emulator.files import FileEntry
from emulator.gateway import Gateway, Refused, read_payload
from emulator.injection import Injector
from emulator.lifecycle import ControlError, Lifecycle
from emulator.notices import Callback, Feeds, id_maker
from emulator.records import Presence, Resource, Task
from emulator.validation import Subscription


class Emulator:
    """The whole state and logic of one emulated App ID; the ASGI layer is thin over it."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.clock = Clock(self.config.speed)
        self.closed = False
        self._new_notice_id = id_maker(self.config.seed)
        self._callbacks = CallbackSender(self.config, self.clock, self._new_notice_id)
        self._reset_state()

    def _reset_state(self) -> None:
        self._gateway = Gateway(self.config)
        self._injector = Injector()
        self._lifecycle = Lifecycle(self.config, self.clock, self._injector)
        self._feeds = Feeds(self._lifecycle, self.config, self._new_notice_id)
        self.request_count = 0

    def reset(self) -> None:
        """Forget tasks, resources, channels, faults and counters (the clock and the callback URL stay)."""
        self._reset_state()
        self._callbacks.reset()

    def close(self) -> None:
        """Mark the service as shutting down so hanging requests answer at once."""
        self.closed = True

    # ------------------------------------------------------------------- what the parts hold (read only)
    @property
    def resources(self) -> dict[str, Resource]:
        """Acquired resources by resourceId."""
        return self._lifecycle.resources

    @property
    def tasks(self) -> dict[str, Task]:
        """Every task by sid, ended ones included."""
        return self._lifecycle.tasks

    @property
    def presences(self) -> dict[str, list[Presence]]:
        """Every stay in each channel, in join order."""
        return self._lifecycle.presences

    @property
    def faults(self) -> ScriptedFaults:
        """The scripted faults still queued."""
        return self._injector.scripted

    @property
    def profile(self) -> Profile | None:
        """The random fault profile, if one is installed."""
        return self._injector.profile

    @property
    def faults_injected(self) -> dict[str, int]:
        """How often each fault kind (and crash, failover) fired."""
        return self._injector.injected

    # ---------------------------------------------------------------------------------- the lifecycle
    def settle(self) -> None:
        """Apply every self-triggered event (idle, uid conflict, profile crash/failover) up to now."""
        self._lifecycle.settle()

    def status_history(self, task: Task, now: float) -> list[tuple[float, int]]:
        """Status changes up to `now`, computed from the clock (reference §3)."""
        return self._lifecycle.status_history(task, now)

    def files(self, task: Task, at: float, flush: bool = False, epoch: int | None = None) -> list[FileEntry]:
        """Files that exist at `at` (all started ones when `flush`, as after a stop's upload)."""
        return self._lifecycle.files(task, at, flush=flush, epoch=epoch)

    def file_names(self, task: Task, now: float) -> list[str]:
        """Every file name the task produced so far, across failover epochs."""
        return self._lifecycle.file_names(task, now)

    def task_view(self, task: Task, now: float) -> dict[str, Any]:
        """One task as GET /_emulator/state shows it."""
        return self._lifecycle.task_view(task, now)

    def snapshot(self, cname: str | None = None) -> dict[str, Any]:
        """The whole state, as GET /_emulator/state returns it; tasks and channels of `cname` only when given."""
        service = self._lifecycle.view(cname)
        faults = self._injector.view()
        return {
            **self._callbacks.snapshot(),
            "now": service["now"],
            "speed": self.clock.speed,
            "tasks": service["tasks"],
            "channels": service["channels"],
            "channelHistory": service["channelHistory"],
            "faultsInjected": faults["faultsInjected"],
            "pendingFaults": faults["pendingFaults"],
            "profile": faults["profile"],
            "requestCount": self.request_count,
        }

    # ------------------------------------------------------------------------------- control actions
    def join(self, cname: str, uid: str, role: str = "host") -> None:
        """A user joins a channel; joining twice is a no-op."""
        self._lifecycle.join(cname, uid, role)
        self._callbacks.wake()

    def leave(self, cname: str, uid: str) -> bool:
        """A user leaves a channel; returns whether they were in it."""
        left = self._lifecycle.leave(cname, uid)
        self._callbacks.wake()
        return left

    def crash(self, sid: str) -> None:
        """The recorder process dies: status 20, endReason "crashed"."""
        self._lifecycle.crash(sid)
        self._callbacks.wake()

    def failover(self, sid: str, downtime: float | None = None) -> None:
        """Start a high-availability migration of the task now."""
        if downtime is None:
            downtime = self.config.failover_downtime_seconds
        if isinstance(downtime, bool) or not isinstance(downtime, int | float) or not 0 <= downtime <= 90:
            raise ControlError(400, "downtime must be a number of seconds in [0, 90]")
        self._lifecycle.failover(sid, float(downtime))
        self._callbacks.wake()

    def inject(self, spec: dict[str, Any]) -> None:
        """Queue a scripted fault (the body of POST /_emulator/faults)."""
        try:
            self._injector.inject(spec)
        except FaultError as exc:
            raise ControlError(400, str(exc)) from None

    def clear_faults(self) -> None:
        """Drop scripted faults (of the API and of the callbacks) and the random profile."""
        self._injector.clear()
        self._lifecycle.forget_events()
        self._callbacks.clear_faults()

    def set_profile(self, seed: int, rates: dict[str, float]) -> None:
        """Install a seeded random fault profile (replacing any previous one)."""
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ControlError(400, "seed must be an integer")
        if not isinstance(rates, dict):
            raise ControlError(400, "rates must be an object")
        try:
            self._injector.install(seed, rates)
        except FaultError as exc:
            raise ControlError(400, str(exc)) from None
        self._lifecycle.redraw_events()
        self._callbacks.use_rates(seed, rates)

    def advance(self, seconds: float) -> float:
        """Move the emulated clock forward."""
        now = self.clock.advance(seconds)
        self._callbacks.wake()
        return now

    # ------------------------------------------------------------------------------------- callbacks
    def set_callbacks(self, url: str | None, secret: str | None = None) -> None:
        """Post Agora's callbacks to `url` signed with `secret` (a secret set before is kept); `url` None: off."""
        if secret is not None and not isinstance(secret, str):
            raise ControlError(400, "secret must be a string")
        try:
            self._callbacks.configure(url, secret)
        except CallbackError as exc:
            raise ControlError(400, str(exc)) from None

    def inject_callback_fault(self, spec: dict[str, Any]) -> None:
        """Queue a scripted callback fault (the body of POST /_emulator/callbacks/faults)."""
        try:
            self._callbacks.inject(spec)
        except CallbackError as exc:
            raise ControlError(400, str(exc)) from None

    def callbacks(self, cname: str | None = None) -> dict[str, Any]:
        """Where callbacks go (never the secret), their counters and every callback's fate (of `cname` only)."""
        return self._callbacks.view(cname)

    @property
    def callbacks_enabled(self) -> bool:
        """Whether callbacks are posted."""
        return self._callbacks.enabled

    def due_callbacks(self) -> list[Callback]:
        """Callbacks of every event up to now not handed out yet (the background task posts them)."""
        until = self._lifecycle.settle()
        return self._feeds.collect(until, since=self._callbacks.enabled_at)

    async def start_callbacks(self) -> None:
        """Start the background task that posts callbacks (idle while no URL is set)."""
        await self._callbacks.start(self.due_callbacks)

    async def stop_callbacks(self) -> None:
        """Stop the background task and every delivery in flight."""
        await self._callbacks.stop()

    # ------------------------------------------------------------------------------------- HTTP entry
    def handle(
        self, method: str, path: str, authorization: str | None, content_type: str | None, body: bytes
    ) -> ApiResponse:
        """Answer one request to the Agora API surface: gateway, then faults, then the service."""
        self.request_count += 1
        lifecycle = self._lifecycle
        try:
            call = self._gateway.admit(method, path, authorization)
            lifecycle.settle()
            payload = read_payload(method, content_type, body)
        except Refused as refused:
            return refused.response
        cname = lifecycle.cname_of(call.params, payload)
        response = self._injector.apply(call.op, call.params, cname, payload, lifecycle)
        if response is None:
            response = lifecycle.answer(call.op, call.params, payload)
        if call.op == "stop":
            lifecycle.note_stop_answer(call.params, response)
        lifecycle.record_request(method, call.op, call.params, response.status)
        self._callbacks.wake()
        return response


__all__ = ["ApiResponse", "ControlError", "Emulator", "Subscription"]
