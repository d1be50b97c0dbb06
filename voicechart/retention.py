"""Retention: utterance audio is kept only as long as it is needed.

A session's clips (one WAV per utterance in DATA_DIR/clips/session-N/, encrypted ones too) are deleted once
the session ended more than `clip_days` ago and nothing of it still waits for the PMS or for a person (no
pending or rejected edit or note). A session that never ended (its process died and no later run resumed it)
counts from its last utterance, or from its start when it has none: its audio is not kept forever.
Transcripts, commands and edits stay in the journal: they are the record of what was charted. Every
deletion is audited (session, number of files; never names or text).
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, or_, select

from voicechart.journal.store import Journal
from voicechart.journal.tables import ChartEditRow, ExamSessionRow, PmsNoteRow, UtteranceRow


@dataclass(frozen=True, slots=True)
class RetentionResult:
    sessions: list[int]  # sessions whose clips were (or, dry run, would be) deleted
    files: int
    kept_open: list[int]  # old enough, but something still waits for the PMS or a person


def apply_retention(
    journal: Journal,
    clips_dir: Path,
    *,
    clip_days: int,
    now: dt.datetime | None = None,
    dry_run: bool = False,
) -> RetentionResult:
    cutoff = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=clip_days)
    sessions: list[int] = []
    kept: list[int] = []
    files = 0
    with journal.engine.connect() as conn:
        last_utterance = (
            select(UtteranceRow.session_id, func.max(UtteranceRow.created_at).label("at"))
            .group_by(UtteranceRow.session_id)
            .subquery()
        )
        last_activity = func.coalesce(last_utterance.c.at, ExamSessionRow.started_at)
        ended = (
            conn.execute(
                select(ExamSessionRow.id)
                .outerjoin(last_utterance, last_utterance.c.session_id == ExamSessionRow.id)
                .where(
                    or_(
                        ExamSessionRow.ended_at < cutoff,
                        ExamSessionRow.ended_at.is_(None) & (last_activity < cutoff),  # abandoned
                    )
                )
                .order_by(ExamSessionRow.id)
            )
            .scalars()
            .all()
        )
        waiting = set(
            conn.execute(
                select(ChartEditRow.session_id).where(ChartEditRow.pms_status.in_(("pending", "rejected")))
            ).scalars()
        ) | set(
            conn.execute(
                select(PmsNoteRow.session_id).where(PmsNoteRow.pms_status.in_(("pending", "rejected")))
            ).scalars()
        )
    for session_id in ended:
        directory = clips_dir / f"session-{session_id}"
        clips = sorted([*directory.glob("*.wav"), *directory.glob("*.wav.enc")]) if directory.is_dir() else []
        if not clips:
            continue
        if session_id in waiting:
            kept.append(session_id)
            continue
        sessions.append(session_id)
        files += len(clips)
        if not dry_run:
            shutil.rmtree(directory)
            journal.audit(
                actor="voicechart",
                action="clips_deleted",
                object_type="exam_session",
                object_id=str(session_id),
                detail=f"{len(clips)} clips, retention {clip_days} days",
            )
    return RetentionResult(sessions, files, kept)
