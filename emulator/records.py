"""What the emulator remembers: channel stays, acquired resources and recording tasks.

Plain records shared by the lifecycle rules (emulator/lifecycle.py) and the file naming (emulator/files.py); the
rules that move them live in the lifecycle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from emulator.validation import StartSpec


@dataclass
class Presence:
    """One stay of a user in a channel."""

    uid: str
    role: str
    joined_at: float
    left_at: float | None = None

    def end(self) -> float:
        """When the stay ended (infinity while present)."""
        return math.inf if self.left_at is None else self.left_at


@dataclass
class Resource:
    """A resourceId handed out by acquire."""

    resource_id: str
    cname: str
    uid: str
    scene: int
    created_at: float
    expired_hour: int
    # Holds a full start clientRequest (storage keys, token): kept out of the repr.
    start_parameter: dict[str, Any] | None = field(repr=False)
    sid: str | None = None


@dataclass
class Task:
    """One recording task (a started resource)."""

    sid: str
    resource_id: str
    cname: str
    uid: str
    mode: str
    started_at: float
    spec: StartSpec
    current_uid: str
    uid_since: float
    ended_at: float | None = None
    end_reason: str | None = None
    terminal: list[tuple[float, int]] = field(default_factory=list)
    failover_windows: list[tuple[float, float]] = field(default_factory=list)
    # The recorder uid after each migration that brought the task back (one per window, the ending one excepted).
    failover_uids: list[str] = field(default_factory=list)
    # The uploadingStatus a stop answered ("uploaded", "backuped", "unknown", "uploading"), for the callbacks.
    stop_uploading: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    updates: int = 0
    update_history: list[dict[str, Any]] = field(default_factory=list)
    next_crash_at: float | None = None
    next_failover_at: float | None = None

    @property
    def running(self) -> bool:
        """Whether the task has not exited (a task in a failover window is still running)."""
        return self.ended_at is None

    def end_limit(self) -> float:
        """When the task ended (infinity while running)."""
        return math.inf if self.ended_at is None else self.ended_at

    def in_failover(self, now: float) -> bool:
        """Whether `now` falls in a failover window."""
        return any(start <= now < end for start, end in self.failover_windows)

    def returned_failovers(self, at: float) -> int:
        """How many failovers had completed (task back) by `at`."""
        return sum(1 for _, end in self.failover_windows if end <= at)
