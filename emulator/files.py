"""File names as Agora's recorders write them, and the fileList shapes query and stop report them in.

Names follow the reference: `<prefix>/<sid>_<cname>.m3u8` (and `_0.mp4`) for mix and web, one file per subscribed
uid and track in individual mode, web-mode channel names with Agora's character replacement, and `bak<n>_` in
front of every name written after the n-th high-availability failover. When media began is the lifecycle's
business (who was present, start-up time); it is handed in as a `MediaStart`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from emulator.records import Task

# Characters that Agora replaces with "-" in web-mode file names (reference §6).
_WEB_NAME_CHARS = re.compile(r"[!@#$%^&*()+_.=\[\]{}~|,;:?<>]")


@dataclass
class FileEntry:
    """One recorded file as query and stop report it."""

    name: str
    track: str
    uid: str
    mixed: bool
    slice_start_ms: int

    def to_json(self) -> dict[str, Any]:
        """The entry as fileList carries it, in query and stop answers and in callbacks 31/32 alike."""
        return {
            "fileName": self.name,
            "trackType": self.track,
            "uid": self.uid,
            "mixedAllUser": self.mixed,
            "isPlayable": True,
            "sliceStartTime": self.slice_start_ms,
        }


@dataclass(frozen=True)
class MediaStart:
    """When recording of media first began: for the whole task, and per publishing uid (individual mode)."""

    overall: float | None
    by_uid: dict[str, float | None]


def _file_base(task: Task) -> str:
    if task.mode == "web":
        return f"{task.sid}_{_WEB_NAME_CHARS.sub('-', task.cname)}"
    return f"{task.sid}_{task.cname}"


def _name(task: Task, epoch: int, file_name: str) -> str:
    prefix = f"bak{epoch - 1}_" if epoch > 0 else ""
    return "/".join([*task.spec.prefix, prefix + file_name])


def _exists(begin: float | None, at: float, slice_seconds: float, flush: bool) -> bool:
    """A file exists once its first slice is written, or as soon as it started when a stop flushes it."""
    return begin is not None and begin <= at and (flush or begin + slice_seconds <= at)


def files(
    task: Task, media: MediaStart, at: float, slice_seconds: float, flush: bool = False, epoch: int | None = None
) -> list[FileEntry]:
    """Files that exist at `at` (all started ones when `flush`, as after a stop's upload)."""
    epoch = task.returned_failovers(at) if epoch is None else epoch
    base = _file_base(task)
    if task.mode == "individual":
        entries: list[FileEntry] = []
        for uid in sorted(media.by_uid, key=lambda u: (len(u), u)):
            begin = media.by_uid[uid]
            if begin is None or not _exists(begin, at, slice_seconds, flush):
                continue
            ms = int(begin * 1000)
            for track, rule in (("audio", task.spec.audio), ("video", task.spec.video)):
                if rule.covers(uid):
                    name = _name(task, epoch, f"{base}__uid_s_{uid}__uid_e_{track}.m3u8")
                    entries.append(FileEntry(name, track, uid, False, ms))
        return entries
    begin = media.overall
    if begin is None or not _exists(begin, at, slice_seconds, flush):
        return []
    ms = int(begin * 1000)
    entries = [FileEntry(_name(task, epoch, f"{base}.m3u8"), "audio_and_video", "0", True, ms)]
    if "mp4" in task.spec.av_file_types:
        entries.append(FileEntry(_name(task, epoch, f"{base}_0.mp4"), "audio_and_video", "0", True, ms))
    return entries


def file_names(task: Task, media: MediaStart, now: float, slice_seconds: float) -> list[str]:
    """Every file name the task produced so far, across failover epochs."""
    names: list[str] = []
    limit = min(now, task.end_limit())
    windows = [w for w in task.failover_windows if w[1] <= limit]
    boundaries = [w[0] for w in windows] + [limit]
    for epoch, at in enumerate(boundaries):
        flush = task.ended_at is not None and at == limit
        entries = files(task, media, at, slice_seconds, flush=flush, epoch=epoch)
        if task.spec.snapshot:
            names.extend(e.name.replace("__uid_e_video.m3u8", "__uid_e_video.jpg") for e in entries)
        else:
            names.extend(e.name for e in entries)
    return list(dict.fromkeys(names))


def file_list(task: Task, entries: list[FileEntry]) -> dict[str, Any]:
    """The `fileListMode`/`fileList` pair of a query or stop: a string for HLS-only mix, else JSON entries."""
    if task.mode == "mix" and task.spec.av_file_types == ["hls"]:
        return {"fileListMode": "string", "fileList": entries[0].name if entries else ""}
    return {
        "fileListMode": "json",
        "fileList": [e.to_json() for e in entries],
    }


def query_files(task: Task, entries: list[FileEntry], slice_start_ms: int) -> dict[str, Any]:
    """A query's fileList, with the top-level sliceStartTime that query.mdx returns in individual mode only."""
    listed = file_list(task, entries)
    if task.mode != "individual":
        return listed
    return {**listed, "sliceStartTime": slice_start_ms}


def stop_server_response(task: Task, entries: list[FileEntry], uploading: str) -> dict[str, Any]:
    """A stop's serverResponse: the files and the upload status, in the task's mode's shape (reference §2.6)."""
    if task.mode == "web":
        return {
            "extensionServiceState": [
                {"serviceName": "upload_service", "payload": {"uploadingStatus": uploading}},
                web_state(task, entries, "exit"),
            ]
        }
    if task.spec.snapshot:
        return {"uploadingStatus": uploading}
    return {**file_list(task, entries), "uploadingStatus": uploading}


def web_state(task: Task, entries: list[FileEntry], state: str) -> dict[str, Any]:
    """The web recorder's entry of `extensionServiceState`."""
    return {
        "serviceName": "web_recorder_service",
        "payload": {
            "fileList": [{"filename": e.name, "sliceStartTime": e.slice_start_ms} for e in entries],
            "onhold": task.spec.onhold,
            "state": state,
        },
    }
