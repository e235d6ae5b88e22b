"""`python -m recorder.demo --short --ports auto` end to end: dev server, emulator, worker, the class script."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_short_demo_records_restarts_on_backup_uid_and_leaves_nothing_running(tmp_path: Path) -> None:
    """The short demo exits 0, prints the Web UI links and a manifest of primary-then-backup segments, and stops all
    of its children."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "AGORA_"))}
    done = subprocess.run(
        [sys.executable, "-m", "recorder.demo", "--short", "--ports", "auto", "--data-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr

    link = re.search(r"http://127\.0\.0\.1:(\d+)/namespaces/default/workflows/recording-(demo-class-[\w-]+)", out)
    assert link is not None, out
    channel = link.group(2)
    assert f"/namespaces/default/workflows?query=AgoraChannel%3D%22{channel}%22" in out

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
