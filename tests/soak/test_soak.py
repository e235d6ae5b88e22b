"""The short chaos soak: 20 recordings, a seeded fault mix, SIGKILLed workers, a server restart, faulty callbacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.soak import SoakSettings, render, run_soak

pytestmark = [pytest.mark.devserver, pytest.mark.slow]


@pytest.mark.timeout(420)
async def test_short_soak_keeps_every_invariant(tmp_path: Path) -> None:
    """Under every injected fault, worker kills, a server restart and faulty callbacks, no recorder is orphaned,
    doubled or lost, no forged callback is taken and none is acted on twice."""
    settings = SoakSettings(
        recordings=20,
        minutes=1.6,
        seed=11,
        worker_kills=3,
        devserver_restarts=1,
        start_spread=10.0,
        work_dir=tmp_path,
        verbose=False,
        callbacks=True,
    )
    report = await run_soak(settings)
    print(render(report))
    (tmp_path / "report.json").write_text(report.to_json())

    assert report.worker_kills >= 2
    assert report.devserver_restarts == 1
    assert len(report.classes) == 20
    assert report.orphans_running == 0
    assert report.late_stops == []
    assert report.uid_overlaps == []
    assert report.kicked_by_own_recorder == []
    assert report.unexplained_overlaps == []
    assert report.lost_sids == []
    assert report.workflows_failed == 0
    assert report.violations == []
    # The fault mix really happened: the profile's kinds and the scripted trouble both fired.
    assert {"server_error", "not_found", "failover", "crash"} <= set(report.faults_injected)
    assert report.events_applied.get("break_long", 0) + report.events_applied.get("break_short", 0) > 0
    assert all(0.0 <= c.coverage <= 1.0 for c in report.classes)
    callbacks = report.callbacks
    assert callbacks is not None
    assert callbacks["taken_by_workflows"] > 0 and callbacks["delivered_total"] > callbacks["delivered_distinct"]
    assert callbacks["forged"] > 0 and callbacks["forged_answers"] == {"401": callbacks["forged"]}
    assert callbacks["forged_taken_by_workflows"] == 0 and callbacks["acted_on_twice"] == 0
