"""Plays earcons and readback on the operatory's output device, one sound at a time, off the pipeline's
thread, covering each sound (plus a tail) with the microphone gate so the system never charts itself: an
earcon's tones are notched out of the microphone, readback mutes it."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from voicechart.audio.gate import PlaybackGate
from voicechart.errors import AudioError, VoicechartError
from voicechart.feedback.earcons import RATE, earcon_for, render, tones
from voicechart.feedback.tts import EspeakReadback

log = logging.getLogger("voicechart.feedback")


class Feedback:
    """What the hygienist hears after each utterance: an earcon, then (readback on) the readback text."""

    def __init__(
        self,
        gate: PlaybackGate,
        *,
        output_device: str = "",
        earcons: bool = True,
        readback: EspeakReadback | None = None,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        from voicechart.audio.microphone import find_device

        self.gate = gate
        self.earcons = earcons
        self.readback = readback
        self._notify = notify or (lambda message: log.warning("%s", message))
        self._device = find_device(output_device, kind="output")
        self._sounds: queue.Queue[tuple[np.ndarray, int, tuple[float, ...]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._play_all, name="voicechart-feedback", daemon=True)
        self._thread.start()
        self.played: list[str] = []  # what was played, for the session log and tests
        if readback is not None and not readback.available:
            self._notify("spoken readback needs espeak-ng (apt install espeak-ng); earcons only")
            self.readback = None

    def on_result(self, status: str, commands: list[dict[str, Any]], readback: str, speak: bool) -> None:
        earcon = earcon_for(status, commands, readback) if self.earcons else None
        if earcon is not None:
            self.play(render(earcon), RATE, label=earcon.value, tones=tones(earcon))
        if speak and readback and self.readback is not None:
            try:
                audio, rate = self.readback.synthesize(readback)
            except VoicechartError as exc:
                self._notify(f"readback failed: {exc}")
                return
            self.play(audio, rate, label=f"say: {readback}")

    def play(self, audio: np.ndarray, rate: int, *, label: str, tones: tuple[float, ...] = ()) -> None:
        """Queue a sound; `tones`: the pure tones it is made of, if that is all it is (else it mutes the
        microphone while it plays)."""
        self.played.append(label)
        self._sounds.put((audio, rate, tones))

    def close(self, timeout_s: float = 10.0) -> None:
        self._sounds.put(None)
        self._thread.join(timeout=timeout_s)

    def _play_all(self) -> None:
        while (item := self._sounds.get()) is not None:
            audio, rate, made_of = item
            try:
                self._play(audio, rate, made_of)
            except AudioError as exc:
                self._notify(f"cannot play feedback: {exc}")

    def _play(self, audio: np.ndarray, rate: int, made_of: tuple[float, ...]) -> None:
        from voicechart.audio.microphone import _sounddevice

        sd = _sounddevice()
        device_rate = int(self._device.default_samplerate) or rate
        if device_rate != rate:  # plain linear interpolation is enough for tones and a synthetic voice
            n = int(len(audio) * device_rate / rate)
            audio = np.interp(np.linspace(0, len(audio) - 1, n), np.arange(len(audio)), audio).astype(
                np.float32
            )
        self.gate.playing(len(audio) / device_rate + 0.05, tones=made_of)  # + output latency
        try:
            sd.play(audio, samplerate=device_rate, device=self._device.index, blocking=True)
        except (sd.PortAudioError, ValueError) as exc:
            raise AudioError(str(exc)) from exc
