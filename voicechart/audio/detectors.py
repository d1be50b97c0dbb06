"""Speech detectors: per-frame "is this speech?" answers for the segmenter.

- WebrtcDetector: webrtcvad, cheap; unreliable under tonal or broadband noise (FEASIBILITY.md §4).
- SileroDetector: the Silero VAD v6 ONNX model shipped inside faster-whisper, run as a stream.
- ConfirmedDetector: speech only where a first detector hears it and a second one confirms it.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from voicechart.audio.sources import SAMPLE_RATE


class SpeechDetector(Protocol):
    def is_speech(self, frame: np.ndarray) -> bool:
        """One 10/20/30 ms frame of 16 kHz int16 PCM, in stream order."""
        ...


class WebrtcDetector:
    def __init__(self, mode: int = 2) -> None:
        import webrtcvad

        self._vad: Any = webrtcvad.Vad(mode)

    def is_speech(self, frame: np.ndarray) -> bool:
        return bool(self._vad.is_speech(frame.astype("<i2").tobytes(), SAMPLE_RATE))


class SileroDetector:
    """Streams 512-sample windows (+64 samples of context) through Silero, carrying its state, with
    hysteresis: speech starts above `threshold` and ends below `neg_threshold`."""

    WINDOW = 512
    CONTEXT = 64

    def __init__(self, threshold: float = 0.5, neg_threshold: float = 0.35) -> None:
        from faster_whisper.vad import get_vad_model

        self._session: Any = get_vad_model().session
        self.threshold = threshold
        self.neg_threshold = neg_threshold
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(self.CONTEXT, dtype=np.float32)
        self._buffer = np.zeros(0, dtype=np.float32)
        self._speaking = False
        self.last_probability = 0.0

    def probability(self, window: np.ndarray) -> float:
        batch = np.concatenate([self._context, window])[None, :]
        out, self._h, self._c = self._session.run(None, {"input": batch, "h": self._h, "c": self._c})
        self._context = window[-self.CONTEXT :]
        return float(np.asarray(out).reshape(-1)[0])

    def is_speech(self, frame: np.ndarray) -> bool:
        self._buffer = np.concatenate([self._buffer, frame.astype(np.float32) / 32768.0])
        while len(self._buffer) >= self.WINDOW:
            window, self._buffer = self._buffer[: self.WINDOW], self._buffer[self.WINDOW :]
            p = self.probability(window)
            self.last_probability = p
            if p >= self.threshold:
                self._speaking = True
            elif p < self.neg_threshold:
                self._speaking = False
        return self._speaking


class ConfirmedDetector:
    """Speech where `first` hears speech and `confirm` agrees. Both see every frame (Silero keeps state)."""

    def __init__(self, first: SpeechDetector, confirm: SpeechDetector) -> None:
        self.first = first
        self.confirm = confirm

    def is_speech(self, frame: np.ndarray) -> bool:
        confirmed = self.confirm.is_speech(frame)
        return self.first.is_speech(frame) and confirmed


def make_detector(kind: str, *, webrtc_mode: int, threshold: float, neg_threshold: float) -> SpeechDetector:
    if kind == "webrtc":
        return WebrtcDetector(webrtc_mode)
    if kind == "silero":
        return SileroDetector(threshold, neg_threshold)
    if kind == "webrtc+silero":
        return ConfirmedDetector(WebrtcDetector(webrtc_mode), SileroDetector(threshold, neg_threshold))
    raise ValueError(f"unknown speech detector {kind!r} (webrtc, silero, webrtc+silero)")
