"""Rooms, microphones and operatory noise for test audio: deterministic, and doing what they say."""

from __future__ import annotations

import numpy as np
import pytest

from voicechart.audio.noise import KINDS, make_noise, mix_at_snr, speech_rms
from voicechart.simulate.channels import CHANNELS, acoustic, electrical


def tone_burst() -> np.ndarray:
    t = np.arange(16000) / 16000
    envelope = (np.sin(2 * np.pi * 3 * t) > 0).astype(float)  # speech-like on/off
    signal = (
        np.sin(2 * np.pi * 220 * t) + 0.5 * np.sin(2 * np.pi * 2500 * t) + 0.3 * np.sin(2 * np.pi * 5000 * t)
    )
    return (8000 * signal * envelope).astype(np.int16)


def band_energy(pcm: np.ndarray, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(float)))
    freqs = np.fft.rfftfreq(len(pcm), 1 / 16000)
    return float(np.sum(spectrum[(freqs >= low) & (freqs < high)] ** 2))


@pytest.mark.parametrize("channel", CHANNELS)
def test_every_channel_is_deterministic_and_keeps_length(channel: str) -> None:
    pcm = tone_burst()
    once = electrical(acoustic(pcm, channel, seed=3), channel)
    again = electrical(acoustic(pcm, channel, seed=3), channel)
    assert once.dtype == np.int16 and len(once) == len(pcm)
    assert np.array_equal(once, again)
    assert speech_rms(once) > 0


def test_the_telephone_band_removes_what_is_above_it() -> None:
    pcm = tone_burst()
    phone = electrical(pcm, "phone")
    assert band_energy(phone, 4500, 8000) < 1e-3 * band_energy(pcm, 4500, 8000)
    assert band_energy(phone, 2000, 3000) > 0.3 * band_energy(pcm, 2000, 3000)


def test_the_lapel_microphone_is_quieter_and_duller() -> None:
    pcm = tone_burst()
    lapel = acoustic(pcm, "lapel", seed=1)
    assert speech_rms(lapel) < 0.5 * speech_rms(pcm)
    ratio = band_energy(lapel, 4000, 8000) / band_energy(lapel, 100, 1000)
    assert ratio < 0.5 * band_energy(pcm, 4000, 8000) / band_energy(pcm, 100, 1000)


def test_clipping_flattens_the_peaks() -> None:
    clipped = electrical(tone_burst(), "clipping")
    assert np.mean(np.abs(clipped.astype(int)) >= 32767) > 0.01


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "babble"])
def test_noise_mixes_at_the_asked_level(kind: str) -> None:
    pcm = tone_burst()
    noise = make_noise(kind, len(pcm), seed=5)
    mixed = mix_at_snr(pcm, noise, 10.0)
    residue = mixed.astype(float) - pcm.astype(float)
    measured = 20 * np.log10(speech_rms(pcm) / np.sqrt(np.mean(residue**2)))
    assert abs(measured - 10.0) < 0.5
