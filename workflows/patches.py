"""The `workflow.patched` names: each marks histories written after one change of what the workflow does.

A recording can outlive a deploy, so every change to the commands a workflow issues is guarded by one of these, and a
replay fixture set is recorded after it (`tests/replay`). Old recordings keep replaying the branch they took; a name
is never reused or removed while a recording written before it may still be running.
"""

from __future__ import annotations

# Stopping watches 404ing sids through Agora's failover window (rule 5) before finishing. Histories written before it
# skipped that watch.
STOP_WATCHES_FAILOVER = "stop-watches-failover-window"
# A failover probe retries a 404 at 5/10/15 s (as a check does) before deciding the old task is gone: one 404 is not
# proof, and a missed comeback leaves a duplicate recorder running.
PROBE_BACKOFF = "failover-probe-backoff"
# Queries are local activities run by the workflow worker: a check costs one workflow task and six events instead of
# two and eleven. Histories written before it scheduled queries on the `-query` task queue.
LOCAL_QUERIES = "queries-as-local-activities"
# A failover probe runs beside the monitor loop instead of inside it, so its 404 backoff (up to 30 s) never delays the
# current recorder's check.
PROBES_BESIDE_CHECKS = "probes-beside-checks"
# Confirming gives up once query has answered 404 through the 5/10/15 s backoff (Agora: the recording did not start or
# quit), instead of waiting out the whole 90 s window before the other uid is tried.
CONFIRM_404_BACKOFF = "confirm-gives-up-after-404-backoff"
# A start answered 500/502 "failed to allocate worker" gets a new resource for the same uid, as Agora's status-codes
# page says, instead of 3/6/9 s of retries on the same resource and then the other uid.
REACQUIRE_AFTER_ALLOCATION_FAILURE = "reacquire-after-allocation-failure"
# A failover probe that finds the old sid answering an exit status (6, 7, 8 or 20: Agora shows them for a while after
# the recorder ended) takes it for gone, instead of for a task Agora's failover brought back.
PROBE_SEES_EXIT = "probe-sees-exit-status"
# A recorder given up while confirming because query answered 404 through the backoff, whose stop Agora also answered
# 404, may be in the middle of a high-availability migration: its old sid is probed after the failover window, as a
# check's restart does, instead of being taken for gone (a migrated recorder kept recording beside its successor).
PROBE_AFTER_UNCONFIRMED_404 = "probe-after-unconfirmed-404"
