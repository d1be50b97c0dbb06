"""After the process died mid-exam: find the session it left open, claim it, and find where a replayed
recording continues.

A running pipeline holds an exclusive lock (flock) on `.lock` in its session's clips directory; the kernel
drops it when the process dies, however it dies. A session that never ended and whose lock can be taken was
left by a dead process: the next pipeline for the same patient and PMS, the same day, continues it (see
voicechart.exam.resume for how the exam's state is rebuilt). Sessions whose clips are not on this machine
(a shared journal) are never claimed here.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import wave
from pathlib import Path
from typing import IO

import numpy as np

from voicechart.audio.sources import SAMPLE_RATE

log = logging.getLogger("voicechart.recovery")
SEARCH_BACK_S = 1.0  # how far before an utterance's first voiced frame its clip may start (the pre-roll)


def lock_session_dir(clips_dir: Path) -> IO[str] | None:
    """Take the session's lock; None when another live pipeline holds it. Closing the file releases it."""
    clips_dir.mkdir(parents=True, exist_ok=True)
    handle = (clips_dir / ".lock").open("a")
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock (a session is claimed only if it never ended)
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def day_start_utc(day: dt.date) -> dt.datetime:
    """Local midnight starting `day`, in UTC (the journal's timestamps are UTC)."""
    return dt.datetime.combine(day, dt.time()).astimezone().astimezone(dt.UTC)


def read_clip(path: Path, *, key: bytes | None = None) -> np.ndarray | None:
    """A journaled clip's samples (decrypted with the clip key if it was written encrypted), or None."""
    from voicechart.clips import ClipError
    from voicechart.clips import read_clip as clip_bytes

    try:
        data = clip_bytes(path, key=key)
    except ClipError:
        return None
    try:
        with wave.open(io.BytesIO(data), "rb") as wav:
            if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
                return None
            return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.int16)
    except (OSError, EOFError, wave.Error):
        return None


def continue_after(pcm: np.ndarray, clip: np.ndarray, audio_start_s: float) -> int | None:
    """The sample just after `clip` in `pcm`, if `clip` is exactly there (its first voiced frame at
    `audio_start_s`, its pre-roll before it); None if this recording does not hold it."""
    if len(clip) == 0:
        return None
    probe = clip[: min(len(clip), 480)]
    first = max(0, int((audio_start_s - SEARCH_BACK_S) * SAMPLE_RATE))
    last = min(len(pcm) - len(clip), int(audio_start_s * SAMPLE_RATE))
    if last < first:
        return None
    window = pcm[first : last + len(probe)]
    views = np.lib.stride_tricks.sliding_window_view(window, len(probe))
    for offset in np.flatnonzero((views == probe).all(axis=1)):
        start = first + int(offset)
        if np.array_equal(pcm[start : start + len(clip)], clip):
            return start + len(clip)
    return None
