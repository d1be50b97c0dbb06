"""The journal API: sessions, utterances, commands, chart edits and audit events, each in its own commit."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

from alembic import command as alembic_command
from alembic.config import Config as AlembicConfig
from sqlalchemy import CursorResult, Engine, create_engine, event, exc, or_, select, update
from sqlalchemy.engine.url import make_url
from sqlalchemy.orm import Session, sessionmaker

from voicechart import audit as audit_chain
from voicechart.dictation.commands import Command, command_json
from voicechart.exam.edits import ChartEdit
from voicechart.journal.claims import died_here
from voicechart.journal.tables import (
    AuditRow,
    ChartEditRow,
    CommandRow,
    ExamSessionRow,
    PmsAlertRow,
    PmsNoteRow,
    UtteranceRow,
    utcnow,
)
from voicechart.pms.records import row_json

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


_MIGRATING = threading.Lock()  # alembic keeps process-wide state: one migration at a time (station threads)


def upgrade(engine: Engine) -> None:
    """Bring the journal's schema to the newest migration."""
    cfg = alembic_config(engine)
    with _MIGRATING, engine.begin() as conn:
        cfg.attributes["connection"] = conn
        alembic_command.upgrade(cfg, "head")


def schema_is_current(engine: Engine) -> bool:
    """Whether the journal's schema is at the newest migration (read only: nothing is created or changed)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() == head


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def redact_url(url: str) -> str:
    """A database or API URL without its password, safe to store and to log."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


class _NotAll(Exception):
    pass


class Journal:
    """voicechart's own durable record. Every write commits before it returns."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        upgrade(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    def _session(self) -> Session:
        return self._sessions()

    def start_session(
        self, *, pms_url: str, pat_num: int, model: str, operatory: int | None = None, prov_num: int = 0
    ) -> int:
        with self._session() as s, s.begin():
            row = ExamSessionRow(
                pms_url=redact_url(pms_url),
                pat_num=pat_num,
                model=model,
                operatory=operatory,
                prov_num=prov_num,
            )
            s.add(row)
            s.flush()
            return row.id

    def interrupted_sessions(self, *, pat_num: int, pms_url: str, since: dt.datetime) -> list[ExamSessionRow]:
        """Sessions of this patient with this PMS started since `since` that never ended (the process died),
        newest first."""
        with self._session() as s:
            query = (
                select(ExamSessionRow)
                .where(
                    ExamSessionRow.pat_num == pat_num,
                    ExamSessionRow.pms_url == redact_url(pms_url),
                    ExamSessionRow.ended_at.is_(None),
                    ExamSessionRow.started_at >= since,
                )
                .order_by(ExamSessionRow.id.desc())
            )
            return list(s.scalars(query))

    def session_edits(self, session_id: int) -> list[ChartEditRow]:
        """Every chart edit of a session, oldest first, whatever became of it in the PMS."""
        with self._session() as s:
            query = (
                select(ChartEditRow).where(ChartEditRow.session_id == session_id).order_by(ChartEditRow.id)
            )
            return list(s.scalars(query))

    def set_exam(self, session_id: int, exam_num: int, *, prov_num: int = 0) -> None:
        """The session's perio exam in the PMS; when nobody said who dictates (`--provider`), the exam's
        provider is taken as the person charting (the review app lets them correct their own exams)."""
        with self._session() as s, s.begin():
            row = s.get_one(ExamSessionRow, session_id)
            row.exam_num = exam_num
            if not row.prov_num:
                row.prov_num = prov_num

    def end_session(self, session_id: int) -> None:
        with self._session() as s, s.begin():
            s.get_one(ExamSessionRow, session_id).ended_at = utcnow()

    def record_utterance(
        self,
        *,
        session_id: int,
        seq: int,
        clip_path: Path,
        audio_start_s: float,
        audio_end_s: float,
        text: str,
        avg_logprob: float,
        no_speech_prob: float,
        status: str,
        flag_reason: str,
        readback: str,
        timings: dict[str, float],
        commands: tuple[Command, ...],
        edits: tuple[ChartEdit, ...],
        exam_num: int | None,
        exam_notes: tuple[str, ...] = (),
        pat_num: int = 0,
    ) -> tuple[int, list[int]]:
        """Write an utterance with its commands, edits and exam notes in one transaction; returns the ids of
        the utterance and of its edits."""
        with self._session() as s, s.begin():
            utt = UtteranceRow(
                session_id=session_id,
                seq=seq,
                clip_path=str(clip_path),
                audio_start_s=audio_start_s,
                audio_end_s=audio_end_s,
                text=text,
                avg_logprob=avg_logprob,
                no_speech_prob=no_speech_prob,
                status=status,
                flag_reason=flag_reason,
                readback=readback,
                timings=timings,
            )
            s.add(utt)
            s.flush()
            for i, cmd in enumerate(commands):
                s.add(
                    CommandRow(
                        utterance_id=utt.id,
                        idx=i,
                        kind=type(cmd).__name__,
                        payload=command_json(cmd),
                        word_start=cmd.span.start,
                        word_end=cmd.span.end,
                    )
                )
            edit_rows = [
                ChartEditRow(
                    session_id=session_id,
                    utterance_id=utt.id,
                    exam_num=exam_num or 0,
                    sequence_type=int(e.sequence_type),
                    tooth=e.tooth,
                    before=row_json(e.before) if e.before else None,
                    after=row_json(e.after),
                    flagged=e.flagged,
                )
                for e in edits
            ]
            s.add_all(edit_rows)
            s.add_all(
                PmsNoteRow(
                    session_id=session_id,
                    utterance_id=utt.id,
                    kind="exam_note",
                    pat_num=pat_num,
                    exam_num=exam_num,
                    text=note,
                )
                for note in exam_notes
            )
            s.flush()
            return utt.id, [r.id for r in edit_rows]

    def mark_edit(self, edit_id: int, *, committed: bool, error: str = "") -> None:
        self.mark_edits([edit_id], status="committed" if committed else "pending", error=error)

    def mark_edits(self, edit_ids: list[int], *, status: str, error: str = "") -> None:
        """Record an attempt for edits written together: committed, pending (will be retried) or rejected.
        Releases the outbox's claim on them."""
        with self._session() as s, s.begin():
            now = utcnow()
            for row in s.scalars(select(ChartEditRow).where(ChartEditRow.id.in_(edit_ids))):
                row.attempts += 1
                row.pms_status = status
                row.pms_error = error
                row.pms_committed_at = now if status == "committed" else None
                row.claim, row.claimed_at = "", None

    def claim(self, table: str, ids: list[int], owner: str, *, lease_s: float) -> bool:
        """Take pending edits (table "chart_edit") or a note ("pms_note") for one outbox to write: all of
        them, atomically, or none (another outbox is writing some; its claim lapses after `lease_s`, or at
        once when its process died on this machine: voicechart.journal.claims)."""
        model = ChartEditRow if table == "chart_edit" else PmsNoteRow
        now = utcnow()
        lapsed = now - dt.timedelta(seconds=lease_s)
        try:
            with self._session() as s, s.begin():
                held = s.scalars(
                    select(model.claim).where(model.id.in_(ids), model.claim != "", model.claim != owner)
                ).all()
                dead = [other for other in set(held) if died_here(other)]
                result: CursorResult[Any] = s.execute(  # type: ignore[assignment]
                    update(model)
                    .where(
                        model.id.in_(ids),
                        model.pms_status == "pending",
                        or_(
                            model.claim == "",
                            model.claim == owner,
                            model.claimed_at < lapsed,
                            model.claim.in_(dead),
                        ),
                    )
                    .values(claim=owner, claimed_at=now)
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount != len(ids):
                    raise _NotAll  # rolls the partial claim back
        except _NotAll:
            return False
        return True

    def release(self, table: str, ids: list[int], owner: str) -> None:
        model = ChartEditRow if table == "chart_edit" else PmsNoteRow
        with self._session() as s, s.begin():
            s.execute(
                update(model)
                .where(model.id.in_(ids), model.claim == owner)
                .values(claim="", claimed_at=None)
                .execution_options(synchronize_session=False)
            )

    def add_note(
        self,
        *,
        kind: str,
        pat_num: int,
        text: str,
        exam_num: int | None = None,
        note_date: dt.date | None = None,
        prov_num: int = 0,
        session_id: int | None = None,
        utterance_id: int | None = None,
        raw_text: str = "",
        corrections: list[tuple[str, str]] | None = None,
    ) -> int:
        with self._session() as s, s.begin():
            row = PmsNoteRow(
                kind=kind,
                pat_num=pat_num,
                text=text,
                exam_num=exam_num,
                note_date=note_date,
                prov_num=prov_num,
                session_id=session_id,
                utterance_id=utterance_id,
                raw_text=raw_text,
                corrections=[list(c) for c in corrections or ()],
                dictated_by=prov_num,
            )
            s.add(row)
            s.flush()
            return row.id

    def mark_note(self, note_id: int, *, status: str, error: str = "", ref: int | None = None) -> None:
        with self._session() as s, s.begin():
            row = s.get_one(PmsNoteRow, note_id)
            row.attempts += 1
            row.pms_status = status
            row.pms_error = error
            row.pms_ref = ref if ref is not None else row.pms_ref
            row.pms_committed_at = utcnow() if status == "committed" else None
            row.claim, row.claimed_at = "", None

    def note(self, note_id: int) -> PmsNoteRow:
        with self._session() as s:
            return s.get_one(PmsNoteRow, note_id)

    def notes(self, session_id: int | None = None) -> list[PmsNoteRow]:
        """Every note (of one session, if given), oldest first, with its raw text and corrections."""
        with self._session() as s:
            query = select(PmsNoteRow).order_by(PmsNoteRow.id)
            if session_id is not None:
                query = query.where(PmsNoteRow.session_id == session_id)
            return list(s.scalars(query))

    def pending_notes(self, pms_url: str | None = None) -> list[PmsNoteRow]:
        """Notes not yet in the PMS (of sessions with that PMS, if given), oldest first."""
        with self._session() as s:
            query = select(PmsNoteRow).where(PmsNoteRow.pms_status == "pending").order_by(PmsNoteRow.id)
            if pms_url is not None:
                query = query.join(ExamSessionRow, ExamSessionRow.id == PmsNoteRow.session_id).where(
                    ExamSessionRow.pms_url == redact_url(pms_url)
                )
            return list(s.scalars(query))

    def expected_row(
        self, session_id: int, exam_num: int, sequence_type: int, tooth: int
    ) -> dict[str, Any] | None:
        """What the PMS should hold for (exam, sequence type, tooth) as far as this session knows: the row
        ("after") of its newest edit the PMS took, else the row as the session found it (the "before" of its
        first edit of it; None: no row)."""
        key = (
            ChartEditRow.session_id == session_id,
            ChartEditRow.exam_num == exam_num,
            ChartEditRow.sequence_type == sequence_type,
            ChartEditRow.tooth == tooth,
        )
        with self._session() as s:
            delivered = s.execute(
                select(ChartEditRow.after)
                .where(*key, ChartEditRow.pms_status == "committed")
                .order_by(ChartEditRow.id.desc())
                .limit(1)
            ).first()
            if delivered is not None:
                after: dict[str, Any] = delivered[0]
                return after
            first = s.execute(
                select(ChartEditRow.before).where(*key).order_by(ChartEditRow.id).limit(1)
            ).first()
            before: dict[str, Any] | None = first[0] if first is not None else None
            return before

    def rejected_edits(self, session_id: int | None = None) -> list[ChartEditRow]:
        """Edits the PMS refused: a person must look at them."""
        with self._session() as s:
            query = (
                select(ChartEditRow).where(ChartEditRow.pms_status == "rejected").order_by(ChartEditRow.id)
            )
            if session_id is not None:
                query = query.where(ChartEditRow.session_id == session_id)
            return list(s.scalars(query))

    def pending_edits(self, session_id: int | None = None, pms_url: str | None = None) -> list[ChartEditRow]:
        """Edits not yet in the PMS (of one session, or of the sessions with that PMS), oldest first."""
        with self._session() as s:
            query = select(ChartEditRow).where(ChartEditRow.pms_status == "pending").order_by(ChartEditRow.id)
            if session_id is not None:
                query = query.where(ChartEditRow.session_id == session_id)
            if pms_url is not None:
                query = query.join(ExamSessionRow, ExamSessionRow.id == ChartEditRow.session_id).where(
                    ExamSessionRow.pms_url == redact_url(pms_url)
                )
            return list(s.scalars(query))

    def utterances(self, session_id: int) -> list[UtteranceRow]:
        with self._session() as s:
            query = (
                select(UtteranceRow).where(UtteranceRow.session_id == session_id).order_by(UtteranceRow.seq)
            )
            return list(s.scalars(query))

    def add_alert(self, *, pms_url: str, kind: str, exam_num: int, other_num: int, detail: str) -> bool:
        """Record something in the PMS a person must sort out; False if it was recorded before (by any
        outbox: one row per kind, exam and other exam)."""
        query = select(PmsAlertRow.id).where(
            PmsAlertRow.kind == kind, PmsAlertRow.exam_num == exam_num, PmsAlertRow.other_num == other_num
        )
        with self._session() as s:
            try:
                with s.begin():
                    if s.scalar(query) is not None:
                        return False
                    s.add(
                        PmsAlertRow(
                            pms_url=redact_url(pms_url), kind=kind, exam_num=exam_num, other_num=other_num,
                            detail=detail,
                        )
                    )  # fmt: skip
            except exc.IntegrityError:  # another outbox recorded it a moment ago
                return False
        return True

    def alerts(
        self, *, open_only: bool = True, exam_num: int | None = None, pms_url: str | None = None
    ) -> list[PmsAlertRow]:
        """Alerts about the PMS (one exam's, one PMS's, or all), oldest first: those nobody resolved yet
        unless `open_only` is False."""
        with self._session() as s:
            query = select(PmsAlertRow).order_by(PmsAlertRow.id)
            if open_only:
                query = query.where(PmsAlertRow.resolved_at.is_(None))
            if exam_num is not None:
                query = query.where(PmsAlertRow.exam_num == exam_num)
            if pms_url is not None:
                query = query.where(PmsAlertRow.pms_url == redact_url(pms_url))
            return list(s.scalars(query))

    def resolve_alert(self, alert_id: int, *, by: str) -> None:
        """A person sorted it out in the PMS."""
        with self._session() as s, s.begin():
            s.execute(
                update(PmsAlertRow)
                .where(PmsAlertRow.id == alert_id, PmsAlertRow.resolved_at.is_(None))
                .values(resolved_at=utcnow(), resolved_by=by)
            )

    def audit(self, *, actor: str, action: str, object_type: str, object_id: str, detail: str = "") -> None:
        """Append an event to the audit log's hash chain (see voicechart.audit)."""
        fields = {"actor": actor, "action": action, "object_type": object_type, "object_id": object_id}
        audit_chain.append(self.engine, detail=detail, **fields)

    def audit_events(self, since: dt.datetime | None = None) -> list[AuditRow]:
        with self._session() as s:
            query = select(AuditRow).order_by(AuditRow.id)
            if since is not None:
                query = query.where(AuditRow.at >= since)
            return list(s.scalars(query))
