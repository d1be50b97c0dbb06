"""Notch filters for the system's own earcon tones: second-order IIR notches (RBJ cookbook), one per tone,
with state kept across blocks so a tone spanning several blocks is removed without clicks at their edges."""

from __future__ import annotations

import math

import numpy as np

BANDWIDTH_HZ = 40.0  # wide enough for a tone heard through a room, narrow enough to leave a voice intact


class _Biquad:
    def __init__(self, freq: float, rate: int) -> None:
        w0 = 2 * math.pi * freq / rate
        alpha = math.sin(w0) / (2 * (freq / BANDWIDTH_HZ))
        a0 = 1 + alpha
        self.b = (1 / a0, -2 * math.cos(w0) / a0, 1 / a0)
        self.a = (-2 * math.cos(w0) / a0, (1 - alpha) / a0)
        self.state = [0.0, 0.0, 0.0, 0.0]  # x[n-1], x[n-2], y[n-1], y[n-2]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        b0, b1, b2 = self.b
        a1, a2 = self.a
        x1, x2, y1, y2 = self.state
        out = np.empty(len(x))
        for i, xn in enumerate(x.tolist()):
            yn = b0 * xn + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
            out[i] = yn
            x2, x1, y2, y1 = x1, xn, y1, yn
        self.state = [x1, x2, y1, y2]
        return out


class ToneNotch:
    """Removes given pure tones from 16-bit mono audio. Filters for tones no longer asked for are dropped,
    so a tone that comes back starts from rest."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._filters: dict[float, _Biquad] = {}

    def __call__(self, pcm: np.ndarray, tones: tuple[float, ...]) -> np.ndarray:
        self._filters = {f: self._filters.get(f) or _Biquad(f, self.rate) for f in tones if f < self.rate / 2}
        signal = pcm.astype(np.float64)
        for biquad in self._filters.values():
            signal = biquad(signal)
        return np.clip(np.rint(signal), -32768, 32767).astype(pcm.dtype)
