"""Speech to text: one utterance at a time, with the confidence Whisper reports and its other guesses.

The Whisper model is driven through CTranslate2 directly (faster-whisper gives the features and the
tokenizer): the audio is encoded once, then decoded with a beam that returns its n best hypotheses, each with
its score. The interpreter chooses among them with the grammar (voicechart.dictation.choose), and the
confidence gates use how far apart they are. The reading that is charted can then be given the probability
of each of its tokens (one more decoder pass), so that a value heard unsure is marked
(voicechart.dictation.unsure).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from voicechart.asr.models import ResolvedModel
from voicechart.errors import ModelError

if TYPE_CHECKING:
    from voicechart.settings import AsrSettings

log = logging.getLogger("voicechart.asr")


@dataclass(frozen=True, slots=True)
class TokenProb:
    """One of Whisper's tokens in a hypothesis: where it ends in the text, and the probability the decoder
    gave it (an unsure digit in a sure utterance shows here, not in the mean)."""

    end: int  # character offset in the hypothesis' text just after the token
    prob: float


@dataclass(frozen=True, slots=True)
class Hypothesis:
    """One of the beam's guesses: its text and mean token log-probability; `tokens` when asked for."""

    text: str
    avg_logprob: float
    tokens: tuple[TokenProb, ...] = ()
    ids: tuple[int, ...] = field(default=(), compare=False, repr=False)  # Whisper's token ids, when decoded

    def word_probs(self, offsets: list[tuple[int, int]]) -> list[float]:
        """The least probability of the tokens of each word (character spans in `text`); 1.0 for every word
        when the tokens are not known."""
        if not self.tokens:
            return [1.0] * len(offsets)
        out: list[float] = []
        for start, end in offsets:
            begin = 0
            least = 1.0
            for token in self.tokens:
                if token.end > start and begin < end:
                    least = min(least, token.prob)
                begin = token.end
            out.append(least)
        return out


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    avg_logprob: float
    no_speech_prob: float
    seconds: float = 0.0
    alternatives: tuple[Hypothesis, ...] = field(default=())
    """The beam's distinct hypotheses, best first (the first is `text`); may be empty when only `text` is
    known."""
    with_token_probs: Callable[[Hypothesis], Hypothesis] | None = field(
        default=None, compare=False, repr=False
    )
    """One of the hypotheses with the probability of each of its tokens (one more decoder pass on the
    utterance's audio, asked for only for the reading that will be charted); None when the recognizer
    cannot tell."""

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
    frames: int = 0  # mel frames of audio (not padding): what token probabilities are aligned over


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
        frames = min(features.shape[-1] - 1, segment.shape[-1])
        return Encoded(output, time.perf_counter() - started, frames)

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
            avg_logprob = float(score) * len(ids) / (len(ids) + 1)
            hypotheses.append(Hypothesis(text, avg_logprob, ids=tuple(ids)))
        hypotheses.sort(key=lambda h: -h.avg_logprob)  # the beam ranks by another normalization
        return hypotheses, float(result.no_speech_prob)

    def with_token_probs(self, encoded: Encoded, prompt: str | None, hypothesis: Hypothesis) -> Hypothesis:
        """The hypothesis with the probability of each of its tokens, given the prompt and the tokens before
        it (one more decoder pass: CTranslate2's alignment gives them); unchanged when its token ids are
        not known."""
        tokens = self._token_probs(encoded, self._prompt_ids(prompt or ""), list(hypothesis.ids))
        return replace(hypothesis, tokens=tokens)

    def _token_probs(self, encoded: Encoded, prompt_ids: list[int], ids: list[int]) -> tuple[TokenProb, ...]:
        """Each token's probability, with where it ends in the stripped text; () when the pieces do not add
        up to the text (a character split across tokens)."""
        if not ids or not encoded.frames:
            return ()
        aligned = self._model.model.align(
            encoded.output, prompt_ids, [ids], encoded.frames, median_filter_width=1
        )[0]
        pieces = [self._tokenizer.decode([i]) for i in ids]
        whole = "".join(pieces)
        if whole != self._tokenizer.decode(ids):  # a character split across tokens
            return ()
        lead = len(whole) - len(whole.lstrip())
        out: list[TokenProb] = []
        end = -lead
        for piece, prob in zip(pieces, aligned.text_token_probs, strict=True):
            end += len(piece)
            out.append(TokenProb(max(end, 0), round(float(prob), 4)))
        return tuple(out)

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
        charting = None if note else functools.partial(self.with_token_probs, encoded, s.initial_prompt)
        return Transcript(
            best.text,
            avg_logprob=best.avg_logprob,
            no_speech_prob=no_speech,
            seconds=elapsed,
            alternatives=tuple(hypotheses),
            with_token_probs=charting,
        )
