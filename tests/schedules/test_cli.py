"""`recorder schedule ...` in-process against the dev server: a term timetable end to end, and its refusals."""

from __future__ import annotations

import json
import os
from datetime import UTC, date
from pathlib import Path

import pytest
from temporalio.client import Client

from emulator.testing import RunningEmulator
from recorder import cli, schedules
from recorder.worker import running_workers
from tests.conftest import settings_for
from tests.schedules.conftest import APP_ID, UIDS, channel, eventually
from tests.schedules.test_ics import MATH, ics
from tests.workflows.helpers import TEACHER, tasks_of

pytestmark = pytest.mark.devserver

CLASS = ["--at", "mon 09:00", "--duration", "50m", "--tz", "Europe/Berlin"]


def one_error_line(err: str) -> str:
    """The single stderr line of a failed command (and proof there is no traceback)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("recorder: ")
    return lines[0]


def changed(options: list[str], **values: str | None) -> list[str]:
    """CLASS with some options' values replaced (None drops the option)."""
    out = list(options)
    for name, value in values.items():
        i = out.index(f"--{name}")
        if value is None:
            del out[i : i + 2]
        else:
            out[i + 1] = value
    return out


async def nothing_for(client: Client, ch: str) -> bool:
    """No 09:00 schedule exists for the channel on any weekday."""
    ids = [schedules.schedule_id(APP_ID, ch, f"{d}-0900") for d in schedules.WEEKDAYS]
    return not any([await schedules.schedule_exists(client, sid) for sid in ids])


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (changed(CLASS, at="mnd 09:00") + UIDS, "weekday 'mnd' is unknown"),
        (changed(CLASS, at="mon 24:00") + UIDS, "time of day 24:00 is out of range"),
        (changed(CLASS, at="mon 09:60") + UIDS, "time of day 09:60 is out of range"),
        (changed(CLASS, at="mon nine") + UIDS, "time of day 'nine' is not HH:MM"),
        (changed(CLASS, tz=None) + UIDS, "no time zone: give --tz"),
        (changed(CLASS, tz="Mars/Olympus") + UIDS, "time zone 'Mars/Olympus' is unknown"),
        (changed(CLASS, duration="0") + UIDS, "class duration 0:00:00 is not allowed"),
        (changed(CLASS, duration="24h1m") + UIDS, "at most 24 hours"),
        (CLASS + UIDS + ["--from", "2026-12-18", "--until", "2026-09-01"], "last day (until) 2026-09-01 is before"),
        (CLASS + UIDS + ["--skip", "2026-11-31"], "skip date '2026-11-31' is not a date"),
        (CLASS + UIDS + ["--skip", "2026-12-24..2026-12-20"], "ends before it begins"),
        (CLASS, "--uid is required"),
    ],
)
async def test_bad_input_exits_2_in_one_line_and_creates_nothing(
    cli_env: Client, capsys: pytest.CaptureFixture[str], options: list[str], words: str
):
    """Each bad option of `schedule add` is one line on stderr with exit code 2, and no schedule is created."""
    ch = channel()
    assert await cli.run(["schedule", "add", ch, *options]) == 2
    assert words in one_error_line(capsys.readouterr().err)
    assert await nothing_for(cli_env, ch)


async def test_a_channel_agora_refuses_is_bad_input(cli_env: Client, capsys: pytest.CaptureFixture[str]):
    """A channel name Agora would refuse is one line with exit code 2, and no schedule is created."""
    assert await cli.run(["schedule", "add", "math/101", *CLASS, *UIDS]) == 2
    assert "cname 'math/101' is not allowed" in one_error_line(capsys.readouterr().err)
    assert await nothing_for(cli_env, "math/101")


async def test_the_default_zone_is_a_setting_read_from_dot_env_too(
    cli_env: Client, capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    """RECORDER_TIMEZONE in the working directory's .env is the zone of a class given without --tz; a bad one is
    refused in one line before anything is created."""
    ch = channel()
    (tmp_path / ".env").write_text("RECORDER_TIMEZONE=Asia/Tokyo\n")
    assert await cli.run(["schedule", "add", ch, *changed(CLASS, tz=None), *UIDS]) == 0
    capsys.readouterr()
    sid = schedules.schedule_id(APP_ID, ch, "mon-0900")
    report = await schedules.describe_class(cli_env, sid)
    assert report.slot is not None and report.slot.timezone == "Asia/Tokyo"
    await schedules.delete_class(cli_env, sid)

    other = channel()
    (tmp_path / ".env").write_text("RECORDER_TIMEZONE=Mars/Olympus\n")
    assert await cli.run(["schedule", "add", other, *changed(CLASS, tz=None), *UIDS]) == 2
    assert "RECORDER_TIMEZONE must be an IANA time zone" in one_error_line(capsys.readouterr().err)
    assert await nothing_for(cli_env, other)


PHYSICS = """
UID:physics@school
SUMMARY:Physics
DTSTART;TZID=Europe/Berlin:20260908T110000
DTEND;TZID=Europe/Berlin:20260908T120000
RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=TU
"""


async def test_an_inexpressible_rule_refuses_the_whole_file(
    cli_env: Client, capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    """An event whose rule no weekly schedule expresses refuses the file in one line; no event is created."""
    ch = channel()
    path = tmp_path / "timetable.ics"
    path.write_bytes(ics(MATH.replace("math-101", ch), PHYSICS))
    assert await cli.run(["schedule", "import", str(path), "--channel", "Physics=physics-1", *UIDS]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "event 'Physics' UID physics@school: RRULE FREQ=WEEKLY;INTERVAL=2;BYDAY=TU" in line
    assert line.endswith("; nothing was created")
    assert await nothing_for(cli_env, ch)


@pytest.mark.parametrize(
    ("content", "words"),
    [(ics(), "the timetable has no events"), (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n", "is not iCalendar")],
)
async def test_an_empty_or_broken_file_is_refused(
    cli_env: Client, capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes, words: str
):
    """An .ics with no events or a broken one is one line with exit code 2."""
    path = tmp_path / "timetable.ics"
    path.write_bytes(content)
    assert await cli.run(["schedule", "import", str(path), *UIDS]) == 2
    assert words in one_error_line(capsys.readouterr().err)


async def test_import_creates_a_schedule_per_class_slot(
    cli_env: Client, capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    """Each event becomes its channel's schedules, one per weekday, with the file's zone, term and holidays."""
    math, art = channel(), channel()
    path = tmp_path / "timetable.ics"
    art_event = PHYSICS.replace("INTERVAL=2;", "").replace("Physics", "Art").replace("physics@", "art@")
    path.write_bytes(ics(MATH.replace("math-101", math), art_event))
    assert await cli.run(["schedule", "import", str(path), "--channel", f"Art={art}", *UIDS]) == 0
    out = capsys.readouterr().out
    ids = [schedules.schedule_id(APP_ID, math, s) for s in ("mon-0900", "wed-0900")]
    ids.append(schedules.schedule_id(APP_ID, art, "tue-1100"))
    assert [line.split()[1].rstrip(":") for line in out.splitlines()] == ids
    report = await schedules.describe_class(cli_env, ids[0])
    assert report.slot is not None and report.slot.timezone == "Europe/Berlin"
    assert [str(s) for s in report.slot.skip] == ["2026-10-26", "2026-10-28", "2026-11-11"]
    assert all(t.astimezone(UTC).date() <= date(2026, 12, 18) for t in report.next_times)  # the term's UNTIL
    for sid in ids:
        await schedules.delete_class(cli_env, sid)


async def test_a_term_timetable_end_to_end(
    cli_env: Client, capsys: pytest.CaptureFixture[str], emulator: RunningEmulator
):
    """Add a Monday and Wednesday class, list, show, pause, resume, trigger it to record, stop, and delete it."""
    ch = channel()
    emulator.join(ch, TEACHER)
    term = ["--from", "2027-01-11", "--until", "2027-03-26", "--skip", "2027-02-15..2027-02-19", "--skip", "2027-03-03"]
    rc = await cli.run(
        [
            "schedule",
            "add",
            ch,
            "--at",
            "mon,wed 09:00",
            "--duration",
            "50m",
            "--tz",
            "Europe/Berlin",
            *term,
            "--max-idle",
            "1m",
            "--check-interval",
            "5s",
            *UIDS,
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    mon, wed = (schedules.schedule_id(APP_ID, ch, s) for s in ("mon-0900", "wed-0900"))
    assert f"created {mon}: {ch} Monday 09:00 (Europe/Berlin) for 50m; term 2027-01-11 to 2027-03-26" in out
    assert "next class Mon 2027-01-11 09:00 CET" in out and f"created {wed}" in out

    # All or nothing: Thursday is not created because the Monday slot exists.
    assert (
        await cli.run(["schedule", "add", ch, "--at", "mon,thu 09:00", "--duration", "50m", "--tz", "UTC", *UIDS]) == 1
    )
    assert "exists already" in one_error_line(capsys.readouterr().err)
    assert not await schedules.schedule_exists(cli_env, schedules.schedule_id(APP_ID, ch, "thu-0900"))

    async def listed() -> list[dict[str, object]] | None:
        assert await cli.run(["schedule", "list", "--channel", ch, "--json"]) == 0
        rows: list[dict[str, object]] = json.loads(capsys.readouterr().out)
        return rows if len(rows) == 2 else None

    rows = await eventually(listed, 15)
    assert [r["schedule_id"] for r in rows] == [mon, wed]
    assert await cli.run(["schedule", "list"]) == 0
    table = capsys.readouterr().out
    assert table.startswith("CHANNEL") and any(line.startswith(f"{ch}  mon-0900") for line in table.splitlines())

    assert await cli.run(["schedule", "pause", ch, "mon-0900", "--note", "exam week"]) == 0
    assert capsys.readouterr().out.strip() == f"paused {mon}"
    assert await cli.run(["schedule", "show", ch]) == 0
    shown = capsys.readouterr().out
    assert f"schedule    {mon}" in shown and "state       paused (exam week)" in shown
    assert f"schedule    {wed}" in shown and "state       active" in shown
    assert "skip 2027-02-15..2027-02-19, 2027-03-03" in shown and "next        Wed 2027-01-13 09:00 CET" in shown
    assert f'recordings  WorkflowType = "RecordingWorkflow" AND RecordingSchedule = "{wed}"' in shown
    assert await cli.run(["schedule", "resume", ch]) == 0
    assert capsys.readouterr().out.split() == ["resumed", mon, "resumed", wed]

    async with running_workers(cli_env, settings_for(emulator), queue=os.environ["RECORDER_TASK_QUEUE"]):
        assert await cli.run(["schedule", "trigger", wed, "--wait"]) == 0
        assert f"triggered {wed}: started, started the recording on time" in capsys.readouterr().out
        assert len(await eventually(lambda: _tasks(emulator, ch), 15)) == 1  # one recorder on the channel
        assert await cli.run(["stop", ch]) == 0
        capsys.readouterr()
        assert await cli.run(["schedule", "show", wed, "--json"]) == 0
        [report] = json.loads(capsys.readouterr().out)
    [firing] = report["firings"]
    assert (firing["status"], firing["on_demand"], firing["late"]) == ("started", True, False)

    assert await cli.run(["schedule", "delete", ch, "mon-0900"]) == 0
    assert await cli.run(["schedule", "delete", wed]) == 0
    assert capsys.readouterr().out.split() == ["deleted", mon, "deleted", wed]
    assert not await schedules.schedule_exists(cli_env, mon) and not await schedules.schedule_exists(cli_env, wed)


async def _tasks(emulator: RunningEmulator, ch: str) -> list[dict[str, object]] | None:
    return tasks_of(emulator, ch) or None
