"""voicechart's own store: every utterance, command and chart edit, written before the PMS is touched."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    pass


class ExamSessionRow(Base):
    """One dictation session: a patient's exam in one PMS."""

    __tablename__ = "exam_session"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pms_url: Mapped[str] = mapped_column(String(500))  # never holds credentials (see Journal.start_session)
    pat_num: Mapped[int] = mapped_column(Integer)
    exam_num: Mapped[int | None] = mapped_column(Integer, nullable=True)
    operatory: Mapped[int | None] = mapped_column(Integer, nullable=True)
    prov_num: Mapped[int] = mapped_column(Integer, default=0)  # who dictated (ProvNum; 0: not known)
    model: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class UtteranceRow(Base):
    __tablename__ = "utterance"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_session.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    clip_path: Mapped[str] = mapped_column(String(500))
    audio_start_s: Mapped[float] = mapped_column(Float)
    audio_end_s: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text, default="")
    avg_logprob: Mapped[float] = mapped_column(Float, default=0.0)
    no_speech_prob: Mapped[float] = mapped_column(Float, default=0.0)
    # applied | flagged | transcript_only | noise
    status: Mapped[str] = mapped_column(String(20))
    flag_reason: Mapped[str] = mapped_column(Text, default="")
    readback: Mapped[str] = mapped_column(Text, default="")
    timings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CommandRow(Base):
    __tablename__ = "command"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    utterance_id: Mapped[int] = mapped_column(ForeignKey("utterance.id"), index=True)
    idx: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    word_start: Mapped[int] = mapped_column(Integer)
    word_end: Mapped[int] = mapped_column(Integer)


class ChartEditRow(Base):
    """A chart edit and its way to the PMS (this table is also the outbox)."""

    __tablename__ = "chart_edit"
    __table_args__ = (Index("ix_chart_edit_pms_status", "pms_status"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_session.id"), index=True)
    utterance_id: Mapped[int | None] = mapped_column(ForeignKey("utterance.id"), nullable=True)
    exam_num: Mapped[int] = mapped_column(Integer)
    sequence_type: Mapped[int] = mapped_column(Integer)
    tooth: Mapped[int] = mapped_column(Integer)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any]] = mapped_column(JSON)
    flagged: Mapped[str] = mapped_column(Text, default="")
    origin: Mapped[str] = mapped_column(String(120), default="dictation")  # or "review by NAME"
    # pending (not in the PMS yet; retried) | committed | rejected (the PMS refused it: a person must look)
    pms_status: Mapped[str] = mapped_column(String(20), default="pending")
    pms_error: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    pms_committed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    claim: Mapped[str] = mapped_column(
        String(32), default=""
    )  # the outbox writing it now (see Journal.claim)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PmsNoteRow(Base):
    """A note on its way to the PMS (also part of the outbox): an exam note (perioexam.Note) or a clinical
    note (a clinical-note procedure and its procnote)."""

    __tablename__ = "pms_note"
    __table_args__ = (Index("ix_pms_note_pms_status", "pms_status"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("exam_session.id"), nullable=True, index=True)
    utterance_id: Mapped[int | None] = mapped_column(ForeignKey("utterance.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(20))  # exam_note | clinical_note
    pat_num: Mapped[int] = mapped_column(Integer)
    exam_num: Mapped[int | None] = mapped_column(Integer, nullable=True)
    note_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    prov_num: Mapped[int] = mapped_column(Integer, default=0)
    text: Mapped[str] = mapped_column(Text)  # what goes to the PMS
    raw_text: Mapped[str] = mapped_column(Text, default="")  # as recognized, before the lexicon's corrections
    corrections: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [[before, after], …]
    dictated_by: Mapped[int] = mapped_column(Integer, default=0)  # ProvNum of the dictating provider
    supersedes: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the note a correction replaces
    # pending | committed | rejected
    pms_status: Mapped[str] = mapped_column(String(20), default="pending")
    pms_error: Mapped[str] = mapped_column(Text, default="")
    pms_ref: Mapped[int | None] = mapped_column(Integer, nullable=True)  # e.g. the ProcNum of a clinical note
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    pms_committed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    claim: Mapped[str] = mapped_column(
        String(32), default=""
    )  # the outbox writing it now (see Journal.claim)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PmsAlertRow(Base):
    """Something in the PMS a person must sort out that no single edit stands for: Open Dental made a second
    exam for the patient on the exam's day (a user saved a chart voicechart was writing to, OPENDENTAL.md
    §3.6). Recorded once per (kind, exam, other exam), whichever outbox saw it first."""

    __tablename__ = "pms_alert"
    __table_args__ = (UniqueConstraint("kind", "exam_num", "other_num", name="uq_pms_alert"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    pms_url: Mapped[str] = mapped_column(String(500))  # redacted, as exam_session.pms_url
    kind: Mapped[str] = mapped_column(String(40))  # duplicate_exam
    exam_num: Mapped[int] = mapped_column(Integer)  # voicechart's exam
    other_num: Mapped[int] = mapped_column(Integer)  # the exam that appeared beside it
    detail: Mapped[str] = mapped_column(Text, default="")  # numbers and words of ours only, never PHI
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    resolved_by: Mapped[str] = mapped_column(String(100), default="")


class AuditRow(Base):
    """Who did what to which record: PMS writes, transcript views, corrections."""

    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(60))
    detail: Mapped[str] = mapped_column(Text, default="")
    prev_hash: Mapped[str] = mapped_column(String(64), default="")  # hash chain (see Journal.audit)
    hash: Mapped[str] = mapped_column(String(64), default="")


class UserRow(Base):
    """A person who signs in to the review app. Roles: hygienist, dentist, clinic_lead, admin."""

    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))  # Argon2id
    prov_num: Mapped[int] = mapped_column(Integer, default=0)  # their ProvNum in the PMS (0: none)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WebSessionRow(Base):
    """A signed-in browser: only the token's SHA-256 is stored."""

    __tablename__ = "web_session"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class ReviewActionRow(Base):
    """A reviewer's decision: confirm a value, correct it, chart what an utterance said, correct a note."""

    __tablename__ = "review_action"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    user_name: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(30))  # confirm | correct | chart | dismiss | correct_note
    session_id: Mapped[int | None] = mapped_column(ForeignKey("exam_session.id"), nullable=True)
    utterance_id: Mapped[int | None] = mapped_column(ForeignKey("utterance.id"), nullable=True, index=True)
    edit_id: Mapped[int | None] = mapped_column(ForeignKey("chart_edit.id"), nullable=True, index=True)
    note_id: Mapped[int | None] = mapped_column(ForeignKey("pms_note.id"), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
