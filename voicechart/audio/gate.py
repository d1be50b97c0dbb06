"""The input gate: while the system plays an earcon or reads values back, and for a short tail after, what
the microphone hears is partly the system itself (no headset required). An earcon is a few pure tones, so
under it the microphone's audio keeps the hygienist's voice with those tones notched out (she speaks on
while it plays; muting would lose a short word like "skip" whenever recognition runs late). Spoken readback
cannot be told from her voice, so under it the audio is replaced by silence."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

MUTE = "mute"


@dataclass(frozen=True, slots=True)
class _Span:
    start: float  # perf_counter time
    end: float  # tail included
    tones: tuple[float, ...]  # Hz; empty: mute


class PlaybackGate:
    def __init__(self, tail_s: float = 0.25) -> None:
        self.tail_s = tail_s
        self._lock = threading.Lock()
        self._spans: list[_Span] = []

    def playing(self, duration_s: float, *, start: float | None = None, tones: Sequence[float] = ()) -> None:
        """Playback of `duration_s` starts now (or at `start`): cover it and the tail. A sound made only of
        the pure `tones` is notched out of the microphone's audio; any other sound (speech) mutes it."""
        begin = time.perf_counter() if start is None else start
        with self._lock:
            self._spans.append(_Span(begin, begin + duration_s + self.tail_s, tuple(tones)))
            horizon = time.perf_counter() - 60.0
            self._spans = [s for s in self._spans if s.end > horizon]

    def cover(self, start: float, end: float) -> str | tuple[float, ...] | None:
        """What to do with the audio captured between `start` and `end`: None (nothing played), `MUTE`
        (speech was played), or the tones to notch out."""
        with self._lock:
            over = [s for s in self._spans if s.start < end and start < s.end]
        if not over:
            return None
        if any(not s.tones for s in over):
            return MUTE
        return tuple(sorted({tone for s in over for tone in s.tones}))
