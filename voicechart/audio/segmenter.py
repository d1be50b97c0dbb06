"""Utterance segmentation: frames + a speech detector → utterances, with pre-roll, hang-over and a cap.

A plain state machine (QUIET → SPEAKING → QUIET) fed one frame at a time, so tests can drive it with any
detector and timing is taken from the audio timeline, never the wall clock.

Background talk: Silero (any detector) hears babble as speech, and an utterance then never ends. Where the
detector has heard speech in most of the last few seconds, a frame also has to stand out from the
background's level (its median) by `above_floor_db` to count: the dictation is closer to the microphone.
Dictating a clinical note fills the window with speech too, so the pipeline turns this off inside notes.

Early end: after `probe_start_ms` of silence the segmenter starts a probe (the recognizer and the parser,
in the background) on the words so far; after `probe_ms` of silence it takes the answer. If the words are
a whole command ("three two four") the utterance ends there, without waiting out the full hang-over; if
not (a triplet cut short, "tooth …") it waits as usual, and the answer is kept with the utterance when no
more speech came before it closed. Speech before `probe_ms` drops the probe. Whether an utterance ends
early depends on the audio alone (the pause lengths), never on how fast the machine is.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np

from voicechart.audio.detectors import SpeechDetector
from voicechart.audio.sources import SAMPLE_RATE

log = logging.getLogger("voicechart.segmenter")
T = TypeVar("T")

TAIL_DECAY_MS = 150


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
    above_floor_db: float = 0.0  # 0 = off; else voiced frames must be this much louder than the noise floor
    floor_window_s: float = 5.0  # the noise floor: a low percentile of the frame levels over this window
    floor_percentile: float = 50.0
    babble_fraction: float = 0.8  # the background counts as talk when this share of the window is "speech"
    probe_ms: int = 0  # 0 = no early end; else end early after this much silence if the words are whole
    probe_start_ms: int = 0  # start the probe after this much silence (≤ probe_ms; 0 = at probe_ms)


@dataclass(frozen=True, slots=True)
class ProbeAnswer:
    complete: bool  # the words so far are a whole command: end the utterance now
    recognized: Any = None  # what the probe recognized (a Transcript), reused if no more speech follows


class ProbeRun(Protocol):
    def answer(self) -> ProbeAnswer: ...

    def cancel(self) -> None: ...


Probe = Callable[[np.ndarray], ProbeRun]


class Listener(Protocol):
    """Hears each utterance as it arrives (voicechart.asr.second_ear.SecondEar): started when speech opens
    an utterance (with its pre-roll), fed each frame, finished when it closes."""

    def start(self) -> None: ...

    def feed(self, pcm: np.ndarray) -> None: ...

    def finish(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class Utterance:
    pcm: np.ndarray  # int16, includes pre-roll and the hang-over tail
    start_s: float  # audio time of the first voiced frame
    speech_end_s: float  # audio time at which the last voiced frame ended
    closed_s: float  # audio time at which the segmenter decided the utterance was over
    forced: bool = False  # closed because it reached max_utterance_s
    early: bool = False  # closed by the probe before the full hang-over
    recognized: Any = None  # the probe's recognition of exactly this speech, if any
    heard: Any = None  # the listener's reading of it (the second ear's Reading), if one listened

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
    def __init__(self, detector: SpeechDetector, config: SegmenterConfig, probe: Probe | None = None) -> None:
        self.detector = detector
        self.cfg = config
        self.probe = probe
        # Off while a clinical note is dictated: continuous free speech fills the window like background talk.
        self.background_gate = True
        self.listener: Listener | None = None  # hears the utterances as they arrive (the second ear)
        self._probing: ProbeRun | None = None  # a probe started on the speech so far
        self._probed: ProbeAnswer | None = None  # its answer
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
        window = max(1, int(config.floor_window_s * 1000 / config.frame_ms))
        self._levels: deque[float] = deque(maxlen=window)
        self._heard: deque[bool] = deque(maxlen=window)

    def feed(self, frame: np.ndarray) -> Utterance | None:
        frame_s = self.cfg.frame_ms / 1000
        frame_start = self._t
        self._t += frame_s
        voiced = self._voiced(frame)
        if not self._speaking:
            self._recent.append(voiced)
            self._pre_roll.append(frame)
            if sum(self._recent) >= self.cfg.start_frames:
                self._open(frame_start)
            return None
        self._frames.append(frame)
        if (listener := self.listener) is not None:
            self._guarded(lambda: listener.feed(frame))
        if voiced:
            self._silent_run = 0
            self._voiced_frames += 1
            self._last_voiced_end_s = self._t
            self._drop_probe()  # more speech: the probe no longer covers the utterance
        else:
            self._silent_run += 1
            early = self._probe_step()
            if early is not None:
                return early
        if self._silent_run * self.cfg.frame_ms >= self.cfg.hangover_ms:
            return self._close(forced=False)
        if self._t - self._start_s >= self.cfg.max_utterance_s:
            return self._close(forced=True)
        return None

    def _voiced(self, frame: np.ndarray) -> bool:
        """The detector hears speech and the frame is not digital silence. Where the detector hears speech
        nearly all the time (talk across the room: babble is speech too), a frame must also stand out from
        the level of that background by `above_floor_db`: the dictation is closer to the microphone."""
        level = _dbfs(frame)
        speech = (
            self.detector.is_speech(frame) and level > self.cfg.silence_dbfs
        )  # Silero is stateful: every frame
        cfg = self.cfg
        if cfg.above_floor_db <= 0 or not self.background_gate:
            return speech
        self._levels.append(level)
        self._heard.append(speech)
        window = self._levels.maxlen or 1
        if len(self._heard) < window // 2 or sum(self._heard) < cfg.babble_fraction * len(self._heard):
            return speech  # a background without talk: the detector alone decides
        floor = float(np.percentile(self._levels, cfg.floor_percentile))
        return speech and level >= floor + cfg.above_floor_db

    def _probe_step(self) -> Utterance | None:
        cfg = self.cfg
        if self.probe is None or not 0 < cfg.probe_ms < cfg.hangover_ms:
            return None
        if self._voiced_frames * cfg.frame_ms < cfg.min_speech_ms:
            return None
        start_ms = min(cfg.probe_start_ms or cfg.probe_ms, cfg.probe_ms)
        if self._silent_run == max(1, start_ms // cfg.frame_ms):
            self._probing = self.probe(np.concatenate(self._frames))
        if self._silent_run == cfg.probe_ms // cfg.frame_ms and self._probing is not None:
            self._probed, self._probing = self._probing.answer(), None
            if self._probed.complete:
                return self._close(forced=False, early=True)
        return None

    def _drop_probe(self) -> None:
        if self._probing is not None:
            self._probing.cancel()
        self._probing = None
        self._probed = None

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
        self._guarded(self._start_listening)

    def _start_listening(self) -> None:
        if (listener := self.listener) is not None:
            listener.start()
            for frame in self._frames:  # the pre-roll
                listener.feed(frame)

    def _guarded(self, step: Callable[[], T]) -> T | None:
        """One step of the listener. A listener that fails is dropped: its readings are a help, never a
        need, and the utterances go on without them."""
        if self.listener is None:
            return None
        try:
            return step()
        except Exception as exc:  # whatever the listener raises, the segmenter goes on
            log.warning("the listener failed (%s): utterances go on without it", type(exc).__name__)
            self.listener = None
            return None

    def _close(self, *, forced: bool, early: bool = False) -> Utterance | None:
        pcm = np.concatenate(self._frames) if self._frames else np.zeros(0, dtype=np.int16)
        recognized = self._probed.recognized if self._probed is not None and not forced else None
        heard = self._guarded(listener.finish) if (listener := self.listener) is not None else None
        utterance = Utterance(
            pcm,
            self._start_s,
            self._last_voiced_end_s,
            self._t,
            forced,
            early=early,
            recognized=recognized,
            heard=heard,
        )
        self._drop_probe()
        self._speaking = False
        # The end of the silence after the last word may hold the onset of the next one (Silero hears a
        # word start a few frames late): it becomes the next utterance's pre-roll, which matters after an
        # early end. Its first 150 ms may still hold the last word's decay, which does not belong there.
        seed = self._silent_run - TAIL_DECAY_MS // self.cfg.frame_ms
        if seed > 0:
            self._pre_roll.extend(self._frames[-seed:])
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
