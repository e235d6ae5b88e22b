"""The soak's plan: its settings, the emulator's fault mix, and from the seed each class's trouble and the chaos.

Everything here is decided before anything runs, from `SoakSettings.seed` alone, so two runs with one seed meet
the same classes, the same scripted trouble and the same schedule of worker kills and dev-server restarts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from emulator.config import EmulatorConfig

PROJECT = Path(__file__).resolve().parents[2]
EndHow = Literal["duration", "stop", "signal", "cancel"]

# Per-call probabilities and per-task hourly rates (emulated hours) of the seeded random profile. Every kind the
# emulator can inject appears at least once. `not_found` is only drawn on query: a 404 from stop for a task that is
# running happens at Agora only inside a failover window, which the profile's failovers produce faithfully.
PROFILE_RATES: dict[str, float] = {
    "acquire.server_error": 0.03,
    "acquire.over_quota": 0.01,
    "start.server_error": 0.05,
    "start.request_not_completed": 0.03,
    "start.accepted_then_fail": 0.04,
    "start.omit_sid_on_duplicate": 0.2,
    "start.empty_sid": 0.01,
    "start.bad_gateway": 0.01,
    "query.server_error": 0.02,
    "query.not_found": 0.01,
    "query.request_timeout": 0.005,
    "query.malformed": 0.003,
    "stop.server_error": 0.03,
    "stop.malformed": 0.01,
    "any.rate_limited": 0.01,
    "any.hang": 0.0005,
    "task.crash_per_hour": 0.3,
    "task.failover_per_hour": 0.4,
}

# With --callbacks: per-callback probabilities of the emulator's callback faults (same seed as the profile). Every
# forged callback must be refused, and duplicates, reordering, delays and losses must change nothing but timing.
CALLBACK_RATES: dict[str, float] = {
    "callback.duplicate": 0.05,
    "callback.reorder": 0.05,
    "callback.delay": 0.03,
    "callback.drop": 0.03,
    "callback.forge": 0.03,
}

EVENT_WEIGHTS: dict[str, float] = {
    "break_short": 2.0,  # the teacher leaves for less than maxIdleTime: the recorder must survive
    "break_long": 2.0,  # the teacher leaves for longer: the recorder exits idle and is restarted on the other uid
    "uid_conflict": 1.5,  # a real user joins with the recorder's current uid and kicks it out
    "not_found_short": 1.0,  # two 404s in a row: the recorder is alive, the backoff must not restart it
    "not_found_long": 1.0,  # five 404s: the workflow restarts, the old task is alive and must be stopped later
    "query_burst": 1.0,  # three 50x on query: keep checking, never restart
    "crash": 1.0,  # the recorder process dies (status 20)
    "failover": 1.0,  # high-availability migration: 404 for up to 90 emulated s, then back with a new uid
}


@dataclass(frozen=True)
class SoakSettings:
    """What to run: how many classes, how long, how hard."""

    recordings: int = 20
    minutes: float = 2.0  # the longest class in real minutes; each lasts 60-100 % of it
    seed: int = 7
    speed: float = 60.0  # emulated seconds per real second
    check_interval: int = 5  # real seconds (workflow timer)
    max_idle_time: int = 600  # emulated seconds (Agora's maxIdleTime)
    worker_kills: int = 3
    devserver_restarts: int = 1
    start_spread: float = 15.0  # classes start within this many real seconds
    work_dir: Path = PROJECT / "data" / "soak"
    verbose: bool = True
    # Agora's callbacks: the emulator posts them to two receivers the soak serves; every other class hears none.
    callbacks: bool = False
    # Every class a redundant recording: two lines of recorders, four distinct uids.
    redundant: bool = False
    # Half the classes redundant (crossed with the callback halves), so one run compares both under the same load.
    redundant_half: bool = False
    # How often a scripted failover is drawn against the other trouble (EVENT_WEIGHTS["failover"] is 1): more of them
    # for a run that measures migrations, such as one at speed 1 where a migration's 404s last 10-90 real seconds.
    failover_weight: float = 1.0


@dataclass
class Event:
    """One scripted disturbance of a class, at `at` real seconds after the class started."""

    at: float
    kind: str
    length: float = 0.0
    count: int = 0


@dataclass
class ClassPlan:
    """One class: its channel and uids, when it starts, how long it lasts, how it ends, what goes wrong."""

    index: int
    channel: str
    teacher: str
    uid: str
    backup_uid: str
    redundant_uid: str
    redundant_backup_uid: str
    hears_callbacks: bool
    redundant: bool
    start_at: float
    length: float
    end_how: EndHow
    start_faults: list[tuple[str, str, int]]
    events: list[Event]


def emulator_config(settings: SoakSettings) -> EmulatorConfig:
    """The emulator the soak runs against: sped up, unlimited, with real-time durations scaled to keep their meaning."""
    return EmulatorConfig(
        speed=settings.speed,
        rate_limit_qps=0,
        max_concurrent=0,
        # Agora's resourceId lives 5 minutes and its stop grace is 5 s of real time as the caller sees it.
        resource_ttl_seconds=300.0 * settings.speed,
        exit_grace_seconds=5.0 * settings.speed,
        # How long query still shows an exited recorder's final status (20 after a crash) before it answers 404: the
        # workflow meets it in real time too. Unscaled, it lasted 1/6 s at speed 60, every crash was seen as 404s and
        # cost the 30 s 404 backoff, and a check made at once (on a callback) could not be faster than one made later.
        exit_visible_seconds=10.0 * settings.speed,
        failover_downtime_seconds=90.0,
        seed=settings.seed,
        # Agora's "about once a minute" of upload progress would be one callback per real second at speed 60: one per
        # 15 real seconds keeps the signal load of a real deployment.
        callback_progress_seconds=15.0 * settings.speed,
    )


def make_plans(settings: SoakSettings, rng: random.Random) -> list[ClassPlan]:
    """A deterministic plan per class from the seed."""
    idle_real = settings.max_idle_time / settings.speed
    plans = []
    kinds = list(EVENT_WEIGHTS)
    weights = [settings.failover_weight if kind == "failover" else w for kind, w in EVENT_WEIGHTS.items()]
    for i in range(settings.recordings):
        length = settings.minutes * 60.0 * rng.uniform(0.6, 1.0)
        ends: list[EndHow] = ["duration", "stop", "signal", "cancel"]
        end_how = rng.choices(ends, weights=[4, 3, 2, 1])[0]
        start_faults: list[tuple[str, str, int]] = []
        if rng.random() < 0.3:
            start_faults.append(("start", "server_error", rng.choice([1, 2, 3, 4])))
        if rng.random() < 0.15:
            start_faults.append(("start", "request_not_completed", rng.choice([1, 2])))
        if rng.random() < 0.1:
            start_faults.append(("start", "rate_limited", rng.randint(1, 3)))
        events: list[Event] = []
        t = rng.uniform(15.0, 30.0)
        while t < length - 15.0:
            kind = rng.choices(kinds, weights=weights)[0]
            event = Event(at=t, kind=kind)
            busy = 0.0
            if kind == "break_short":
                event.length = idle_real * rng.uniform(0.2, 0.6)
                busy = event.length
            elif kind == "break_long":
                event.length = idle_real * rng.uniform(1.3, 2.2)
                busy = event.length + 35.0
            elif kind == "uid_conflict":
                event.length = rng.uniform(15.0, 35.0)
                busy = event.length + 10.0
            elif kind == "not_found_short":
                event.count = 2
                busy = 20.0
            elif kind == "not_found_long":
                event.count = 5
                busy = 45.0
            elif kind == "query_burst":
                event.count = 3
                busy = 20.0
            elif kind == "crash":
                busy = 40.0
            else:
                event.length = rng.uniform(10.0, 90.0)  # emulated downtime
                busy = 10.0
            events.append(event)
            t += busy + rng.uniform(8.0, 20.0)
        plans.append(
            ClassPlan(
                index=i,
                channel=f"soak{settings.seed}-c{i:03d}",
                teacher=str(100_000 + i),
                uid=str(2_000_000 + 4 * i),
                backup_uid=str(2_000_001 + 4 * i),
                redundant_uid=str(2_000_002 + 4 * i),
                redundant_backup_uid=str(2_000_003 + 4 * i),
                # Half the classes hear Agora's callbacks, the other half none: the same run compares both.
                hears_callbacks=settings.callbacks and i % 2 == 0,
                # Classes 0, 1, 4, 5, ...: crossed with the callback halves, so each quarter has one of each.
                redundant=settings.redundant or (settings.redundant_half and (i // 2) % 2 == 0),
                start_at=rng.uniform(0.0, settings.start_spread),
                length=length,
                end_how=end_how,
                start_faults=start_faults,
                events=events,
            )
        )
    return plans


def make_chaos(settings: SoakSettings, rng: random.Random) -> list[tuple[float, str]]:
    """Worker kills and dev-server restarts, spread over the busy part of the run (real seconds from its start)."""
    span = settings.start_spread + settings.minutes * 60.0 * 0.6
    actions = ["kill"] * settings.worker_kills
    restarts = settings.devserver_restarts
    # The dev-server restart goes in the middle of the worker kills.
    for n in range(restarts):
        actions.insert((len(actions) * (n + 1)) // (restarts + 1), "devserver")
    out = []
    for n, action in enumerate(actions):
        fraction = 0.15 + 0.75 * n / (len(actions) - 1) if len(actions) > 1 else 0.5
        out.append((span * fraction + rng.uniform(-2.0, 2.0), action))
    return sorted(out)
