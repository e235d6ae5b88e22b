"""Rule 2 with rule 4's 404 backoff: a recorder that answers 404 while being confirmed is replaced early."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from emulator.testing import running_emulator
from tests.conftest import fast_emulator_config, worker_for
from tests.workflows.helpers import TEACHER, confirming_sid, request, start, tasks_of
from workflows import policy
from workflows.recording import RecordingWorkflow


async def test_recorder_gone_while_confirming_is_replaced_after_the_404_backoff(ts_env: WorkflowEnvironment):
    """404 through 5+10+15 s means the recorder did not start or quit: the other uid is tried, not after 90 s.

    The recorder crashes right after its start; every confirm query answers 404. The workflow gives up on it once
    404 has lasted the backoff (at the confirm query 45 s after the start), stops it best effort and starts on the
    backup uid, instead of spending Agora's whole 90 s window on a recorder that is gone.
    """
    req = request(max_duration=timedelta(minutes=4))
    # The clock is frozen: without exit_visible_seconds=0 the crashed task would show status 20 forever, not 404.
    config = fast_emulator_config(speed=0, startup_seconds=0, exit_visible_seconds=0)
    async with running_emulator(config) as emu:
        emu.join(req.channel, TEACHER)
        async with worker_for(ts_env.client, emu) as queue:
            handle = await start(ts_env.client, queue, req)
            emu.crash(await confirming_sid(ts_env, handle))
            manifest = await handle.result()
        tasks = tasks_of(emu, req.channel)
    first, second = manifest.segments[0], manifest.segments[1]
    assert first.end_reason == "not_confirmed" and first.uid == req.uid
    assert first.detail is not None and "404" in first.detail
    assert second.uid == req.backup_uid and second.confirmed_at is not None
    replaced_after = (second.started_at - first.started_at).total_seconds()
    assert sum(policy.NOT_FOUND_DELAYS) <= replaced_after < policy.CONFIRM_WINDOW, replaced_after
    assert all(not t["running"] for t in tasks)


async def test_recorder_migrating_while_confirming_is_probed_and_its_return_stopped(ts_env: WorkflowEnvironment):
    """A high-availability migration that starts while the recorder is being confirmed answers 404 to query and to
    stop. The workflow gives up on it and starts on the backup uid, but probes the old sid once Agora's failover
    window has passed: the migrated recorder that came back is stopped as a duplicate, not left recording beside its
    successor until the channel goes idle."""
    req = request(max_duration=timedelta(minutes=5))
    async with running_emulator(fast_emulator_config(speed=0, startup_seconds=0)) as emu:
        emu.join(req.channel, TEACHER)
        async with worker_for(ts_env.client, emu) as queue:
            handle = await start(ts_env.client, queue, req)
            old_sid = await confirming_sid(ts_env, handle)
            emu.failover(old_sid, downtime=60)
            for _ in range(30):
                await ts_env.sleep(5)
                status = await handle.query(RecordingWorkflow.status)
                if status.uid == req.backup_uid and status.phase == "recording":
                    break
            assert status.uid == req.backup_uid and status.phase == "recording", status
            emu.advance(61)  # the migration ends: the old task is back under a new uid
            manifest = await handle.result()
        tasks = tasks_of(emu, req.channel)
    first = manifest.segments[0]
    returned = next(t for t in tasks if t["sid"] == old_sid)
    assert first.sid == old_sid and first.end_reason == "failover_duplicate", first
    assert returned["currentUid"] != req.uid and returned["endReason"] == "stopped", returned
    assert all(not t["running"] for t in tasks)
