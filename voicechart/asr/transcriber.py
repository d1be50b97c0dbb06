"""Speech to text: one utterance at a time, with the confidence Whisper reports and its other guesses.

The Whisper model is driven through CTranslate2 directly (faster-whisper gives the features and the
tokenizer): the audio is encoded once, then decoded with a beam that returns its n best hypotheses, each with
its score. The interpreter chooses among them with the grammar (voicechart.dictation.choose), and the
confidence gates use how far apart they are. The reading that is charted can then be given the probability
of each of its tokens (one more decoder pass), so that a value heard unsure is marked
(voicechart.dictation.unsure).

While charting, the decoder may write only the charting language's words (a `Vocabulary`): every other
token is suppressed. A suppressed decoder renormalizes over what is left, so its scores rank its hypotheses
but claim a certainty the model does not have: the reading that is chosen is judged by the unconstrained
model's probabilities of its tokens instead (`honest_logprob`, the same decoder pass as the token
probabilities).
"""

from __future__ import annotations

import functools
import logging
import math
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
    constrained: bool = field(default=False, compare=False)  # decoded in the charting vocabulary only

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


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The words the decoder may write while charting (any case, digits and punctuation besides);
    `free_text`: words after which an utterance goes on in free text (an exam note), so that a reading
    holding one is recognized again without the vocabulary."""

    words: frozenset[str]
    free_text: frozenset[str] = frozenset()


def once_each(token_probs: Callable[[Hypothesis], Hypothesis]) -> Callable[[Hypothesis], Hypothesis]:
    """`Transcript.with_token_probs` asked once per hypothesis: the gates and the review marks both ask."""
    done: dict[tuple[str, tuple[int, ...]], Hypothesis] = {}

    def asked(hypothesis: Hypothesis) -> Hypothesis:
        key = (hypothesis.text, hypothesis.ids)
        if key not in done:
            done[key] = token_probs(hypothesis)
        return done[key]

    return asked


def honest_logprob(hypothesis: Hypothesis) -> float | None:
    """The unconstrained model's mean token log-probability of a hypothesis, from its token probabilities
    (the end-of-text step counted with probability 1, as the beam counts it); None when they are not known."""
    if not hypothesis.tokens:
        return None
    total = sum(math.log(max(t.prob, 1e-9)) for t in hypothesis.tokens)
    return total / (len(hypothesis.tokens) + 1)


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

    def __init__(
        self, model: ResolvedModel, settings: AsrSettings, *, vocabulary: Vocabulary | None = None
    ) -> None:
        self.model_info = model
        self._settings = settings
        self.vocabulary = vocabulary
        self._outside_vocabulary: list[int] | None = None  # token ids suppressed while charting
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
        vocabulary_only: bool = False,
    ) -> tuple[list[Hypothesis], float]:
        """The beam's `n_best` hypotheses (best first) and the no-speech probability; `vocabulary_only`:
        written in the charting vocabulary's words (when there is one), scored over those words only
        (`Hypothesis.constrained`: see `honest_logprob`)."""
        s = self._settings
        prompt_ids = self._prompt_ids(prompt or "")
        max_new_tokens = min(max_new_tokens, MAX_LENGTH - len(prompt_ids))
        beam = max(s.beam_size, n_best)
        constrained = vocabulary_only and self.vocabulary is not None
        result = self._model.model.generate(
            encoded.output,
            [prompt_ids],
            beam_size=beam,
            num_hypotheses=n_best,
            max_length=len(prompt_ids) + max_new_tokens,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            # else the model's own list (config.json), as faster-whisper uses
            suppress_tokens=self._suppressed_while_charting() if constrained else [-1],
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
            hypotheses.append(Hypothesis(text, avg_logprob, ids=tuple(ids), constrained=constrained))
        hypotheses.sort(key=lambda h: -h.avg_logprob)  # the beam ranks by another normalization
        return hypotheses, float(result.no_speech_prob)

    def decode_charting(
        self, encoded: Encoded, *, prompt: str, n_best: int, max_new_tokens: int
    ) -> tuple[list[Hypothesis], float]:
        """A charting utterance's hypotheses: in the vocabulary's words when there is one, unless a reading
        goes on in free text (then without it, as a note is)."""
        if self.vocabulary is None:
            return self.decode(encoded, prompt=prompt, n_best=n_best, max_new_tokens=max_new_tokens)
        hypotheses, no_speech = self.decode(
            encoded, prompt=prompt, n_best=n_best, max_new_tokens=max_new_tokens, vocabulary_only=True
        )
        free = self.vocabulary.free_text
        if any(free.intersection(_words(h.text)) for h in hypotheses):
            return self.decode(encoded, prompt=prompt, n_best=n_best, max_new_tokens=max_new_tokens)
        return hypotheses, no_speech

    def _suppressed_while_charting(self) -> list[int]:
        """Every text token that cannot be part of the vocabulary's words, a number up to 99 or punctuation
        (built once: the tokenizer encodes each word as written in lower case, capitalized and in capitals,
        with and without a leading space)."""
        if self._outside_vocabulary is None:
            assert self.vocabulary is not None
            allowed: set[int] = set()
            pieces = [*self.vocabulary.words, *(str(n) for n in range(100)), *".,?!-:;'"]
            for piece in pieces:
                for form in {piece, piece.capitalize(), piece.upper()}:
                    allowed.update(self._tokenizer.encode(form))
                    allowed.update(self._tokenizer.encode(" " + form))
            eot = int(self._tokenizer.eot)  # special tokens (end of text, timestamps) follow the text tokens
            self._outside_vocabulary = [i for i in range(eot) if i not in allowed]
        return self._outside_vocabulary

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
        return self._token_probs_of(ids, self._aligned_probs(encoded, prompt_ids, ids))

    def _aligned_probs(self, encoded: Encoded, prompt_ids: list[int], ids: list[int]) -> list[float]:
        """The unconstrained model's probability of each token, given the prompt and the tokens before it."""
        aligned = self._model.model.align(
            encoded.output, prompt_ids, [ids], encoded.frames, median_filter_width=1
        )[0]
        return [float(p) for p in aligned.text_token_probs]

    def _token_probs_of(self, ids: list[int], probs: list[float]) -> tuple[TokenProb, ...]:
        pieces = [self._tokenizer.decode([i]) for i in ids]
        whole = "".join(pieces)
        if whole != self._tokenizer.decode(ids):  # a character split across tokens
            return ()
        lead = len(whole) - len(whole.lstrip())
        out: list[TokenProb] = []
        end = -lead
        for piece, prob in zip(pieces, probs, strict=True):
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
        if note:
            hypotheses, no_speech = self.decode(
                encoded, prompt=prompt, n_best=1, max_new_tokens=NOTE_MAX_NEW_TOKENS
            )
        else:
            hypotheses, no_speech = self.decode_charting(
                encoded, prompt=s.initial_prompt, n_best=s.n_best, max_new_tokens=s.max_new_tokens
            )
        elapsed = time.perf_counter() - started
        if not hypotheses or not hypotheses[0].text:
            return Transcript("", avg_logprob=-10.0, no_speech_prob=1.0, seconds=elapsed)
        best = hypotheses[0]
        charting = (
            None if note else once_each(functools.partial(self.with_token_probs, encoded, s.initial_prompt))
        )
        return Transcript(
            best.text,
            avg_logprob=best.avg_logprob,
            no_speech_prob=no_speech,
            seconds=elapsed,
            alternatives=tuple(hypotheses),
            with_token_probs=charting,
        )


def _words(text: str) -> set[str]:
    return {w.strip(".,?!:;'\"").lower() for w in text.split()}
