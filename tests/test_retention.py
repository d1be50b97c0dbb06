"""Retention: a session's audio is deleted once it ended more than N days ago and nothing of it waits for
the PMS or a person; transcripts and edits stay; every deletion is audited and the audit chain holds."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import update
from typer.testing import CliRunner

from voicechart.audit import verify
from voicechart.cli import app
from voicechart.dictation.interpreter import interpret
from voicechart.exam.session import ExamSession
from voicechart.journal.store import Journal
from voicechart.journal.tables import ExamSessionRow, UtteranceRow
from voicechart.retention import apply_retention
from voicechart.settings import Settings


def _session(
    journal: Journal, clips: Path, *, ended_days_ago: float | None, delivered: bool, idle_days: float = 0.0
) -> int:
    """A session with one utterance `idle_days` ago; ended `ended_days_ago` (None: never ended)."""
    sid = journal.start_session(pms_url="sqlite:///pms", pat_num=3, model="t")
    (clips / f"session-{sid}").mkdir(parents=True)
    clip = clips / f"session-{sid}" / "00001.wav"
    clip.write_bytes(b"RIFF")
    outcome = ExamSession().apply(interpret("3 2 4").commands)
    _, edits = journal.record_utterance(
        session_id=sid, seq=1, clip_path=clip, audio_start_s=0.0, audio_end_s=1.0, text="3 2 4",
        avg_logprob=0.0, no_speech_prob=0.0, status="applied", flag_reason="", readback="", timings={},
        commands=(), edits=outcome.edits, exam_num=1,
    )  # fmt: skip
    if delivered:
        journal.mark_edits(edits, status="committed")
    if idle_days:
        then = dt.datetime.now(dt.UTC) - dt.timedelta(days=idle_days)
        with journal.engine.begin() as conn:
            conn.execute(update(ExamSessionRow).where(ExamSessionRow.id == sid).values(started_at=then))
            conn.execute(update(UtteranceRow).where(UtteranceRow.session_id == sid).values(created_at=then))
    if ended_days_ago is not None:
        with journal.engine.begin() as conn:
            ended = dt.datetime.now(dt.UTC) - dt.timedelta(days=ended_days_ago)
            conn.execute(update(ExamSessionRow).where(ExamSessionRow.id == sid).values(ended_at=ended))
    return sid


def test_old_delivered_sessions_lose_their_audio_and_nothing_else(settings: Settings) -> None:
    journal = Journal(settings.journal_url)
    clips = settings.clips_dir
    old = _session(journal, clips, ended_days_ago=40, delivered=True)
    recent = _session(journal, clips, ended_days_ago=5, delivered=True)
    waiting = _session(journal, clips, ended_days_ago=40, delivered=False)
    running = _session(journal, clips, ended_days_ago=None, delivered=True)
    paused = _session(journal, clips, ended_days_ago=None, delivered=True, idle_days=5)
    abandoned = _session(
        journal, clips, ended_days_ago=None, delivered=True, idle_days=40
    )  # a crash, never resumed
    dry = apply_retention(journal, clips, clip_days=30, dry_run=True)
    assert dry.sessions == [old, abandoned] and (clips / f"session-{old}").exists()
    result = apply_retention(journal, clips, clip_days=30)
    assert result.sessions == [old, abandoned] and result.files == 2 and result.kept_open == [waiting]
    assert not (clips / f"session-{old}").exists() and not (clips / f"session-{abandoned}").exists()
    assert all((clips / f"session-{s}").exists() for s in (recent, waiting, running, paused))
    assert [u.text for u in journal.utterances(old)] == ["3 2 4"]  # the transcript stays
    deleted = [e for e in journal.audit_events() if e.action == "clips_deleted"]
    assert [e.object_id for e in deleted] == [str(old), str(abandoned)] and verify(journal.engine).intact
    journal.close()


def test_the_retention_command(settings: Settings) -> None:
    journal = Journal(settings.journal_url)
    _session(journal, settings.clips_dir, ended_days_ago=10, delivered=True)
    journal.close()
    out = CliRunner().invoke(app, ["retention", "apply", "--clip-days", "7"])
    assert out.exit_code == 0 and "Deleted 1 clips of 1 sessions" in out.output
