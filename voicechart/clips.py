"""Utterance audio kept for review: one WAV per utterance in the data directory."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from voicechart.audio.sources import SAMPLE_RATE


def write_clip(path: Path, pcm: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial")
    with wave.open(str(tmp), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(pcm.astype("<i2").tobytes())
    tmp.replace(path)
    return path
