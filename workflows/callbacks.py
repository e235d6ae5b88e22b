"""Agora's callbacks (NCS): a faster second signal beside `query`, never instead of it.

Each callback reaches the channel's workflow as a signal carrying a `RecorderEvent`. It acts once (its noticeId is
remembered, so a resend or the redundant-delivery option never acts twice), whatever order events arrive in:

- 11 session_exit, 41 recorder_leave, 1 with errorLevel 5 (fatal): check that recorder now instead of at the next
  check; the 404 backoff Agora's advice asks for then runs as it always does;
- 40 recorder_started, 3 with status 4 or 5: the confirm query runs now instead of at its next backoff step;
- 13 high availability registered: noted, for the opt-in rule of `RecordingRequest.ha_check`;
- 12 session_failover: the segment shows the migration, the new uid and the `bak<n>_` names at once;
- 4 file_infos, 42 recorder_slice_start: the M3U8 names are confirmed without the 15 s / 60 s query;
- 30, 33, 31, 32: the segment's delivery state (uploading with progress, uploaded, backuped) and its files.

An event about a sid this workflow never started is forwarded to the App ID's callback inbox, where an operator sees it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from workflows import names
    from workflows.models import Delivery, RecorderEvent, RecordingSegment

from workflows.state import Recording

# How many noticeIds a recording remembers: NCS resends a callback at most 3 times within minutes, and every callback
# of a recording arrives through this one workflow, so the latest few hundred cover every resend.
REMEMBERED_NOTICES = 500
# Event types (Agora's NCS table for Cloud Recording).
ERROR, STATUS_UPDATE, FILE_INFOS = 1, 3, 4
SESSION_EXIT, SESSION_FAILOVER, HA_REGISTERED = 11, 12, 13
UPLOADER_STARTED, UPLOADED, BACKUPED, UPLOADING_PROGRESS = 30, 31, 32, 33
RECORDER_STARTED, RECORDER_LEAVE, SLICE_START = 40, 41, 42
FATAL_ERROR_LEVEL = 5
UP_STATUSES = frozenset({4, 5})
# Later states win whatever order the callbacks arrive in: files still uploading, then parked in Agora's backup cloud,
# then all in the bucket.
_DELIVERY_RANK: dict[Delivery, int] = {"unknown": 0, "uploading": 1, "backuped": 2, "uploaded": 3}


def owner(lines: Sequence[Recording], sid: str) -> tuple[Recording, RecordingSegment] | None:
    """The line and segment of a sid this workflow started, if any."""
    for line in lines:
        for seg in line.state.segments:
            if seg.sid == sid:
                return line, seg
    return None


Taken = Literal["acted", "repeat", "unowned"]


def take(lines: Sequence[Recording], event: RecorderEvent) -> Taken:
    """Apply one callback to the recording, once; "unowned" when it is about a sid this workflow never started."""
    first = lines[0]
    if event.notice_id in first.state.seen_notices:
        return "repeat"
    first.state.seen_notices = [*first.state.seen_notices, event.notice_id][-REMEMBERED_NOTICES:]
    found = owner(lines, event.sid)
    if found is None:
        return "unowned"
    first.state.callbacks += 1
    line, seg = found
    _react(line, seg, event)
    line.publish()
    return "acted"


def awaiting_delivery(lines: Sequence[Recording]) -> list[RecordingSegment]:
    """Segments whose stop answered backuped or unknown and whose uploaded callback (31) has not come yet."""
    return [
        seg
        for line in lines
        for seg in line.state.segments
        if seg.uploading_status in ("backuped", "unknown") and seg.delivery != "uploaded"
    ]


def _react(line: Recording, seg: RecordingSegment, event: RecorderEvent) -> None:
    kind = event.event_type
    current = line.current() is seg
    if kind in (SESSION_EXIT, RECORDER_LEAVE) or (kind == ERROR and event.error_level == FATAL_ERROR_LEVEL):
        if current and seg.confirmed_at is not None:
            line.state.next_check_at = workflow.now()  # check now; the 404 backoff then runs as always
        if current:
            line.nudge(seg.sid or "")
    elif kind == RECORDER_STARTED or (kind == STATUS_UPDATE and event.status in UP_STATUSES):
        if current and seg.confirmed_at is None:
            line.nudge(seg.sid or "")  # the confirm query runs now
    elif kind == HA_REGISTERED:
        seg.ha_registered = True
        if current and seg.confirmed_at is None:
            line.nudge(seg.sid or "")  # confirming may be waiting for it
    elif kind == SESSION_FAILOVER:
        _failover_announced(seg, event)
    elif kind in (FILE_INFOS, SLICE_START):
        _names_confirmed(line, seg, event, current)
    elif kind in (UPLOADER_STARTED, UPLOADING_PROGRESS, UPLOADED, BACKUPED):
        _delivery(seg, event)


def _failover_announced(seg: RecordingSegment, event: RecorderEvent) -> None:
    """Agora is migrating the task: a new uid, and files named bak<n>_ from now on (n from 0)."""
    seg.failover_uid = event.new_uid or seg.failover_uid
    number = seg.failovers_announced
    seg.failovers_announced += 1
    for name in [n for n in seg.m3u8_names if "/bak" not in f"/{n}"]:
        folder, _, file = name.rpartition("/")
        bak = f"{folder}/bak{number}_{file}" if folder else f"bak{number}_{file}"
        if bak not in seg.m3u8_names:
            seg.m3u8_names.append(bak)


def _names_confirmed(line: Recording, seg: RecordingSegment, event: RecorderEvent, current: bool) -> None:
    """The first slice is uploaded: the spliced M3U8 names (or the event's own) are now real files."""
    listed = [n for n in event.file_names if n.endswith(".m3u8")]
    if listed and not seg.m3u8_confirmed:
        seg.m3u8_names = list(dict.fromkeys(listed))
    seg.m3u8_confirmed = True
    if current:
        line.state.m3u8_check_due_at = None


def _delivery(seg: RecordingSegment, event: RecorderEvent) -> None:
    """Where the segment's files are: a later state wins whatever order the callbacks arrive in."""
    if event.event_type in (UPLOADER_STARTED, UPLOADING_PROGRESS):
        if seg.delivery in (None, "unknown", "uploading"):
            seg.delivery = "uploading"
            progress = event.progress / 100 if event.progress is not None else 0.0
            seg.upload_progress = max(seg.upload_progress or 0.0, progress)
        return
    state: Delivery = "uploaded" if event.event_type == UPLOADED else "backuped"
    if seg.delivery is None or _DELIVERY_RANK[state] >= _DELIVERY_RANK[seg.delivery]:
        seg.delivery = state
    if state == "uploaded":
        seg.upload_progress = 100.0
    for name in event.file_names:
        if name not in seg.file_list:
            seg.file_list.append(name)


async def forward_unowned(event: RecorderEvent) -> None:
    """Hand a callback about a sid no workflow owns to the App ID's inbox, where an operator sees it."""
    if event.app_id is None:
        return
    try:
        await workflow.get_external_workflow_handle(names.inbox_id(event.app_id)).signal(names.INBOX_SIGNAL, event)
    except FailureError as err:  # no inbox runs for this App ID: the receiver's own count still has the event
        workflow.logger.warning("callback %s about unknown sid %s not forwarded: %s", event.notice_id, event.sid, err)
