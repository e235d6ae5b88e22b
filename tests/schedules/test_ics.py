"""Reading an iCalendar timetable: which events become which classes, and which rules are refused, naming the event."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest

from recorder import schedules
from tests.schedules.conftest import request_for

BERLIN = "Europe/Berlin"


def ics(*events: str) -> bytes:
    """A calendar of the given VEVENT bodies (property lines, one per line)."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//school//timetable//EN"]
    for body in events:
        lines += ["BEGIN:VEVENT", *body.strip().splitlines(), "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(line.strip() for line in lines) + "\r\n").encode()


MATH = """
UID:math-101@school
SUMMARY:Math 101
X-AGORA-CHANNEL:math-101
DTSTART;TZID=Europe/Berlin:20260907T090000
DTEND;TZID=Europe/Berlin:20260907T095000
RRULE:FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20261218T225959Z
EXDATE;TZID=Europe/Berlin:20261026T090000,20261028T090000
EXDATE;TZID=Europe/Berlin:20261111T090000
"""


def read(
    data: bytes, channels: dict[str, str] | None = None, default_timezone: str | None = None
) -> list[schedules.ClassSpec]:
    """The classes of a calendar, with the test's recording options for every channel."""
    return schedules.classes_from_ics(data, request_for, channels=channels, default_timezone=default_timezone)


def test_a_weekly_event_becomes_one_class_with_its_term_and_holidays():
    """BYDAY, DTSTART/DTEND with TZID, UNTIL and EXDATE become weekdays, time, duration, zone, term and skip dates."""
    [spec] = read(ics(MATH))
    assert (spec.channel, spec.title) == ("math-101", "Math 101")
    t = spec.times
    assert (t.weekdays, t.at, t.duration, t.timezone) == (("mon", "wed"), time(9), timedelta(minutes=50), BERLIN)
    assert (t.first_day, t.last_day) == (date(2026, 9, 7), date(2026, 12, 18))
    assert [str(s) for s in t.skip] == ["2026-10-26", "2026-10-28", "2026-11-11"]
    assert [s.key for s in spec.slots()] == ["mon-0900", "wed-0900"]


def test_count_utc_and_a_summary_mapping():
    """COUNT ends the term on the last class; a UTC time is in UTC; --channel maps a SUMMARY to its channel."""
    body = """
    UID:art@school
    SUMMARY:Art
    DTSTART:20260908T130000Z
    DURATION:PT1H30M
    RRULE:FREQ=WEEKLY;BYDAY=TU,TH;COUNT=5
    """
    [spec] = read(ics(body), channels={"Art": "art-7b"})
    assert spec.channel == "art-7b"
    assert (spec.times.timezone, spec.times.at, spec.times.duration) == ("UTC", time(13), timedelta(minutes=90))
    # Tue 8, Thu 10, Tue 15, Thu 17, Tue 22 September.
    assert (spec.times.first_day, spec.times.last_day) == (date(2026, 9, 8), date(2026, 9, 22))


def test_a_single_event_is_one_class_on_its_day_and_a_floating_time_takes_the_default_zone():
    """An event without RRULE is one class on its date; a time without TZID is in the default zone."""
    body = """
    UID:exam@school
    SUMMARY:Exam
    X-AGORA-CHANNEL:exam-hall
    DTSTART:20261216T100000
    DTEND:20261216T120000
    """
    [spec] = read(ics(body), default_timezone="America/New_York")
    t = spec.times
    assert (t.weekdays, t.timezone, t.first_day, t.last_day) == (
        ("wed",),
        "America/New_York",
        date(2026, 12, 16),
        date(2026, 12, 16),
    )


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("RRULE:FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20261218T225959Z", None),
        ("RRULE:FREQ=DAILY", "RRULE FREQ=DAILY: only FREQ=WEEKLY can be expressed"),
        ("RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO", "INTERVAL=2 (every n-th week) cannot be expressed"),
        ("RRULE:FREQ=WEEKLY;BYDAY=1MO", "BYDAY=1MO (an n-th weekday) cannot be expressed"),
        ("RRULE:FREQ=WEEKLY;BYDAY=MO;BYMONTH=9,10", "BYMONTH cannot be expressed by a weekly schedule"),
        ("RDATE;TZID=Europe/Berlin:20261230T090000", "RDATE (extra dates) cannot be expressed"),
        ("RECURRENCE-ID;TZID=Europe/Berlin:20260914T090000", "RECURRENCE-ID (a moved or changed occurrence)"),
    ],
)
def test_rules_a_weekly_schedule_cannot_express_are_refused_naming_the_event(change: str, words: str | None):
    """Each inexpressible rule is refused with one line naming the event and the rule (a weekly rule is accepted)."""
    body = "\n".join(line for line in MATH.splitlines() if not line.startswith("RRULE")) + "\n" + change
    if words is None:
        assert len(read(ics(body))) == 1
        return
    with pytest.raises(schedules.ScheduleInputError) as err:
        read(ics(body))
    assert str(err.value).startswith("event 'Math 101' UID math-101@school: ")
    assert words in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "the file is not iCalendar"),
        (b"this is not a calendar\r\n", "the file is not iCalendar"),
        (ics(), "the timetable has no events"),
        (ics(MATH.replace("X-AGORA-CHANNEL:math-101", "")), "names no channel: add an X-AGORA-CHANNEL property"),
        (ics(MATH.replace("math-101\n", "math/101\n")), "channel 'math/101': cname 'math/101' is not allowed"),
        (ics(MATH.replace("DTSTART;TZID=Europe/Berlin:20260907T090000", "DTSTART;VALUE=DATE:20260907")), "all-day"),
        (ics(MATH.replace("DTEND;TZID=Europe/Berlin:20260907T095000", "")), "class duration 0:00:00 is not allowed"),
        (ics(MATH.replace("DTEND;TZID=Europe/Berlin:20260907T095000", "DURATION:PT25H")), "at most 24 hours"),
        (ics(MATH.replace("TZID=Europe/Berlin:20260907T09", "TZID=Nowhere/Land:20260907T09")), "TZID 'Nowhere/Land'"),
        (ics(MATH.replace("DTSTART;TZID=Europe/Berlin:20260907T090000", "DTSTART:20260907T090000")), "no TZID"),
        (ics(MATH.replace("DTSTART;TZID=Europe/Berlin:20260907T090000", "DTSTART:2026-09-07")), "event 'Math 101'"),
    ],
)
def test_broken_or_unusable_timetables_are_refused_in_one_line(data: bytes, words: str):
    """A file that is not iCalendar, has no events, or an event without channel, time, length or zone is refused."""
    with pytest.raises(schedules.ScheduleInputError) as err:
        read(data)
    assert words in str(err.value) and "\n" not in str(err.value)
