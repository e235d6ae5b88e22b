"""The `recorder` command: start, watch, stop and list channel recordings from a shell.

    recorder start math-101 --uid 527841 --backup-uid 527842 --max-idle 10m --duration 2h
    recorder status math-101
    recorder watch math-101
    recorder stop math-101 [--wait 30s | --no-wait]
    recorder layout math-101 --layout 1
    recorder subscription math-101 --audio 1001,1002 --video 1001
    recorder list --all [--phase recording] [--channel math-101]
    recorder callbacks [--limit 50] [--json]   # Agora's callbacks about channels no running recording owns
    recorder worker            # same as `python worker.py`
    recorder serve             # the HTTP API (recorder.service)
    recorder --version
    recorder demo [args]       # same as `python -m recorder.demo`

Recordings are named by AGORA_APP_ID and the channel; nothing but the worker needs an Agora secret. The settings
(AGORA_APP_ID, RECORDER_UID, RECORDER_BACKUP_UID, RECORDER_TASK_QUEUE) come from `recorder.settings`, so a .env file
works as for the worker; Temporal is reached as `recorder.connection.connect()` says (TEMPORAL_ADDRESS,
TEMPORAL_PROFILE, …). Errors are one line on stderr: exit code 2 for bad options or settings, 1 for a failure at run
time.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.metadata
import inspect
import json
import os
import re
import signal
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NoReturn, TextIO

from pydantic import ValidationError
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from recorder import api, schedule_cli, worker
from recorder.connection import ConnectionError_, connect
from recorder.settings import Settings, SettingsError, check_ncs_path, load_settings, variable
from workflows.models import LayoutUpdate, RecordingManifest, RecordingRequest, RecordingStatus, SubscriptionUpdate
from workflows.recording import RecordingWorkflow

PROG = "recorder"
DISTRIBUTION = "agora-recording-orchestrator"
UID_ENV = variable("uid")
BACKUP_UID_ENV = variable("backup_uid")
APP_ID_ENV = variable("app_id")
_DURATION = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")


class UsageError(Exception):
    """Bad options or settings: exit code 2."""


class Failure(Exception):
    """A failure at run time: exit code 1."""


# --- parsing ---------------------------------------------------------------------------------------------------


def parse_duration(text: str) -> timedelta:
    """A duration typed by a person: `90s`, `10m`, `2h`, `1h30m`, or plain seconds."""
    value = text.strip().lower()
    if value.isdigit():
        return timedelta(seconds=int(value))
    match = _DURATION.match(value)
    if not value or match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration: use 90s, 10m, 2h, 1h30m or plain seconds")
    parts = {k: int(v) for k, v in match.groupdict().items() if v is not None}
    return timedelta(hours=parts.get("h", 0), minutes=parts.get("m", 0), seconds=parts.get("s", 0))


def _seconds(text: str) -> int:
    return int(parse_duration(text).total_seconds())


def _instant(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time: use e.g. 2025-06-01T10:00:00+02:00"
        ) from None


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad option as one line, without the usage block."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def add_recording_options(parser: argparse.ArgumentParser) -> None:
    """The options that shape a recording (all but the channel and when it ends), as `start` and schedules take them."""
    parser.add_argument("--mode", choices=["mix", "individual", "web"], default="mix")
    parser.add_argument("--uid", help=f"the recorder's uid (default ${UID_ENV})")
    parser.add_argument("--backup-uid", help=f"the uid for every other restart (default ${BACKUP_UID_ENV})")
    parser.add_argument("--max-idle", type=_seconds, help="Agora's maxIdleTime: the longest break, e.g. 10m")
    parser.add_argument("--check-interval", type=_seconds, help="time between checks, shorter than --max-idle")
    parser.add_argument("--storage-profile", default="default", help="a storage profile configured on the worker")
    parser.add_argument("--file-prefix", help="directories for the files in the bucket, e.g. school/math")
    parser.add_argument("--channel-type", choices=["communication", "live"], default="communication")
    parser.add_argument("--streams", choices=["audio", "video", "both"], default="both")
    parser.add_argument("--mp4", action="store_true", help="also write MP4 files (mix and web mode)")
    parser.add_argument("--web-url", help="the page to record (web mode)")
    parser.add_argument(
        "--uid-group",
        type=int,
        choices=range(6),
        metavar="0-5",
        help="individual mode: peak subscribed uids as Agora's group (0: 1-2, 1: 3-7, 2: 8-12, 3: 13-17, 4: 18-32, "
        "5: 33-49)",
    )
    parser.add_argument(
        "--redundant",
        action="store_true",
        help="gapless class: a second recorder on its own resource and uid pair (Agora bills both)",
    )
    parser.add_argument("--redundant-uid", help="the second recorder's uid (with --redundant)")
    parser.add_argument("--redundant-backup-uid", help="the second recorder's backup uid (with --redundant)")
    parser.add_argument(
        "--delivery-wait",
        type=parse_duration,
        help="with Agora's callbacks: after a stop answered backuped or unknown, wait this long for the files' "
        "uploaded callback (31), e.g. 10m",
    )
    parser.add_argument(
        "--ha-check",
        action="store_true",
        help="with Agora's callbacks: replace a recorder whose high-availability event (13) is not in within 10 s",
    )


def build_parser() -> argparse.ArgumentParser:
    """The `recorder` argument parser."""
    parser = _Parser(prog=PROG, description="Durable Agora Cloud Recording: one Temporal workflow per channel.")
    parser.add_argument("--version", action="version", version=f"{PROG} {version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    start = sub.add_parser("start", help="start recording a channel (once: a channel has one recorder)")
    start.add_argument("channel")
    add_recording_options(start)
    end = start.add_mutually_exclusive_group()
    end.add_argument("--duration", type=parse_duration, help="stop after this long, e.g. 2h or 1h30m")
    end.add_argument("--end-at", type=_instant, help="stop at this time (ISO 8601 with a timezone)")
    start.add_argument("--wait", action="store_true", help="wait until the recorder is confirmed (or fails)")
    start.add_argument("--timeout", type=parse_duration, help="with --wait: give up waiting after this long")

    status = sub.add_parser("status", help="the live status of a channel's recording")
    status.add_argument("channel")
    status.add_argument("--json", action="store_true")

    stop = sub.add_parser("stop", help="stop a channel's recording and print its manifest")
    stop.add_argument("channel")
    how = stop.add_mutually_exclusive_group()
    how.add_argument(
        "--wait", type=parse_duration, help="wait at most this long, then print the manifest so far and what is left"
    )
    how.add_argument("--no-wait", action="store_true", help="only ask the recording to stop, and return at once")
    stop.add_argument("--json", action="store_true")

    layout = sub.add_parser("layout", help="change the mixed layout of a running recorder (mix mode)")
    layout.add_argument("channel")
    layout.add_argument("--layout", type=int, choices=[0, 1, 2], required=True, help="0 float, 1 adaptive, 2 vertical")
    layout.add_argument("--max-resolution-uid", help="vertical layout: the uid shown large")
    layout.add_argument("--background-color", help="#RRGGBB")

    subscription = sub.add_parser("subscription", help="change whom a running recorder subscribes to")
    subscription.add_argument("channel")
    subscription.add_argument("--audio", type=_uid_list, help="comma-separated uids, or #allstream#")
    subscription.add_argument("--video", type=_uid_list, help="comma-separated uids, or #allstream#")

    lst = sub.add_parser("list", help="list recordings (running ones unless --all)")
    lst.add_argument("--phase")
    lst.add_argument("--channel")
    lst.add_argument("--all", action="store_true", help="include recordings that have ended")
    lst.add_argument("--json", action="store_true")

    callbacks = sub.add_parser(
        "callbacks", help="Agora's callbacks about channels or sids no running recording owns (the App ID's inbox)"
    )
    callbacks.add_argument(
        "--limit", type=_positive, default=50, help="show the latest N callbacks kept (default 50; counts cover all)"
    )
    callbacks.add_argument("--json", action="store_true")

    watch = sub.add_parser("watch", help="a live status line until the recording ends, then its manifest")
    watch.add_argument("channel")
    watch.add_argument("--interval", type=parse_duration, default=timedelta(seconds=2))

    sub.add_parser("worker", help="run a recording worker (same as `python worker.py`)")
    serve = sub.add_parser("serve", help="serve the HTTP API (recorder.service) on RECORDER_SERVICE_BIND")
    serve.add_argument("--host", help="address to bind (default from RECORDER_SERVICE_BIND, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default from RECORDER_SERVICE_BIND, 8080)")
    serve.add_argument(
        "--ncs-path",
        help="route of Agora's callbacks when AGORA_NCS_SECRET is set (default RECORDER_NCS_PATH, /agora/ncs)",
    )
    schedule_cli.add_parser(sub)
    sub.add_parser("demo", help="run the demo (same as `python -m recorder.demo`)", add_help=False)
    return parser


def version() -> str:
    """The installed version of the product."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _positive(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return int(text)


def _uid_list(text: str) -> list[str]:
    return [u.strip() for u in text.split(",") if u.strip()]


def build_request(args: argparse.Namespace, settings: Settings) -> RecordingRequest:
    """The RecordingRequest for `start` (uids default to the settings'), its validation made one readable line."""
    uid = args.uid or settings.uid
    backup = args.backup_uid or settings.backup_uid
    if not uid:
        raise UsageError(f"--uid is required (or set {UID_ENV}): the recorder's uid, used by no real user")
    if not backup:
        raise UsageError(f"--backup-uid is required (or set {BACKUP_UID_ENV}): a second uid for restarts")
    values: dict[str, Any] = {
        "channel": args.channel,
        "mode": args.mode,
        "uid": uid,
        "backup_uid": backup,
        "check_interval": args.check_interval,
        "channel_type": 1 if args.channel_type == "live" else 0,
        "stream_types": {"audio": 0, "video": 1, "both": 2}[args.streams],
        "av_file_type": ["hls", "mp4"] if args.mp4 else ["hls"],
        "web_url": args.web_url,
        "storage_profile": args.storage_profile,
        "end_at": getattr(args, "end_at", None),
        "max_duration": getattr(args, "duration", None),
        "subscribe_uid_group": args.uid_group,
        "redundant": args.redundant,
        "redundant_uid": args.redundant_uid,
        "redundant_backup_uid": args.redundant_backup_uid,
        "delivery_wait": args.delivery_wait,
        "ha_check": args.ha_check,
    }
    if args.max_idle is not None:
        values["max_idle_time"] = args.max_idle
    if args.file_prefix:
        values["file_name_prefix"] = [p for p in args.file_prefix.split("/") if p] or [args.file_prefix]
    try:
        return RecordingRequest(**values)
    except ValidationError as exc:
        raise UsageError(api.validation_message(exc)) from None


def _settings() -> Settings:
    """The settings the CLI uses (App ID, default uids, task queue); a bad one is a usage error."""
    try:
        return load_settings(require=())
    except SettingsError as exc:
        raise UsageError(str(exc)) from None


def _app_id(settings: Settings) -> str:
    if not settings.app_id:
        raise UsageError(f"{APP_ID_ENV} is not set: the Agora App ID names each channel's recording")
    return settings.app_id


# --- output ----------------------------------------------------------------------------------------------------


def _t(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "-"


def format_status(s: RecordingStatus) -> str:
    """The status query as a few aligned lines."""
    lines = [
        f"channel      {s.channel} ({s.mode})",
        f"phase        {s.phase}",
        f"recorder     uid {s.uid or '-'} · sid {s.sid or '-'}",
        f"restarts     {s.restarts} · failed starts {s.failed_starts} · checks {s.checks} · runs {s.runs}",
        f"last status  {s.last_status if s.last_status is not None else '-'}",
        f"last error   {s.last_error or '-'}",
        f"m3u8         {', '.join(s.m3u8_names) or '-'}",
        f"started      {_t(s.started_at)} · planned end {_t(s.planned_end)}",
    ]
    # A redundant recording: each line of recorders, and whether a confirmed recorder runs on it now.
    lines += [
        f"line {line.line + 1}       {'up' if line.up else 'DOWN'} · {line.phase} · uid {line.uid or '-'} · "
        f"sid {line.sid or '-'} · restarts {line.restarts}"
        for line in s.lines
    ]
    return "\n".join(lines)


def status_line(s: RecordingStatus) -> str:
    """The status on one line, for `watch`."""
    return (
        f"{s.channel}: {s.phase} · uid {s.uid or '-'} · sid {s.sid or '-'} · restarts {s.restarts} · "
        f"checks {s.checks} · last status {s.last_status if s.last_status is not None else '-'}"
        + (f" · error: {s.last_error}" if s.last_error else "")
    )


def format_manifest(m: RecordingManifest) -> str:
    """The manifest: the recording, every segment, then the gaps."""
    lines = [
        f"recording of {m.channel} ({m.mode}): {m.phase}, ended by {m.stop_trigger or '-'}",
        f"started {_t(m.started_at)} · ended {_t(m.ended_at)} · restarts {m.restarts} · "
        f"failed starts {m.failed_starts} · runs {m.runs}",
    ]
    if m.error:
        lines.append(f"error: {m.error}")
    lines.append(f"segments ({len(m.segments)}):")
    for seg in m.segments:
        lines += [
            f"  #{seg.index} uid {seg.uid} · sid {seg.sid or 'unknown'}"
            + (" (recovered)" if seg.sid_recovered else "")
            + (f" · came back as uid {seg.failover_uid}" if seg.failover_uid else ""),
            f"     {_t(seg.started_at)} → {_t(seg.ended_at)} · confirmed {_t(seg.confirmed_at)}",
            f"     ended: {seg.end_reason or 'running'}" + (f" ({seg.detail})" if seg.detail else ""),
            f"     m3u8: {', '.join(seg.m3u8_names) or '-'}" + ("" if seg.m3u8_confirmed else " (predicted)"),
            f"     upload: {seg.uploading_status or '-'} · {len(seg.file_list)} file(s)",
        ]
    if m.gaps:
        lines.append(f"gaps ({len(m.gaps)}):")
        lines += [
            f"  after #{g.after_index} before #{g.before_index}: {_t(g.start)} → {_t(g.end)} ({g.seconds:g} s)"
            for g in m.gaps
        ]
    else:
        lines.append("gaps: none")
    return "\n".join(lines)


def format_list(rows: Sequence[api.RecordingSummary]) -> str:
    """Recordings as a table."""
    if not rows:
        return "no recordings"
    header = ("CHANNEL", "PHASE", "UID", "SID", "RESTARTS", "STATUS", "STARTED", "WORKFLOW ID")
    table = [header] + [
        (
            r.channel or "-",
            r.phase or "-",
            r.uid or "-",
            r.sid or "-",
            str(r.restarts if r.restarts is not None else "-"),
            r.status,
            _t(r.start_time),
            r.workflow_id,
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table)


def format_callbacks(inbox: api.UnownedCallbacks, app_id: str) -> str:
    """The unowned callbacks: a headline with the counts per event type, then the latest ones as a table."""
    if not inbox.exists:
        return (
            f"no unowned callbacks: nothing about a channel without a recording has reached App ID {app_id}'s callback "
            f"inbox ({inbox.workflow_id}) yet"
        )
    lines = [
        f"{inbox.total} unowned callback(s) in {inbox.workflow_id}: about channels or sids no running recording owns "
        "(a recorder started elsewhere, or one that outlived its recording)",
        "by type: " + ", ".join(f"{c.event_type} {c.event_name} ×{c.count}" for c in inbox.counts),
    ]
    if len(inbox.callbacks) < inbox.total:
        lines.append(f"the latest {len(inbox.callbacks)}, oldest first:")
    header = ("RECEIVED", "EVENT TIME", "CHANNEL", "SID", "UID", "EVENT")
    table = [header] + [
        (
            _t(c.received_at),
            _t(c.event_time),
            c.channel or "-",
            c.sid or "-",
            c.uid or "-",
            f"{c.event_type} {c.event_name}",
        )
        for c in inbox.callbacks
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table]
    return "\n".join(lines)


def _out(text: str, stream: TextIO | None = None) -> None:
    print(text, file=stream or sys.stdout, flush=True)


# --- commands --------------------------------------------------------------------------------------------------


async def _start(client: Client, args: argparse.Namespace, request: RecordingRequest, app_id: str, queue: str) -> int:
    outcome = await api.start_recording(
        client, request, app_id=app_id, task_queue=queue, wait_until_up=args.wait, within=args.timeout
    )
    if outcome.already_running:
        phase = outcome.status.phase if outcome.status else "unknown"
        _out(f"already recording: {outcome.workflow_id} (phase {phase}); not starting a second recorder")
    else:
        _out(f"started recording {request.channel}: workflow {outcome.workflow_id} (run {outcome.run_id})")
    status = outcome.status
    if outcome.waited == "timeout":
        phase = status.phase if status else "unknown"
        raise Failure(f"no recorder of {request.channel} was confirmed within {args.timeout} (phase {phase})")
    if outcome.waited == "ended" and status is not None and status.phase == "failed":
        raise Failure(f"the recording of {request.channel} failed: {status.last_error or 'no reason given'}")
    if outcome.waited is not None and status is not None:
        _out(status_line(status))
    return 0


async def _closed(handle: Any, channel: str) -> int:
    """Report a recording that has ended: its manifest, or why it failed."""
    try:
        manifest: RecordingManifest = await handle.result()
    except WorkflowFailureError as err:
        cause = err.cause
        reason = getattr(cause, "message", None) or str(cause or err)
        raise Failure(f"the recording of {channel} failed: {reason}") from None
    _out(format_manifest(manifest))
    return 0


async def _status(client: Client, args: argparse.Namespace, app_id: str) -> int:
    status = await api.describe_recording(client, args.channel, app_id=app_id)
    _out(status.model_dump_json(indent=2) if args.json else format_status(status))
    return 0


async def _stop(client: Client, args: argparse.Namespace, app_id: str) -> int:
    if args.no_wait:
        outcome = await api.request_stop(client, args.channel, app_id=app_id)
    else:
        outcome = await api.stop_within(client, args.channel, app_id=app_id, within=args.wait)
    if args.json:
        # Without --wait/--no-wait the answer is the final manifest, as it always was; with them, the whole outcome.
        full = args.wait is None and not args.no_wait and outcome.manifest is not None
        _out((outcome.manifest if full and outcome.manifest else outcome).model_dump_json(indent=2))
    elif outcome.manifest is None:
        _out(f"stop requested for {args.channel} (workflow {outcome.workflow_id}); it stops its recorder on its own")
    else:
        if not outcome.finished:
            waits = "; ".join(outcome.waiting_for) or "its next step"
            _out(f"still {outcome.phase} after {args.wait}, waiting for: {waits}; the manifest so far:")
        _out(format_manifest(outcome.manifest))
    return 1 if outcome.finished and outcome.phase != "stopped" else 0


def build_update(args: argparse.Namespace) -> LayoutUpdate | SubscriptionUpdate:
    """The LayoutUpdate of `layout` or the SubscriptionUpdate of `subscription`, validated before any connection."""
    try:
        if args.command == "layout":
            values: dict[str, Any] = {"mixed_video_layout": args.layout, "max_resolution_uid": args.max_resolution_uid}
            if args.background_color:
                values["background_color"] = args.background_color
            return LayoutUpdate(**values)
        if args.audio is None and args.video is None:
            raise UsageError("give --audio, --video or both: the uids the recorder subscribes to")
        return SubscriptionUpdate(subscribe_audio_uids=args.audio, subscribe_video_uids=args.video)
    except ValidationError as exc:
        raise UsageError(api.validation_message(exc)) from None


async def _update(
    client: Client, args: argparse.Namespace, app_id: str, update: LayoutUpdate | SubscriptionUpdate
) -> int:
    if isinstance(update, LayoutUpdate):
        result = await api.update_layout(client, args.channel, update, app_id=app_id)
    else:
        result = await api.update_subscription(client, args.channel, update, app_id=app_id)
    _out(f"{args.command} of {args.channel} updated (sid {result.sid})")
    return 0


async def _serve(args: argparse.Namespace, settings: Settings) -> int:
    try:
        service = importlib.import_module("recorder.service")
    except ModuleNotFoundError as exc:
        raise UsageError(f"the HTTP service needs {exc.name}: pip install '{DISTRIBUTION}[service]'") from None
    if args.ncs_path is not None:
        try:
            check_ncs_path(args.ncs_path, "--ncs-path")
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        settings = settings.model_copy(update={"ncs_path": args.ncs_path})
    try:
        rc: int = await service.serve(settings, host=args.host, port=args.port)
    except SettingsError as exc:
        raise UsageError(str(exc)) from None
    return rc


async def _list(client: Client, args: argparse.Namespace, app_id: str | None) -> int:
    rows = await api.list_recordings(
        client, app_id=app_id, phase=args.phase, channel=args.channel, running_only=not args.all
    )
    if args.json:
        _out(json.dumps([r.model_dump(mode="json") for r in rows], indent=2))
    else:
        _out(format_list(rows))
    return 0


async def _callbacks(client: Client, args: argparse.Namespace, app_id: str) -> int:
    inbox = await api.unowned_callbacks(client, app_id=app_id, limit=args.limit)
    _out(inbox.model_dump_json(indent=2) if args.json else format_callbacks(inbox, app_id))
    return 0


async def _watch(client: Client, args: argparse.Namespace, app_id: str) -> int:
    handle = client.get_workflow_handle_for(RecordingWorkflow.run, api.workflow_id(app_id, args.channel))
    interval = max(args.interval.total_seconds(), 0.2)
    tty = sys.stdout.isatty()
    last = ""
    while True:
        try:
            desc = await handle.describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise api.RecordingNotFound(args.channel, handle.id) from None
            raise
        if desc.status != WorkflowExecutionStatus.RUNNING:
            if tty:
                sys.stdout.write("\n")
            return await _closed(handle, args.channel)
        try:
            line = status_line(await api.describe_recording(client, args.channel, app_id=app_id))
        except RPCError:
            line = last  # no worker answered this time; keep the last line
        if tty:
            sys.stdout.write("\r\x1b[2K" + line)
            sys.stdout.flush()
        elif line != last:
            _out(line)
        last = line
        await asyncio.sleep(interval)


async def run(argv: Sequence[str]) -> int:
    """Run one command in the current event loop; returns the exit code (errors are printed as one line)."""
    try:
        return await _dispatch(list(argv))
    except UsageError as exc:
        return _fail(str(exc), 2)
    except (Failure, ConnectionError_, api.RecorderError) as exc:
        return _fail(str(exc), 1)
    except RPCError as exc:
        if exc.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):  # the query timed out
            queue = _settings().task_queue  # read fine a moment ago, or the command would not have reached Temporal
            return _fail(f"no worker answered in time: is a recording worker polling task queue {queue}?", 1)
        return _fail(f"Temporal refused the request: {exc.message}", 1)
    except WorkflowFailureError as exc:
        return _fail(f"the recording failed: {exc.cause or exc}", 1)
    except (WorkflowQueryFailedError, WorkflowUpdateFailedError) as exc:
        cause = getattr(exc, "cause", None)
        return _fail(f"the recording could not answer: {getattr(cause, 'message', None) or cause or exc}", 1)
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0


def _fail(message: str, rc: int) -> int:
    _out(f"{PROG}: {' '.join(message.split())}", sys.stderr)
    return rc


async def _dispatch(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "worker":
        return await worker.main([])
    if args.command == "schedule":
        return await schedule_cli.run(args)
    settings = _settings()
    if args.command == "serve":
        return await _serve(args, settings)
    request = build_request(args, settings) if args.command == "start" else None
    update = build_update(args) if args.command in ("layout", "subscription") else None
    app_id = _app_id(settings) if args.command in (*_CHANNEL_COMMANDS, "callbacks") else ""
    client = await connect()
    if args.command == "start":
        assert request is not None
        return await _start(client, args, request, app_id, settings.task_queue)
    if args.command == "status":
        return await _status(client, args, app_id)
    if args.command == "stop":
        return await _stop(client, args, app_id)
    if args.command == "list":
        return await _list(client, args, settings.app_id or None)
    if args.command == "callbacks":
        return await _callbacks(client, args, app_id)
    if update is not None:
        return await _update(client, args, app_id, update)
    return await _watch(client, args, app_id)


_CHANNEL_COMMANDS = ("start", "status", "stop", "watch", "layout", "subscription")


def _demo(argv: list[str]) -> int:
    """Run recorder.demo's main (it owns its event loop and signal handlers, so it runs outside ours)."""
    try:
        demo = importlib.import_module("recorder.demo")
    except ModuleNotFoundError:
        return _fail("the demo is not installed (recorder/demo.py is missing)", 2)
    entry = getattr(demo, "main", None)
    if entry is None:
        return _fail("recorder.demo has no main()", 2)
    result = entry(argv)
    if inspect.iscoroutine(result):
        result = asyncio.run(result)
    return int(result or 0)


def main(argv: Sequence[str] | None = None, *, _exit: bool = True) -> int:
    """Console entry point; with _exit (the default) it ends the process at once, as short-lived SDK clients should."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        rc = _demo(args[1:]) if args[:1] == ["demo"] else asyncio.run(run(args))
        sys.stdout.flush()
    except KeyboardInterrupt:
        rc = 130
    except BrokenPipeError:
        # The reader went away (`recorder list | head -1`): that is no error of ours, and no traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        rc = 128 + signal.SIGPIPE
    sys.stderr.flush()
    if _exit:
        os._exit(rc)
    return rc


if __name__ == "__main__":
    main()
