"""Speech to text: one utterance at a time, with the confidence Whisper reports and its other guesses.

The Whisper model is driven through CTranslate2 directly (faster-whisper gives the features and the
tokenizer): the audio is encoded once, then decoded with a beam that returns its n best hypotheses, each with
its score. The interpreter chooses among them with the grammar (voicechart.dictation.choose), and the
confidence gates use how far apart they are.
"""

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
class Hypothesis:
    """One of the beam's guesses: its text and mean token log-probability."""

    text: str
    avg_logprob: float


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    avg_logprob: float
    no_speech_prob: float
    seconds: float = 0.0
    alternatives: tuple[Hypothesis, ...] = field(default=())
    """The beam's distinct hypotheses, best first (the first is `text`); empty when only one was asked
    for, or only one distinct text came out."""

    @property
    def confidence(self) -> float:
        """exp(mean token log-probability): 1.0 = certain, ~0.4 = guessing."""
        return float(np.exp(self.avg_logprob))

    @property
    def hypotheses(self) -> tuple[Hypothesis, ...]:
        return self.alternatives or (Hypothesis(self.text, self.avg_logprob),)


MAX_LENGTH = 448
"""Whisper's decoder context: prompt and new tokens together."""
NOTE_MAX_NEW_TOKENS = 192  # a 12 s stretch of free dictation is up to ~45 words


class Transcriber(Protocol):
    def transcribe(self, audio: np.ndarray, *, prompt: str | None = None) -> Transcript:
        """Transcribe 16 kHz mono float32 audio in [-1, 1]; `prompt` replaces the configured domain prompt
        (clinical notes use a vocabulary prompt instead of the digit-style charting one)."""
        ...


@dataclass(frozen=True, slots=True)
class Encoded:
    """The encoder's view of one utterance: decode it as often as needed without encoding again."""

    output: Any  # ctranslate2.StorageView
    seconds: float


class WhisperTranscriber:
    """Whisper on the CPU (CTranslate2 int8), configured for short dictation: a domain prompt, beam search
    with n-best hypotheses, no temperature fallback."""

    def __init__(self, model: ResolvedModel, settings: AsrSettings) -> None:
        self.model_info = model
        self._settings = settings
        try:
            from faster_whisper import WhisperModel
            from faster_whisper.tokenizer import Tokenizer
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
        multilingual = bool(self._model.model.is_multilingual)
        self._tokenizer: Any = Tokenizer(
            self._model.hf_tokenizer,
            multilingual,
            task="transcribe",
            language="en" if multilingual else None,
        )
        self._prompts: dict[str, list[int]] = {}

    # --- the two stages ------------------------------------------------------------------------------------
    def encode(self, audio: np.ndarray) -> Encoded:
        from faster_whisper.audio import pad_or_trim

        started = time.perf_counter()
        features = self._model.feature_extractor(audio.astype(np.float32, copy=False))
        segment = pad_or_trim(features[:, :-1])  # the last frame is padding (as faster-whisper drops it)
        output = self._model.encode(segment)
        return Encoded(output, time.perf_counter() - started)

    def decode(
        self,
        encoded: Encoded,
        *,
        prompt: str | None,
        n_best: int,
        max_new_tokens: int,
    ) -> tuple[list[Hypothesis], float]:
        """The beam's `n_best` hypotheses (best first) and the no-speech probability."""
        s = self._settings
        prompt_ids = self._prompt_ids(prompt or "")
        max_new_tokens = min(max_new_tokens, MAX_LENGTH - len(prompt_ids))
        beam = max(s.beam_size, n_best)
        result = self._model.model.generate(
            encoded.output,
            [prompt_ids],
            beam_size=beam,
            num_hypotheses=n_best,
            max_length=len(prompt_ids) + max_new_tokens,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=[-1],  # the model's own list (config.json), as faster-whisper uses
        )[0]
        hypotheses: list[Hypothesis] = []
        seen: set[str] = set()
        for ids, score in zip(result.sequences_ids, result.scores, strict=True):
            text = self._tokenizer.decode(ids).strip()
            if text in seen:
                continue
            seen.add(text)
            # CTranslate2 scores are the summed log-probability over len(ids) ** length_penalty (1.0); the
            # end-of-text token is one more step (as faster-whisper counts it)
            hypotheses.append(Hypothesis(text, float(score) * len(ids) / (len(ids) + 1)))
        hypotheses.sort(key=lambda h: -h.avg_logprob)  # the beam ranks by another normalization
        return hypotheses, float(result.no_speech_prob)

    def _prompt_ids(self, prompt: str) -> list[int]:
        if prompt not in self._prompts:
            previous = self._tokenizer.encode(" " + prompt.strip()) if prompt.strip() else []
            self._prompts[prompt] = self._model.get_prompt(self._tokenizer, previous, without_timestamps=True)
        return self._prompts[prompt]

    # --- the Transcriber protocol --------------------------------------------------------------------------
    def transcribe(self, audio: np.ndarray, *, prompt: str | None = None) -> Transcript:
        s = self._settings
        started = time.perf_counter()
        encoded = self.encode(audio)
        note = prompt is not None
        hypotheses, no_speech = self.decode(
            encoded,
            prompt=prompt if note else s.initial_prompt,
            n_best=1 if note else s.n_best,
            max_new_tokens=NOTE_MAX_NEW_TOKENS if note else s.max_new_tokens,
        )
        elapsed = time.perf_counter() - started
        if not hypotheses or not hypotheses[0].text:
            return Transcript("", avg_logprob=-10.0, no_speech_prob=1.0, seconds=elapsed)
        best = hypotheses[0]
        return Transcript(
            best.text,
            avg_logprob=best.avg_logprob,
            no_speech_prob=no_speech,
            seconds=elapsed,
            alternatives=tuple(hypotheses) if len(hypotheses) > 1 else (),
        )
