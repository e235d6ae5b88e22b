"""The emulated clock: real time scaled by a speed factor, plus manual jumps."""

from __future__ import annotations

import time


class Clock:
    """Emulated unix seconds; `advance` jumps ahead, `set_speed` changes the pace from now on."""

    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self._speed = speed
        self._origin = time.time() if start is None else start
        self._origin_real = time.monotonic()

    @property
    def speed(self) -> float:
        """Emulated seconds per real second."""
        return self._speed

    def now(self) -> float:
        """Current emulated unix time in seconds."""
        return self._origin + (time.monotonic() - self._origin_real) * self._speed

    def advance(self, seconds: float) -> float:
        """Jump the clock forward; it never goes back, so lazily computed history stays valid."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._origin += seconds
        return self.now()

    def set_speed(self, speed: float) -> float:
        """Change the pace without a jump in the current time."""
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self._origin = self.now()
        self._origin_real = time.monotonic()
        self._speed = speed
        return self._origin

    def real_seconds(self, emulated: float) -> float:
        """How long `emulated` seconds take in real time (0 when the clock is frozen)."""
        return emulated / self._speed if self._speed > 0 else 0.0
