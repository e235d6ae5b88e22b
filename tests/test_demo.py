"""`python -m recorder.demo --short --ports auto` end to end: dev server, emulator, worker, the class script."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.config import EmulatorConfig
from recorder.processes import child_env

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.devserver, pytest.mark.slow]


def _alive(pid: int) -> bool:
    """True while a process with this pid exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _run_printed_command(line: str) -> subprocess.CompletedProcess[str]:
    """Run a `VAR=value ... command args` line as a shell would, in an environment with no product settings."""
    words = shlex.split(line)
    assignments = [w for w in words if re.fullmatch(r"[A-Z_]+=.*", w)]
    argv = words[len(assignments) :]
    env = child_env(dict(a.split("=", 1) for a in assignments))
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_short_demo_records_restarts_on_backup_uid_and_leaves_nothing_running(tmp_path: Path) -> None:
    """The short demo exits 0, prints the Web UI links and a `recorder status` command that finds its recording while
    it runs, then a manifest of primary-then-backup segments, and stops all of its children."""
    demo = subprocess.Popen(
        [sys.executable, "-m", "recorder.demo", "--short", "--ports", "auto", "--data-dir", str(tmp_path)],
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    status: subprocess.CompletedProcess[str] | None = None
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            lines.append(line)
            if status is None and "recorder confirmed (query status 4/5)" in line:
                hint = next(x for x in lines if x.startswith("status from a shell:"))
                status = _run_printed_command(hint.split(":", 1)[1])
        demo.wait(timeout=240)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    out = "".join(lines)
    assert demo.returncode == 0, out

    workflow_id = rf"recording:{EmulatorConfig().app_id}:(demo-class-[\w-]+)"  # as recorder.api names it
    link = re.search(rf"http://127\.0\.0\.1:\d+/namespaces/default/workflows/{workflow_id}", out)
    assert link is not None, out
    channel = link.group(1)
    assert f"/namespaces/default/workflows?query=AgoraChannel%3D%22{channel}%22" in out

    # `recorder status <channel>`, run as printed while the class was on, found the recording (emulator's App ID).
    assert status is not None, out
    assert status.returncode == 0, status.stdout + status.stderr
    assert re.search(rf"^channel\s+{channel} \(mix\)$", status.stdout, re.MULTILINE), status.stdout
    assert re.search(r"^phase\s+recording$", status.stdout, re.MULTILINE), status.stdout

    # The manifest rows: "<index>  <uid>  <sid>  <started>  <ended>  <end reason>  <upload>".
    table = out.split("final manifest", 1)[1]
    rows = re.findall(r"^\s+(\d+)\s+(\d+)\s+\S+\s+\d\d:\d\d\s+\S+\s+(\w+)\s+(\S+)\s*$", table, re.MULTILINE)
    assert [(r[0], r[1], r[2]) for r in rows] == [("0", "900001", "recorder_exited"), ("1", "900002", "stopped")]
    assert rows[1][3] == "uploaded"
    assert table.count(f"_{channel}.m3u8") == 2
    assert "gap between segment 0 and 1" in table
    assert "recorder is still running (maxIdleTime was sized to the class)" in out
    assert "received after 2 answers of 503" in out

    pids = [int(p) for p in re.findall(r"\bpid (\d+)\b", out)]
    assert len(pids) == 3, out
    assert re.search(r"stopped pids " + " ".join(str(p) for p in pids), out)
    assert [p for p in pids if _alive(p)] == []
    assert {"temporal.log", "emulator.log", "worker.log", "temporal.db"} <= {p.name for p in tmp_path.iterdir()}
