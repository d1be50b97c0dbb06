"""Earcons: short, distinct tones, synthesized (no sound files to ship).

- accepted: one short high blip;
- deep pocket (a depth ≥ 5 mm was charted): two lower blips — look at the patient, not the screen;
- flagged / please repeat: a falling two-tone, longer, unmistakably different from the other two; also for
  values said while the exam is paused (kept as transcript only, with a readback that says so).
Chatter and noise get no sound at all.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

import numpy as np

RATE = 16_000
DEEP_POCKET_MM = 5


class Earcon(Enum):
    ACCEPTED = "accepted"
    DEEP_POCKET = "deep_pocket"
    FLAGGED = "flagged"


def _tone(freq: float, ms: int, gain: float = 0.3) -> np.ndarray:
    t = np.arange(RATE * ms // 1000) / RATE
    ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.008)  # 8 ms fades: no clicks
    out: np.ndarray = (gain * ramp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return out


def _gap(ms: int) -> np.ndarray:
    return np.zeros(RATE * ms // 1000, dtype=np.float32)


_HIGH, _LOW, _FALL_FROM, _FALL_TO = 1320.0, 880.0, 660.0, 440.0


def render(earcon: Earcon) -> np.ndarray:
    """The earcon as 16 kHz mono float32."""
    if earcon is Earcon.ACCEPTED:
        return _tone(_HIGH, 70)
    if earcon is Earcon.DEEP_POCKET:
        return np.concatenate([_tone(_LOW, 90), _gap(60), _tone(_LOW, 90)])
    return np.concatenate([_tone(_FALL_FROM, 160), _tone(_FALL_TO, 220)])


def tones(earcon: Earcon) -> tuple[float, ...]:
    """The pure tones `render(earcon)` is made of (the microphone notches them out while it plays)."""
    if earcon is Earcon.ACCEPTED:
        return (_HIGH,)
    if earcon is Earcon.DEEP_POCKET:
        return (_LOW,)
    return (_FALL_FROM, _FALL_TO)


def earcon_for(status: str, commands: list[dict[str, Any]], readback: str = "") -> Earcon | None:
    """Which earcon an utterance's outcome gets (from UtteranceResult's status, commands and readback)."""
    if status in (
        "flagged",
        "not_stored",
    ):  # not_stored: the journal could not keep it (disk full, read-only)
        return Earcon.FLAGGED
    if status == "transcript_only" and readback:  # values said while paused: nothing was charted
        return Earcon.FLAGGED
    if status not in ("applied", "note"):
        return None  # chatter, noise: silence
    said: list[int] = []
    for command in commands:
        if command["kind"] == "Depths":
            said += command["values"]
        elif command["kind"] == "SiteDepth":
            said.append(command["value"])
    return Earcon.DEEP_POCKET if any(d >= DEEP_POCKET_MM for d in said) else Earcon.ACCEPTED
