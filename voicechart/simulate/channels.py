"""Rooms and microphones for test audio: what happens to speech between a mouth and the recognizer.

Each channel is a deterministic function of 16 kHz int16 audio (seeded where it draws noise), so the
corpus that benchmarks use can be rebuilt bit for bit. Acoustic effects (a room's reverberation, distance)
apply to the speech before operatory noise is added at the microphone; electrical ones (a telephone band,
automatic gain, clipping) apply to the mix, after the noise.

- none: the speech as synthesized;
- reverb: a small treatment room (RT60 ≈ 0.45 s), the direct sound still dominant;
- headset: a close-talking boom microphone: bass roll-off below 150 Hz, a slight presence lift;
- lapel: a lapel microphone on a gown, about 40 cm from the mouth and turned away: high frequencies lost,
  more of the room than of the voice, and 12 dB quieter;
- phone: telephone-band audio (8 kHz sampling, 300–3400 Hz, μ-law), as a USB speakerphone or a phone line;
- agc: automatic gain control pumping the level up in pauses and down in words (noise rises between words);
- clipping: input gain set too high: the loudest 5 % of samples flattened at full scale.
"""

from __future__ import annotations

import numpy as np

from voicechart.audio.sources import SAMPLE_RATE

ACOUSTIC = ("none", "reverb", "headset", "lapel")
ELECTRICAL = ("phone", "agc", "clipping")
CHANNELS = (*ACOUSTIC, *ELECTRICAL)


def _filter(
    x: np.ndarray, gain_at: np.ndarray | None = None, *, low: float = 0, high: float = 0
) -> np.ndarray:
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
    if low:
        spectrum[freqs < low] = 0
    if high:
        spectrum[freqs > high] = 0
    if gain_at is not None:
        spectrum *= np.interp(freqs, gain_at[0], gain_at[1])
    out: np.ndarray = np.fft.irfft(spectrum, n=len(x))
    return out


def _room_response(rt60_s: float, direct: float, rng: np.random.Generator) -> np.ndarray:
    """An impulse response: the direct sound, then exponentially decaying diffuse reflections."""
    n = int(rt60_s * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60_s)  # -60 dB at rt60
    tail[: int(0.004 * SAMPLE_RATE)] = 0  # first reflection after ~4 ms
    tail /= np.sqrt(np.sum(tail**2)) or 1.0
    response = tail * (1 - direct)
    response[0] += direct
    return response


def _convolve(x: np.ndarray, response: np.ndarray) -> np.ndarray:
    size = len(x) + len(response) - 1
    nfft = 1 << (size - 1).bit_length()
    out = np.fft.irfft(np.fft.rfft(x, nfft) * np.fft.rfft(response, nfft), nfft)[: len(x)]
    result: np.ndarray = out
    return result


def _as_int16(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.clip(np.round(x), -32768, 32767).astype(np.int16)
    return out


def acoustic(pcm: np.ndarray, channel: str, *, seed: int = 0) -> np.ndarray:
    """The speech as the microphone receives it in the room (before noise)."""
    x = pcm.astype(np.float64)
    rng = np.random.default_rng(seed)
    if channel in ("none", *ELECTRICAL):
        return pcm
    if channel == "reverb":
        return _as_int16(_convolve(x, _room_response(0.45, 0.6, rng)))
    if channel == "headset":
        eq = np.array([[0, 150, 300, 2500, 4000, 8000], [0, 0.3, 1.0, 1.0, 1.4, 1.1]])
        return _as_int16(_filter(x, eq))
    if channel == "lapel":
        eq = np.array([[0, 200, 1500, 3000, 5000, 8000], [0.8, 1.0, 1.0, 0.55, 0.25, 0.1]])
        far = _convolve(_filter(x, eq), _room_response(0.5, 0.35, rng))
        return _as_int16(far * 10 ** (-12 / 20))
    raise ValueError(f"unknown channel {channel!r}; one of {', '.join(CHANNELS)}")


def electrical(pcm: np.ndarray, channel: str) -> np.ndarray:
    """The mix (speech and noise) after the microphone's own electronics and the line."""
    x = pcm.astype(np.float64)
    if channel in ACOUSTIC:
        return pcm
    if channel == "phone":
        band = _filter(x, low=300, high=3400)
        narrow = band[::2]  # 8 kHz sampling (the band is already below 4 kHz)
        mu = 255.0
        y = np.clip(narrow / 32768, -1, 1)
        companded = np.sign(y) * np.log1p(mu * np.abs(y)) / np.log1p(mu)
        quantized = np.round(companded * 127) / 127
        expanded = np.sign(quantized) * np.expm1(np.abs(quantized) * np.log1p(mu)) / mu * 32768
        wide = np.repeat(expanded, 2)[: len(x)]
        return _as_int16(_filter(wide, high=3600))
    if channel == "agc":
        frame = SAMPLE_RATE // 50  # 20 ms
        usable = len(x) - len(x) % frame
        levels = np.sqrt(np.mean(x[:usable].reshape(-1, frame) ** 2, axis=1) + 1.0)
        gains = np.empty_like(levels)
        level = levels[0] if len(levels) else 1.0
        for i, current in enumerate(levels):  # fast attack, slow release
            level = current if current > level else 0.97 * level + 0.03 * current
            gains[i] = min(3000.0 / level, 20.0)
        gain = np.repeat(gains, frame)
        gain = np.concatenate([gain, np.full(len(x) - usable, gains[-1] if len(gains) else 1.0)])
        return _as_int16(x * gain)
    if channel == "clipping":
        peak = np.quantile(np.abs(x), 0.95) or 1.0
        return _as_int16(x * (32767 / peak))
    raise ValueError(f"unknown channel {channel!r}; one of {', '.join(CHANNELS)}")
