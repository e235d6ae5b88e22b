"""What Agora's Notification Center Service (NCS) says about each task, and when, in emulated time.

Every callback is derived from what the lifecycle already knows about a task (its statuses, when media began, its
failover windows, how and when it ended, what its stop answered), so the callbacks and the answers of query and stop
never disagree. A task's events, in the order they are posted (emulated time, then the order below at one instant):

    start        3 (status 1, 2, 3), 13 (high availability registered, within 10 s), then at status 4: 40
                 recorder_started, 30 uploader_started, 3 (status 4)
    first slice  42 recorder_slice_start when media begins; one slice later 4 file_infos (the M3U8 name), 3 (status 5)
    recording    33 uploading_progress every `callback_progress_seconds` once media flows (not while migrating)
    failover     12 session_failover (newUid, a number) when the migration begins; when the task is back, under its
                 new uid: 40, 30, 42, and one slice later 4 with the bak<n>_ name
    stop         41 (leaveCode 2), 3 (6); when the upload is done 3 (7), 31 uploaded (fileList) or 32 backuped when
                 the stop answered backuped, 3 (8), 11 session_exit (exitStatus 0); after a 32, the 31 follows once
                 Agora's backup has delivered the files (`callback_backup_delivery_seconds` later)
    idle exit    41 (leaveCode 4), 3 (6), 3 (7), 31, 3 (8), 11 (exitStatus 0)
    crash        1 cloud_recording_error (module 0, errorLevel 5), 3 (20), 11 (exitStatus 1)
    uid conflict 41 (leaveCode 16: kicked out of the channel), 3 (20), 11 (exitStatus 1)
    4th failover 1 (module 2, errorLevel 5), 3 (20), 11 (exitStatus 1)

Web page recordings post 70 web_recorder_started instead of 40, 71 web_recorder_stopped instead of 41 (code 0 for a
stop, 1 for maxRecordingHour), no slice events, and 31 without a fileList. Each sid numbers its events from 0
(`sequence`), in the order they happened.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulator.config import EmulatorConfig
from emulator.files import FileEntry
from emulator.lifecycle import Lifecycle
from emulator.records import Task

# Event types (Agora's NCS table for Cloud Recording) and the serviceType each is posted under.
SERVICE_TYPES = {1: 0, 3: 0, 4: 0, 11: 0, 12: 0, 13: 0, 30: 2, 31: 2, 32: 2, 33: 2, 40: 1, 41: 1, 42: 1, 70: 6, 71: 6}
MSG_NAMES = {
    1: "cloud_recording_error",
    3: "cloud_recording_status_update",
    4: "cloud_recording_file_infos",
    11: "session_exit",
    12: "session_failover",
    # 13 is named only in Agora's best-practices page, in no event table: the name is this emulator's pick.
    13: "cloud_recording_high_availability",
    30: "uploader_started",
    31: "uploaded",
    32: "backuped",
    33: "uploading_progress",
    40: "recorder_started",
    41: "recorder_leave",
    42: "recorder_slice_start",
    70: "web_recorder_started",
    71: "web_recorder_stopped",
}
# leaveCode bits of event 41.
LEAVE_SIGNAL, LEAVE_NO_USERS, LEAVE_CHANNEL = 2, 4, 16
HA_REGISTERED_WITHIN = 5.0  # seconds after the start; Agora's advice gives up on a task without it after 10 s
# The order of events that happen at one instant.
_RANK = {
    "status_low": 0,
    "ha": 1,
    "started": 2,
    "uploader": 3,
    "status_up": 4,
    "slice": 5,
    "files": 6,
    "status_recording": 7,
    "progress": 8,
    "failover": 9,
    "leave": 10,
    "status_stopping": 11,
    "status_stopped": 12,
    "uploaded": 13,
    "status_exited": 14,
    "exit": 15,
    "delivered": 16,
}


@dataclass(frozen=True)
class Event:
    """One thing NCS reports about a task: when it happened (emulated seconds), its type, the recorder's uid."""

    at: float
    rank: int
    key: str
    event_type: int
    uid: str
    details: dict[str, Any]


@dataclass(frozen=True)
class Callback:
    """One callback as NCS posts it; the body is built per delivery, because notifyMs changes on every resend."""

    notice_id: str
    event_type: int
    cname: str
    sid: str
    uid: str
    sequence: int
    sendts: int
    details: dict[str, Any]

    def envelope(self, notify_ms: int) -> dict[str, Any]:
        """The documented envelope and payload, with this delivery's notifyMs."""
        return {
            "noticeId": self.notice_id,
            "productId": 3,
            "eventType": self.event_type,
            "notifyMs": notify_ms,
            "payload": {
                "cname": self.cname,
                "uid": self.uid,
                "sid": self.sid,
                "sequence": self.sequence,
                "sendts": self.sendts,
                "serviceType": SERVICE_TYPES.get(self.event_type, 0),
                "details": {"msgName": MSG_NAMES.get(self.event_type, ""), **self.details},
            },
        }


def _ms(at: float) -> int:
    return round(at * 1000)


def _file_list(entries: list[FileEntry], web: bool) -> list[dict[str, Any]]:
    """fileList of 31/32 (reference: fileName, trackType, uid, mixedAllUser, isPlayable, sliceStartTime)."""
    return [] if web else [e.to_json() for e in entries]


def uid_at(task: Task, at: float) -> str:
    """The recorder's uid at `at`: a migration gives the task a new one when it comes back."""
    uid = task.uid
    for (_, back), new in zip(task.failover_windows, task.failover_uids, strict=False):
        if back <= at:
            uid = new
    return uid


def _progress(begin: float, at: float, slice_seconds: float) -> int:
    """Share of the slices written so far that are uploaded (0..10000): all but the one being written."""
    started = math.ceil((at - begin) / slice_seconds)
    done = math.floor((at - begin) / slice_seconds)
    return 10000 if started <= 0 else min(10000, int(10000 * done / started))


class _TaskEvents:
    """The events of one task, worked out from the lifecycle (future ones included, as far as they are known)."""

    def __init__(self, task: Task, lifecycle: Lifecycle, config: EmulatorConfig) -> None:
        self.task = task
        self.lc = lifecycle
        self.config = config
        self.web = task.mode == "web"
        self.end = task.end_limit()
        self.out: list[Event] = []

    def add(self, at: float, rank: str, key: str, event_type: int, uid: str | None = None, **details: Any) -> None:
        self.out.append(Event(at, _RANK[rank], key, event_type, uid or uid_at(self.task, at), details))

    def status(self, at: float, status: int, rank: str) -> None:
        mode = 0 if self.task.mode == "individual" else 1  # uncertain: the English page's reading (0 individual)
        names = [e.name for e in self.entries(at) if e.name.endswith(".m3u8")]
        self.add(at, rank, f"status{status}", 3, status=status, recordingMode=mode, fileList=names[0] if names else "")

    def entries(self, at: float, flush: bool = False) -> list[FileEntry]:
        return self.lc.files(self.task, at, flush=flush)

    def build(self) -> list[Event]:
        """Every event whose time is known now (some may lie in the future), in no particular order."""
        task, config = self.task, self.config
        t0, startup = task.started_at, config.startup_seconds
        for step in (1, 2, 3):
            if t0 + startup * step / 4 <= self.end:
                self.status(t0 + startup * step / 4, step, "status_low")
        ha_at = t0 + min(startup / 2, HA_REGISTERED_WITHIN)
        if ha_at <= self.end:
            self.add(ha_at, "ha", "ha", 13)
        up = t0 + startup
        if up <= self.end:
            if self.web:
                self.add(up, "started", "started", 70, recorderStartTime=_ms(up))
            else:
                self.add(up, "started", "started", 40, status=0)
            self.add(up, "uploader", "uploader", 30, status=0)
            self.status(up, 4, "status_up")
        media = self.lc.media(task)
        if media.overall is not None and not self.web:
            self.slices(media.overall, media.by_uid, epoch=None, discontinued=None)
            recording = media.overall + config.slice_seconds
            if recording <= self.end:
                self.status(recording, 5, "status_recording")
        elif media.overall is not None and media.overall + config.slice_seconds <= self.end:
            self.status(media.overall + config.slice_seconds, 5, "status_recording")
        self.failovers(media.overall, media.by_uid)
        if task.ended_at is not None:
            self.ending(task.ended_at)
        return self.out

    def slices(
        self, begin: float, by_uid: dict[str, float | None], epoch: int | None, discontinued: float | None
    ) -> None:
        """42 when slicing begins, 4 when the first slice of each M3U8 file is uploaded (epoch: after a migration)."""
        task, slice_seconds = self.task, self.config.slice_seconds
        if task.spec.snapshot:
            return
        prefix = f"f{epoch}:" if epoch is not None else ""
        starts: list[tuple[float, str, str, bool]] = []
        seen: set[tuple[float, str]] = set()
        if task.mode == "individual":
            for uid, first in sorted(by_uid.items()):
                if first is None:
                    continue
                first = max(first, begin)
                for track, rule in (("audio", task.spec.audio), ("video", task.spec.video)):
                    if rule.covers(uid):
                        starts.append((first, uid, track, False))
        else:
            starts.append((begin, "0", "audio_and_video", True))
        for at, stream_uid, track, mixed in starts:
            if at > self.end:
                continue
            stop_ms = _ms(discontinued) if discontinued is not None else _ms(at)
            self.add(
                at,
                "slice",
                f"{prefix}slice:{stream_uid}:{track}",
                42,
                startUtcMs=_ms(at),
                discontinueUtcMs=stop_ms,
                mixedAllUser=mixed,
                streamUid=stream_uid,
                trackType=track,
            )
        for at, stream_uid, _, mixed in starts:
            uploaded = at + slice_seconds
            if uploaded > self.end or (not mixed and (at, stream_uid) in seen):
                continue
            seen.add((at, stream_uid))
            for entry in self.lc.files(task, uploaded, epoch=epoch):
                if entry.name.endswith(".m3u8") and (mixed or entry.uid == stream_uid):
                    self.add(uploaded, "files", f"{prefix}files:{entry.name}", 4, fileList=entry.name)

    def failovers(self, media: float | None, by_uid: dict[str, float | None]) -> None:
        """12 when a migration begins; the recorder's start and slice events again when the task is back."""
        task = self.task
        for i, (begin, back) in enumerate(task.failover_windows):
            if i >= len(task.failover_uids) or begin > self.end:
                continue  # the migration that ended the task: its end events say so
            self.add(begin, "failover", f"f{i}:failover", 12, uid_at(task, begin), newUid=int(task.failover_uids[i]))
            if back > self.end:
                continue
            self.add(back, "started", f"f{i}:started", 40, task.failover_uids[i], status=0)
            self.add(back, "uploader", f"f{i}:uploader", 30, task.failover_uids[i], status=0)
            if media is not None and media < begin and not self.web:
                self.slices(back, {uid: back for uid, first in by_uid.items() if first is not None}, i + 1, begin)

    def ending(self, end: float) -> None:
        """The events of the task's end, by its reason."""
        task, config = self.task, self.config
        reason = task.end_reason
        if reason in ("stopped", "idle", "max_recording_hour"):
            upload = config.upload_seconds if reason == "stopped" else 0.0
            done = end + upload
            if self.web:
                code = 0 if reason == "stopped" else 1
                self.add(end, "leave", "leave", 71, code=code, message="", details="", fileList=self.web_files(end))
            else:
                leave = LEAVE_SIGNAL if reason == "stopped" else LEAVE_NO_USERS
                self.add(end, "leave", "leave", 41, leaveCode=leave)
            self.status(end, 6, "status_stopping")
            self.status(done, 7, "status_stopped")
            entries = self.entries(end, flush=True)
            if entries or self.web:
                listed = _file_list(entries, self.web)
                extra: dict[str, Any] = {} if self.web else {"fileList": listed}
                if reason == "stopped" and task.stop_uploading == "backuped":
                    self.add(done, "uploaded", "backuped", 32, status=0, **extra)
                    later = done + config.callback_backup_delivery_seconds
                    self.add(later, "delivered", "uploaded", 31, status=0, **extra)
                else:
                    self.add(done, "uploaded", "uploaded", 31, status=0, **extra)
            self.status(done, 8, "status_exited")
            self.add(done, "exit", "exit", 11, exitStatus=0)
            return
        if reason == "uid_conflict":
            self.add(end, "leave", "leave", 41, leaveCode=LEAVE_CHANNEL)
        elif reason == "failover_limit":
            self.add(
                end, "leave", "error", 1, module=2, errorLevel=5, errorCode=52, stat=0, errorMsg="migration failed"
            )
        else:
            self.add(end, "leave", "error", 1, module=0, errorLevel=5, errorCode=2, stat=0, errorMsg="recorder exited")
        self.status(end, 20, "status_exited")
        self.add(end, "exit", "exit", 11, exitStatus=1)

    def web_files(self, at: float) -> list[dict[str, Any]]:
        return [{"filename": e.name, "sliceStartTime": e.slice_start_ms} for e in self.entries(at, flush=True)]


@dataclass
class _Feed:
    """What has been posted about one task: the events already emitted, and when to look again."""

    emitted: set[str] = field(default_factory=set)
    sequence: int = 0
    progress_next: int = 1
    version: int = -1
    next_due: float = -math.inf
    done: bool = False


class Feeds:
    """The events of every task of one emulator, handed out once each as the emulated clock passes them."""

    def __init__(self, lifecycle: Lifecycle, config: EmulatorConfig, new_id: Callable[[], str]) -> None:
        self.lc = lifecycle
        self.config = config
        self._new_id = new_id
        self._feeds: dict[str, _Feed] = {}

    def collect(self, until: float, since: float) -> list[Callback]:
        """Callbacks for every event at or before `until` not handed out yet; those before `since` are numbered but
        not returned (callbacks were off then)."""
        due: list[tuple[float, int, str, Event]] = []
        for task in self.lc.tasks.values():
            feed = self._feeds.setdefault(task.sid, _Feed())
            if feed.done:
                continue
            version = self.lc.versions.get(task.cname, 0)
            if version == feed.version and until < feed.next_due:
                continue
            feed.version = version
            events, feed.next_due = self._pending(task, feed, until)
            due += [(event.at, event.rank, task.sid, event) for event in events]
            if task.ended_at is not None and feed.next_due == math.inf:
                feed.done = True
        out: list[Callback] = []
        for _, _, sid, event in sorted(due, key=lambda d: (d[0], d[1])):
            feed = self._feeds[sid]
            task = self.lc.tasks[sid]
            callback = Callback(
                self._new_id(),
                event.event_type,
                task.cname,
                sid,
                event.uid,
                feed.sequence,
                _ms(event.at),
                event.details,
            )
            feed.sequence += 1
            if event.at >= since:
                out.append(callback)
        return out

    def _pending(self, task: Task, feed: _Feed, until: float) -> tuple[list[Event], float]:
        """The task's events due by `until` not yet emitted (marked emitted now), and the time of the next one."""
        events = [e for e in _TaskEvents(task, self.lc, self.config).build() if e.key not in feed.emitted]
        due = [e for e in events if e.at <= until]
        later = [e.at for e in events if e.at > until]
        progress, next_progress = self._progress(task, feed, until)
        due += progress
        for event in due:
            feed.emitted.add(event.key)
        return due, min([*later, next_progress], default=math.inf)

    def _progress(self, task: Task, feed: _Feed, until: float) -> tuple[list[Event], float]:
        """33 every `callback_progress_seconds` from the uploader's start while media flows; the next one's time."""
        every = self.config.callback_progress_seconds
        start = task.started_at + self.config.startup_seconds
        begin = self.lc.media(task).overall
        if begin is None or every <= 0 or task.spec.snapshot:
            return [], math.inf
        out: list[Event] = []
        end = task.end_limit()
        while True:
            at = start + feed.progress_next * every
            if at >= end:
                return out, math.inf
            if at > until:
                return out, at
            feed.progress_next += 1
            if at < begin or task.in_failover(at):
                continue
            progress = {"progress": _progress(begin, at, self.config.slice_seconds)}
            out.append(
                Event(at, _RANK["progress"], f"progress{feed.progress_next - 1}", 33, uid_at(task, at), progress)
            )


def id_maker(seed: int | None) -> Callable[[], str]:
    """noticeIds in Agora's form (a UUID), from a generator seeded like the rest of the emulator."""
    rng = random.Random(f"notices-{seed}") if seed is not None else random.Random()

    def new_id() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=1))

    return new_id
