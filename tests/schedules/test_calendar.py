"""What Temporal makes of a class's calendar: local class times across DST, term bounds and holidays (no waiting)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import Client

from recorder import schedules
from tests.schedules.conftest import APP_ID, channel, request_for

pytestmark = pytest.mark.devserver

BERLIN = "Europe/Berlin"


def next_dst_change(zone: str) -> date:
    """The first day from a week ahead on whose noon the zone's UTC offset differs from the day before's."""
    tz = ZoneInfo(zone)
    day = datetime.now(UTC).date() + timedelta(days=7)
    while True:
        before = datetime.combine(day - timedelta(days=1), time(12), tzinfo=tz).utcoffset()
        if datetime.combine(day, time(12), tzinfo=tz).utcoffset() != before:
            return day
        day += timedelta(days=1)


async def next_times(client: Client, spec: schedules.ClassSpec) -> list[datetime]:
    """Create the class's one schedule and return the class times Temporal computes for it."""
    [sid] = await schedules.add_class(client, spec, app_id=APP_ID, task_queue="tq-never-polled")
    report = await schedules.describe_class(client, sid)
    await schedules.delete_class(client, sid)
    return report.next_times


async def test_a_class_stays_at_its_local_time_across_a_dst_change(dev_client: Client):
    """A Berlin 09:00 class is at 09:00 local time on each side of the next DST change, an hour apart in UTC."""
    change = next_dst_change(BERLIN)
    weekday = schedules.WEEKDAYS[change.weekday()]
    spec = schedules.class_spec(
        request_for(channel()),
        weekdays=(weekday,),
        at=time(9),
        duration=timedelta(minutes=50),
        timezone=BERLIN,
        first_day=change - timedelta(days=14),
        last_day=change + timedelta(days=7),
    )
    times = await next_times(dev_client, spec)
    local = [t.astimezone(ZoneInfo(BERLIN)) for t in times]
    assert [t.date() for t in local] == [change + timedelta(days=d) for d in (-14, -7, 0, 7)]
    assert {t.time() for t in local} == {time(9)}
    utc_hours = [t.astimezone(UTC).hour for t in times]
    assert utc_hours[0] == utc_hours[1] and utc_hours[2] == utc_hours[3] and abs(utc_hours[1] - utc_hours[2]) == 1
    assert times == spec.slots()[0].class_times(times[0], times[-1])  # `show` computes the same class times


async def test_holidays_and_the_term_bound_the_class_times(dev_client: Client):
    """Single skip dates and a range across a month end drop their classes; none falls outside --from/--until."""
    first = datetime.now(UTC).date() + timedelta(days=30)
    first += timedelta(days=(7 - first.weekday()) % 7)  # a Monday
    last = first + timedelta(weeks=8)
    month_end = date(first.year + first.month // 12, first.month % 12 + 1, 1)  # the 1st after the term's first day
    if month_end - first < timedelta(weeks=2):
        month_end = date(month_end.year + month_end.month // 12, month_end.month % 12 + 1, 1)
    holidays = [
        schedules.DateRange(first=first + timedelta(weeks=1), last=first + timedelta(weeks=1)),
        schedules.DateRange(first=month_end - timedelta(days=6), last=month_end + timedelta(days=7)),
    ]
    spec = schedules.class_spec(
        request_for(channel()),
        weekdays=("mon",),
        at=time(14, 30),
        duration=timedelta(minutes=45),
        timezone="Asia/Tokyo",
        first_day=first,
        last_day=last,
        skip=holidays,
    )
    times = await next_times(dev_client, spec)
    mondays = [first + timedelta(weeks=w) for w in range(9)]
    expected = [d for d in mondays if not any(h.covers(d) for h in holidays)]
    assert len(expected) == 6  # one single holiday and two Mondays in a 14-day range
    tokyo = [t.astimezone(ZoneInfo("Asia/Tokyo")) for t in times]
    assert [t.date() for t in tokyo] == expected
    assert {t.time() for t in tokyo} == {time(14, 30)}


@pytest.mark.parametrize(
    ("text", "days", "clock"),
    [
        ("mon,wed 09:00", ("mon", "wed"), time(9)),
        ("Monday 9:05", ("mon",), time(9, 5)),
        ("mon-fri 08:30", ("mon", "tue", "wed", "thu", "fri"), time(8, 30)),
        ("sat-mon 23:59:30", ("sat", "sun", "mon"), time(23, 59, 30)),
    ],
)
def test_class_times_read_as_people_write_them(text: str, days: tuple[str, ...], clock: time):
    """Weekdays (lists, ranges, full names) and a 24-hour time of day, seconds allowed."""
    assert schedules.parse_at(text) == (days, clock)


def test_one_schedule_per_weekday_named_by_channel_and_slot():
    """A Monday and Wednesday class becomes two schedules whose ids name the channel and the slot."""
    spec = schedules.class_spec(
        request_for("math-101"), weekdays=("wed", "mon"), at=time(9), duration=timedelta(minutes=50), timezone=BERLIN
    )
    ids = [schedules.schedule_id(APP_ID, s.channel, s.key) for s in spec.slots()]
    assert ids == [f"class:{APP_ID}:math-101:mon-0900", f"class:{APP_ID}:math-101:wed-0900"]
    assert [s.label for s in spec.slots()] == [
        "math-101 Monday 09:00 (Europe/Berlin)",
        "math-101 Wednesday 09:00 (Europe/Berlin)",
    ]
