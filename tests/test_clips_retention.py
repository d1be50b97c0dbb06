"""Clips at rest: encrypted with the clip key where the machine is shared, heard only with it; and the
retention rule that deletes old audio and clears old transcripts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import update
from starlette.testclient import TestClient

from tests.web_fixtures import Clinic, sign_in
from voicechart.clips import ClipError, key_from_env, new_key, parse_key, read_clip, write_clip
from voicechart.errors import VoicechartError
from voicechart.journal.tables import PmsNoteRow, UtteranceRow
from voicechart.retention import apply_retention
from voicechart.settings import Settings
from voicechart.web.app import create_app

PCM = (np.sin(np.arange(8000) / 16000 * 2 * np.pi * 200) * 5000).astype(np.int16)


def test_an_encrypted_clip_opens_only_with_its_key(tmp_path: Path) -> None:
    key = parse_key(new_key())
    clear = read_clip(write_clip(tmp_path / "00001.wav", PCM), key=None)
    path = write_clip(tmp_path / "00002.wav", PCM, key=key)
    assert path.name == "00002.wav.enc"
    raw = path.read_bytes()
    assert b"RIFF" not in raw and PCM.tobytes()[:64] not in raw
    assert read_clip(path, key=key) == clear
    with pytest.raises(ClipError, match="VOICECHART_CLIP_KEY"):
        read_clip(path, key=None)
    with pytest.raises(ClipError, match="does not open"):
        read_clip(path, key=parse_key(new_key()))
    tampered = bytearray(raw)
    tampered[-5] ^= 1
    path.write_bytes(bytes(tampered))
    with pytest.raises(ClipError, match="does not open"):
        read_clip(path, key=key)
    swapped = tmp_path / "00003.wav.enc"  # a clip moved under another utterance's name
    swapped.write_bytes(raw)
    with pytest.raises(ClipError):
        read_clip(swapped, key=key)
    with pytest.raises(VoicechartError, match="32 bytes"):
        parse_key("too-short")


def test_the_clip_key_comes_from_the_environment_or_a_private_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key = new_key()
    monkeypatch.delenv("VOICECHART_CLIP_KEY", raising=False)
    monkeypatch.delenv("VOICECHART_CLIP_KEY_FILE", raising=False)
    assert key_from_env() is None  # no key: clips in the clear
    path = tmp_path / "clip.key"
    path.write_text(key + "\n")
    path.chmod(0o600)
    monkeypatch.setenv("VOICECHART_CLIP_KEY_FILE", str(path))
    assert key_from_env() == parse_key(key)
    path.chmod(0o640)
    with pytest.raises(VoicechartError, match="readable by other users"):
        key_from_env()


def test_the_review_app_plays_encrypted_clips_with_the_key(clinic: Clinic, settings: Settings) -> None:
    key = parse_key(new_key())
    clip = write_clip(settings.clips_dir / "session-1" / "00077.wav", PCM, key=key)
    with clinic.journal.engine.begin() as conn:
        conn.execute(
            update(UtteranceRow)
            .where(UtteranceRow.id == clinic.unclear_utterance)
            .values(clip_path=str(clip))
        )
    for clip_key, status in ((key, 200), (None, 404)):
        app = create_app(settings, journal=clinic.journal, clip_key=clip_key)
        with TestClient(app, base_url="https://testserver") as client:
            assert sign_in(client, "lead") == 303
            audio = client.get(f"/utterances/{clinic.unclear_utterance}/audio.wav")
            assert audio.status_code == status
            if status == 200:
                assert audio.content[:4] == b"RIFF"


def test_retention_deletes_encrypted_clips_too(clinic: Clinic, settings: Settings) -> None:
    from voicechart.journal.tables import ChartEditRow, ExamSessionRow

    key = parse_key(new_key())
    clip = write_clip(settings.clips_dir / f"session-{clinic.session_id}" / "00042.wav", PCM, key=key)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=120)
    with clinic.journal.engine.begin() as conn:
        conn.execute(update(ExamSessionRow).values(ended_at=old))
        conn.execute(update(ChartEditRow).values(pms_status="committed"))
        conn.execute(update(PmsNoteRow).values(pms_status="committed"))
    result = apply_retention(clinic.journal, settings.clips_dir, clip_days=90)
    assert result.sessions == [clinic.session_id] and not clip.exists()
    with TestClient(clinic.app, base_url="https://testserver") as client:  # type: ignore[arg-type]
        assert sign_in(client, "lead") == 303
        gone = client.get(f"/utterances/{clinic.unclear_utterance}/audio.wav")
        assert gone.status_code == 404 and "no longer kept" in gone.text


@pytest.mark.model
def test_a_replay_with_the_clip_key_writes_only_encrypted_clips(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from voicechart.settings import SAMPLES_DIR

    key = new_key()
    env = {**os.environ, "VOICECHART_DATA_DIR": str(tmp_path), "VOICECHART_CLIP_KEY": key}
    env.pop("VOICECHART_PMS_URL", None)
    subprocess.run(
        [sys.executable, "-m", "voicechart", "pms", "init", "--demo"],
        env=env,
        check=True,
        capture_output=True,
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "voicechart",
            "replay",
            str(SAMPLES_DIR / "b-piper-joe.flac"),
            "--patient",
            "1",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    clips = sorted((tmp_path / "clips").rglob("*.wav*"))
    assert clips and all(p.name.endswith(".wav.enc") for p in clips)
    assert read_clip(clips[0], key=parse_key(key))[:4] == b"RIFF"
    out = run_retention(tmp_path, env)
    assert "Deleted 0 clips" in out  # the session ended today: its audio is kept
    assert key not in out


def run_retention(data_dir: Path, env: dict[str, str]) -> str:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "voicechart", "retention", "apply"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout
