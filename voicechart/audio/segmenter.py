"""Utterance segmentation: frames + a speech detector → utterances, with pre-roll, hang-over and a cap.

A plain state machine (QUIET → SPEAKING → QUIET) fed one frame at a time, so tests can drive it with any
detector and timing is taken from the audio timeline, never the wall clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from voicechart.audio.detectors import SpeechDetector
from voicechart.audio.sources import SAMPLE_RATE


@dataclass(frozen=True, slots=True)
class SegmenterConfig:
    frame_ms: int = 30
    pre_roll_ms: int = 400
    hangover_ms: int = 400
    min_speech_ms: int = 90
    max_utterance_s: float = 12.0
    start_frames: int = 3  # voiced frames among the last `start_window` needed to open an utterance
    start_window: int = 5
    silence_dbfs: float = -55.0  # frames quieter than this are never speech


@dataclass(frozen=True, slots=True)
class Utterance:
    pcm: np.ndarray  # int16, includes pre-roll and the hang-over tail
    start_s: float  # audio time of the first voiced frame
    speech_end_s: float  # audio time at which the last voiced frame ended
    closed_s: float  # audio time at which the segmenter decided the utterance was over
    forced: bool = False  # closed because it reached max_utterance_s

    @property
    def clip_start_s(self) -> float:
        return self.closed_s - len(self.pcm) / SAMPLE_RATE


def frame_stream(chunks: Iterable[np.ndarray], frame_samples: int) -> Iterator[np.ndarray]:
    """Re-chunk arbitrary chunks into exact frames (the last partial frame is zero-padded)."""
    pending = np.zeros(0, dtype=np.int16)
    for chunk in chunks:
        pending = np.concatenate([pending, chunk.astype(np.int16, copy=False)])
        while len(pending) >= frame_samples:
            yield pending[:frame_samples]
            pending = pending[frame_samples:]
    if len(pending):
        yield np.concatenate([pending, np.zeros(frame_samples - len(pending), dtype=np.int16)])


def _dbfs(frame: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(frame.astype(np.float64) ** 2))) if len(frame) else 0.0
    return float(20 * np.log10(max(rms, 1e-9) / 32768.0))


class Segmenter:
    def __init__(self, detector: SpeechDetector, config: SegmenterConfig) -> None:
        self.detector = detector
        self.cfg = config
        self.frame_samples = SAMPLE_RATE * config.frame_ms // 1000
        self._pre_roll: deque[np.ndarray] = deque(maxlen=max(1, config.pre_roll_ms // config.frame_ms))
        self._recent: deque[bool] = deque(maxlen=config.start_window)
        self._frames: list[np.ndarray] = []
        self._speaking = False
        self._silent_run = 0
        self._voiced_frames = 0
        self._start_s = 0.0
        self._last_voiced_end_s = 0.0
        self._t = 0.0  # audio time at the end of the last frame seen

    def feed(self, frame: np.ndarray) -> Utterance | None:
        frame_s = self.cfg.frame_ms / 1000
        frame_start = self._t
        self._t += frame_s
        voiced = self.detector.is_speech(frame) and _dbfs(frame) > self.cfg.silence_dbfs
        if not self._speaking:
            self._recent.append(voiced)
            self._pre_roll.append(frame)
            if sum(self._recent) >= self.cfg.start_frames:
                self._open(frame_start)
            return None
        self._frames.append(frame)
        if voiced:
            self._silent_run = 0
            self._voiced_frames += 1
            self._last_voiced_end_s = self._t
        else:
            self._silent_run += 1
        if self._silent_run * self.cfg.frame_ms >= self.cfg.hangover_ms:
            return self._close(forced=False)
        if self._t - self._start_s >= self.cfg.max_utterance_s:
            return self._close(forced=True)
        return None

    def flush(self) -> Utterance | None:
        """End of input: close an open utterance."""
        return self._close(forced=False) if self._speaking else None

    def _open(self, frame_start: float) -> None:
        self._speaking = True
        self._frames = list(self._pre_roll)
        voiced_in_window = sum(self._recent)
        self._start_s = frame_start - (voiced_in_window - 1) * self.cfg.frame_ms / 1000
        self._voiced_frames = voiced_in_window
        self._last_voiced_end_s = self._t
        self._silent_run = 0
        self._pre_roll.clear()
        self._recent.clear()

    def _close(self, *, forced: bool) -> Utterance | None:
        pcm = np.concatenate(self._frames) if self._frames else np.zeros(0, dtype=np.int16)
        utterance = Utterance(pcm, self._start_s, self._last_voiced_end_s, self._t, forced)
        self._speaking = False
        self._frames = []
        self._recent.clear()
        if self._voiced_frames * self.cfg.frame_ms < self.cfg.min_speech_ms:
            return None
        return utterance

    def segment(self, chunks: Iterable[np.ndarray]) -> Iterator[Utterance]:
        for frame in frame_stream(chunks, self.frame_samples):
            utt = self.feed(frame)
            if utt is not None:
                yield utt
        last = self.flush()
        if last is not None:
            yield last
