"""The input gate: while the system plays an earcon or reads values back, and for a short tail after, what
the microphone hears is the system itself (no headset required), so it is replaced by silence."""

from __future__ import annotations

import threading
import time


class PlaybackGate:
    def __init__(self, tail_s: float = 0.25) -> None:
        self.tail_s = tail_s
        self._lock = threading.Lock()
        self._spans: list[tuple[float, float]] = []  # (start, end) in perf_counter time, tail included

    def playing(self, duration_s: float, *, start: float | None = None) -> None:
        """Playback of `duration_s` starts now (or at `start`): close the gate for it and the tail."""
        begin = time.perf_counter() if start is None else start
        with self._lock:
            self._spans.append((begin, begin + duration_s + self.tail_s))
            horizon = time.perf_counter() - 60.0
            self._spans = [s for s in self._spans if s[1] > horizon]

    def closed_between(self, start: float, end: float) -> bool:
        """Does any playback (with its tail) overlap the audio captured between `start` and `end`?"""
        with self._lock:
            return any(s < end and start < e for s, e in self._spans)
