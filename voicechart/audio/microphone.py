"""The microphone: PortAudio (sounddevice) capture, any native rate and channel count → 16 kHz mono int16.

The PortAudio callback only copies the block into a queue, so capture never waits on anything. A device
that disappears mid-exam (unplugged headset, a PulseAudio source removed) is reported once, then looked for
again every `retry_s`; when it is back, capture resumes and the exam goes on where it was (the pipeline
keeps its state; the iterator simply yields nothing in between). The system's own playback is kept out of
what is charted — see `PlaybackGate`: an earcon's tones are notched out, spoken readback is replaced by
silence.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from voicechart.audio.gate import MUTE, PlaybackGate
from voicechart.audio.notch import ToneNotch
from voicechart.audio.sources import SAMPLE_RATE
from voicechart.errors import AudioError

log = logging.getLogger("voicechart.audio")
Notify = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class AudioDevice:
    index: int
    name: str
    host_api: str
    max_input_channels: int
    max_output_channels: int
    default_samplerate: float
    is_default_input: bool
    is_default_output: bool


def _sounddevice() -> Any:
    try:
        import sounddevice
    except OSError as exc:  # the PortAudio library itself is missing
        raise AudioError(
            f"PortAudio is not available ({exc}); install it (Debian: apt install libportaudio2)"
        ) from exc
    return sounddevice


def rescan() -> None:
    """PortAudio lists devices once per initialisation: re-initialise to see devices added or removed."""
    sd = _sounddevice()
    sd._terminate()
    sd._initialize()


def list_devices() -> list[AudioDevice]:
    sd = _sounddevice()
    try:
        default_in, default_out = sd.default.device
        apis = sd.query_hostapis()
        return [
            AudioDevice(
                index=i,
                name=str(d["name"]),
                host_api=str(apis[d["hostapi"]]["name"]),
                max_input_channels=int(d["max_input_channels"]),
                max_output_channels=int(d["max_output_channels"]),
                default_samplerate=float(d["default_samplerate"]),
                is_default_input=i == default_in,
                is_default_output=i == default_out,
            )
            for i, d in enumerate(sd.query_devices())
        ]
    except sd.PortAudioError as exc:
        raise AudioError(f"cannot list audio devices: {exc}") from exc


def find_device(spec: str, *, kind: str = "input") -> AudioDevice:
    """A device by index ("3") or by (part of) its name ("USB Headset"); "" = the system default."""
    devices = list_devices()

    def channels(device: AudioDevice) -> int:
        return device.max_input_channels if kind == "input" else device.max_output_channels

    usable = [d for d in devices if channels(d) > 0]
    if not usable:
        raise AudioError(f"no audio {kind} device on this machine (`voicechart devices` lists them)")
    if not spec:
        default = [d for d in usable if (d.is_default_input if kind == "input" else d.is_default_output)]
        return (default or usable)[0]
    if spec.isdigit():
        match = [d for d in usable if d.index == int(spec)]
    else:
        match = [d for d in usable if spec.lower() in d.name.lower()]
    if not match:
        names = ", ".join(f"{d.index}: {d.name}" for d in usable)
        raise AudioError(f"no {kind} device matches {spec!r}; available: {names}")
    return match[0]


class Resampler:
    """Streaming conversion of float32 blocks (frames × channels) at `rate` to 16 kHz mono int16 (PyAV's
    libswresample: filtered, stateful across blocks)."""

    def __init__(self, rate: int, channels: int) -> None:
        import av

        self._rate, self._channels = rate, channels
        self._layout = "mono" if channels == 1 else "stereo"
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        self._pts = 0

    def __call__(self, block: np.ndarray) -> np.ndarray:
        import av

        if self._channels > 2:
            block = block[:, :2]
        interleaved = np.ascontiguousarray(block, dtype=np.float32).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(interleaved, format="flt", layout=self._layout)
        frame.sample_rate = self._rate
        frame.pts = self._pts
        self._pts += block.shape[0]
        out = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        return np.concatenate(out).astype(np.int16) if out else np.zeros(0, dtype=np.int16)


class Microphone:
    """Iterate over 16 kHz mono int16 chunks from an input device until `stop()`."""

    _open_streams = 0  # PortAudio is re-initialised to find a returning device only when no stream is open
    _open_lock = threading.Lock()

    def __init__(
        self,
        device: str = "",
        *,
        gate: PlaybackGate | None = None,
        notify: Notify | None = None,
        block_ms: int = 30,
        stall_s: float = 0.5,
        retry_s: float = 1.0,
        silent_notice_s: float = 10.0,
        on_capturing: Callable[[], None] | None = None,
    ) -> None:
        """`on_capturing` is called once, when the device is first actually capturing (what is said from then
        on is heard): the moment to tell the hygienist to speak."""
        self.spec = device
        self._on_capturing = on_capturing
        self.gate = gate or PlaybackGate()
        self._notch = ToneNotch(SAMPLE_RATE)
        self._notify = notify or (lambda message: log.warning("%s", message))
        self._block_ms = block_ms
        self._stall_s = stall_s
        self._silent_notice_s = silent_notice_s
        self._retry_s = retry_s
        self._blocks: queue.Queue[tuple[np.ndarray, float]] = queue.Queue()
        self._stopped = threading.Event()
        self._errors: list[str] = []
        self.device = find_device(device)  # fails now, clearly, if there is no such device

    def stop(self) -> None:
        self._stopped.set()

    def __iter__(self) -> Iterator[np.ndarray]:
        lost = False
        while not self._stopped.is_set():
            try:
                stream, resample = self._open()
            except AudioError as exc:
                if not lost:
                    self._notify(f"microphone unavailable: {exc}. The exam is kept; waiting for the device…")
                    lost = True
                self._stopped.wait(self._retry_s)
                self._rescan_quietly()
                continue
            if lost:
                self._notify(f"microphone back: {self.device.name}. Go on where you were.")
                lost = False
            if self._on_capturing is not None:
                self._on_capturing()
                self._on_capturing = None
            try:
                yield from self._read(stream, resample)
            finally:
                self._close(stream)
            if not self._stopped.is_set():
                reason = self._errors.pop() if self._errors else "the device stopped"
                self._notify(f"microphone lost ({reason}). The exam is kept; waiting for the device…")
                lost = True
                self._rescan_quietly()

    # --- internals -----------------------------------------------------------------------------------------
    def _open(self) -> tuple[Any, Resampler]:
        sd = _sounddevice()
        device = find_device(self.spec)
        self.device = device
        rate = int(device.default_samplerate) or SAMPLE_RATE
        channels = min(2, device.max_input_channels)
        blocksize = max(1, rate * self._block_ms // 1000)

        def callback(indata: np.ndarray, _frames: int, _time: Any, status: Any) -> None:
            if status.input_overflow:
                self._errors.append("input overflow")
            self._blocks.put((indata.copy(), time.perf_counter()))

        def finished() -> None:
            self._blocks.put((np.zeros((0, channels), dtype=np.float32), time.perf_counter()))

        try:
            stream = sd.InputStream(
                device=device.index,
                samplerate=rate,
                channels=channels,
                dtype="float32",
                blocksize=blocksize,
                callback=callback,
                finished_callback=finished,
            )
            stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            raise AudioError(f"cannot open {device.name!r}: {exc}") from exc
        with Microphone._open_lock:
            Microphone._open_streams += 1
        log.info("microphone %s at %d Hz, %d channel(s)", device.name, rate, channels)
        return stream, Resampler(rate, channels)

    def _read(self, stream: Any, resample: Resampler) -> Iterator[np.ndarray]:
        """Blocks until the stream ends (PortAudio stops it when the device fails or goes away). A stream
        that is still running but silent (a sound server suspends an idle source; a muted headset) is
        waited for, with one message after `silent_notice_s`."""
        quiet_since = time.perf_counter()
        told = False
        while not self._stopped.is_set():
            try:
                block, arrived = self._blocks.get(timeout=self._stall_s)
            except queue.Empty:
                if not stream.active:
                    return  # the device is gone
                if not told and time.perf_counter() - quiet_since >= self._silent_notice_s:
                    self._notify(f"no sound from {self.device.name} for a while (muted? unplugged?)")
                    told = True
                continue
            quiet_since, told = arrived, False
            if block.shape[0] == 0 or not stream.active:
                return
            pcm = resample(block)
            started = arrived - block.shape[0] / stream.samplerate
            cover = self.gate.cover(started, arrived)
            if cover == MUTE:
                pcm = np.zeros_like(pcm)  # our own readback: never charted
            elif isinstance(cover, tuple):
                pcm = self._notch(pcm, cover)  # our own earcon's tones out, her voice kept
            if len(pcm):
                yield pcm

    def _close(self, stream: Any) -> None:
        try:
            stream.abort()
            stream.close()
        except Exception as exc:  # closing a vanished device may fail; nothing to keep
            log.debug("closing the input stream: %s", exc)
        with Microphone._open_lock:
            Microphone._open_streams -= 1
        while not self._blocks.empty():
            self._blocks.get_nowait()

    def _rescan_quietly(self) -> None:
        with Microphone._open_lock:
            if Microphone._open_streams:
                return  # other operatories are capturing: re-initialising PortAudio would cut them off
        try:
            rescan()
        except Exception as exc:
            log.debug("rescanning audio devices: %s", exc)
