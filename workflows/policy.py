"""Agora's integration best practices as data and pure decisions: every schedule, threshold and call option.

Each constant quotes the rule it implements (Agora, "Best Practices in Integrating Cloud Recording", and the Cloud
Recording REST reference). Each kind of Agora call is declared once (`AgoraCall`): the task queue its activity runs on,
its timeouts, Temporal's retry policy and the best-practice schedule its activity answers Agora's errors with. The
workflow, the activities and the tests read these values; a newcomer changes a schedule here and nowhere else.
Nothing here does I/O or reads the clock, so the workflow may import it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from temporalio.common import RetryPolicy

from workflows import limits, names
from workflows.names import ErrorType

if TYPE_CHECKING:
    from workflows.models import RecordingRequest, RecordingSegment

# --- Rule 1: start -----
# "If the returned HTTP status code is 50x, you can retry several times with the same parameters until you receive a
#  sid. Agora recommends that you use a backoff strategy, for example, retry after 3, 6, and 9 seconds successively
#  [...]. If you retry three times and still do not get a sid, retry with a new UID."
START_SERVER_ERROR_DELAYS: tuple[float, ...] = (3.0, 6.0, 9.0)

# Status-codes page, 206/65 "request not completed": "retry with the same parameters (3 s, then 6 s); if start still
# fails, do a new acquire+start".
REQUEST_NOT_COMPLETED_DELAYS: tuple[float, ...] = (3.0, 6.0)

# 429 (QPS limit) and 406 (concurrency quota) say nothing about the uid: back off and try again with the same uid.
# The reference's general REST advice backs off 1/3/6 s "to stay under the QPS limit"; quotas free up more slowly.
RATE_LIMITED_DELAYS: tuple[float, ...] = (1.0, 3.0, 6.0, 10.0, 20.0, 30.0)
OVER_QUOTA_DELAYS: tuple[float, ...] = (10.0, 20.0, 30.0, 60.0)

# A resourceId is valid for 5 minutes (code 433 after that); code 1001 says it cannot be used, and start answered
# 500/502 "failed to allocate worker" says "acquire and start again" (status-codes page): get a new resourceId for the
# same uid, a few times at most, before the unit counts as failed.
NEW_RESOURCE_REACQUIRES = 2

# Agora's "switch domain" guidance for a request that got no answer: "retry the same domain, then the other one, then
# a nearby region host, with a backoff of 1 s, 3 s, 6 s" (the client picks the domain by attempt number).
TRANSPORT_DELAYS: tuple[float, ...] = (1.0, 3.0, 6.0)

# "If you retry three times and still do not get a sid, retry with a new UID": a failed start unit moves to the other
# uid. Once both uids have failed, the next round waits longer (the class is still going: never give it up).
START_ROUND_PAUSES: tuple[float, ...] = (15.0, 30.0, 60.0, 120.0, 300.0)

# --- Rule 2: confirm -----
# "Five seconds after you receive a sid, use a backoff strategy to call query. Agora recommends that the interval
#  between two query calls is shorter than maxIdleTime [...]. If [...] status [...] is 4 or 5, it means the
#  recording service starts successfully." Reference §3: "If status is still not 4 or 5 after about 90 s, treat the
#  recording as not started or as exited."
CONFIRM_FIRST_QUERY = 5.0
CONFIRM_DELAYS: tuple[float, ...] = (5.0, 5.0, 10.0, 10.0, 15.0, 20.0, 20.0)
CONFIRM_WINDOW = 90.0
RECORDER_UP_STATUSES = frozenset({4, 5})
# Statuses at which the recorder is leaving or gone (6 stop received, 7 stopped, 8 exited, 20 exited abnormally).
RECORDER_EXIT_STATUSES = frozenset({6, 7, 8, 20})

# Agora's current best-practices page: "if you do not receive event 13 [high availability registered] within 10 s of
# start, create a new task with a different UID". Opt-in (RecordingRequest.ha_check): the event is in no event table.
HA_REGISTER_WITHIN = 10.0
# The longest a recording may wait after its stop for Agora's "uploaded" callback (31) when the stop answered
# backuped or unknown (the request's delivery_wait): Agora's backup delivers later, but a day bounds how long a
# finished class's workflow stays open.
MAX_DELIVERY_WAIT = timedelta(hours=24)

# --- Rule 4: monitor -----
# "If the returned HTTP status code is 404 [...] Agora recommends that you use a backoff strategy, for example,
#  retry after 5, 10, and 15 seconds successively." Still 404 after that: the recorder quit.
NOT_FOUND_DELAYS: tuple[float, ...] = (5.0, 10.0, 15.0)
# "If the returned HTTP status code is 50x [...] You can continue to use the backoff strategy (waiting for 5 seconds,
#  10 seconds, 15 seconds, or 30 seconds) to call query." No restart on 50x: it says nothing about the recorder.
QUERY_SERVER_ERROR_DELAYS: tuple[float, ...] = (5.0, 10.0, 15.0, 30.0)

# --- Rule 5: failover -----
# Reference §5: "the high-availability migration finishes within about 90 s"; it rejoins with a new uid and bak<n>_
# files. After a restart, the old sid is probed once this window has passed since its first 404.
FAILOVER_WINDOW = 90.0
# While stopping, a sid that answers 404 is probed again at this interval until its failover window has passed (the
# 404 backoff's longest step): a 404 during a migration does not mean the task is gone.
STOP_PROBE_INTERVAL = 15.0

# --- Rule 6: M3U8 -----
# "In composite recording mode, call query 15 seconds after the cloud recording starts; in individual recording
#  mode, call query one minute after [...]. If the first query call fails, you can try again after one minute."
M3U8_QUERY_AFTER = {"mix": 15.0, "web": 15.0, "individual": 60.0}
M3U8_RETRY_AFTER = 60.0
M3U8_MAX_TRIES = 5

# --- Rule 7: maxIdleTime and the check interval -----
# The request's maxIdleTime when it names none. Agora's API default is 30 s, but its current best-practices checklist
# recommends 300 s "to avoid frequent quits": with 30 s every break longer than half a minute ends the recorder, and the
# class loses the restart's 30 s of 404 backoff and start-up each time. Size it to the longest break (README).
DEFAULT_MAX_IDLE_TIME = 300
# "Agora recommends that the interval between two query calls is shorter than maxIdleTime": by default half of it,
# and at most the two minutes Agora's reference suggests for routine polling; never under 5 s.
MIN_CHECK_INTERVAL = 5
MAX_DEFAULT_CHECK_INTERVAL = 120

# --- Rule 9: sizing and long classes -----
# Resource life when no end is planned: Agora's longest (720 h). After resourceExpiredHour "you cannot call query,
# update, updateLayout or stop", so a recording that outlived the default 72 h could no longer be watched or stopped.
UNPLANNED_HOURS = limits.RESOURCE_EXPIRED_HOUR_MAX
# Margin added to a planned duration for the resource and the token (a class may overrun a little).
PLANNED_MARGIN = timedelta(hours=2)
# Continue-as-new well before Temporal's 10,240-event warning: a check costs 6 events (11 in recordings started before
# queries became local activities), so 600 checks a run stay under 7,000 events, restarts and probes included; 800 is
# the most a request may ask for.
CHECKS_PER_RUN = 600
MAX_CHECKS_PER_RUN = 800

# --- Agora calls: timeouts, retry policies, error schedules -----
# Agora answers acquire, start, query and update within seconds; the client's own timeout is 10 s.
CALL_TIMEOUT = timedelta(seconds=30)
# A synchronous stop answers after the upload finishes; Agora allows about 20 s before answering code 50.
STOP_TIMEOUT = timedelta(seconds=60)
# Queries run as local activities in the workflow worker: one attempt is the client's 10 s timeout plus the wait for
# the worker's query pace. All attempts together (the 50x schedule is 5+10+15+30 s) end within two minutes.
QUERY_TIMEOUT = timedelta(seconds=12)
QUERY_GIVE_UP_AFTER = timedelta(minutes=2)
# A local query's retry waits on a durable timer, visible in history, instead of inside a held workflow task.
LOCAL_RETRY_THRESHOLD = timedelta(seconds=1)
# Agora calls answer in seconds; Temporal retries them on the schedule the activity picks (next_retry_delay). The
# initial interval also covers a worker that died mid-call: the retry comes 3 s after the call timed out.
AGORA_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=3),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=12,
)
# Stop never gives up by itself: a recorder left running is the failure this product exists to prevent.
STOP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=3), backoff_coefficient=2.0, maximum_interval=timedelta(seconds=60)
)
STOP_GIVE_UP_AFTER = timedelta(minutes=30)

Schedule = tuple[float, ...]


def _schedule(error_kinds: Sequence[str], by_kind: Mapping[str, Schedule], default: Schedule) -> Schedule:
    for kind in error_kinds:
        if kind in by_kind:
            return by_kind[kind]
    return default


def start_schedule(error_kinds: Sequence[str]) -> Schedule:
    """Rule 1's delays for a retryable failure of acquire, start or stop: 3/6/9 s, or Agora's own for 65, 429, 406 and
    for no answer at all (1/3/6 s while the client switches domain).

    `error_kinds` is the error's class kind followed by its parents' (`ServerError` before `ServiceError`).
    """
    by_kind = {
        ErrorType.REQUEST_NOT_COMPLETED: REQUEST_NOT_COMPLETED_DELAYS,
        ErrorType.RATE_LIMITED: RATE_LIMITED_DELAYS,
        ErrorType.OVER_QUOTA: OVER_QUOTA_DELAYS,
        ErrorType.TRANSPORT: TRANSPORT_DELAYS,
    }
    return _schedule(error_kinds, by_kind, START_SERVER_ERROR_DELAYS)


def query_schedule(error_kinds: Sequence[str]) -> Schedule:
    """Rule 4's delays for a retryable failure of query or update: 5/10/15/30 s, or Agora's own for 65, 429 and for no
    answer at all."""
    by_kind = {
        ErrorType.REQUEST_NOT_COMPLETED: REQUEST_NOT_COMPLETED_DELAYS,
        ErrorType.RATE_LIMITED: RATE_LIMITED_DELAYS,
        ErrorType.TRANSPORT: TRANSPORT_DELAYS,
    }
    return _schedule(error_kinds, by_kind, QUERY_SERVER_ERROR_DELAYS)


Queue = Literal["workflow", "control", "query"]


@dataclass(frozen=True)
class AgoraCall:
    """One kind of Agora call, declared once: its activity, task queue, timeouts, retry policy and error schedule.

    `queue` is the role of the task queue its activity runs on: the workflow's own (a local activity), `control`
    (acquire, start, stop and update, with their own rate budget) or `query` (queries of recordings started before
    queries became local activities). When the schedule is used up the activity's failure turns non-retryable, so the
    workflow decides what comes next; `endless` repeats the schedule's last delay instead (stop never gives up).
    """

    activity: str
    queue: Queue
    start_to_close: timedelta
    retry: RetryPolicy
    schedule: Callable[[Sequence[str]], Schedule]
    give_up_after: timedelta | None = None
    local_retry_threshold: timedelta | None = None
    endless: bool = False

    @property
    def local(self) -> bool:
        """True when the call runs as a local activity in the workflow worker."""
        return self.queue == "workflow"

    def retry_delay(self, error_kinds: Sequence[str], attempt: int) -> float | None:
        """Seconds before retrying a retryable failure after attempt `attempt`, or None once the schedule is used up."""
        delays = self.schedule(error_kinds)
        return capped_delay(delays, attempt) if self.endless else delay_for_attempt(delays, attempt)


ACQUIRE = AgoraCall(names.ACQUIRE, "control", CALL_TIMEOUT, AGORA_RETRY, start_schedule)
START = AgoraCall(names.START, "control", CALL_TIMEOUT, AGORA_RETRY, start_schedule)
QUERY = AgoraCall(
    names.QUERY,
    "workflow",
    QUERY_TIMEOUT,
    AGORA_RETRY,
    query_schedule,
    give_up_after=QUERY_GIVE_UP_AFTER,
    local_retry_threshold=LOCAL_RETRY_THRESHOLD,
)
# Recordings started before queries became local activities still query on the `-query` task queue.
QUERY_ON_QUEUE = AgoraCall(names.QUERY, "query", CALL_TIMEOUT, AGORA_RETRY, query_schedule)
STOP = AgoraCall(
    names.STOP, "control", STOP_TIMEOUT, STOP_RETRY, start_schedule, give_up_after=STOP_GIVE_UP_AFTER, endless=True
)
UPDATE = AgoraCall(names.UPDATE, "control", CALL_TIMEOUT, AGORA_RETRY, query_schedule)


def delay_for_attempt(delays: tuple[float, ...], attempt: int) -> float | None:
    """The delay before retry number `attempt` (1-based), or None when the schedule is used up."""
    if attempt < 1 or attempt > len(delays):
        return None
    return delays[attempt - 1]


def capped_delay(delays: tuple[float, ...], attempt: int) -> float:
    """The delay before retry `attempt`, repeating the schedule's last value once it is used up."""
    return delays[min(max(attempt, 1), len(delays)) - 1]


def default_check_interval(max_idle_time: int) -> int:
    """Rule 7: the check interval a request gets when it names none: half of maxIdleTime, within 5..120 s."""
    return max(MIN_CHECK_INTERVAL, min(MAX_DEFAULT_CHECK_INTERVAL, max_idle_time // 2))


def other_uid(request: RecordingRequest, uid: str) -> str:
    """Rule 3: each restart uses the uid not used by the previous recorder."""
    return request.backup_uid if uid == request.uid else request.uid


def planned_end(request: RecordingRequest, started_at: datetime) -> datetime | None:
    """When the recording ends on its own: the earlier of end_at and started_at + max_duration."""
    ends = [t for t in (request.end_at, started_at + request.max_duration if request.max_duration else None) if t]
    return min(ends) if ends else None


def resource_expired_hour(request: RecordingRequest, now: datetime, end: datetime | None) -> int:
    """Rule 9: size resourceExpiredHour from the planned end (plus a margin), within Agora's [1, 720]."""
    if request.resource_expired_hour is not None:
        return request.resource_expired_hour
    if end is None:
        return UNPLANNED_HOURS
    hours = math.ceil((end - now + PLANNED_MARGIN).total_seconds() / 3600)
    return max(1, min(720, hours))


# An AccessToken2 privilege lasts at most 24 hours. A recorder cannot renew its token, so a longer recording loses
# its recorder at expiry; the monitor then sees the 404s and restarts on the other uid with a fresh token.
TOKEN_MAX_SECONDS = 24 * 3600


def token_expire_seconds(now: datetime, end: datetime | None) -> int:
    """How long the recorder's RTC token lives: past the planned end (it cannot be renewed), at most 24 h."""
    if end is None:
        return TOKEN_MAX_SECONDS
    return min(TOKEN_MAX_SECONDS, max(3600, math.ceil((end - now + PLANNED_MARGIN).total_seconds())))


def confirm_delays(max_idle_time: int) -> list[float]:
    """Rule 2: query delays after the sid: 5 s first, then backoff, each shorter than maxIdleTime, 90 s in all."""
    cap = max(1.0, max_idle_time - 1.0)
    delays = [min(CONFIRM_FIRST_QUERY, cap)]
    total = delays[0]
    step_index = 0
    while total < CONFIRM_WINDOW:
        wanted = CONFIRM_DELAYS[min(step_index, len(CONFIRM_DELAYS) - 1)]
        step = min(wanted, cap, CONFIRM_WINDOW - total)
        delays.append(step)
        total += step
        step_index += 1
    return delays


def gaps(segments: list[RecordingSegment]) -> list[tuple[int, int, datetime, datetime]]:
    """Stretches covered by no confirmed recorder, of any line: (after, before, start, end).

    `after` and `before` are positions in `segments`: the one whose coverage ended, and the one that resumed it.
    """
    out: list[tuple[int, int, datetime, datetime]] = []
    confirmed = [(pos, seg, seg.confirmed_at) for pos, seg in enumerate(segments) if seg.confirmed_at is not None]
    covered_until: datetime | None = None
    prev = -1
    for pos, seg, confirmed_at in sorted(confirmed, key=lambda c: c[2]):
        if covered_until is not None and confirmed_at > covered_until:
            out.append((prev, pos, covered_until, confirmed_at))
        end = seg.ended_at or confirmed_at
        if covered_until is None or end > covered_until:
            covered_until = end
            prev = pos
    return out
