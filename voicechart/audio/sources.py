"""Audio sources: everything becomes 16 kHz mono 16-bit PCM, delivered in chunks with its audio time."""

from __future__ import annotations

import queue
import signal
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from voicechart.errors import AudioError

SAMPLE_RATE = 16_000
BYTES_PER_SAMPLE = 2


def decode_file(path: Path) -> np.ndarray:
    """Any common audio file → 16 kHz mono int16. Raises AudioError with a readable reason."""
    if not path.is_file():
        raise AudioError(f"no audio file at {path}")
    try:
        from faster_whisper.audio import decode_audio

        audio = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
    except Exception as exc:  # PyAV raises many error types for corrupt or non-audio files
        raise AudioError(f"cannot decode {path.name}: {type(exc).__name__}: {exc}") from exc
    if audio.size == 0:
        raise AudioError(f"{path.name} holds no audio")
    return float_to_pcm16(np.asarray(audio, dtype=np.float32))


def float_to_pcm16(audio: np.ndarray) -> np.ndarray:
    out: np.ndarray = (np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)
    return out


def pcm16_to_float(pcm: np.ndarray) -> np.ndarray:
    return pcm.astype(np.float32) / 32768.0


def array_chunks(pcm: np.ndarray, chunk_samples: int = 480) -> Iterator[np.ndarray]:
    for start in range(0, len(pcm), chunk_samples):
        yield pcm[start : start + chunk_samples]


def stream_chunks(stream: BinaryIO, chunk_samples: int = 480) -> Iterator[np.ndarray]:
    """Raw s16le 16 kHz mono from a byte stream (stdin), as a microphone delivers it."""
    pending = b""
    want = chunk_samples * BYTES_PER_SAMPLE
    while True:
        data = stream.read(want - len(pending))
        if not data:
            break
        pending += data
        if len(pending) >= want:
            yield np.frombuffer(pending[:want], dtype="<i2").astype(np.int16)
            pending = pending[want:]
    usable = len(pending) - len(pending) % BYTES_PER_SAMPLE
    if usable:
        yield np.frombuffer(pending[:usable], dtype="<i2").astype(np.int16)


def paced(chunks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """Deliver chunks no faster than real time (speaking speed), as a live microphone would."""
    started = time.monotonic()
    sent = 0
    for chunk in chunks:
        due = started + sent / SAMPLE_RATE
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sent += len(chunk)
        yield chunk


def buffered(
    chunks: Iterable[np.ndarray], stop: threading.Event, *, close_timeout_s: float = 3.0
) -> Iterator[tuple[np.ndarray, float]]:
    """Read the source on its own thread, as fast as it delivers, stamping each chunk with its arrival
    (perf_counter). Whatever happens downstream (a recognition in progress), capture never stalls: a
    microphone's buffer never overflows and a writer on stdin never blocks. Ends when the source ends or
    `stop` is set; an error in the source is raised here.

    The capture thread owns the source: when reading ends it closes it there (a microphone's PortAudio stream
    is closed by the thread that opened it). A source with a `stop()` (the Microphone) is told to stop, and
    the reading side then waits up to `close_timeout_s` for the thread, as it does for a source that is still
    delivering: no audio stream is left open when the process exits. A source blocked on a read that may
    never return (stdin with an idle writer) is not waited for; its thread is a daemon. The thread blocks
    SIGINT and SIGTERM, and so do the threads it starts (PortAudio's): Ctrl-C reaches the main thread instead
    of interrupting a device read."""
    arrivals: queue.Queue[tuple[np.ndarray, float] | BaseException | None] = queue.Queue()
    finished = threading.Event()
    last_arrival = -1e9

    def read() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        source = iter(chunks)
        try:
            for chunk in source:
                arrivals.put((chunk, time.perf_counter()))
                if stop.is_set() or finished.is_set():
                    break
        except BaseException as exc:  # handed to the reading side
            arrivals.put(exc)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
            arrivals.put(None)

    reader = threading.Thread(target=read, name="voicechart-capture", daemon=True)
    reader.start()
    try:
        while True:
            try:
                item = arrivals.get(timeout=_POLL_S)
            except queue.Empty:
                if stop.is_set():
                    return
                continue
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            if stop.is_set():
                return
            last_arrival = item[1]
            yield item
    finally:
        finished.set()
        stop_source = getattr(chunks, "stop", None)
        if stop_source is not None:
            stop_source()
        if stop_source is not None or time.perf_counter() - last_arrival < _ACTIVE_S:
            reader.join(close_timeout_s)


_POLL_S = 0.05
"""How often the reading side looks at `stop` while the source delivers nothing."""
_ACTIVE_S = 0.5
"""A source that delivered within this long is still running: it stops at its next chunk, so it is waited
for."""
