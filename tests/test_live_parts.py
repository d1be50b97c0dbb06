"""Unit tests of the live path's parts: early end, the fair recognition queue, the playback gate, earcons,
the resampler and a microphone that disappears and comes back (a fake PortAudio)."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from voicechart.asr.service import RecognitionService
from voicechart.asr.transcriber import Hypothesis, TokenProb, Transcript
from voicechart.audio.gate import PlaybackGate
from voicechart.audio.segmenter import ProbeAnswer, Segmenter, SegmenterConfig
from voicechart.dictation.complete import is_whole_command
from voicechart.dictation.interpreter import interpret
from voicechart.errors import ModelError
from voicechart.feedback.earcons import Earcon, earcon_for, render

FRAME = 480


class ScriptedDetector:
    """Speech where the frame is loud."""

    def is_speech(self, frame: np.ndarray) -> bool:
        return bool(np.abs(frame).mean() > 1000)


def _audio(*parts: tuple[str, int]) -> list[np.ndarray]:
    frames = []
    for kind, ms in parts:
        for _ in range(ms // 30):
            frames.append(np.full(FRAME, 8000 if kind == "speech" else 0, dtype=np.int16))
    return frames


class _Run:
    def __init__(self, complete: bool) -> None:
        self.complete, self.cancelled = complete, False

    def answer(self) -> ProbeAnswer:
        return ProbeAnswer(self.complete, f"heard-{self.complete}")

    def cancel(self) -> None:
        self.cancelled = True


def _segment(frames: list[np.ndarray], complete: bool) -> tuple[list[Any], list[_Run]]:
    runs: list[_Run] = []

    def probe(_pcm: np.ndarray) -> _Run:
        runs.append(_Run(complete))
        return runs[-1]

    config = SegmenterConfig(hangover_ms=390, probe_ms=240, probe_start_ms=120, pre_roll_ms=300)
    return list(Segmenter(ScriptedDetector(), config, probe).segment(frames)), runs


def test_a_whole_command_ends_at_the_pause_not_after_the_hangover() -> None:
    utts, runs = _segment(_audio(("silence", 300), ("speech", 900), ("silence", 1200)), complete=True)
    assert len(utts) == 1 and utts[0].early and utts[0].recognized == "heard-True"
    assert utts[0].closed_s - utts[0].speech_end_s == pytest.approx(0.24, abs=0.031)
    assert len(runs) == 1


def test_an_unfinished_command_waits_for_the_hangover_and_keeps_the_probe() -> None:
    utts, _ = _segment(_audio(("silence", 300), ("speech", 900), ("silence", 1200)), complete=False)
    assert len(utts) == 1 and not utts[0].early
    assert utts[0].closed_s - utts[0].speech_end_s == pytest.approx(0.39, abs=0.031)
    assert utts[0].recognized == "heard-False"  # same words: not recognized twice


def test_speech_resuming_before_the_decision_drops_the_probe() -> None:
    frames = _audio(("speech", 600), ("silence", 150), ("speech", 600), ("silence", 1200))
    utts, runs = _segment(frames, complete=True)
    assert runs[0].cancelled
    assert len(utts) == 1 and utts[0].start_s < 0.1  # one utterance: the 150 ms pause did not split it


def test_a_pause_between_two_whole_commands_splits_them_and_keeps_the_onset() -> None:
    frames = _audio(("speech", 600), ("silence", 300), ("speech", 600), ("silence", 1200))
    utts, _ = _segment(frames, complete=True)
    assert [u.early for u in utts] == [True, True]
    second = utts[1]
    assert len(second.pcm) / 16000 >= second.closed_s - second.start_s + 0.05  # pre-roll after an early end


@pytest.mark.parametrize(
    ("text", "whole"),
    [
        ("3 2 4", True),
        ("three two four, three two five", True),
        ("3 2", False),
        ("tooth 3", False),
        ("tooth 3 buccal", True),
        ("bleeding", False),
        ("bleeding distal", False),
        ("bleeding on tooth 8 all", True),
        ("exam note patient anxious", False),
        ("undo", True),
        ("3 2 4 and", False),
        ("nice weather today", False),
    ],
)
def test_only_commands_nothing_can_follow_are_whole(text: str, whole: bool) -> None:
    assert is_whole_command(interpret(text)) is whole


class _SlowTranscriber:
    def __init__(self) -> None:
        self.order: list[str] = []

    def transcribe(self, audio: np.ndarray, *, prompt: str | None = None) -> Transcript:
        self.order.append(str(prompt))
        time.sleep(0.01)
        return Transcript(str(prompt), avg_logprob=-0.1, no_speech_prob=0.0)


def test_the_recognition_queue_serves_operatories_in_turn() -> None:
    model = _SlowTranscriber()
    service = RecognitionService(model)
    busy, calm = service.client("op1"), service.client("op2")
    blocker = threading.Event()
    pending = [busy._service.submit("op1", np.zeros(1), f"op1-{i}") for i in range(5)]
    calm_result: list[str] = []
    threading.Thread(
        target=lambda: calm_result.append(calm.transcribe(np.zeros(1), prompt="op2-0").text)
    ).start()
    blocker.set()
    for p in pending:
        p.result()
    service.stop()
    assert calm_result == ["op2-0"]
    assert model.order.index("op2-0") <= 2  # not behind all five of op1's


def test_token_probabilities_are_asked_of_the_model_on_the_recognizers_thread() -> None:
    """The model runs on the service's worker only: a hypothesis' token probabilities, asked for by the
    pipeline after it chose a reading, go through the same queue."""
    threads: list[str] = []

    class WithTokens(_SlowTranscriber):
        def transcribe(self, audio: np.ndarray, *, prompt: str | None = None) -> Transcript:
            threads.append(threading.current_thread().name)

            def token_probs(h: Hypothesis) -> Hypothesis:
                threads.append(threading.current_thread().name)
                return Hypothesis(h.text, h.avg_logprob, (TokenProb(len(h.text), 0.5),))

            return replace(super().transcribe(audio, prompt=prompt), with_token_probs=token_probs)

    service = RecognitionService(WithTokens())
    transcript = service.client("op1").transcribe(np.zeros(1), prompt="3 2 4")
    assert transcript.with_token_probs is not None
    heard = transcript.with_token_probs(Hypothesis("3 2 4", -0.1))
    service.stop()
    assert heard.tokens == (TokenProb(5, 0.5),)
    assert threads == ["voicechart-recognizer", "voicechart-recognizer"]


def test_a_cancelled_probe_is_never_recognized() -> None:
    model = _SlowTranscriber()
    service = RecognitionService(model)
    first = service.submit("op1", np.zeros(1), "keep")
    dropped = service.submit("op1", np.zeros(1), "drop")
    dropped.cancel()
    first.result()
    service.stop()
    assert "drop" not in model.order


def test_stopping_fails_what_is_still_queued_instead_of_recognizing_it() -> None:
    """Ctrl-C with a backlog: the service stops after the recognition in hand; the queued callers get an
    error at once, they do not wait for recognitions nobody will use."""
    model = _SlowTranscriber()
    service = RecognitionService(model)
    pending = [service.submit("op1", np.zeros(1), f"op1-{i}") for i in range(20)]
    service.stop()
    failed = 0
    for p in pending:
        try:
            p.result()
        except ModelError:
            failed += 1
    assert failed >= 18  # at most the one in hand (and one racing the stop) was recognized
    assert len(model.order) == 20 - failed


def test_the_gate_covers_playback_and_its_tail_only() -> None:
    gate = PlaybackGate(tail_s=0.2)
    t = time.perf_counter()
    gate.playing(0.1, start=t)
    assert gate.cover(t + 0.05, t + 0.08) is not None
    assert gate.cover(t + 0.25, t + 0.28) is not None  # the tail
    assert gate.cover(t + 0.31, t + 0.34) is None
    assert gate.cover(t - 1.0, t - 0.1) is None


def test_the_gate_notches_earcon_tones_and_mutes_speech() -> None:
    from voicechart.audio.gate import MUTE

    gate = PlaybackGate(tail_s=0.2)
    t = time.perf_counter()
    gate.playing(0.1, start=t, tones=(1320.0,))
    gate.playing(0.1, start=t + 1.0, tones=(660.0, 440.0))
    gate.playing(1.0, start=t + 2.0)  # readback: speech
    assert gate.cover(t + 0.05, t + 0.08) == (1320.0,)
    assert gate.cover(t + 0.05, t + 1.05) == (440.0, 660.0, 1320.0)
    assert gate.cover(t + 1.05, t + 2.05) == MUTE
    assert gate.cover(t + 0.5, t + 0.6) is None


def test_the_notch_removes_an_earcon_tone_and_keeps_a_voice() -> None:
    from voicechart.audio.notch import ToneNotch

    rate = 16_000
    t = np.arange(rate) / rate
    voice = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate(range(150, 3000, 150), start=1))
    voice = 3000 * voice / np.max(np.abs(voice))
    tone = 8000 * np.sin(2 * np.pi * 1320 * t)
    pcm = np.rint(voice + tone).astype(np.int16)
    notch = ToneNotch(rate)
    out = np.concatenate([notch(pcm[i : i + 480], (1320.0,)) for i in range(0, rate, 480)]).astype(np.float64)

    def level(x: np.ndarray, hz: float) -> float:
        spectrum = np.abs(np.fft.rfft(x[rate // 4 :] * np.hanning(len(x) - rate // 4)))
        k = round(hz * len(x[rate // 4 :]) / rate)
        return float(spectrum[k - 2 : k + 3].max())

    assert level(out, 1320) < level(pcm.astype(np.float64), 1320) / 100  # ≥ 40 dB down
    kept = np.sum((out[rate // 4 :] - 0) ** 2) / np.sum(voice[rate // 4 :] ** 2)
    assert 0.85 < kept < 1.15  # the voice's energy stays


def test_each_earcon_is_made_of_the_tones_it_declares() -> None:
    from voicechart.feedback.earcons import RATE, tones

    for earcon in Earcon:
        sound = render(earcon).astype(np.float64)
        spectrum = np.abs(np.fft.rfft(sound, n=RATE))  # 1 Hz bins
        peak = float(np.argmax(spectrum))
        assert min(abs(peak - f) for f in tones(earcon)) < 3, (earcon, peak)


def test_speech_under_an_earcon_is_kept_and_under_readback_silenced(monkeypatch: pytest.MonkeyPatch) -> None:
    from voicechart.audio import microphone

    fake = _FakePortAudio()
    monkeypatch.setattr(microphone, "_sounddevice", lambda: fake)
    gate = PlaybackGate()
    mic = microphone.Microphone("Headset", gate=gate, stall_s=0.1)
    chunks = iter(mic)
    gate.playing(60.0, tones=(1320.0,))  # an earcon playing (long, for the test)
    under_earcon = [next(chunks) for _ in range(5)][-1]
    gate.playing(60.0)  # readback playing
    # blocks captured before it began may still be queued (a busy CPU): the first silenced one comes within
    # a few blocks, and every block after it is silenced too
    before_silence = next((n for n in range(100) if not next(chunks).any()), None)
    under_readback = [next(chunks) for _ in range(5)]
    mic.stop()
    assert np.abs(under_earcon).min() > 1000  # the fake's steady input passes the notch
    assert before_silence is not None
    assert not any(chunk.any() for chunk in under_readback)


def test_earcons_are_distinct_and_silent_for_chatter() -> None:
    sounds = {e: render(e) for e in Earcon}
    assert len({len(s) for s in sounds.values()}) == 3
    assert earcon_for("applied", [{"kind": "Depths", "values": [3, 2, 4]}]) is Earcon.ACCEPTED
    assert earcon_for("applied", [{"kind": "Depths", "values": [3, 5, 4]}]) is Earcon.DEEP_POCKET
    assert earcon_for("flagged", []) is Earcon.FLAGGED
    assert earcon_for("transcript_only", []) is None
    assert earcon_for("noise", []) is None


def test_the_resampler_turns_44k_stereo_into_16k_mono() -> None:
    from voicechart.audio.microphone import Resampler

    resample = Resampler(44_100, 2)
    t = np.arange(44_100) / 44_100
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    stereo = np.stack([tone, tone], axis=1)
    out = np.concatenate([resample(stereo[i : i + 1323]) for i in range(0, 44_100, 1323)])
    assert abs(len(out) - 16_000) < 400
    spectrum = np.abs(np.fft.rfft(out[2000:14000].astype(np.float64)))
    peak_hz = np.argmax(spectrum) * 16_000 / 12_000
    assert abs(peak_hz - 440) < 5


class _FakeStream:
    def __init__(
        self,
        portaudio: _FakePortAudio,
        callback: Any,
        finished_callback: Any,
        samplerate: int,
        channels: int,
        **_: Any,
    ) -> None:
        self.portaudio, self.callback, self.finished = portaudio, callback, finished_callback
        self.samplerate, self.channels = samplerate, channels
        self.active = False

    def start(self) -> None:
        if not self.portaudio.present:
            raise self.portaudio.PortAudioError("device unavailable")
        self.active = True
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        status = type("Status", (), {"input_overflow": False})()
        while self.active and self.portaudio.present:
            self.callback(np.full((441, self.channels), 0.1, dtype=np.float32), 441, None, status)
            time.sleep(0.01)
        if self.active:  # unplugged: PortAudio stops the stream and calls finished_callback
            self.active = False
            self.finished()

    def abort(self) -> None:
        self.active = False

    def close(self) -> None:
        self.active = False


class _FakePortAudio:
    """Just enough of sounddevice for one microphone that can be unplugged."""

    class PortAudioError(Exception):
        pass

    def __init__(self) -> None:
        self.present = True
        self.default = type("Default", (), {"device": (0, 0)})()

    def query_hostapis(self) -> list[dict[str, str]]:
        return [{"name": "Fake"}]

    def query_devices(self) -> list[dict[str, Any]]:
        channels = 2 if self.present else 0
        return [
            {
                "name": "Headset",
                "hostapi": 0,
                "max_input_channels": channels,
                "max_output_channels": 2,
                "default_samplerate": 44_100.0,
            }
        ]

    def InputStream(self, **kwargs: Any) -> _FakeStream:
        return _FakeStream(self, **kwargs)

    def _terminate(self) -> None:
        pass

    def _initialize(self) -> None:
        pass


def test_an_unplugged_microphone_is_reported_and_capture_resumes_when_it_returns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from voicechart.audio import microphone

    fake = _FakePortAudio()
    monkeypatch.setattr(microphone, "_sounddevice", lambda: fake)
    messages: list[str] = []
    mic = microphone.Microphone("Headset", notify=messages.append, stall_s=0.1, retry_s=0.05)
    chunks = iter(mic)
    got = [next(chunks) for _ in range(5)]
    assert all(c.dtype == np.int16 for c in got)
    fake.present = False  # unplugged
    threading.Timer(0.8, lambda: setattr(fake, "present", True)).start()  # plugged back in
    more = [next(chunks) for _ in range(5)]  # blocks through the gap, then resumes
    mic.stop()
    assert more
    assert any("microphone lost" in m or "unavailable" in m for m in messages)
    assert any("microphone back" in m for m in messages)


def test_listening_is_announced_once_the_microphone_captures(monkeypatch: pytest.MonkeyPatch) -> None:
    """ "Listening" (the cue to speak) comes when the device is capturing, not before it is opened: words
    said in between would be lost."""
    from voicechart.audio import microphone

    fake = _FakePortAudio()
    monkeypatch.setattr(microphone, "_sounddevice", lambda: fake)
    opened: list[_FakeStream] = []
    make_stream = fake.InputStream
    monkeypatch.setattr(fake, "InputStream", lambda **kw: opened.append(make_stream(**kw)) or opened[-1])
    announced: list[bool] = []
    mic = microphone.Microphone(
        "Headset", stall_s=0.1, retry_s=0.05, on_capturing=lambda: announced.append(opened[-1].active)
    )
    chunks = iter(mic)
    assert not announced  # nothing opened yet
    next(chunks)
    assert announced == [True]  # once, with the stream running
    fake.present = False
    threading.Timer(0.5, lambda: setattr(fake, "present", True)).start()
    for _ in range(5):
        next(chunks)
    mic.stop()
    assert announced == [True]  # not again when a device comes back


def test_a_missing_device_gets_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    from voicechart.audio import microphone
    from voicechart.errors import AudioError

    fake = _FakePortAudio()
    monkeypatch.setattr(microphone, "_sounddevice", lambda: fake)
    with pytest.raises(AudioError, match=r"no input device matches 'Yeti'; available: 0: Headset"):
        microphone.find_device("Yeti")
    assert microphone.find_device("0").name == "Headset"
    fake.present = False
    with pytest.raises(AudioError, match="no audio input device on this machine"):
        microphone.find_device("")


def test_dictation_over_background_talk_is_segmented() -> None:
    """Background talk (the detector hears speech all the time) at a lower level; two dictated phrases
    15 dB louder stand out and end, instead of one endless utterance."""
    quiet, loud = 1400, 8000  # scripted detector: speech above 1000 in both
    frames = [np.full(FRAME, quiet, dtype=np.int16) for _ in range(100)]
    for _ in range(2):
        frames += [np.full(FRAME, loud, dtype=np.int16) for _ in range(30)]
        frames += [np.full(FRAME, quiet, dtype=np.int16) for _ in range(40)]
    plain = list(Segmenter(ScriptedDetector(), SegmenterConfig()).segment(frames))
    gated = list(Segmenter(ScriptedDetector(), SegmenterConfig(above_floor_db=6.0)).segment(frames))
    assert len(plain) == 1  # the background keeps a plain detector open
    dictated = [u for u in gated if u.start_s > 2.5]  # the first seconds teach it the background's level
    assert len(dictated) == 2
    assert all(0.85 <= u.speech_end_s - u.start_s <= 0.95 for u in dictated)
