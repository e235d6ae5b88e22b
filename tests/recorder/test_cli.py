"""The `recorder` CLI driven in-process against a dev server, the emulator and a worker, and its error table."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from recorder import api, cli
from recorder.processes import free_port
from recorder.settings import load_settings
from tests.recorder.conftest import APP_ID, Rig, channel
from tests.workflows.helpers import TEACHER, tasks_of
from workflows.models import LineStatus, RecordingStatus

UIDS = ["--uid", "527841", "--backup-uid", "527842"]


def one_error_line(err: str) -> str:
    """The single stderr line of a failed command (and proof there is no traceback)."""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("recorder: ")
    return lines[0]


@pytest.mark.devserver
async def test_start_status_list_watch_stop(cli_env: Rig, capsys: pytest.CaptureFixture[str]):
    """A whole session through the CLI: start --wait, status, list, a second start, watch until stop, the manifest."""
    ch = channel()
    cli_env.emulator.join(ch, TEACHER)
    wid = f"recording:{APP_ID}:{ch}"

    rc = await cli.run(
        ["start", ch, *UIDS, "--max-idle", "1m", "--check-interval", "30s", "--duration", "1h", "--wait"]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert f"started recording {ch}: workflow {wid}" in out
    assert f"{ch}: recording · uid 527841 · sid " in out

    assert await cli.run(["status", ch]) == 0
    out = capsys.readouterr().out
    assert "phase        recording" in out and "recorder     uid 527841 · sid " in out
    sid = tasks_of(cli_env.emulator, ch)[0]["sid"]
    assert f"{sid}_{ch}.m3u8" in out

    assert await cli.run(["status", ch, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["phase"], status["sid"], status["uid"]) == ("recording", sid, "527841")

    rows: list[dict[str, object]] = []
    for _ in range(50):  # visibility catches up with the phase upsert within moments
        assert await cli.run(["list", "--phase", "recording", "--json"]) == 0
        rows = [r for r in json.loads(capsys.readouterr().out) if r["workflow_id"] == wid]
        if rows:
            break
        await asyncio.sleep(0.2)
    assert [(r["channel"], r["sid"], r["status"]) for r in rows] == [(ch, sid, "Running")]
    assert await cli.run(["list"]) == 0
    table = capsys.readouterr().out
    assert table.startswith("CHANNEL") and any(line.startswith(ch) and wid in line for line in table.splitlines())

    assert await cli.run(["start", ch, *UIDS]) == 0
    out = capsys.readouterr().out.strip()
    assert out == f"already recording: {wid} (phase recording); not starting a second recorder"
    assert len(tasks_of(cli_env.emulator, ch)) == 1

    watch = asyncio.create_task(cli.run(["watch", ch, "--interval", "1s"]))
    await asyncio.sleep(1.5)
    assert not watch.done()
    assert await cli.run(["stop", ch]) == 0
    assert await asyncio.wait_for(watch, 15) == 0
    out = capsys.readouterr().out
    assert f"{ch}: recording · uid 527841 · sid {sid}" in out  # the live line
    assert out.count(f"recording of {ch} (mix): stopped, ended by requested") == 2  # stop's and watch's manifest
    assert f"#0 uid 527841 · sid {sid}" in out and "ended: stopped" in out and "upload: uploaded" in out
    assert f"m3u8: {sid}_{ch}.m3u8" in out and "gaps: none" in out
    assert [t["running"] for t in tasks_of(cli_env.emulator, ch)] == [False]

    assert await cli.run(["stop", ch, "--json"]) == 0  # stopping an ended recording prints its final manifest
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["phase"] == "stopped" and [s["sid"] for s in manifest["segments"]] == [sid]
    assert await cli.run(["list", "--all", "--phase", "stopped", "--json"]) == 0


@pytest.mark.devserver
async def test_main_returns_the_exit_code_without_exiting(cli_env: Rig, capsys: pytest.CaptureFixture[str]):
    """main(argv, _exit=False) runs a command in its own event loop and returns its exit code."""
    rc = await asyncio.to_thread(cli.main, ["status", "never-recorded"], _exit=False)
    assert rc == 1
    err = capsys.readouterr().err
    line = one_error_line(err)
    assert line == f"recorder: no recording for channel never-recorded (workflow id recording:{APP_ID}:never-recorded)"


@pytest.mark.devserver
async def test_unknown_storage_profile_fails_the_recording_with_its_reason(
    cli_env: Rig, capsys: pytest.CaptureFixture[str]
):
    """A storage profile the worker does not know fails the workflow at the first start, and --wait says why."""
    ch = channel()
    rc = await cli.run(["start", ch, *UIDS, "--storage-profile", "nowhere", "--wait"])
    captured = capsys.readouterr()
    assert rc == 1
    line = one_error_line(captured.err)
    assert f"the recording of {ch} failed" in line and "storage profile 'nowhere' is not configured" in line
    assert tasks_of(cli_env.emulator, ch) == []


BAD_OPTIONS = [
    (["start", "c1", *UIDS, "--max-idle", "10x"], "argument --max-idle: '10x' is not a duration"),
    (["start", "c1", "--uid", "0", "--backup-uid", "2"], "uid '0' is not allowed"),
    (["start", "c1", "--uid", str(2**32), "--backup-uid", "2"], f"uid '{2**32}' is not allowed"),
    (["start", "c1", "--uid", "7", "--backup-uid", "7"], "uid and backup_uid are both 7"),
    (["start", "c1", *UIDS, "--max-idle", "30s", "--check-interval", "1m"], "check_interval 60 s must be shorter"),
    (["start", "c1", *UIDS, "--mode", "audio"], "argument --mode: invalid choice: 'audio'"),
    (["start", "c1", *UIDS, "--mode", "individual", "--mp4"], "'mp4' is only allowed in mix and web mode"),
    (["start", "c1", *UIDS, "--mode", "web"], "web_url None is required in web mode"),
    (["start", "c1", *UIDS, "--duration", "1h", "--end-at", "2030-01-01T00:00:00+00:00"], "not allowed with"),
    (["start", "c1", *UIDS, "--end-at", "2030-01-01T10:00:00"], "has no timezone"),
    (["start", "c1", *UIDS, "--end-at", "tomorrow"], "'tomorrow' is not an ISO 8601 time"),
    (["start", "math/101", *UIDS], "cname 'math/101' is not allowed"),
    (["start", "c1"], "--uid is required (or set RECORDER_UID)"),
    (["start", "c1", "--uid", "5"], "--backup-uid is required (or set RECORDER_BACKUP_UID)"),
    (["start", "c1", *UIDS, "--storage-profile", "no/slash"], "storage_profile 'no/slash' is not allowed"),
    (["start", "c1", *UIDS, "--mode", "individual"], "subscribe_uid_group is required in individual mode"),
    (["start", "c1", *UIDS, "--uid-group", "6"], "argument --uid-group: invalid choice"),
    (["start", "c1", *UIDS, "--redundant"], "needs redundant_uid and redundant_backup_uid"),
    (["start", "c1", *UIDS, "--redundant-uid", "9"], "only used with redundant=True"),
    (["start", "c1", *UIDS, "--delivery-wait", "soon"], "argument --delivery-wait: 'soon' is not a duration"),
    (["start", "c1", *UIDS, "--delivery-wait", "0"], "delivery_wait 0:00:00 is not allowed: give a wait longer than 0"),
    (["start", "c1", *UIDS, "--delivery-wait", "25h"], "at most 1 day, 0:00:00"),
    (
        ["start", "c1", *UIDS, "--redundant", "--redundant-uid", "9", "--redundant-backup-uid", UIDS[1]],
        "four different",
    ),
    (["watch", "c1", "--interval", "soon"], "argument --interval: 'soon' is not a duration"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    ([], "the following arguments are required: command"),
]


@pytest.mark.parametrize(
    ("argv", "expected"), BAD_OPTIONS, ids=[f"{i}-{' '.join(a[:1] + a[-2:])}" for i, (a, _) in enumerate(BAD_OPTIONS)]
)
async def test_bad_options_exit_2_with_one_line(
    argv: list[str], expected: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """Each bad option or value exits with code 2 and one stderr line that names the problem, before any connection."""
    monkeypatch.setenv("AGORA_APP_ID", APP_ID)
    monkeypatch.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{free_port()}")  # never reached
    for name in ("RECORDER_UID", "RECORDER_BACKUP_UID"):
        monkeypatch.delenv(name, raising=False)
    rc = await cli.run(argv)
    captured = capsys.readouterr()
    assert rc == 2
    assert expected in one_error_line(captured.err)
    assert captured.out == ""


async def test_uids_from_the_environment(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """RECORDER_UID and RECORDER_BACKUP_UID stand in for --uid and --backup-uid (and are validated the same way)."""
    monkeypatch.setenv("RECORDER_UID", "11")
    monkeypatch.setenv("RECORDER_BACKUP_UID", "11")
    monkeypatch.setenv("AGORA_APP_ID", APP_ID)
    assert await cli.run(["start", "c1"]) == 2
    assert "uid and backup_uid are both 11" in one_error_line(capsys.readouterr().err)
    monkeypatch.setenv("RECORDER_BACKUP_UID", "12")
    req = cli.build_request(
        cli.build_parser().parse_args(["start", "c1", "--max-idle", "1h30m", "--file-prefix", "a/b"]),
        load_settings(require=()),
    )
    assert (req.uid, req.backup_uid, req.max_idle_time, req.file_name_prefix) == ("11", "12", 5400, ["a", "b"])


def test_callback_options_reach_the_request():
    """--delivery-wait and --ha-check (Agora's callbacks) are request options of start and of schedule add."""
    args = ["c1", "--uid", "11", "--backup-uid", "12", "--delivery-wait", "10m", "--ha-check"]
    req = cli.build_request(cli.build_parser().parse_args(["start", *args]), load_settings(require=()))
    assert (req.delivery_wait, req.ha_check) == (timedelta(minutes=10), True)
    plain = cli.build_request(cli.build_parser().parse_args(["start", *args[:5]]), load_settings(require=()))
    assert (plain.delivery_wait, plain.ha_check) == (None, False)


async def test_uids_and_app_id_from_a_dotenv_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """RECORDER_UID, RECORDER_BACKUP_UID and AGORA_APP_ID in a .env file reach `start` like exported variables."""
    for name in ("RECORDER_UID", "RECORDER_BACKUP_UID", "AGORA_APP_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{free_port()}")  # never reached
    (tmp_path / ".env").write_text(f"AGORA_APP_ID={APP_ID}\nRECORDER_UID=11\nRECORDER_BACKUP_UID=11\n")
    monkeypatch.chdir(tmp_path)
    assert await cli.run(["start", "c1"]) == 2
    assert "uid and backup_uid are both 11" in one_error_line(capsys.readouterr().err)


async def test_missing_app_id_exits_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """Without AGORA_APP_ID a channel command exits 2 and says which variable to set."""
    monkeypatch.delenv("AGORA_APP_ID", raising=False)
    monkeypatch.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{free_port()}")
    for argv in (["status", "c1"], ["stop", "c1"], ["watch", "c1"], ["start", "c1", *UIDS]):
        assert await cli.run(argv) == 2
        assert "AGORA_APP_ID is not set" in one_error_line(capsys.readouterr().err)


async def test_unreachable_temporal_exits_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """With nothing listening at TEMPORAL_ADDRESS every command exits 1 with one line naming the address."""
    address = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("TEMPORAL_ADDRESS", address)
    monkeypatch.setenv("AGORA_APP_ID", APP_ID)
    for argv in (["status", "c1"], ["list"], ["start", "c1", *UIDS], ["stop", "c1"]):
        assert await cli.run(argv) == 1
        assert f"cannot reach Temporal at {address}" in one_error_line(capsys.readouterr().err)


@pytest.mark.devserver
async def test_unknown_channel_exits_1(cli_env: Rig, capsys: pytest.CaptureFixture[str]):
    """status, stop and watch of a channel never recorded exit 1 with one line naming the channel and workflow id."""
    for argv in (["status", "ghost"], ["stop", "ghost"], ["watch", "ghost"]):
        assert await cli.run(argv) == 1
        line = one_error_line(capsys.readouterr().err)
        assert line == f"recorder: no recording for channel ghost (workflow id recording:{APP_ID}:ghost)"


def test_parse_duration_accepts_what_people_type():
    """Durations may be 90s, 10m, 2h, 1h30m or plain seconds."""
    assert cli.parse_duration("90s") == timedelta(seconds=90)
    assert cli.parse_duration("10m") == timedelta(minutes=10)
    assert cli.parse_duration("2h") == timedelta(hours=2)
    assert cli.parse_duration("1h30m") == timedelta(minutes=90)
    assert cli.parse_duration("45") == timedelta(seconds=45)
    for bad in ("10x", "", "m", "1.5h", "-5"):
        with pytest.raises(Exception, match="is not a duration"):
            cli.parse_duration(bad)


def test_console_script_exits_with_the_code_and_one_line(tmp_path):
    """`python -m recorder.cli` as a process: a bad uid exits 2 with one stderr line and no traceback."""
    env = {"PATH": "/usr/bin:/bin", "AGORA_APP_ID": APP_ID, "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}
    proc = subprocess.run(
        [sys.executable, "-m", "recorder.cli", "start", "c1", "--uid", "0", "--backup-uid", "2"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    assert one_error_line(proc.stderr).startswith("recorder: uid '0' is not allowed")
    assert proc.stdout == ""


def test_a_reader_that_goes_away_is_no_error(tmp_path):
    """`recorder ... | head -1`: output to a pipe nobody reads any more ends quietly, with no traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "recorder.cli", "--version"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env={"PATH": "/usr/bin:/bin"},
            cwd=tmp_path,
            timeout=30,
            check=False,
        )
    finally:
        os.close(write_end)
    assert proc.stderr == ""
    assert proc.returncode == 128 + signal.SIGPIPE


@pytest.mark.devserver
async def test_no_worker_is_reported_in_one_line(
    cli_env: Rig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """With no worker on the task queue, start and status exit 1 naming the queue, and a second start starts nothing."""
    monkeypatch.setattr(api, "QUERY_TIMEOUT", timedelta(seconds=1))
    monkeypatch.setattr(api, "ACCEPT_TIMEOUT", timedelta(seconds=1))
    queue = f"unpolled-{uuid.uuid4()}"
    monkeypatch.setenv("RECORDER_TASK_QUEUE", queue)
    ch = channel()
    wid = f"recording:{APP_ID}:{ch}"
    try:
        for _ in range(2):
            assert await cli.run(["start", ch, *UIDS]) == 1
            line = one_error_line(capsys.readouterr().err)
            assert line == (
                f"recorder: no worker answered in time: is a recording worker polling task queue {queue}? "
                f"(workflow {wid} exists and goes on once one does)"
            )
        assert await cli.run(["status", ch]) == 1
        line = one_error_line(capsys.readouterr().err)
        assert line == f"recorder: no worker answered in time: is a recording worker polling task queue {queue}?"
        runs = [wf async for wf in cli_env.client.list_workflows(f'WorkflowId = "{wid}"')]
        assert len(runs) == 1  # the second start joined the first, started nothing
    finally:
        # No worker ever ran it, so no recorder exists in Agora: terminating leaves nothing behind.
        await cli_env.client.get_workflow_handle(api.workflow_id(APP_ID, ch)).terminate("test cleanup")


@pytest.mark.devserver
async def test_layout_subscription_and_both_kinds_of_stop(cli_env: Rig, capsys: pytest.CaptureFixture[str]):
    """layout and subscription reach the running recorder; stop --wait answers what it still waits for when Agora is
    slow, and stop --no-wait returns at once while the recording stops on its own."""
    ch = channel()
    cli_env.emulator.join(ch, TEACHER)
    assert await cli.run(["start", ch, *UIDS, "--max-idle", "1m", "--check-interval", "30s", "--wait"]) == 0
    sid = tasks_of(cli_env.emulator, ch)[0]["sid"]
    capsys.readouterr()
    assert await cli.run(["layout", ch, "--layout", "1", "--background-color", "#FF0000"]) == 0
    assert capsys.readouterr().out.strip() == f"layout of {ch} updated (sid {sid})"
    assert await cli.run(["subscription", ch, "--audio", "1001,1002", "--video", "1001"]) == 0
    assert capsys.readouterr().out.strip() == f"subscription of {ch} updated (sid {sid})"
    assert tasks_of(cli_env.emulator, ch)[0]["updates"] == 2

    cli_env.emulator.inject("stop", "delay", cname=ch, delay=4)
    assert await cli.run(["stop", ch, "--wait", "1s", "--json"]) == 0
    outcome = json.loads(capsys.readouterr().out)
    assert (outcome["finished"], outcome["phase"], outcome["waiting_for"]) == (
        False,
        "stopping",
        [f"the stop of sid {sid}"],
    )
    assert await cli.run(["stop", ch, "--wait", "30s"]) == 0
    assert f"recording of {ch} (mix): stopped, ended by requested" in capsys.readouterr().out

    other = channel()
    cli_env.emulator.join(other, TEACHER)
    assert await cli.run(["start", other, *UIDS, "--max-idle", "1m", "--check-interval", "30s", "--wait"]) == 0
    capsys.readouterr()
    assert await cli.run(["stop", other, "--no-wait"]) == 0
    assert capsys.readouterr().out.strip().startswith(f"stop requested for {other} (workflow recording:{APP_ID}:")
    for _ in range(100):
        if (await api.describe_recording(cli_env.client, other, app_id=APP_ID)).phase == "stopped":
            break
        await asyncio.sleep(0.2)
    assert [t["running"] for t in tasks_of(cli_env.emulator, other)] == [False]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["layout", "c1", "--layout", "2"], "maxResolutionUid None is not allowed"),
        (["layout", "c1", "--layout", "1", "--background-color", "red"], "background_color"),
        (["layout", "c1"], "the following arguments are required: --layout"),
        (["subscription", "c1"], "give --audio, --video or both"),
        (["stop", "c1", "--wait", "1s", "--no-wait"], "not allowed with"),
        (["start", "c1", *UIDS, "--wait", "--timeout", "soon"], "'soon' is not a duration"),
    ],
)
async def test_bad_update_and_stop_options_exit_2(
    argv: list[str], expected: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """A layout, subscription or stop option that cannot work exits 2 with one line naming it, before any connection."""
    monkeypatch.setenv("AGORA_APP_ID", APP_ID)
    monkeypatch.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{free_port()}")  # never reached
    assert await cli.run(argv) == 2
    assert expected in one_error_line(capsys.readouterr().err)


def test_status_of_a_redundant_recording_shows_which_lines_are_up():
    """`recorder status` of a redundant recording prints each line of recorders and whether it is up now."""
    lines = [
        LineStatus(line=0, phase="restarting", uid="527841", sid=None, up=False, restarts=1),
        LineStatus(line=1, phase="recording", uid="527843", sid="s2", up=True, restarts=0),
    ]
    status = RecordingStatus(
        channel="math-101",
        mode="mix",
        phase="restarting",
        uid="527841",
        sid=None,
        resource_id=None,
        restarts=1,
        failed_starts=0,
        checks=7,
        runs=1,
        last_status=None,
        last_error=None,
        m3u8_names=[],
        segments=2,
        started_at=datetime(2026, 11, 30, 9, tzinfo=UTC),
        planned_end=None,
        lines=lines,
    )
    printed = cli.format_status(status).splitlines()
    assert printed[-2:] == [
        "line 1       DOWN · restarting · uid 527841 · sid - · restarts 1",
        "line 2       up · recording · uid 527843 · sid s2 · restarts 0",
    ]
    assert not any(
        p.startswith("line ") for p in cli.format_status(status.model_copy(update={"lines": []})).splitlines()
    )
