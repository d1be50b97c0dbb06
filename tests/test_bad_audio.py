"""Bad audio through the real pipeline (file decoding, VAD, Whisper, guards, interpreter, session, PMS):
a clear error or nothing charted, never a crash, never a chart change. A dictation in another format (rate,
channels, 8-bit, float, clipped, DC offset) charts what was said or flags it; it never writes a wrong value
as fact."""

from __future__ import annotations

import datetime as dt
import struct
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from tests.conftest import SAMPLES, cells_charted_by
from voicechart.accuracy import charted_cells, expected_cells
from voicechart.audio.noise import make_noise
from voicechart.audio.sources import SAMPLE_RATE, array_chunks, decode_file
from voicechart.errors import AudioError
from voicechart.journal.store import Journal
from voicechart.pms.sandbox import SandboxConnector, add_patient, create_sandbox
from voicechart.runner import build_pipeline
from voicechart.settings import SAMPLES_DIR, Settings

pytestmark = [pytest.mark.model]
SAMPLE = SAMPLES["a-piper-joe"]


def _write_wav(path: Path, data: np.ndarray, rate: int, *, width: int = 2) -> Path:
    """PCM WAV; data is (frames, channels) or (frames,) in the range of `width` (1: unsigned 8-bit)."""
    frames = data.reshape(len(data), -1)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(frames.shape[1])
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(frames.astype("u1" if width == 1 else "<i2").tobytes())
    return path


def _write_float_wav(path: Path, data: np.ndarray, rate: int) -> Path:
    """IEEE float 32-bit WAV (format tag 3), mono."""
    payload = data.astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)
    riff = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(payload))
    path.write_bytes(b"RIFF" + struct.pack("<I", len(riff) + len(payload)) + riff + payload)
    return path


def _resample(pcm: np.ndarray, rate: int) -> np.ndarray:
    t_out = np.arange(int(len(pcm) * rate / SAMPLE_RATE)) / rate
    return np.interp(t_out, np.arange(len(pcm)) / SAMPLE_RATE, pcm.astype(np.float64))


def _run(path: Path, tmp: Path, settings: Settings, transcriber: Any) -> tuple[list[Any], dict[str, int]]:
    """The file through the pipeline for a new patient; what it did and the chart cells now in the PMS."""
    pms_url = f"sqlite:///{tmp / 'pms.db'}"
    engine = sa.create_engine(pms_url)
    create_sandbox(engine)
    pat_num = add_patient(engine, first_name="Bad", last_name="Audio", missing_teeth=[1, 16, 17, 32])
    journal = Journal(f"sqlite:///{tmp / 'journal.db'}")
    connector = SandboxConnector(engine)
    try:
        pcm = decode_file(path)  # raises AudioError for what cannot be decoded
        pipeline = build_pipeline(
            settings, transcriber=transcriber, connector=connector, journal=journal, pat_num=pat_num,
            pms_url=pms_url, realtime=False, today=dt.date.today(),
        )  # fmt: skip
        results = list(pipeline.run(array_chunks(pcm)))
        cells = charted_cells(connector.read_chart(pipeline.exam.exam_num)) if pipeline.exam else {}
        return results, {k: v for k, v in cells.items() if not k.startswith("skipped:")}
    finally:
        connector.close()
        journal.close()
        engine.dispose()


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return decode_file(SAMPLES_DIR / SAMPLE["audio"])


@pytest.mark.parametrize(
    "content",
    [b"", b"RIFF\x00\x00\x00\x00WAVEfmt garbage", b"ID3" + bytes(range(256)) * 40, b"%PDF-1.4 not audio"],
    ids=["empty", "bad-header", "random-bytes", "text"],
)
def test_undecodable_files_get_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "input.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match=r"cannot decode input\.wav|holds no audio"):
        decode_file(path)


def _noise(seconds: float, level: float, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, level, int(seconds * SAMPLE_RATE)).clip(-32768, 32767)


def _music(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    notes = 220.0 * 2 ** (np.floor(t * 3) % 12 / 12)  # a scale, three notes a second, with harmonics
    tone = sum(np.sin(2 * np.pi * k * notes * t) / k for k in (1, 2, 3))
    return 6000 * tone * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.zeros(SAMPLE_RATE * 180),  # three minutes of digital silence
        lambda: _noise(120, 30),  # two minutes of room tone (-60 dBFS)
        lambda: _noise(45, 3000, seed=1),  # white noise at -20 dBFS
        lambda: np.full(SAMPLE_RATE * 30, 12000.0),  # a DC level and nothing else
        lambda: _music(40),
    ],
    ids=["silence-3min", "room-tone-2min", "white-noise", "dc-only", "music"],
)
def test_no_speech_charts_nothing_and_never_crashes(
    tmp_path: Path, settings: Settings, transcriber: Any, make: Any
) -> None:
    path = _write_wav(tmp_path / "input.wav", make(), SAMPLE_RATE)
    results, cells = _run(path, tmp_path, settings, transcriber)
    assert cells == {}
    assert all(not r.edits for r in results), [(r.text, r.status) for r in results]


@pytest.mark.parametrize(
    "variant",
    ["44.1kHz-stereo", "8kHz", "8-bit", "float32", "clipped", "dc-offset", "truncated-flac"],
)
def test_a_dictation_in_another_format_charts_only_what_was_said(
    tmp_path: Path, settings: Settings, transcriber: Any, speech: np.ndarray, variant: str
) -> None:
    x = speech.astype(np.float64)
    path = tmp_path / "input.wav"
    if variant == "44.1kHz-stereo":
        up = _resample(speech, 44_100)
        _write_wav(path, np.stack([up, up * 0.5], axis=1), 44_100)
    elif variant == "8kHz":
        _write_wav(path, _resample(speech, 8000), 8000)
    elif variant == "8-bit":
        _write_wav(path, np.round(x / 256 + 128).clip(0, 255), SAMPLE_RATE, width=1)
    elif variant == "float32":
        _write_float_wav(path, (x / 32768).astype(np.float32), SAMPLE_RATE)
    elif variant == "clipped":
        _write_wav(path, (x * 6).clip(-32768, 32767), SAMPLE_RATE)
    elif variant == "dc-offset":
        _write_wav(path, (x + 9000).clip(-32768, 32767), SAMPLE_RATE)
    else:  # the recording cut off in the middle (a copy that did not finish)
        data = (SAMPLES_DIR / SAMPLE["audio"]).read_bytes()
        path = tmp_path / "input.flac"
        path.write_bytes(data[: len(data) // 2])
    results, cells = _run(path, tmp_path, settings, transcriber)
    if variant == "truncated-flac":  # what was said before the cut, and the PMS holds exactly that
        said = {k: v for k, v in cells_charted_by(r.to_json() for r in results).items() if "skipped" not in k}
        assert results and cells == said
        return
    said = expected_cells(SAMPLE["expected_chart"])
    wrong = {k: v for k, v in cells.items() if said.get(k) != v}
    assert wrong == {}, [(r.text, r.status, r.flags) for r in results]
    assert cells, "a dictation in a common format charts something"


def _an_hour_of(kind: str) -> Iterator[np.ndarray]:
    """An hour of audio made a minute at a time, as a microphone left open delivers it (never one file)."""
    for minute in range(60):
        if kind == "silence":
            block = np.zeros(SAMPLE_RATE * 60)
        else:  # a scaler, then suction, in turns, with a room's hiss: -30 to -24 dBFS
            noise = make_noise("scaler" if minute % 2 else "suction", SAMPLE_RATE * 60, seed=minute)
            block = noise / np.sqrt(np.mean(noise**2)) * (1000 + 500 * (minute % 3))
            block += make_noise("white", len(block), seed=100 + minute) * 30
        yield from array_chunks(block.clip(-32768, 32767).astype(np.int16))


@pytest.mark.parametrize("kind", ["silence", "operatory-noise"])
def test_an_hour_of_silence_or_noise_from_an_open_microphone_charts_nothing(
    tmp_path: Path, settings: Settings, transcriber: Any, kind: str
) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'pms.db'}")
    create_sandbox(engine)
    pat_num = add_patient(engine, first_name="Open", last_name="Microphone", missing_teeth=[])
    journal = Journal(f"sqlite:///{tmp_path / 'journal.db'}")
    connector = SandboxConnector(engine)
    try:
        pipeline = build_pipeline(
            settings, transcriber=transcriber, connector=connector, journal=journal, pat_num=pat_num,
            pms_url=f"sqlite:///{tmp_path / 'pms.db'}", realtime=False, today=dt.date.today(),
        )  # fmt: skip
        results = list(pipeline.run(_an_hour_of(kind)))
        assert all(not r.edits for r in results), [(r.text, r.status) for r in results]
        assert pipeline.exam is None or charted_cells(connector.read_chart(pipeline.exam.exam_num)) == {}
        assert journal.pending_edits() == []
    finally:
        connector.close()
        journal.close()
        engine.dispose()
