"""Class timetables: Temporal Schedules that start each class's recording at class time and end it with the class.

One schedule per class slot, a channel on one weekday at one time of day in one zone, with the id
`class:<app id>:<channel>:<weekday>-<HHMM>` (`class:…:math-101:mon-0900`), so a channel can have several classes and an
operator can name one ("math-101 Monday"). Temporal evaluates the calendar in the class's zone (a 09:00 class stays at
09:00 local time across a DST change), skips the term's holidays and stays within its first and last day. Each firing
runs `ClassFiringWorkflow` (workflows/timetable.py), which starts the channel's recording under its own id
`recording:<app id>:<channel>` until the class time plus the duration, joins the recording already running, or, once
the class has ended, starts nothing. The catchup window is the class duration: a server that was down at class time
still fires while the class is on.

Schedules carry a memo and a note naming the channel and the class (the Web UI's Schedules page), and recordings they
start carry the `RecordingSchedule` search attribute, so `RecordingSchedule="class:…:math-101:mon-0900"` lists every
recording of math-101 on Mondays. `classes_from_ics` turns an iCalendar timetable into classes (see its docstring).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    WorkflowExecutionStatus,
    WorkflowFailureError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from recorder import api
from recorder.search_attributes import ensure_search_attributes
from recorder.settings import load_settings
from workflows import names
from workflows.models import RecordingRequest
from workflows.timetable import (
    ON_TIME,
    SCHEDULED_BY,
    SCHEDULED_START,
    ClassFiring,
    ClassFiringWorkflow,
    FiringResult,
)

__all__ = [
    "ClassReport",
    "ClassSchedule",
    "ClassSlot",
    "ClassSpec",
    "ClassTimes",
    "DateRange",
    "FiringReport",
    "ScheduleExists",
    "ScheduleInputError",
    "ScheduleNotFound",
    "add_class",
    "add_classes",
    "classes_from_ics",
    "delete_class",
    "describe_class",
    "find_classes",
    "human_duration",
    "list_classes",
    "parse_at",
    "parse_skip",
    "pause_class",
    "recordings_query",
    "resume_class",
    "schedule_id",
    "slot_from_memo",
    "trigger_class",
]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# In Python's weekday() order (Monday is 0); Temporal counts from Sunday (0).
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_ICAL_DAYS: dict[str, Weekday] = {
    "MO": "mon",
    "TU": "tue",
    "WE": "wed",
    "TH": "thu",
    "FR": "fri",
    "SA": "sat",
    "SU": "sun",
}
ID_PREFIX = "class"
MAX_CLASS = timedelta(hours=24)
# A firing that runs longer than this after its class time is reported as late.
LATE_AFTER = ON_TIME
# A firing no worker has run by the class end plus this is given up (timed out) by Temporal.
FIRING_GRACE = timedelta(minutes=10)
# How far back `describe_class` compares the class times with the firings Temporal recorded.
LOOKBACK = timedelta(days=7)
_WAIT_FOR_FIRING = 10.0


class ScheduleInputError(ValueError):
    """A class or timetable that cannot be scheduled as given (one line saying why); nothing was created."""


class ScheduleExists(Exception):
    """A schedule of that class slot exists already; nothing was created."""

    def __init__(self, schedule_id: str) -> None:
        super().__init__(f"schedule {schedule_id} exists already: delete it first (nothing was created)")
        self.schedule_id = schedule_id


class ScheduleNotFound(Exception):
    """No class schedule with that id, or none for that channel."""


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"time zone {name!r} is unknown: use an IANA name such as Europe/Berlin") from None


class DateRange(BaseModel):
    """Days without class, first to last inclusive (a single day has first == last)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    first: date
    last: date

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.last < self.first:
            raise ValueError(f"skip range {self.first}..{self.last} ends before it begins")
        return self

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}..{self.last}"

    def covers(self, day: date) -> bool:
        """Whether the day falls in the range."""
        return self.first <= day <= self.last


class ClassTimes(BaseModel):
    """When a class meets: weekdays at a local time in a zone, for a duration, within a term, minus holidays."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weekdays: tuple[Weekday, ...] = Field(min_length=1)
    at: time = Field(description="local time of day the class begins (seconds allowed)")
    duration: timedelta
    timezone: str = Field(description="IANA zone the class time is in, e.g. Europe/Berlin")
    first_day: date | None = Field(default=None, description="the term's first day (none: from now on)")
    last_day: date | None = Field(default=None, description="the term's last day, inclusive (none: no end)")
    skip: tuple[DateRange, ...] = Field(default=(), description="holidays: days without class")

    @field_validator("weekdays")
    @classmethod
    def _distinct(cls, value: tuple[Weekday, ...]) -> tuple[Weekday, ...]:
        return tuple(sorted(set(value), key=WEEKDAYS.index))

    @field_validator("at")
    @classmethod
    def _local(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("the class time is a local time of day: give the zone as timezone")
        return value.replace(microsecond=0)

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0) or value > MAX_CLASS:
            raise ValueError(f"class duration {value} is not allowed: more than 0 and at most 24 hours")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        _zone(value)
        return value

    @model_validator(mode="after")
    def _term(self) -> Self:
        if self.first_day and self.last_day and self.last_day < self.first_day:
            raise ValueError(
                f"the term's last day (until) {self.last_day} is before its first day (from) {self.first_day}"
            )
        return self


class ClassSlot(BaseModel):
    """One schedule's class: a channel on one weekday at one time (what the schedule's memo holds)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: str
    title: str | None = None
    weekday: Weekday
    at: time
    duration: timedelta
    timezone: str
    first_day: date | None = None
    last_day: date | None = None
    skip: tuple[DateRange, ...] = ()

    @property
    def key(self) -> str:
        """The slot's part of the schedule id: `mon-0900` (`mon-090030` with seconds)."""
        return f"{self.weekday}-{self.at.strftime('%H%M%S' if self.at.second else '%H%M')}"

    @property
    def label(self) -> str:
        """The class as people say it: `math-101 Monday 09:00 (Europe/Berlin)`."""
        clock = self.at.strftime("%H:%M:%S" if self.at.second else "%H:%M")
        return f"{self.channel} {WEEKDAY_NAMES[WEEKDAYS.index(self.weekday)]} {clock} ({self.timezone})"

    def note(self) -> str:
        """The schedule's note in the Web UI: the class, its length, its term and holidays."""
        parts = [f"{self.label} for {human_duration(self.duration)}"]
        if self.title:
            parts.insert(0, self.title)
        if self.first_day or self.last_day:
            parts.append(f"term {self.first_day or '…'} to {self.last_day or '…'}")
        if self.skip:
            parts.append("skip " + ", ".join(str(s) for s in self.skip))
        return "; ".join(parts)

    def class_time_on(self, day: date) -> datetime | None:
        """The class's start on that local day, or None when there is no class that day."""
        if WEEKDAYS[day.weekday()] != self.weekday:
            return None
        if (self.first_day and day < self.first_day) or (self.last_day and day > self.last_day):
            return None
        if any(s.covers(day) for s in self.skip):
            return None
        return datetime.combine(day, self.at, tzinfo=_zone(self.timezone))

    def class_times(self, start: datetime, end: datetime) -> list[datetime]:
        """Every class start from `start` to `end` (inclusive), in the class's zone."""
        zone = _zone(self.timezone)
        day, last = start.astimezone(zone).date(), end.astimezone(zone).date()
        out = []
        while day <= last:
            at = self.class_time_on(day)
            if at is not None and start <= at <= end:
                out.append(at)
            day += timedelta(days=1)
        return out

    def spec(self) -> ScheduleSpec:
        """The schedule's calendar: this weekday and time in the class's zone, within the term, minus holidays."""
        zone = _zone(self.timezone)
        weekday = (WEEKDAYS.index(self.weekday) + 1) % 7  # Temporal: Sunday is 0
        every_second = {
            "hour": [ScheduleRange(0, 23)],
            "minute": [ScheduleRange(0, 59)],
            "second": [ScheduleRange(0, 59)],
        }
        skip = [
            ScheduleCalendarSpec(
                year=[ScheduleRange(first.year)],
                month=[ScheduleRange(first.month)],
                day_of_month=[ScheduleRange(first.day, last.day)],
                comment=f"no class {holiday}",
                **every_second,
            )
            for holiday in self.skip
            for first, last in _by_month(holiday)
        ]
        return ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    second=[ScheduleRange(self.at.second)],
                    minute=[ScheduleRange(self.at.minute)],
                    hour=[ScheduleRange(self.at.hour)],
                    day_of_week=[ScheduleRange(weekday)],
                    comment=self.label,
                )
            ],
            skip=skip,
            start_at=datetime.combine(self.first_day, time(0), tzinfo=zone) if self.first_day else None,
            end_at=datetime.combine(self.last_day, time(23, 59, 59), tzinfo=zone) if self.last_day else None,
            time_zone_name=self.timezone,
        )


def _by_month(days: DateRange) -> list[tuple[date, date]]:
    """A date range cut at month ends (a calendar spec's day range lies within one month)."""
    out = []
    first = days.first
    while first <= days.last:
        next_month = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        last = min(days.last, next_month - timedelta(days=1))
        out.append((first, last))
        first = next_month
    return out


class ClassSpec(BaseModel):
    """A class to record: the channel's recording options (without an end) and when the class meets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request: RecordingRequest
    times: ClassTimes
    title: str | None = Field(default=None, description="the class's name, e.g. an event's SUMMARY")

    @model_validator(mode="after")
    def _no_end(self) -> Self:
        if self.request.end_at is not None:
            raise ValueError("a scheduled recording ends with its class: leave the request's end_at unset")
        return self

    @property
    def channel(self) -> str:
        """The channel the class is recorded on."""
        return self.request.channel

    def slots(self) -> list[ClassSlot]:
        """One slot per weekday, with the class's other times: each becomes a schedule of its own."""
        times = {name: value for name, value in self.times if name != "weekdays"}
        return [ClassSlot(channel=self.channel, title=self.title, weekday=day, **times) for day in self.times.weekdays]


class ClassSchedule(BaseModel):
    """One class schedule as `list_classes` finds it."""

    model_config = ConfigDict(frozen=True)

    schedule_id: str
    channel: str
    slot: ClassSlot | None
    paused: bool
    note: str | None
    next_times: list[datetime]


FiringStatus = Literal["started", "joined", "missed", "pending", "failed", "not fired"]


class FiringReport(BaseModel):
    """One class time of a schedule: what its firing did, whether it was late, and why."""

    model_config = ConfigDict(frozen=True)

    scheduled_at: datetime
    status: FiringStatus
    late: bool
    on_demand: bool = Field(description="triggered by hand, not at a class time")
    fired_at: datetime | None = None
    ran_at: datetime | None = None
    planned_end: datetime
    workflow_id: str | None = None
    recording_id: str | None = None
    recording_run_id: str | None = None
    reason: str


class ClassReport(BaseModel):
    """What `describe_class` answers: the class, its state, its next class times and its recent firings."""

    model_config = ConfigDict(frozen=True)

    schedule_id: str
    slot: ClassSlot | None
    paused: bool
    note: str | None
    next_times: list[datetime]
    firings: list[FiringReport]
    recordings_query: str


# --- ids and input -----------------------------------------------------------------------------------------------


def schedule_id(app_id: str, channel: str, slot: str) -> str:
    """The schedule id of a class slot: `class:<app id>:<channel>:<weekday>-<HHMM>`."""
    return f"{ID_PREFIX}:{app_id}:{channel}:{slot}"


def _prefix(app_id: str | None, channel: str | None = None) -> str:
    if app_id is None:
        return f"{ID_PREFIX}:"
    return f"{ID_PREFIX}:{app_id}:" + (f"{channel}:" if channel is not None else "")


def recordings_query(schedule_id: str) -> str:
    """The Web UI / visibility filter listing every recording a class schedule started."""
    return f"WorkflowType = {_quote(names.WORKFLOW_NAME)} AND {names.SCHEDULE.name} = {_quote(schedule_id)}"


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


def parse_at(text: str) -> tuple[tuple[Weekday, ...], time]:
    """`mon,wed 09:00`, `mon-fri 08:30`, `Tuesday 14:05:30`: the weekdays and the local time of day."""
    parts = text.replace(", ", ",").split()
    if len(parts) != 2:
        raise ScheduleInputError(f"--at {text!r} is not a class time: use weekdays and a time, e.g. 'mon,wed 09:00'")
    days_text, clock = parts
    days: list[Weekday] = []
    for token in days_text.lower().split(","):
        ends = token.split("-")
        if len(ends) > 2 or not token:
            raise ScheduleInputError(f"weekday {token!r} is unknown: use mon, tue, wed, thu, fri, sat, sun or mon-fri")
        first, last = _weekday(ends[0]), _weekday(ends[-1])
        i, j = WEEKDAYS.index(first), WEEKDAYS.index(last)
        days += [WEEKDAYS[(i + k) % 7] for k in range((j - i) % 7 + 1)]
    match = _TIME.match(clock)
    if match is None:
        raise ScheduleInputError(f"time of day {clock!r} is not HH:MM (24-hour clock, e.g. 09:00 or 14:30)")
    hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ScheduleInputError(f"time of day {clock} is out of range: 00:00 to 23:59")
    return tuple(dict.fromkeys(days)), time(hour, minute, second)


def _weekday(token: str) -> Weekday:
    token = token.strip().lower()
    for day, name in zip(WEEKDAYS, WEEKDAY_NAMES, strict=True):
        if token in (day, name.lower()):
            return day
    raise ScheduleInputError(f"weekday {token!r} is unknown: use mon, tue, wed, thu, fri, sat or sun")


def parse_day(text: str, what: str = "date") -> date:
    """A calendar day as YYYY-MM-DD."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ScheduleInputError(f"{what} {text!r} is not a date: use YYYY-MM-DD") from None


def parse_skip(text: str) -> list[DateRange]:
    """Holidays: `2026-11-11`, `2026-12-21..2027-01-03`, or several of them separated by commas."""
    out = []
    for item in (t.strip() for t in text.split(",")):
        first, _, last = item.partition("..")
        start = parse_day(first, "skip date")
        end = parse_day(last, "skip date") if last else start
        if end < start:
            raise ScheduleInputError(f"skip range {item} ends before it begins")
        out.append(DateRange(first=start, last=end))
    return out


def class_spec(request: RecordingRequest, title: str | None = None, **times: Any) -> ClassSpec:
    """A ClassSpec from keyword values, its validation made one readable line (ScheduleInputError)."""
    try:
        return ClassSpec(request=request, times=ClassTimes(**times), title=title)
    except ValidationError as exc:
        raise ScheduleInputError(api.validation_message(exc)) from None


# --- creating ----------------------------------------------------------------------------------------------------


async def add_class(
    client: Client, spec: ClassSpec, *, app_id: str, task_queue: str | None = None, paused: bool = False
) -> list[str]:
    """Create the schedules of one class (one per weekday); all of them or none. Returns their ids."""
    return await add_classes(client, [spec], app_id=app_id, task_queue=task_queue, paused=paused)


async def add_classes(
    client: Client,
    specs: Sequence[ClassSpec],
    *,
    app_id: str,
    task_queue: str | None = None,
    paused: bool = False,
) -> list[str]:
    """Create the schedules of several classes, all or none: every slot is checked before the first is created."""
    queue = task_queue or load_settings(require=()).task_queue
    planned: dict[str, ClassSlot] = {}
    requests: dict[str, RecordingRequest] = {}
    for spec in specs:
        for slot in spec.slots():
            sid = schedule_id(app_id, slot.channel, slot.key)
            if sid in planned:
                raise ScheduleInputError(f"two classes meet in the same slot {sid}: {planned[sid].label}")
            planned[sid] = slot
            requests[sid] = spec.request
    if not planned:
        raise ScheduleInputError("no class to schedule")
    await _register_schedule_attribute(client)
    for sid in planned:
        if await schedule_exists(client, sid):
            raise ScheduleExists(sid)
    created: list[str] = []
    try:
        for sid, slot in planned.items():
            await _create(client, sid, slot, requests[sid], app_id=app_id, queue=queue, paused=paused)
            created.append(sid)
    except Exception as exc:
        for done in created:  # all or nothing: undo the schedules created before the failure
            await _delete_quietly(client, done)
        if isinstance(exc, ScheduleAlreadyRunningError):  # created by someone else in the meantime
            raise ScheduleExists(sid) from None
        raise
    return created


async def _register_schedule_attribute(client: Client) -> None:
    """Register RecordingSchedule where the server allows it (dev server, self-hosted); Cloud needs `tcld` (README)."""
    try:
        await ensure_search_attributes(client, [names.SCHEDULE])
    except RPCError as err:
        if err.status not in (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED):
            raise


async def schedule_exists(client: Client, sid: str) -> bool:
    """Whether the server has a schedule with this id (strongly consistent, unlike the schedule list)."""
    try:
        await client.get_schedule_handle(sid).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def _delete_quietly(client: Client, sid: str) -> None:
    try:
        await client.get_schedule_handle(sid).delete()
    except RPCError:
        pass  # best effort while undoing a failed creation; the original error is what the caller sees


def _firing(sid: str, slot: ClassSlot, request: RecordingRequest, app_id: str) -> ClassFiring:
    # The recording's details without a planned end: each firing adds its own.
    details = "\n".join(line for line in api.static_details(request).splitlines() if "**planned end**" not in line)
    return ClassFiring(
        schedule_id=sid,
        recording_id=api.workflow_id(app_id, request.channel),
        label=slot.label,
        duration=slot.duration,
        request=request,
        summary=api.static_summary(request),
        details=details,
    )


async def _create(
    client: Client, sid: str, slot: ClassSlot, request: RecordingRequest, *, app_id: str, queue: str, paused: bool
) -> ScheduleHandle:
    action = ScheduleActionStartWorkflow(
        ClassFiringWorkflow.run,
        _firing(sid, slot, request, app_id),
        id=f"{sid}:firing",
        task_queue=queue,
        execution_timeout=slot.duration + FIRING_GRACE,
        memo={"channel": slot.channel, "class": slot.label},
        static_summary=f"Class {slot.label}: start or join its recording",
    )
    return await client.create_schedule(
        sid,
        Schedule(
            action=action,
            spec=slot.spec(),
            # A late firing (server down at class time) still runs while the class is on; the firing workflow
            # itself refuses to start anything after the class has ended.
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL, catchup_window=slot.duration),
            state=ScheduleState(note=slot.note(), paused=paused),
        ),
        memo={"channel": slot.channel, "class": slot.label, "slot": slot.model_dump(mode="json")},
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(names.CHANNEL, slot.channel), SearchAttributePair(names.SCHEDULE, sid)]
        ),
    )


# --- reading -----------------------------------------------------------------------------------------------------


def slot_from_memo(memo: Mapping[str, Any]) -> ClassSlot | None:
    """The class a schedule's memo describes (None for a schedule this module did not create)."""
    raw = memo.get("slot")
    if not isinstance(raw, dict):
        return None
    try:
        return ClassSlot.model_validate(raw)
    except ValidationError:
        return None


async def list_classes(client: Client, *, app_id: str | None = None, channel: str | None = None) -> list[ClassSchedule]:
    """Class schedules (of one App ID, of one channel), by channel and slot; the list is eventually consistent."""
    prefix = _prefix(app_id, channel if app_id is not None else None)
    out = []
    async for entry in await client.list_schedules():
        if not entry.id.startswith(prefix):
            continue
        memo = await entry.memo()
        slot = slot_from_memo(memo)
        ch = slot.channel if slot else str(memo.get("channel", ""))
        if channel is not None and ch != channel:
            continue
        state = entry.schedule.state if entry.schedule else None
        out.append(
            ClassSchedule(
                schedule_id=entry.id,
                channel=ch,
                slot=slot,
                paused=bool(state and state.paused),
                note=state.note if state else None,
                next_times=list(entry.info.next_action_times) if entry.info and not (state and state.paused) else [],
            )
        )
    return sorted(out, key=lambda s: (s.channel, *_order(s.slot), s.schedule_id))


def _order(slot: ClassSlot | None) -> tuple[int, time]:
    """Slots in week order: Monday first, then by time of day."""
    return (WEEKDAYS.index(slot.weekday), slot.at) if slot else (7, time(0))


async def find_classes(client: Client, target: str, slot: str | None = None, *, app_id: str | None) -> list[str]:
    """Schedule ids for a target: a schedule id itself, a channel and a slot (`mon-0900`), or all of a channel's."""
    if target.startswith(f"{ID_PREFIX}:"):
        return [target]
    if app_id is None:
        raise ScheduleInputError("the App ID is needed to find a channel's schedules (set AGORA_APP_ID)")
    if slot is not None:
        return [schedule_id(app_id, target, slot)]
    found = [s.schedule_id for s in await list_classes(client, app_id=app_id, channel=target)]
    if not found:
        raise ScheduleNotFound(f"no class schedule for channel {target} (App ID {app_id})")
    return found


async def _describe(client: Client, sid: str) -> ScheduleDescription:
    try:
        return await client.get_schedule_handle(sid).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise ScheduleNotFound(f"no class schedule {sid}") from None
        raise


async def describe_class(
    client: Client, schedule_id: str, *, lookback: timedelta = LOOKBACK, now: datetime | None = None
) -> ClassReport:
    """The class, its state and next class times, and each class time of the last `lookback`: fired or not, and why."""
    desc = await _describe(client, schedule_id)
    slot = slot_from_memo(await desc.memo())
    now = now or datetime.now(UTC)
    since = max(desc.info.created_at, now - lookback)
    firings = await _firings(client, desc, since)
    reports = [await _firing_report(client, wid, scheduled, fired, slot, now) for wid, (scheduled, fired) in firings]
    if slot is not None:
        seen = {r.scheduled_at for r in reports}
        for at in slot.class_times(since, now - LATE_AFTER):
            if at not in seen:
                reports.append(_not_fired(at, slot, now, paused=desc.schedule.state.paused))
    reports.sort(key=lambda r: r.scheduled_at, reverse=True)
    return ClassReport(
        schedule_id=schedule_id,
        slot=slot,
        paused=desc.schedule.state.paused,
        note=desc.schedule.state.note,
        # A paused schedule still lists the times it would fire at: none of them fires until it is resumed.
        next_times=[] if desc.schedule.state.paused else [t for t in desc.info.next_action_times if t > now],
        firings=reports,
        recordings_query=recordings_query(schedule_id),
    )


async def _firings(
    client: Client, desc: ScheduleDescription, since: datetime
) -> list[tuple[str, tuple[datetime, datetime | None]]]:
    """The firing workflows since `since`: the schedule's recent actions, plus older ones from visibility."""
    found: dict[str, tuple[datetime, datetime | None]] = {}
    for action in desc.info.recent_actions:
        if isinstance(action.action, ScheduleActionExecutionStartWorkflow) and action.scheduled_at >= since:
            found[action.action.workflow_id] = (action.scheduled_at, action.started_at)
    query = (
        f"{SCHEDULED_BY.name} = {_quote(desc.id)} AND "
        f"{SCHEDULED_START.name} >= {_quote(since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ'))}"
    )
    async for wf in client.list_workflows(query, limit=500):
        scheduled = wf.typed_search_attributes.get(SCHEDULED_START)
        if scheduled is not None and wf.id not in found:
            found[wf.id] = (scheduled, wf.start_time)
    return list(found.items())


async def _firing_report(
    client: Client, wid: str, scheduled: datetime, fired: datetime | None, slot: ClassSlot | None, now: datetime
) -> FiringReport:
    duration = slot.duration if slot else timedelta(0)
    on_demand = slot is not None and slot.class_time_on(scheduled.astimezone(_zone(slot.timezone)).date()) != scheduled
    base: dict[str, Any] = {
        "scheduled_at": scheduled,
        "fired_at": fired,
        "on_demand": on_demand,
        "workflow_id": wid,
        "planned_end": scheduled + duration,
    }
    handle = client.get_workflow_handle_for(ClassFiringWorkflow.run, wid)
    status = (await handle.describe()).status
    if status == WorkflowExecutionStatus.RUNNING:
        waited = now - (fired or scheduled)
        return FiringReport(
            status="pending",
            late=now - scheduled > LATE_AFTER,
            reason=f"Temporal started the firing, no worker has run it for {human_duration(waited)}: is a recording "
            "worker polling its task queue?",
            **base,
        )
    try:
        result: FiringResult = await handle.result()
    except WorkflowFailureError as err:
        timed_out = status == WorkflowExecutionStatus.TIMED_OUT
        reason = (
            "no worker ran the firing before the class ended (every worker was down): nothing was recorded"
            if timed_out
            else f"the firing failed: {err.cause or err}"
        )
        return FiringReport(status="missed" if timed_out else "failed", late=True, reason=reason, **base)
    late = result.outcome == "missed" or timedelta(seconds=result.late_seconds) > LATE_AFTER
    reason = result.reason
    if late:
        reason += "; " + _why_late(scheduled, result.fired_at, result.ran_at)
    base.update(planned_end=result.planned_end, fired_at=result.fired_at)
    return FiringReport(
        status=result.outcome,
        late=late,
        ran_at=result.ran_at,
        recording_id=result.recording_id,
        recording_run_id=result.run_id,
        reason=reason,
        **base,
    )


def _why_late(scheduled: datetime, fired: datetime, ran: datetime) -> str:
    """Which part of Temporal was late: the server firing the schedule, or the workers running the firing."""
    causes = []
    if fired - scheduled > LATE_AFTER:
        causes.append(
            f"Temporal fired the schedule {human_duration(fired - scheduled)} after class time (the server was down or "
            "busy; it catches up while the class is on)"
        )
    if ran - fired > LATE_AFTER:
        causes.append(f"no worker ran the firing for {human_duration(ran - fired)} (every worker was down)")
    return " and ".join(causes) or "the firing ran late"


def _not_fired(at: datetime, slot: ClassSlot, now: datetime, *, paused: bool) -> FiringReport:
    end = at + slot.duration
    if now < end:
        reason = "not fired yet although the class has begun: Temporal fires it late while the class is on"
    else:
        reason = (
            "Temporal never fired it: the server was down (or the schedule paused) until the class had ended, "
            "so nothing was recorded"
        )
    if paused:
        reason += "; the schedule is paused now"
    return FiringReport(scheduled_at=at, status="not fired", late=True, on_demand=False, planned_end=end, reason=reason)


# --- changing ----------------------------------------------------------------------------------------------------


async def _handle(client: Client, sid: str) -> ScheduleHandle:
    await _describe(client, sid)  # a clear ScheduleNotFound instead of an RPC error
    return client.get_schedule_handle(sid)


async def pause_class(client: Client, schedule_id: str, *, note: str | None = None) -> None:
    """Pause a class schedule: no firing until it is resumed (missed classes are not made up)."""
    handle = await _handle(client, schedule_id)
    await handle.pause(note=note or "paused with `recorder schedule pause`")


async def resume_class(client: Client, schedule_id: str) -> None:
    """Resume a paused class schedule; its note names the class again."""
    desc = await _describe(client, schedule_id)
    slot = slot_from_memo(await desc.memo())
    await client.get_schedule_handle(schedule_id).unpause(note=slot.note() if slot else "resumed")


async def delete_class(client: Client, schedule_id: str) -> None:
    """Delete a class schedule; a recording it started goes on until its class ends."""
    handle = await _handle(client, schedule_id)
    await handle.delete()


async def trigger_class(client: Client, schedule_id: str, *, wait: bool = False) -> FiringResult | None:
    """Fire a class now: its recording starts (or is joined) for the class duration; with wait, the firing's result."""
    handle = await _handle(client, schedule_id)
    before = datetime.now(UTC).replace(microsecond=0)
    await handle.trigger(overlap=ScheduleOverlapPolicy.ALLOW_ALL)
    if not wait:
        return None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _WAIT_FOR_FIRING
    while loop.time() < deadline:
        for action in (await handle.describe()).info.recent_actions:
            if isinstance(action.action, ScheduleActionExecutionStartWorkflow) and action.scheduled_at >= before:
                return await client.get_workflow_handle_for(ClassFiringWorkflow.run, action.action.workflow_id).result()
        await asyncio.sleep(0.2)
    raise TimeoutError(f"schedule {schedule_id} was triggered but its firing did not show within {_WAIT_FOR_FIRING} s")


# --- iCalendar ---------------------------------------------------------------------------------------------------


def classes_from_ics(
    data: bytes,
    request_for: Callable[[str], RecordingRequest],
    *,
    channels: Mapping[str, str] | None = None,
    default_timezone: str | None = None,
) -> list[ClassSpec]:
    """The classes of an iCalendar timetable, every event validated (a ScheduleInputError naming the event if not)."""
    # Each VEVENT is one class: DTSTART (with TZID, or UTC) is its first class and time of day, DTEND or DURATION its
    # length, a weekly RRULE (BYDAY, UNTIL or COUNT) its weekdays and term, EXDATE its holidays; an event without
    # RRULE is a single class. Its channel is X-AGORA-CHANNEL, else channels[SUMMARY]. Rules a weekly schedule cannot
    # express (another FREQ, INTERVAL > 1, n-th weekdays, other BY parts, RDATE, moved occurrences) are refused.
    # request_for(channel) gives a channel's recording options and refuses a channel Agora would refuse.
    try:
        calendar = icalendar.Calendar.from_ical(data)
    except ValueError as exc:
        raise ScheduleInputError(f"the file is not iCalendar: {' '.join(str(exc).split())[:200]}") from None
    events = list(calendar.events)
    if not events:
        raise ScheduleInputError("the timetable has no events (no VEVENT)")
    moved = {str(e.get("UID")) for e in events if e.get("RECURRENCE-ID") is not None}
    specs = []
    for event in events:
        name = _event_name(event)
        try:
            if event.get("RECURRENCE-ID") is not None or str(event.get("UID")) in moved:
                raise ScheduleInputError(
                    "RECURRENCE-ID (a moved or changed occurrence) cannot be expressed by a weekly schedule"
                )
            specs.append(_event_class(event, request_for, channels or {}, default_timezone))
        except ScheduleInputError as exc:
            raise ScheduleInputError(f"event {name}: {exc}") from None
        except (ValueError, KeyError, TypeError) as exc:  # icalendar's InvalidCalendar is a ValueError
            raise ScheduleInputError(f"event {name}: {' '.join(str(exc).split())[:200]}") from None
    return specs


def _event_name(event: icalendar.Event) -> str:
    summary, uid = event.get("SUMMARY"), event.get("UID")
    parts = [f"{str(summary)!r}" if summary else "(no SUMMARY)"]
    if uid:
        parts.append(f"UID {uid}")
    return " ".join(parts)


def _event_class(
    event: icalendar.Event,
    request_for: Callable[[str], RecordingRequest],
    channels: Mapping[str, str],
    default_timezone: str | None,
) -> ClassSpec:
    summary = str(event.get("SUMMARY") or "") or None
    channel = str(event.get("X-AGORA-CHANNEL") or "").strip() or (channels.get(summary) if summary else None)
    if not channel:
        raise ScheduleInputError(
            "names no channel: add an X-AGORA-CHANNEL property or map its SUMMARY with --channel 'SUMMARY=CHANNEL'"
        )
    if event.get("DTSTART") is None:
        raise ScheduleInputError("has no DTSTART")
    if not isinstance(event.decoded("DTSTART"), datetime):
        raise ScheduleInputError("is an all-day event: a class needs a time of day (DTSTART with a time)")
    start = event.start
    assert isinstance(start, datetime)
    zone = _event_zone(start, event["DTSTART"].params.get("TZID"), default_timezone)
    local = start.astimezone(ZoneInfo(zone)) if start.tzinfo is not None else start
    duration = event.duration
    for prop in ("RDATE",):
        if event.get(prop) is not None:
            raise ScheduleInputError(f"{prop} (extra dates) cannot be expressed by a weekly schedule")
    rules = event.get("RRULE")
    rules = rules if isinstance(rules, list) else [rules] if rules is not None else []
    if len(rules) > 1:
        raise ScheduleInputError("has several RRULEs: a class has one weekly rule")
    weekdays: tuple[Weekday, ...] = (WEEKDAYS[local.weekday()],)
    last_day: date | None = local.date()
    if rules:
        weekdays, last_day = _weekly(rules[0], local, zone)
    skip = tuple(DateRange(first=d, last=d) for d in sorted({_local_day(x, zone) for x in event.exdates}))
    try:
        request = request_for(channel)
    except ValidationError as exc:
        raise ScheduleInputError(f"channel {channel!r}: {api.validation_message(exc)}") from None
    except ValueError as exc:  # the caller's refusal (e.g. a channel Agora refuses), reported as this event's
        raise ScheduleInputError(f"channel {channel!r}: {exc}") from None
    try:
        return ClassSpec(
            request=request,
            title=summary,
            times=ClassTimes(
                weekdays=weekdays,
                at=local.time().replace(tzinfo=None),
                duration=duration,
                timezone=zone,
                first_day=local.date(),
                last_day=last_day,
                skip=skip,
            ),
        )
    except ValidationError as exc:
        raise ScheduleInputError(api.validation_message(exc)) from None


def _event_zone(start: datetime, tzid: str | None, default_timezone: str | None) -> str:
    tz = start.tzinfo
    if tz is None and tzid:
        raise ScheduleInputError(f"TZID {tzid!r} is not a time zone Temporal knows: use an IANA name (Europe/Berlin)")
    if tz is None:
        if default_timezone is None:
            raise ScheduleInputError("DTSTART has no TZID (a floating time) and no default zone was given (--tz)")
        return default_timezone
    if isinstance(tz, ZoneInfo):
        return tz.key
    if start.utcoffset() == timedelta(0) and tz.tzname(start) in ("UTC", "Z", None):
        return "UTC"
    raise ScheduleInputError(f"TZID {tz.tzname(start)!r} is not an IANA time zone Temporal knows (e.g. Europe/Berlin)")


def _local_day(value: date | datetime, zone: str) -> date:
    if isinstance(value, datetime):
        return (value.astimezone(ZoneInfo(zone)) if value.tzinfo else value).date()
    return value


_ALLOWED_RULE_PARTS = {"FREQ", "INTERVAL", "BYDAY", "UNTIL", "COUNT", "WKST"}


def _weekly(rule: icalendar.vRecur, start: datetime, zone: str) -> tuple[tuple[Weekday, ...], date | None]:
    """A weekly RRULE's weekdays and last day; anything a weekly calendar cannot express is refused."""
    text = _rule_text(rule)
    freq = [str(f).upper() for f in rule.get("FREQ", [])]
    if freq != ["WEEKLY"]:
        raise ScheduleInputError(f"RRULE {text}: only FREQ=WEEKLY can be expressed (one schedule per weekday)")
    extra = sorted(set(rule) - _ALLOWED_RULE_PARTS)
    if extra:
        raise ScheduleInputError(f"RRULE {text}: {', '.join(extra)} cannot be expressed by a weekly schedule")
    interval = [int(i) for i in rule.get("INTERVAL", [1])]
    if interval != [1]:
        raise ScheduleInputError(f"RRULE {text}: INTERVAL={interval[0]} (every n-th week) cannot be expressed")
    days: list[Weekday] = []
    for token in rule.get("BYDAY", []) or [list(_ICAL_DAYS)[start.weekday()]]:
        code = str(token).upper()
        if code not in _ICAL_DAYS:
            raise ScheduleInputError(f"RRULE {text}: BYDAY={code} (an n-th weekday) cannot be expressed")
        days.append(_ICAL_DAYS[code])
    until = rule.get("UNTIL", [])
    counts = rule.get("COUNT", [])
    last: date | None = None
    if until:
        last = _local_day(until[0], zone)
    elif counts:
        last = _nth_class_day(start, days, int(counts[0]))
    return tuple(sorted(set(days), key=WEEKDAYS.index)), last


def _rule_text(rule: icalendar.vRecur) -> str:
    """The rule as the file spells it, for messages."""

    def value(v: object) -> str:
        return v.strftime("%Y%m%dT%H%M%S") if isinstance(v, datetime) else str(v)

    return ";".join(f"{key}={','.join(value(v) for v in values)}" for key, values in rule.items())


def _nth_class_day(start: datetime, days: Iterable[Weekday], count: int) -> date:
    """The day of the count-th class from the first (COUNT includes the first class, RFC 5545)."""
    wanted = {WEEKDAYS.index(d) for d in days}
    day, seen = start.date(), 0
    while True:
        if day.weekday() in wanted:
            seen += 1
            if seen >= count:
                return day
        day += timedelta(days=1)


def human_duration(delta: timedelta) -> str:
    """A duration as people write it: 50m, 1h30m, 45s."""
    seconds = int(delta.total_seconds())
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    text = "".join(f"{v}{u}" for v, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if v) or "0s"
    return ("-" if seconds < 0 else "") + text
