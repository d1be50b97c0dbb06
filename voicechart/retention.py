"""The retention rule: how long utterance audio and transcripts are kept in the journal, and the command that
applies it (`voicechart retention`). What the PMS holds is the record; the journal keeps audio for review and
transcripts for the audit trail, each for as long as the clinic's rule says.

- Audio: clips of utterances older than `[retention] audio_days` are deleted (the journal row stays; the
  review app says the audio is no longer kept).
- Transcripts: with `[retention] transcript_days` > 0, older utterances lose their text and delivered notes
  their text as recognized and as sent (the PMS has the note). Notes still waiting for the PMS are kept.
Each run is audited with its counts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker

from voicechart.journal.store import Journal
from voicechart.journal.tables import PmsNoteRow, UtteranceRow, utcnow


@dataclass(frozen=True, slots=True)
class RetentionReport:
    clips_deleted: int
    bytes_freed: int
    transcripts_cleared: int
    notes_cleared: int
    dry_run: bool


def apply_retention(
    journal: Journal,
    *,
    clips_dir: Path,
    audio_days: int,
    transcript_days: int,
    now: dt.datetime | None = None,
    dry_run: bool = False,
) -> RetentionReport:
    now = now or utcnow()
    sessions = sessionmaker(journal.engine, expire_on_commit=False)
    deleted = freed = cleared = notes = 0
    root = clips_dir.resolve()
    if audio_days > 0:
        cutoff = now - dt.timedelta(days=audio_days)
        with sessions() as s:
            paths = list(s.scalars(select(UtteranceRow.clip_path).where(UtteranceRow.created_at < cutoff)))
        for name in paths:
            path = Path(name)
            if not path.is_file() or not path.resolve().is_relative_to(root):
                continue  # gone already, or not one of the journal's clips: never touched
            size = path.stat().st_size
            if not dry_run:
                path.unlink()
            deleted += 1
            freed += size
        if not dry_run and root.is_dir():
            for folder in root.glob("session-*"):
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()
    if transcript_days > 0:
        cutoff = now - dt.timedelta(days=transcript_days)
        with sessions() as s, s.begin():
            old_utterances = (UtteranceRow.created_at < cutoff) & (UtteranceRow.text != "")
            old_notes = (
                (PmsNoteRow.created_at < cutoff)
                & (PmsNoteRow.pms_status == "committed")
                & ((PmsNoteRow.text != "") | (PmsNoteRow.raw_text != ""))
            )
            cleared = len(list(s.scalars(select(UtteranceRow.id).where(old_utterances))))
            notes = len(list(s.scalars(select(PmsNoteRow.id).where(old_notes))))
            if not dry_run:
                s.execute(update(UtteranceRow).where(old_utterances).values(text=""))
                s.execute(update(PmsNoteRow).where(old_notes).values(text="", raw_text="", corrections=[]))
            else:
                s.rollback()
    report = RetentionReport(deleted, freed, cleared, notes, dry_run)
    if not dry_run:
        journal.audit(
            actor="retention",
            action="retention_applied",
            object_type="journal",
            object_id="clips+transcripts",
            detail=f"audio>{audio_days}d: {deleted} clips; "
            f"transcripts>{transcript_days}d: {cleared} utterances, {notes} notes",
        )
    return report
