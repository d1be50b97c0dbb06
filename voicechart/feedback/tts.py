"""Spoken readback with an offline TTS engine: espeak-ng (Debian package espeak-ng), run as a process.

Nothing leaves the machine. If the engine is not installed, readback says so once and earcons go on.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import wave

import numpy as np

from voicechart.errors import AudioError


class EspeakReadback:
    def __init__(self, *, voice: str = "en-us", words_per_minute: int = 190) -> None:
        self.executable = shutil.which("espeak-ng") or shutil.which("espeak")
        self.voice = voice
        self.words_per_minute = words_per_minute

    @property
    def available(self) -> bool:
        return self.executable is not None

    def synthesize(self, text: str) -> tuple[np.ndarray, int]:
        """`text` as float32 mono samples and their rate."""
        if self.executable is None:
            raise AudioError("spoken readback needs espeak-ng (Debian: apt install espeak-ng)")
        run = subprocess.run(
            [self.executable, "-v", self.voice, "-s", str(self.words_per_minute), "--stdout", text],
            capture_output=True,
            timeout=10,
            check=False,
        )
        if run.returncode != 0 or not run.stdout:
            raise AudioError(f"espeak-ng failed: {run.stderr.decode(errors='replace').strip()[:200]}")
        with wave.open(io.BytesIO(run.stdout)) as wav:
            rate = wav.getframerate()
            frames = wav.readframes(wav.getnframes())
        pcm = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
        return pcm, rate
