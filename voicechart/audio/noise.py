"""Operatory noise for tests and benchmarks, mixed at a given signal-to-noise ratio (numpy only, seeded).

- scaler: the audible part of an ultrasonic scaler — a 6.5 kHz whine with its 3.25 kHz sub-harmonic and a
  40 Hz tremolo, plus hiss (FEASIBILITY.md §5);
- suction: broadband noise band-limited to roughly 300 Hz–3 kHz with a slow flutter;
- handpiece: a high-speed dental drill — an air-turbine whine near 5 kHz that wanders with load, its
  harmonic, and the air's hiss above 2 kHz;
- white: broadband noise;
- babble: other speech (the other samples' audio, shifted and summed), like talk in the next chair.
"""

from __future__ import annotations

import numpy as np

from voicechart.audio.sources import SAMPLE_RATE

KINDS = ("scaler", "suction", "handpiece", "white", "babble")


def _bandpass(noise: np.ndarray, low_hz: float, high_hz: float) -> np.ndarray:
    spectrum = np.fft.rfft(noise)
    freqs = np.fft.rfftfreq(len(noise), 1 / SAMPLE_RATE)
    spectrum[(freqs < low_hz) | (freqs > high_hz)] = 0
    out: np.ndarray = np.fft.irfft(spectrum, n=len(noise))
    return out


def make_noise(
    kind: str, n: int, *, seed: int = 0, babble_sources: list[np.ndarray] | None = None
) -> np.ndarray:
    """`n` samples of float noise (unit-free; mix_at_snr scales it)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SAMPLE_RATE
    if kind == "white":
        return rng.standard_normal(n)
    if kind == "scaler":
        tremolo = 1 + 0.6 * np.sin(2 * np.pi * 40 * t)
        whine = np.sin(2 * np.pi * 6500 * t) + 0.5 * np.sin(2 * np.pi * 3250 * t)
        return whine * tremolo + 0.05 * rng.standard_normal(n)
    if kind == "handpiece":
        wander = 4800 + 400 * np.sin(2 * np.pi * 0.7 * t) + 150 * np.sin(2 * np.pi * 3.1 * t)
        phase = 2 * np.pi * np.cumsum(wander) / SAMPLE_RATE
        whine = np.sin(phase) + 0.3 * np.sin(2 * phase)
        return whine + 0.4 * _bandpass(rng.standard_normal(n), 2000, 7900)
    if kind == "suction":
        flutter = 1 + 0.3 * np.sin(2 * np.pi * 3 * t)
        return _bandpass(rng.standard_normal(n), 300, 3000) * flutter
    if kind == "babble":
        if not babble_sources:
            raise ValueError("babble needs other speech to mix")
        out = np.zeros(n)
        for i, src in enumerate(babble_sources):
            voice = np.resize(src.astype(np.float64), n)
            out += np.roll(voice, int(rng.integers(0, n)) + i * 7919)
        return out
    raise ValueError(f"unknown noise {kind!r}; one of {', '.join(KINDS)}")


def speech_rms(pcm: np.ndarray, frame: int = 320) -> float:
    """RMS over active speech: 20 ms frames within 30 dB of the loudest frame."""
    x = pcm.astype(np.float64)
    usable = len(x) - len(x) % frame
    rms = np.sqrt(np.mean(x[:usable].reshape(-1, frame) ** 2, axis=1))
    active = rms[rms > rms.max() * 10 ** (-30 / 20)]
    return float(np.sqrt(np.mean(active**2))) if active.size else 0.0


def mix_at_snr(pcm: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Speech (int16) + noise scaled so that speech RMS / noise RMS = snr_db; returns int16."""
    noise = noise[: len(pcm)]
    noise_rms = float(np.sqrt(np.mean(noise**2))) or 1.0
    scale = speech_rms(pcm) / (noise_rms * 10 ** (snr_db / 20))
    mixed = pcm.astype(np.float64) + noise * scale
    out: np.ndarray = np.clip(mixed, -32768, 32767).astype(np.int16)
    return out
