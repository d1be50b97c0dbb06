"""Speech to text: one utterance at a time, with the confidence Whisper reports."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from voicechart.asr.models import ResolvedModel
from voicechart.errors import ModelError

if TYPE_CHECKING:
    from voicechart.settings import AsrSettings

log = logging.getLogger("voicechart.asr")


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    start_s: float
    end_s: float
    probability: float


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    avg_logprob: float
    no_speech_prob: float
    words: tuple[Word, ...] = field(default=())
    seconds: float = 0.0

    @property
    def confidence(self) -> float:
        """exp(mean token log-probability): 1.0 = certain, ~0.4 = guessing."""
        return float(np.exp(self.avg_logprob))


NOTE_MAX_NEW_TOKENS = 192  # a 12 s stretch of free dictation is up to ~45 words


class Transcriber(Protocol):
    def transcribe(self, audio: np.ndarray, *, prompt: str | None = None) -> Transcript:
        """Transcribe 16 kHz mono float32 audio in [-1, 1]; `prompt` replaces the configured domain prompt
        (clinical notes use a vocabulary prompt instead of the digit-style charting one)."""
        ...


class WhisperTranscriber:
    """faster-whisper on the CPU, configured for short dictation: domain prompt, no temperature fallback."""

    def __init__(self, model: ResolvedModel, settings: AsrSettings) -> None:
        self.model_info = model
        self._settings = settings
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:  # pragma: no cover
            raise ModelError("faster-whisper is not installed: pip install voicechart") from exc
        started = time.perf_counter()
        try:
            self._model: Any = WhisperModel(
                str(model.path),
                device="cpu",
                compute_type=settings.compute_type,
                cpu_threads=settings.cpu_threads,
                local_files_only=True,
            )
        except Exception as exc:
            raise ModelError(f"cannot load Whisper model from {model.path}: {exc}") from exc
        self.load_seconds = time.perf_counter() - started
        self._english_only = model.name.endswith(".en")

    def transcribe(self, audio: np.ndarray, *, prompt: str | None = None) -> Transcript:
        s = self._settings
        started = time.perf_counter()
        segments, _info = self._model.transcribe(
            audio.astype(np.float32, copy=False),
            language="en",
            beam_size=s.beam_size,
            temperature=0.0,
            condition_on_previous_text=False,
            initial_prompt=(s.initial_prompt if prompt is None else prompt) or None,
            without_timestamps=True,
            word_timestamps=False,  # costs ~2.5x time and invites a hallucinated "Thank you."
            vad_filter=False,
            max_new_tokens=s.max_new_tokens if prompt is None else NOTE_MAX_NEW_TOKENS,
        )
        segs = list(segments)  # the generator does the work
        elapsed = time.perf_counter() - started
        if not segs:
            return Transcript("", avg_logprob=-10.0, no_speech_prob=1.0, seconds=elapsed)
        text = " ".join(seg.text.strip() for seg in segs).strip()
        total_tokens = sum(max(len(seg.tokens), 1) for seg in segs)
        avg = sum(seg.avg_logprob * max(len(seg.tokens), 1) for seg in segs) / total_tokens
        words = tuple(
            Word(w.word.strip(), float(w.start), float(w.end), float(w.probability))
            for seg in segs
            for w in (seg.words or ())
        )
        return Transcript(
            text,
            avg_logprob=float(avg),
            no_speech_prob=float(max(seg.no_speech_prob for seg in segs)),
            words=words,
            seconds=elapsed,
        )
