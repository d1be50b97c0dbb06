"""Segmentation and the recognizer guards."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SAMPLES
from voicechart.asr.transcriber import Transcript
from voicechart.audio.detectors import SileroDetector, WebrtcDetector, make_detector
from voicechart.audio.segmenter import Segmenter, SegmenterConfig
from voicechart.audio.sources import array_chunks, buffered, decode_file, stream_chunks
from voicechart.errors import AudioError
from voicechart.guards import judge
from voicechart.settings import SAMPLES_DIR


class Scripted:
    """A detector that answers from a script of booleans (one per frame)."""

    def __init__(self, script: list[bool]) -> None:
        self.script = iter(script)

    def is_speech(self, frame: np.ndarray) -> bool:
        return next(self.script, False)


def frames(n: int, level: int = 3000) -> np.ndarray:
    return np.full(480 * n, level, dtype=np.int16)


def test_segmenter_pre_roll_hangover_and_times() -> None:
    script = [False] * 20 + [True] * 20 + [False] * 30
    seg = Segmenter(Scripted(script), SegmenterConfig(pre_roll_ms=300, hangover_ms=300))
    (utt,) = list(seg.segment(array_chunks(frames(70))))
    assert utt.start_s == pytest.approx(0.6)
    assert utt.speech_end_s == pytest.approx(1.2)
    assert utt.closed_s == pytest.approx(1.5)
    assert len(utt.pcm) / 16000 == pytest.approx(0.3 + 0.6 + 0.3, abs=0.1)


def test_segmenter_cuts_at_the_maximum_length() -> None:
    seg = Segmenter(Scripted([True] * 200), SegmenterConfig(max_utterance_s=2.0))
    utts = list(seg.segment(array_chunks(frames(200))))
    assert utts[0].forced and utts[0].closed_s == pytest.approx(2.0, abs=0.04)


def test_clicks_shorter_than_min_speech_are_dropped() -> None:
    seg = Segmenter(Scripted([False] * 5 + [True] * 3 + [False] * 30), SegmenterConfig(min_speech_ms=150))
    assert list(seg.segment(array_chunks(frames(38)))) == []


def test_silence_and_digital_zero_never_open_an_utterance() -> None:
    seg = Segmenter(
        make_detector("webrtc", webrtc_mode=0, threshold=0.5, neg_threshold=0.35), SegmenterConfig()
    )
    assert list(seg.segment(array_chunks(np.zeros(16000 * 60, dtype=np.int16)))) == []


@pytest.mark.parametrize("detector", ["webrtc", "silero", "webrtc+silero"])
@pytest.mark.parametrize("sample_id", ["a-piper-joe", "b-flite-slt"])
def test_real_samples_segment_at_the_true_boundaries(detector: str, sample_id: str) -> None:
    entry = SAMPLES[sample_id]
    seg = Segmenter(
        make_detector(detector, webrtc_mode=2, threshold=0.5, neg_threshold=0.35), SegmenterConfig()
    )
    utts = list(seg.segment(array_chunks(decode_file(SAMPLES_DIR / entry["audio"]))))
    truth = entry["utterances"]
    assert len(utts) == len(truth)
    for utt, spoken in zip(utts, truth, strict=True):
        assert abs(utt.speech_end_s - spoken["end_s"]) < 0.25


def test_silero_hears_speech_and_not_a_tone() -> None:
    pcm = decode_file(SAMPLES_DIR / "a-piper-joe.flac")
    det = SileroDetector()
    speech = [det.is_speech(f) for f in np.array_split(pcm[int(6.9 * 16000) : int(8.6 * 16000)], 50)]
    assert sum(speech) > 25
    t = np.arange(16000 * 3) / 16000
    tone = (8000 * np.sin(2 * np.pi * 6500 * t) * (1 + 0.5 * np.sin(2 * np.pi * 40 * t))).astype(np.int16)
    det2 = SileroDetector()
    assert not any(det2.is_speech(f) for f in np.array_split(tone, 100))
    assert WebrtcDetector(2).is_speech(tone[:480]) in (True, False)


def test_stream_chunks_handle_odd_byte_counts() -> None:
    import io

    data = np.arange(1000, dtype="<i2").tobytes() + b"\x01"
    out = np.concatenate(list(stream_chunks(io.BytesIO(data), 480)))
    assert out.tolist() == list(range(1000))


def test_capture_closes_its_source_before_the_reader_returns() -> None:
    """The capture thread closes the source (a microphone's PortAudio stream) itself, and the reading side
    waits for it: no stream is left open, with callbacks into Python, when the process exits (a SIGSEGV in
    CI before). The capture thread, and the threads it starts, never take Ctrl-C."""
    closed = threading.Event()
    masks: list[set[signal.Signals]] = []

    def microphone() -> Iterator[np.ndarray]:
        masks.append(signal.pthread_sigmask(signal.SIG_BLOCK, []))
        try:
            while True:
                yield np.zeros(480, dtype=np.int16)
        finally:
            closed.set()

    stop = threading.Event()
    for n, _ in enumerate(buffered(microphone(), stop), 1):
        if n == 5:
            stop.set()
    assert closed.is_set()
    assert {signal.SIGINT, signal.SIGTERM} <= masks[0]

    closed.clear()
    reader = buffered(microphone(), threading.Event())
    next(reader)
    reader.close()  # the consumer goes away (the pipeline ended): the source is closed all the same
    assert closed.is_set()


def _drain_in_background(reader: Iterator[object]) -> threading.Thread:
    thread = threading.Thread(target=lambda: list(reader), daemon=True)
    thread.start()
    return thread


def test_capture_stops_a_stoppable_source_and_does_not_wait_on_an_idle_one() -> None:
    class SilentDevice:
        """A microphone whose source was suspended: running, delivering nothing, until stopped."""

        def __init__(self) -> None:
            self.stopped, self.closed = threading.Event(), threading.Event()

        def stop(self) -> None:
            self.stopped.set()

        def __iter__(self) -> Iterator[np.ndarray]:
            try:
                self.stopped.wait()
                yield from ()
            finally:
                self.closed.set()

    device, stop = SilentDevice(), threading.Event()
    consumer = _drain_in_background(buffered(device, stop))
    stop.set()
    consumer.join(30)
    assert not consumer.is_alive() and device.stopped.is_set() and device.closed.is_set()

    writer_idle = threading.Event()

    def idle_stdin() -> Iterator[np.ndarray]:  # a writer that keeps stdin open and says nothing
        writer_idle.wait()
        yield np.zeros(480, dtype=np.int16)

    stop = threading.Event()
    consumer = _drain_in_background(buffered(idle_stdin(), stop, close_timeout_s=600))
    stop.set()
    consumer.join(30)  # not the 600 s a blocked read would cost if it were waited for
    assert not consumer.is_alive()
    writer_idle.set()


def test_corrupt_and_missing_files_raise_audio_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.wav"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(AudioError, match="cannot decode"):
        decode_file(bad)
    with pytest.raises(AudioError, match="no audio file"):
        decode_file(tmp_path / "missing.flac")


def test_wrong_sample_rate_is_converted(tmp_path: Path) -> None:
    import wave

    path = tmp_path / "44k.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(np.zeros(44100 * 2 * 2, dtype="<i2").tobytes())
    assert len(decode_file(path)) == pytest.approx(32000, abs=10)


@pytest.mark.parametrize(
    ("text", "logprob", "nospeech", "status"),
    [
        ("Thanks for watching.", -0.3, 0.1, "noise"),
        (" Thank you.", -0.3, 0.1, "noise"),
        ("No, no, no, no, no, no.", -0.3, 0.1, "noise"),
        # numbers said, then the recognizer looped: speech not understood (the cursor is in doubt), not noise
        ("Tooth 15. Facial 5 3. Scratch that. Scratch that. Scratch that.", -0.3, 0.1, "low_confidence"),
        ("Scratch that. Scratch that. Scratch that.", -0.3, 0.1, "noise"),
        ("Go to sleep. Go to sleep. Go to sleep.", -0.3, 0.1, "noise"),  # "to" is not a number said
        ("", -0.3, 0.1, "noise"),
        ("3 2 4", -1.2, 0.8, "noise"),
        ("3 2 4", -1.2, 0.1, "low_confidence"),
        ("3 3 3 3", -0.2, 0.1, "ok"),
        ("two two two, three two two", -0.2, 0.1, "ok"),  # a triplet in words is not a hallucination
        ("for for for", -0.2, 0.1, "ok"),
        ("Bleeding distal.", -0.2, 0.1, "ok"),
    ],
)
def test_guards(text: str, logprob: float, nospeech: float, status: str) -> None:
    verdict = judge(Transcript(text, logprob, nospeech), min_avg_logprob=-0.8, max_no_speech_prob=0.6)
    assert verdict.status == status
