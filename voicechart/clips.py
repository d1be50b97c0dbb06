"""Utterance audio kept for review: one WAV per utterance in the data directory, encrypted where the machine
is shared.

With a clip key (VOICECHART_CLIP_KEY: 32 random bytes, URL-safe base64; `voicechart clips new-key` makes
one), each clip is written as `NNNNN.wav.enc`: a magic header, a 12-byte nonce and the WAV sealed with
AES-256-GCM (the file name is bound in as associated data, so a clip cannot be swapped for another). The key
comes only from the environment (or a secrets manager that sets it), never from a settings file; without it
encrypted clips cannot be heard, and a wrong key is an error, never noise.
"""

from __future__ import annotations

import base64
import io
import os
import secrets
import wave
from pathlib import Path

import numpy as np

from voicechart.audio.sources import SAMPLE_RATE
from voicechart.errors import VoicechartError

CLIP_KEY_ENV = "VOICECHART_CLIP_KEY"
MAGIC = b"VCCLIP1\0"
ENCRYPTED_SUFFIX = ".enc"


class ClipError(VoicechartError):
    """A clip that cannot be read: missing, encrypted without the key, or altered."""


def new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def parse_key(text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode())
    except (ValueError, TypeError):
        key = b""
    if len(key) != 32:
        raise VoicechartError(
            f"{CLIP_KEY_ENV} must be 32 bytes in URL-safe base64 (`voicechart clips new-key`)"
        )
    return key


def key_from_env() -> bytes | None:
    """The clip key from the environment, or from the private file VOICECHART_CLIP_KEY_FILE names (outside
    the repository, readable by its owner only); None: clips are written in the clear."""
    from voicechart.secrets import read_secret

    text = read_secret(CLIP_KEY_ENV)
    return parse_key(text) if text else None


def _wav_bytes(pcm: np.ndarray) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(pcm.astype("<i2").tobytes())
    return out.getvalue()


def _aad(path: Path) -> bytes:
    return b"voicechart-clip:" + path.name.encode()


def write_clip(path: Path, pcm: np.ndarray, *, key: bytes | None = None) -> Path:
    """Write the clip (atomically: a partial file never has the final name); returns the path written,
    which ends in .wav.enc when a key is given."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    path.parent.mkdir(parents=True, exist_ok=True)
    data = _wav_bytes(pcm)
    if key is not None:
        path = path.with_name(path.name + ENCRYPTED_SUFFIX)
        nonce = secrets.token_bytes(12)
        data = MAGIC + nonce + AESGCM(key).encrypt(nonce, data, _aad(path))
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")  # writers never collide
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def read_clip(path: Path, *, key: bytes | None) -> bytes:
    """The clip's WAV bytes, decrypted if it was written encrypted."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ClipError("the audio of this utterance is no longer kept") from exc
    if not data.startswith(MAGIC):
        return data
    if key is None:
        raise ClipError(f"this clip is encrypted: set {CLIP_KEY_ENV} to hear it")
    nonce, sealed = data[len(MAGIC) : len(MAGIC) + 12], data[len(MAGIC) + 12 :]
    try:
        return AESGCM(key).decrypt(nonce, sealed, _aad(path))
    except InvalidTag:
        raise ClipError("this clip does not open with the clip key (another key, or altered)") from None
