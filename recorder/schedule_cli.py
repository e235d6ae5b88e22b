"""`recorder schedule ...`: class timetables as Temporal Schedules, from a shell.

    recorder schedule add math-101 --at "mon,wed 09:00" --duration 50m --tz Europe/Berlin \\
        --from 2026-09-07 --until 2026-12-18 --skip 2026-10-26..2026-11-06 --skip 2026-11-11 --uid 527841 ...
    recorder schedule import timetable.ics [--channel "Math 101=math-101"] [recording options]
    recorder schedule list [--channel math-101] [--json]
    recorder schedule show math-101 [mon-0900] [--json]
    recorder schedule pause|resume|delete|trigger math-101 [mon-0900]

A class is named by its channel (all its slots) or its channel and slot (`mon-0900`), or by the schedule id itself
(`class:<app id>:math-101:mon-0900`). Bad input is one line on stderr and exit code 2, and nothing is created.
The time zone is `--tz`, else RECORDER_TIMEZONE (settings).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from temporalio.client import Client

from recorder import cli as base
from recorder import schedules
from recorder.connection import connect
from recorder.settings import Settings, SettingsError, load_settings
from workflows.models import RecordingRequest

TIMEZONE_ENV = "RECORDER_TIMEZONE"


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    """The `schedule` command and its subcommands, under the `recorder` parser's subcommands."""
    schedule = sub.add_parser("schedule", help="class timetables: recordings that start and stop on the timetable")
    ops = schedule.add_subparsers(dest="schedule_command", required=True, parser_class=type(schedule))

    add = ops.add_parser("add", help="schedule a class: one schedule per weekday")
    add.add_argument("channel")
    add.add_argument(
        "--at",
        action="append",
        required=True,
        help="weekdays and local time, e.g. 'mon,wed 09:00' or 'mon-fri 08:30' (repeat for other times)",
    )
    add.add_argument("--duration", dest="class_duration", type=base.parse_duration, required=True, help="e.g. 50m")
    _term_options(add)
    add.add_argument("--title", help="the class's name, shown with the schedule")
    add.add_argument("--paused", action="store_true", help="create the schedules paused")
    base.add_recording_options(add)

    imp = ops.add_parser("import", help="schedule every class of an iCalendar timetable (all or nothing)")
    imp.add_argument("file", type=Path)
    imp.add_argument(
        "--channel",
        dest="channel_map",
        action="append",
        default=[],
        metavar="SUMMARY=CHANNEL",
        help="the channel of events whose SUMMARY is this (events may name theirs with X-AGORA-CHANNEL instead)",
    )
    imp.add_argument("--tz", help=f"zone of events without TZID (default ${TIMEZONE_ENV})")
    imp.add_argument("--paused", action="store_true", help="create the schedules paused")
    base.add_recording_options(imp)

    lst = ops.add_parser("list", help="the class schedules of this App ID")
    lst.add_argument("--channel")
    lst.add_argument("--json", action="store_true")

    show = ops.add_parser("show", help="a class: its state, next classes, and each recent firing (late or missed)")
    _target(show)
    show.add_argument("--days", type=int, default=7, help="how many days back to compare class times and firings")
    show.add_argument("--json", action="store_true")

    pause = ops.add_parser("pause", help="pause a class (all its slots unless SLOT is given)")
    _target(pause)
    pause.add_argument("--note", help="why, shown on the schedule")
    _target(ops.add_parser("resume", help="resume a paused class"))
    _target(ops.add_parser("delete", help="delete a class's schedules (a recording in progress goes on)"))
    trigger = ops.add_parser("trigger", help="fire a class now: its recording starts (or is joined) for its duration")
    _target(trigger)
    trigger.add_argument("--wait", action="store_true", help="wait for the firing and say what it did")


def _term_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tz", help=f"the class's time zone, e.g. Europe/Berlin (default ${TIMEZONE_ENV})")
    parser.add_argument("--from", dest="first_day", help="the term's first day, YYYY-MM-DD")
    parser.add_argument("--until", dest="last_day", help="the term's last day (inclusive), YYYY-MM-DD")
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        help="holidays: a date or FIRST..LAST, e.g. 2026-11-11 or 2026-12-21..2027-01-03 (repeatable)",
    )


def _target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="a channel, or a schedule id class:<app id>:<channel>:<slot>")
    parser.add_argument("slot", nargs="?", help="one class slot of the channel, e.g. mon-0900")


async def run(args: argparse.Namespace) -> int:
    """Run one `schedule` subcommand; returns the exit code (2 for bad input, with nothing created; 1 for a failure)."""
    try:
        return await _run(args)
    except base.UsageError as exc:
        return _fail(str(exc), 2)
    except base.Failure as exc:
        return _fail(str(exc), 1)


def _fail(message: str, rc: int) -> int:
    print(f"{base.PROG}: {' '.join(message.split())}", file=sys.stderr, flush=True)
    return rc


async def _run(args: argparse.Namespace) -> int:
    settings = _settings()
    command = args.schedule_command
    specs: list[schedules.ClassSpec] = []
    if command == "add":
        specs = _specs_from_args(args, settings)
    elif command == "import":
        specs = _specs_from_ics(args, settings)
    app_id = settings.app_id or None
    if command in ("add", "import") and not app_id:
        raise base.UsageError(f"{base.APP_ID_ENV} is not set: the App ID names the channels' recordings")
    client = await connect()
    try:
        if command in ("add", "import"):
            assert app_id is not None
            return await _add(client, specs, app_id, settings.task_queue, args.paused)
        if command == "list":
            return await _list(client, app_id, args)
        ids = await schedules.find_classes(client, args.target, args.slot, app_id=app_id)
        if command == "show":
            return await _show(client, ids, args)
        for sid in ids:
            await _change(client, command, sid, args)
        return 0
    except schedules.ScheduleInputError as exc:
        raise base.UsageError(str(exc)) from None
    except (schedules.ScheduleExists, schedules.ScheduleNotFound, TimeoutError) as exc:
        raise base.Failure(str(exc)) from None


def _settings() -> Settings:
    try:
        return load_settings(require=())
    except SettingsError as exc:  # one line, exit 2, like every other command
        raise base.UsageError(str(exc)) from None


def _timezone(given: str | None, settings: Settings) -> str | None:
    return given or settings.timezone


def _day(text: str | None, what: str) -> date | None:
    return schedules.parse_day(text, what) if text else None


def _specs_from_args(args: argparse.Namespace, settings: Settings) -> list[schedules.ClassSpec]:
    """The classes of `schedule add`, all validated before anything is created."""
    try:
        zone = _timezone(args.tz, settings)
        if zone is None:
            raise schedules.ScheduleInputError(
                f"no time zone: give --tz (e.g. Europe/Berlin) or set {TIMEZONE_ENV}; a class time is local"
            )
        # What every --at shares: the class's length, zone and term, and the days without class.
        term = {
            "duration": args.class_duration,
            "timezone": zone,
            "first_day": _day(args.first_day, "--from"),
            "last_day": _day(args.last_day, "--until"),
            "skip": [r for text in args.skip for r in schedules.parse_skip(text)],
        }
        request = base.build_request(args, settings)
        specs = []
        for at in args.at:
            weekdays, clock = schedules.parse_at(at)
            specs.append(schedules.class_spec(request, title=args.title, weekdays=weekdays, at=clock, **term))
        return specs
    except schedules.ScheduleInputError as exc:
        raise base.UsageError(str(exc)) from None


def _specs_from_ics(args: argparse.Namespace, settings: Settings) -> list[schedules.ClassSpec]:
    """The classes of `schedule import`, every event validated before anything is created."""
    mapping: dict[str, str] = {}
    for item in args.channel_map:
        summary, sep, channel = item.partition("=")
        if not sep or not summary.strip() or not channel.strip():
            raise base.UsageError(f"--channel {item!r} is not SUMMARY=CHANNEL")
        mapping[summary.strip()] = channel.strip()
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise base.UsageError(f"cannot read {args.file}: {exc.strerror or exc}") from None

    def request_for(channel: str) -> RecordingRequest:
        try:
            return base.build_request(argparse.Namespace(**{**vars(args), "channel": channel}), settings)
        except base.UsageError as exc:
            raise ValueError(str(exc)) from None

    try:
        zone = _timezone(args.tz, settings)
        return schedules.classes_from_ics(data, request_for, channels=mapping, default_timezone=zone)
    except schedules.ScheduleInputError as exc:
        raise base.UsageError(f"{args.file}: {exc}; nothing was created") from None


async def _add(client: Client, specs: Sequence[schedules.ClassSpec], app_id: str, queue: str, paused: bool) -> int:
    ids = await schedules.add_classes(client, specs, app_id=app_id, task_queue=queue, paused=paused)
    for sid in ids:
        desc = await client.get_schedule_handle(sid).describe()
        slot = schedules.slot_from_memo(await desc.memo())
        nxt = desc.info.next_action_times
        zone = slot.timezone if slot else "UTC"
        when = _local(nxt[0], zone) if nxt else "none (the term is over)"
        state = " (paused)" if paused else ""
        _out(f"created {sid}{state}: {slot.note() if slot else sid}; next class {when}")
    return 0


def _out(text: str) -> None:
    print(text, flush=True)


def _local(value: datetime, zone: str) -> str:
    return value.astimezone(ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M %Z")


async def _list(client: Client, app_id: str | None, args: argparse.Namespace) -> int:
    rows = await schedules.list_classes(client, app_id=app_id, channel=args.channel)
    if args.json:
        _out(json.dumps([r.model_dump(mode="json") for r in rows], indent=2))
        return 0
    if not rows:
        _out("no class schedules")
        return 0
    header = ("CHANNEL", "SLOT", "CLASS", "LENGTH", "TERM", "STATE", "NEXT", "SCHEDULE ID")
    table = [header]
    for r in rows:
        s = r.slot
        zone = s.timezone if s else "UTC"
        table.append(
            (
                r.channel or "-",
                s.key if s else "-",
                s.label.removeprefix(f"{s.channel} ") if s else "-",
                schedules.human_duration(s.duration) if s else "-",
                f"{s.first_day or '…'} to {s.last_day or '…'}" if s else "-",
                "paused" if r.paused else "active",
                _local(r.next_times[0], zone) if r.next_times else "-",
                r.schedule_id,
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    _out("\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table))
    return 0


def format_report(report: schedules.ClassReport) -> str:
    """A class schedule's report as a few aligned lines, then one line per firing."""
    slot = report.slot
    zone = slot.timezone if slot else "UTC"
    lines = [f"schedule    {report.schedule_id}"]
    if slot:
        lines.append(f"class       {slot.note()}")
    state = "paused" if report.paused else "active"
    lines.append(f"state       {state}" + (f" ({report.note})" if report.paused and report.note else ""))
    lines.append(f"recordings  {report.recordings_query}")
    upcoming = ", ".join(_local(t, zone) for t in report.next_times[:4]) or "none"
    lines.append(f"next        {upcoming}")
    if not report.firings:
        lines.append("firings     none yet")
    for f in report.firings:
        when = _local(f.scheduled_at, zone) + (" (on demand)" if f.on_demand else "")
        late = "late" if f.late else "on time"
        ends = f.planned_end.astimezone(ZoneInfo(zone)).strftime("%H:%M")
        lines.append(f"  {when}  {f.status:<9}  {late:<7}  ends {ends}  {f.reason}")
    return "\n".join(lines)


async def _show(client: Client, ids: Sequence[str], args: argparse.Namespace) -> int:
    reports = [await schedules.describe_class(client, sid, lookback=timedelta(days=args.days)) for sid in ids]
    if args.json:
        _out(json.dumps([r.model_dump(mode="json") for r in reports], indent=2))
    else:
        _out("\n\n".join(format_report(r) for r in reports))
    return 0


async def _change(client: Client, command: str, sid: str, args: argparse.Namespace) -> None:
    if command == "pause":
        await schedules.pause_class(client, sid, note=args.note)
        _out(f"paused {sid}")
    elif command == "resume":
        await schedules.resume_class(client, sid)
        _out(f"resumed {sid}")
    elif command == "delete":
        await schedules.delete_class(client, sid)
        _out(f"deleted {sid}")
    else:
        result = await schedules.trigger_class(client, sid, wait=args.wait)
        if result is None:
            _out(f"triggered {sid}: its firing starts or joins the recording now")
        else:
            _out(f"triggered {sid}: {result.outcome}, {result.reason} ({result.recording_id})")
