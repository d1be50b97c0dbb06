"""The second ear: a recognizer built apart from Whisper, asked only where Whisper doubts values.

PocketSphinx (a hidden-Markov acoustic model of US English, from the `pocketsphinx` package, offline) with a
language model of the dictation language only (second_ear_model/: a trigram model and pronunciations built
from generated dictation text by `python -m bench second-ear-lm`). It is much less accurate than Whisper on
its own, but it hears differently: where both read the same values, those values are far more likely right
than where Whisper alone was unsure (voicechart.dictation.opinion weighs the two; README: measured on the
corpus's dev voices, reported on its test voices). It decodes about twenty times faster than real time on
one core, as the speech arrives; the last passes over an utterance (tens of milliseconds) are made when it
ends. Its binding holds Python's GIL while it decodes, so the pipeline runs it in a child process
(voicechart.asr.ear_process); the corpus bench runs it in process, the same way.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from voicechart.asr.transcriber import Hypothesis, Transcript
from voicechart.audio.segmenter import SegmenterConfig
from voicechart.errors import ModelError

log = logging.getLogger("voicechart.asr")

MODEL_DIR = Path(__file__).parent / "second_ear_model"
RATE = 16000
FRAME_MS = SegmenterConfig().frame_ms  # fed the segmenter's frames
STEP = 0.1
"""The score gap given between two of its readings, best first (PocketSphinx's own scores are not on
Whisper's scale; `choose` only needs their order)."""


@runtime_checkable
class Readings(Protocol):
    """One finished utterance's readings, worked out or fetched when first asked for."""

    def transcript(self) -> Transcript: ...


class Ear(Protocol):
    """What the pipeline needs of a second ear: it listens as the speech arrives (a segmenter Listener) and
    can read a whole recording. `SecondEar` in process; `voicechart.asr.ear_process.EarProcess` in a child."""

    def load(self) -> None: ...

    def start(self) -> None: ...

    def feed(self, pcm: np.ndarray) -> None: ...

    def finish(self) -> Readings: ...

    def hear(self, audio: np.ndarray) -> Transcript: ...


class SecondEar:
    """PocketSphinx with the charting language model: one decoder, one stream of utterances.

    It listens as the speech arrives (`start`, `feed` each frame, `finish` when the utterance closes: the
    segmenter does this), so that its reading is ready at the end of speech; `hear` reads a whole recording
    the same way, frame by frame. Each utterance starts from the same cepstral mean, so a reading does not
    depend on what was said before it (the corpus bench reads clips one at a time, in any order)."""

    def __init__(self, n_best: int = 5, model_dir: Path = MODEL_DIR, frame_ms: int = FRAME_MS) -> None:
        self.n_best = n_best
        self.model_dir = model_dir
        self.frame_samples = RATE * frame_ms // 1000
        self._decoder: Any = None
        self._cmn = ""
        self._open = False  # an utterance is being fed
        self._pending: Reading | None = None  # the last utterance, finished but not yet read
        self._busy = 0.0
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the decoder now (otherwise at the first utterance); raises ModelError if it cannot be."""
        with self._lock:
            self._load()

    def _load(self) -> Any:
        if self._decoder is None:
            try:
                from pocketsphinx import Decoder, get_model_path
            except ImportError as exc:
                raise ModelError("the second ear needs the pocketsphinx package: uv sync") from exc
            lm, words = self.model_dir / "charting.lm", self.model_dir / "charting.dict"
            if not lm.is_file() or not words.is_file():
                raise ModelError(f"the second ear's language model is missing from {self.model_dir}")
            self._decoder = Decoder(
                hmm=str(Path(get_model_path()) / "en-us" / "en-us"),
                lm=str(lm),
                dict=str(words),
                samprate=RATE,
                loglevel="FATAL",
            )
            self._cmn = self._decoder.get_cmn()
        return self._decoder

    def start(self) -> None:
        """A new utterance begins (one still open is dropped; one finished but not yet read is read now)."""
        with self._lock:
            decoder = self._load()
            if self._pending is not None:
                self._read(self._pending)
            if self._open:
                decoder.end_utt()
            decoder.set_cmn(self._cmn)
            decoder.start_utt()
            self._open, self._busy = True, 0.0

    def feed(self, pcm: np.ndarray) -> None:
        """More of the utterance (int16 samples at 16 kHz)."""
        with self._lock:
            if self._open:
                started = time.perf_counter()
                self._decoder.process_raw(pcm.astype("<i2", copy=False).tobytes(), full_utt=False)
                self._busy += time.perf_counter() - started

    def finish(self) -> Reading:
        """The utterance is over. Its readings are worked out (the decoder's last passes, tens of
        milliseconds) when first asked for, or when the next utterance starts, whichever comes first: most
        utterances never need them, and the segmenter hands this one on at once."""
        with self._lock:
            reading = Reading(self)
            if self._open:
                self._open, self._pending = False, reading
            else:
                reading.result = Transcript("", -10.0, 0.0)
            return reading

    def readings_of(self, reading: Reading) -> Transcript:
        """`reading`'s readings, worked out now if its utterance is the one still pending. (Any other is
        read already: the next utterance's start reads the pending one; the guard keeps a reading from
        ever taking another utterance's words.)"""
        with self._lock:
            if reading.result is None:
                if reading is self._pending:
                    self._read(reading)
                else:
                    log.warning("the second ear was asked for an utterance it no longer holds")
                    reading.result = Transcript("", -10.0, 0.0)
            assert reading.result is not None
            return reading.result

    def _read(self, reading: Reading) -> None:
        """End the pending utterance and keep its readings in `reading` (with the lock held)."""
        started = time.perf_counter()
        decoder = self._decoder
        decoder.end_utt()
        self._pending = None
        best = decoder.hyp()
        texts = [best.hypstr] if best is not None and best.hypstr else []
        if texts and self.n_best > 1:
            for other in itertools.islice(decoder.nbest(), 8 * self.n_best):
                if len(texts) >= self.n_best:
                    break
                if other is not None and other.hypstr and other.hypstr not in texts:
                    texts.append(other.hypstr)
        seconds = self._busy + time.perf_counter() - started
        hypotheses = tuple(Hypothesis(text, -STEP * (rank + 1)) for rank, text in enumerate(texts))
        top = hypotheses[0] if hypotheses else Hypothesis("", -10.0)
        reading.result = Transcript(top.text, top.avg_logprob, 0.0, seconds=seconds, alternatives=hypotheses)

    def hear(self, audio: np.ndarray) -> Transcript:
        """Its readings of a whole utterance (float32 samples at 16 kHz), fed frame by frame as live."""
        pcm = np.clip(np.round(audio * 32768.0), -32768, 32767).astype("<i2")  # pcm16_to_float, undone
        self.start()
        for at in range(0, len(pcm), self.frame_samples):
            self.feed(pcm[at : at + self.frame_samples])
        return self.finish().transcript()


class Reading:
    """The second ear's readings of one finished utterance, worked out when first asked for."""

    def __init__(self, ear: SecondEar) -> None:
        self._ear = ear
        self.result: Transcript | None = None

    def transcript(self) -> Transcript:
        return self._ear.readings_of(self)
