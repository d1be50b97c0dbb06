"""The second ear in a process of its own.

PocketSphinx holds Python's GIL while it decodes (its binding never releases it): in the pipeline's process,
each utterance's last decoding passes (50–170 ms) would stall every other thread, the microphone's and the
readback's audio callbacks included. So the pipeline's ear runs in a child process, at a lower CPU priority
than Whisper: the segmenter's thread sends it each frame as the speech arrives, the child decodes, and makes
an utterance's last passes only when the pipeline asks for its readings (where Whisper doubts values) or
when the next utterance starts, so that they do not compete with Whisper recognizing it. Same decoder,
same settings as `SecondEar` in process (which the corpus bench uses), so the readings are the same.

A child that cannot load, dies or stops answering raises ModelError or OSError: the segmenter then drops the
listener and the pipeline decides with Whisper alone.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
import weakref
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from voicechart.asr.second_ear import FRAME_MS, MODEL_DIR, Readings, SecondEar
from voicechart.asr.transcriber import Hypothesis, Transcript
from voicechart.errors import ModelError

STARTUP_S = 60.0  # the child imports numpy and loads PocketSphinx (under a second when the machine is idle)
ANSWER_S = 3.0  # the longest an utterance's readings may take to come back (its last passes: under 0.5 s)
KEPT = 16  # finished utterances whose readings the child keeps until asked
NICE = 10  # the child's lower CPU priority


def _serve(conn: Connection, n_best: int, model_dir: str, frame_ms: int) -> None:
    """The child: one decoder, messages in order (start, feed, finish, read, hear, stop)."""
    os.nice(NICE)  # Whisper, recognizing the same utterance at the same moment, comes first
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the terminal stops the parent, which stops this
    ear = SecondEar(n_best, Path(model_dir), frame_ms)
    try:
        ear.load()
    except ModelError as exc:
        conn.send(("error", str(exc)))
        return
    conn.send(("ready", None))
    readings: dict[int, Readings] = {}
    while True:
        try:
            kind, payload = conn.recv()
        except (EOFError, OSError):
            return
        if kind == "start":
            ear.start()
        elif kind == "feed":
            ear.feed(np.frombuffer(payload, dtype="<i2"))
        elif kind == "finish":  # its last passes wait until asked for, or until the next utterance starts
            readings[payload] = ear.finish()
            for old in [k for k in readings if k <= payload - KEPT]:
                del readings[old]
        elif kind == "read":
            reading = readings.get(payload)
            conn.send(("reading", _wire(reading.transcript() if reading else Transcript("", -10.0, 0.0))))
        elif kind == "hear":
            conn.send(("reading", _wire(ear.hear(np.frombuffer(payload, dtype=np.float32)))))
        elif kind == "stop":
            return


def _wire(transcript: Transcript) -> tuple[list[tuple[str, float]], float]:
    return [(h.text, h.avg_logprob) for h in transcript.alternatives], transcript.seconds


def _unwire(payload: tuple[list[tuple[str, float]], float]) -> Transcript:
    readings, seconds = payload
    hypotheses = tuple(Hypothesis(text, score) for text, score in readings)
    top = hypotheses[0] if hypotheses else Hypothesis("", -10.0)
    return Transcript(top.text, top.avg_logprob, 0.0, seconds=seconds, alternatives=hypotheses)


class EarProcess:
    """The pipeline's second ear (a segmenter Listener), running `SecondEar` in a child process."""

    def __init__(
        self,
        n_best: int = 5,
        model_dir: Path = MODEL_DIR,
        frame_ms: int = FRAME_MS,
        *,
        answer_s: float = ANSWER_S,
    ) -> None:
        self.n_best, self.model_dir, self.frame_ms = n_best, model_dir, frame_ms
        self.answer_s = answer_s  # the longest a question may wait; later, Whisper decides alone
        self._conn: Connection | None = None
        self._process: Any = None
        self._outbox: queue.SimpleQueue[tuple[str, Any] | None] = queue.SimpleQueue()  # None: stop sending
        self._broken: str | None = None  # why the child can no longer be written to
        self._numbering = threading.Lock()
        self._asking = threading.RLock()  # one question at a time (load() may be one)
        self._next = 0

    def load(self) -> None:
        """Start the child and wait until its decoder is loaded; raises ModelError if it cannot be."""
        with self._asking:
            if self._conn is not None:
                return
            context = multiprocessing.get_context("spawn")  # no fork of a process with threads
            ours, theirs = context.Pipe()
            process = context.Process(
                target=_serve,
                args=(theirs, self.n_best, str(self.model_dir), self.frame_ms),
                name="voicechart-second-ear",
                daemon=True,
            )
            process.start()
            theirs.close()
            if not ours.poll(STARTUP_S):
                process.terminate()
                raise ModelError("the second ear did not start")
            try:
                kind, payload = ours.recv()
            except EOFError as exc:
                raise ModelError("the second ear's process ended as it started") from exc
            if kind == "error":
                process.join(5)
                raise ModelError(str(payload))
            self._conn, self._process = ours, process
            threading.Thread(target=self._sender, args=(ours,), name="second-ear-sender", daemon=True).start()
            weakref.finalize(self, _stop, self._outbox, ours, process)

    def _send(self, message: tuple[str, Any]) -> None:
        """Queue a message for the child; the sending thread writes it, so that a child that stops reading
        never blocks the segmenter (its pipe would fill): its answers stop coming instead."""
        if self._conn is None:
            self.load()
        if self._broken is not None:
            raise OSError(f"the second ear's process is gone ({self._broken})")
        self._outbox.put(message)

    def _sender(self, conn: Connection) -> None:
        while (message := self._outbox.get()) is not None:
            try:
                conn.send(message)
            except (OSError, ValueError) as exc:
                self._broken = type(exc).__name__
                return

    def start(self) -> None:
        self._send(("start", None))

    def feed(self, pcm: np.ndarray) -> None:
        self._send(("feed", pcm.astype("<i2", copy=False).tobytes()))

    def finish(self) -> RemoteReading:
        with self._numbering:
            number, self._next = self._next, self._next + 1
        self._send(("finish", number))
        return RemoteReading(self, number)

    def hear(self, audio: np.ndarray) -> Transcript:
        """A whole recording's readings (float32 at 16 kHz), when the segmenter was not listening."""
        return self._ask(("hear", audio.astype(np.float32).tobytes()))

    def _ask(self, message: tuple[str, Any]) -> Transcript:
        with self._asking:
            self._send(message)
            assert self._conn is not None
            waited = 0.0
            while not self._conn.poll(0.05):
                waited += 0.05
                if not self._process.is_alive():
                    raise ModelError("the second ear's process ended")
                if waited >= self.answer_s:
                    raise ModelError("the second ear did not answer")
            try:
                _kind, payload = self._conn.recv()
            except EOFError as exc:
                raise ModelError("the second ear's process ended") from exc
            return _unwire(payload)

    def close(self) -> None:
        if self._conn is not None:
            _stop(self._outbox, self._conn, self._process)
            self._conn = None


class RemoteReading:
    """One finished utterance's readings, asked of the child when needed."""

    def __init__(self, ear: EarProcess, number: int) -> None:
        self._ear, self._number = ear, number
        self._result: Transcript | None = None

    def transcript(self) -> Transcript:
        if self._result is None:
            self._result = self._ear._ask(("read", self._number))
        return self._result


def _stop(outbox: queue.SimpleQueue[tuple[str, Any] | None], conn: Connection, process: Any) -> None:
    outbox.put(("stop", None))
    outbox.put(None)
    process.join(2)
    if process.is_alive():
        process.terminate()
    conn.close()
