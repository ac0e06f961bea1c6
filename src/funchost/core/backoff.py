"""Randomized exponential backoff, as the WebJobs SDK polls (semantics §2.1.6).

After activity the next delay is the minimum (100 ms); each further empty poll waits
`minimum + U(0.8, 1.2) * 2^(k-1) * delta`, capped at the maximum: about 100 ms, 200, 300,
500, 900 ms, 1.7 s, 3.3 s, ... (N `Shared/Timers/RandomizedExponentialBackoffStrategy.cs`).
"""

from __future__ import annotations

import random


class RandomizedBackoff:
    def __init__(
        self,
        minimum: float,
        maximum: float,
        delta: float | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.minimum = minimum
        self.maximum = max(maximum, minimum)
        self.delta = minimum if delta is None else delta
        self._rng = rng or random.Random()
        self._exponent = 0
        self._current = minimum

    def reset(self) -> None:
        """Work was found: the next wait starts from the minimum again."""
        self._exponent = 0
        self._current = self.minimum

    def next(self) -> float:
        """Seconds to wait after another empty poll (or failure)."""
        if self._current >= self.maximum and self._exponent > 0:
            return self.maximum
        delay = self.minimum
        if self._exponent > 0:
            delay += self._rng.uniform(0.8, 1.2) * (2 ** (self._exponent - 1)) * self.delta
        if delay < self.maximum:
            self._exponent += 1
            self._current = delay
        else:
            self._current = self.maximum
        return self._current
