"""A reviewer's decisions: confirm a marked value, correct a value, chart what an unclear utterance said,
dismiss an utterance that had nothing to chart, correct a clinical note.

Each decision is two writes, in this order:
1. its audit event (`review_confirm`, `review_correct`, …): the audit log's hash chain takes its own lock and
   connection (voicechart.audit), so it cannot share the journal transaction below;
2. one journal transaction: the review action, which names that audit event (detail `audit_event`), and the
   chart edit or note it makes (which is the outbox: the PMS gets it from there, never lost and never twice).

So a decision is never journaled, and never reaches the PMS, without its audit event. If the audit write
fails, nothing is journaled. If the journal transaction fails or is refused after its audit event was
written, a `review_not_made` event (object: that event's id) follows with the reason; should that write fail
too, the journal still tells: an audit event of a decision that no review action names was not made. The
checks that need no write (the value exists, the reviewer may correct it) run before the audit event, so a
plain refusal leaves no audit event. The caller kicks the outbox afterwards.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from voicechart import audit as audit_chain
from voicechart.errors import VoicechartError
from voicechart.exam.path import PathOrder
from voicechart.journal.store import Journal
from voicechart.journal.tables import (
    ChartEditRow,
    ExamSessionRow,
    PmsAlertRow,
    PmsNoteRow,
    ReviewActionRow,
    UtteranceRow,
    utcnow,
)
from voicechart.pms.records import (
    BLANK,
    SITE_COLUMNS,
    BleedingFlags,
    MeasureRow,
    SequenceType,
    row_from_json,
    row_json,
)
from voicechart.web.accounts import User
from voicechart.web.readmodel import newest_edit

_log = logging.getLogger("voicechart.web.review")
Made = TypeVar("Made")

# What a reviewer may write, by sequence type: the site ranges the exam session itself accepts.
SITE_RANGES: dict[SequenceType, tuple[int, int]] = {
    SequenceType.PROBING: (0, 19),
    SequenceType.GING_MARGIN: (-9, 109),  # recession 0–9, or gingival margin above the CEJ as 100+N
    SequenceType.MGJ: (0, 19),
    SequenceType.FURCATION: (1, 3),
    SequenceType.BLEED_SUP_PLAQ_CALC: (0, 15),
}
TOOTH_RANGES: dict[SequenceType, tuple[int, int]] = {
    SequenceType.MOBILITY: (0, 3),
    SequenceType.SKIP_TOOTH: (0, 1),
}


class ReviewRefused(VoicechartError):
    """A decision that cannot be made (not allowed, out of range, nothing to act on)."""


def check_value(seq: SequenceType, column: str, value: int) -> None:
    if column == "tooth":
        low, high = TOOTH_RANGES.get(seq, (BLANK, BLANK))
    elif column in SITE_COLUMNS:
        low, high = SITE_RANGES.get(seq, (BLANK, BLANK))
    else:
        raise ReviewRefused(f"no site {column!r}")
    if value != BLANK and not low <= value <= high:
        raise ReviewRefused(f"{value} is out of range for {seq.api_name} ({low} to {high}, or blank)")


class Reviewer:
    def __init__(self, journal: Journal, *, path_order: PathOrder = "maxillary_first") -> None:
        self.journal = journal
        self.path_order = path_order
        self._sessions = sessionmaker(journal.engine, expire_on_commit=False)

    def _exam(self, s: Session, session_id: int, user: User) -> ExamSessionRow:
        exam = s.get(ExamSessionRow, session_id)
        if exam is None:
            raise ReviewRefused("no such exam")
        if not user.may_correct(exam.prov_num):
            raise PermissionError("only the clinic lead corrects another person's exam")
        if exam.exam_num is None:
            raise ReviewRefused("this session has no perio exam in the PMS")
        return exam

    def _decision(
        self,
        user: User,
        action: str,
        object_type: str,
        object_id: str,
        write: Callable[[Session, int], Made],
        detail: str = "",
    ) -> Made:
        """The decision's audit event, then its journal transaction (`write`, given the event's id); if the
        transaction fails, a `review_not_made` event that says why (see the module's docstring)."""
        event = audit_chain.append(
            self.journal.engine,
            actor=user.name,
            action=f"review_{action}",
            object_type=object_type,
            object_id=object_id,
            detail=detail,
        )
        try:
            with self._sessions() as s, s.begin():
                return write(s, event)
        except Exception as exc:
            why = str(exc) if isinstance(exc, ReviewRefused | PermissionError) else type(exc).__name__
            try:
                audit_chain.append(
                    self.journal.engine,
                    actor=user.name,
                    action="review_not_made",
                    object_type="audit_event",
                    object_id=str(event),
                    detail=why[:200],
                )
            except Exception:  # the journal tells: no review action names the event
                _log.exception("audit event %d: could not note that its decision was not made", event)
            raise

    def _marked_edit(self, s: Session, edit_id: int, user: User) -> ChartEditRow:
        edit = s.get(ChartEditRow, edit_id)
        if edit is None:
            raise ReviewRefused("no such value")
        self._exam(s, edit.session_id, user)
        if not edit.flagged:
            raise ReviewRefused("that value carries no review mark")
        return edit

    def confirm(self, edit_id: int, user: User) -> None:
        with self._sessions() as s:
            self._marked_edit(s, edit_id, user)

        def write(s: Session, event: int) -> None:
            edit = self._marked_edit(s, edit_id, user)
            s.add(
                ReviewActionRow(
                    user_name=user.name,
                    action="confirm",
                    session_id=edit.session_id,
                    utterance_id=edit.utterance_id,
                    edit_id=edit.id,
                    detail={"flag": edit.flagged, "audit_event": event},
                )
            )

        self._decision(user, "confirm", "chart_edit", str(edit_id), write)

    def set_values(
        self,
        session_id: int,
        seq: SequenceType,
        tooth: int,
        values: dict[str, int],
        user: User,
        *,
        action: str = "correct",
        utterance_id: int | None = None,
    ) -> int:
        """Make sites (or the row value, column "tooth") of one periomeasure row what the reviewer says; the
        new row goes to the PMS through the outbox. Returns the new edit's id."""
        if not values:
            raise ReviewRefused("nothing to change")
        for column, value in values.items():
            check_value(seq, column, value)

        def change(row: MeasureRow) -> MeasureRow:
            sites = list(row.sites)
            for column, value in values.items():
                if column != "tooth":
                    sites[SITE_COLUMNS.index(column)] = value
            return replace(
                row,
                tooth_value=values.get("tooth", row.tooth_value),
                sites=(sites[0], sites[1], sites[2], sites[3], sites[4], sites[5]),
            )

        return self._write_row(
            session_id, seq, tooth, change, tuple(values), user, action=action, utterance_id=utterance_id
        )

    def set_bleeding(
        self, session_id: int, tooth: int, column: str, user: User, *, bleeding: bool, suppuration: bool
    ) -> int:
        """Set or clear a site's bleeding and suppuration marks (its plaque and calculus marks stay as they
        are); the new BleedSupPlaqCalc row goes to the PMS through the outbox. Returns the new edit's id."""
        if column not in SITE_COLUMNS:
            raise ReviewRefused(f"no site {column!r}")
        told = (BleedingFlags.BLOOD if bleeding else 0) | (BleedingFlags.SUPPURATION if suppuration else 0)

        def change(row: MeasureRow) -> MeasureRow:
            kept = max(row.site(column), 0) & ~(BleedingFlags.BLOOD | BleedingFlags.SUPPURATION)
            sites = list(row.sites)
            sites[SITE_COLUMNS.index(column)] = int(kept | told)
            return replace(row, sites=(sites[0], sites[1], sites[2], sites[3], sites[4], sites[5]))

        return self._write_row(
            session_id, SequenceType.BLEED_SUP_PLAQ_CALC, tooth, change, (column,), user, action="correct"
        )

    def _write_row(
        self,
        session_id: int,
        seq: SequenceType,
        tooth: int,
        change: Callable[[MeasureRow], MeasureRow],
        columns: tuple[str, ...],
        user: User,
        *,
        action: str,
        utterance_id: int | None = None,
    ) -> int:
        """One reviewer's change of one periomeasure row, made from the row the journal holds now: the audit
        event, then a chart edit (the outbox) and its review action in one transaction."""
        if not 1 <= tooth <= 32:
            raise ReviewRefused(f"tooth {tooth} is not a permanent tooth")
        with self._sessions() as s:
            exam_num = self._exam(s, session_id, user).exam_num

        def write(s: Session, event: int) -> int:
            exam = self._exam(s, session_id, user)
            assert exam.exam_num is not None
            latest = newest_edit(s, session_id, seq, tooth)
            before = row_from_json(int(seq), tooth, latest.after) if latest is not None else None
            after = change(before or MeasureRow(seq, tooth))
            if before is not None and after == before and not latest.flagged:  # type: ignore[union-attr]
                raise ReviewRefused("the chart already holds those values")
            edit = ChartEditRow(
                session_id=session_id,
                utterance_id=utterance_id
                if utterance_id is not None
                else (latest.utterance_id if latest else None),
                exam_num=exam.exam_num,
                sequence_type=int(seq),
                tooth=tooth,
                before=row_json(before) if before else None,
                after=row_json(after),
                flagged="",
                origin=f"review by {user.name}",
            )
            s.add(edit)
            s.flush()
            values = {c: after.tooth_value if c == "tooth" else after.site(c) for c in columns}
            s.add(
                ReviewActionRow(
                    user_name=user.name,
                    action=action,
                    session_id=session_id,
                    utterance_id=edit.utterance_id,
                    edit_id=edit.id,
                    detail={
                        "sequence_type": seq.api_name,
                        "tooth": tooth,
                        "values": values,
                        "audit_event": event,
                    },
                )
            )
            return edit.id

        return self._decision(
            user, action, "periomeasure", f"exam {exam_num} {seq.api_name} tooth {tooth}", write
        )

    def chart_utterance(
        self, utterance_id: int, user: User, *, tooth: int, side: str, depths: tuple[int, int, int]
    ) -> int:
        """Chart a tooth side's three depths that an unclear utterance said (the reviewer heard its audio)."""
        from voicechart.dictation.commands import Side
        from voicechart.exam.path import ToothSide, site_column, site_order

        with self._sessions() as s:
            utt = s.get(UtteranceRow, utterance_id)
            if utt is None:
                raise ReviewRefused("no such utterance")
        if side not in ("facial", "lingual"):
            raise ReviewRefused("side is facial or lingual")
        if not 1 <= tooth <= 32:
            raise ReviewRefused(f"tooth {tooth} is not a permanent tooth")
        ts = ToothSide(tooth, Side(side))
        parts = site_order(self.path_order, ts)  # the order the hygienist says them on this path
        values = {site_column(ts, p): d for p, d in zip(parts, depths, strict=True)}
        return self.set_values(
            utt.session_id,
            SequenceType.PROBING,
            tooth,
            values,
            user,
            action="chart",
            utterance_id=utterance_id,
        )

    def _utterance(self, s: Session, utterance_id: int, user: User) -> UtteranceRow:
        utt = s.get(UtteranceRow, utterance_id)
        if utt is None:
            raise ReviewRefused("no such utterance")
        self._exam(s, utt.session_id, user)
        return utt

    def dismiss(self, utterance_id: int, user: User, reason: str = "") -> None:
        with self._sessions() as s:
            self._utterance(s, utterance_id, user)

        def write(s: Session, event: int) -> None:
            utt = self._utterance(s, utterance_id, user)
            s.add(
                ReviewActionRow(
                    user_name=user.name,
                    action="dismiss",
                    session_id=utt.session_id,
                    utterance_id=utterance_id,
                    detail={"reason": reason[:200], "audit_event": event},
                )
            )

        self._decision(user, "dismiss", "utterance", str(utterance_id), write)

    def resolve_alert(self, alert_id: int, user: User) -> None:
        """Someone sorted out in Open Dental what the alert was about (merged the two exams): the clinic lead
        or an admin says so; journaled and audited like every decision."""
        if not user.reviews_all:
            raise PermissionError("only the clinic lead marks a PMS alert as sorted out")

        def write(s: Session, event: int) -> None:
            alert = s.get(PmsAlertRow, alert_id)
            if alert is None or alert.resolved_at is not None:
                raise ReviewRefused("no such open alert")
            alert.resolved_at = utcnow()
            alert.resolved_by = user.name
            s.add(
                ReviewActionRow(
                    user_name=user.name,
                    action="resolve_alert",
                    detail={"alert": alert_id, "exam": alert.exam_num, "audit_event": event},
                )
            )

        self._decision(user, "resolve_alert", "pms_alert", str(alert_id), write)

    def correct_note(self, note_id: int, text: str, user: User) -> int:
        """A corrected clinical note: a new note that supersedes the old one. In Open Dental it becomes a new
        signed procnote on the same procedure, so the note's history stays (never an overwrite)."""
        text = text.strip()
        if not text:
            raise ReviewRefused("a corrected note cannot be empty")
        if len(text) > 20000:
            raise ReviewRefused("a note is at most 20,000 characters")
        with self._sessions() as s:
            self._note(s, note_id, user)

        def write(s: Session, event: int) -> int:
            note = self._note(s, note_id, user)
            newest = s.scalar(
                select(PmsNoteRow)
                .where(PmsNoteRow.supersedes == note_id)
                .order_by(PmsNoteRow.id.desc())
                .limit(1)
            )
            if (newest.text if newest else note.text) == text:
                raise ReviewRefused("the note already says that")
            row = PmsNoteRow(
                session_id=note.session_id,
                utterance_id=note.utterance_id,
                kind="clinical_note",
                pat_num=note.pat_num,
                exam_num=note.exam_num,
                note_date=note.note_date or dt.date.today(),
                prov_num=note.prov_num,
                text=text,
                raw_text=note.raw_text,
                corrections=[],
                dictated_by=note.dictated_by,
                supersedes=note_id,
            )
            s.add(row)
            s.flush()
            s.add(
                ReviewActionRow(
                    user_name=user.name,
                    action="correct_note",
                    session_id=note.session_id,
                    utterance_id=note.utterance_id,
                    note_id=row.id,
                    detail={"supersedes": note_id, "audit_event": event},
                )
            )
            return row.id

        return self._decision(user, "correct_note", "clinical_note", f"note {note_id}", write)

    def _note(self, s: Session, note_id: int, user: User) -> PmsNoteRow:
        note = s.get(PmsNoteRow, note_id)
        if note is None or note.kind != "clinical_note":
            raise ReviewRefused("only clinical notes are corrected here")
        exam = s.get(ExamSessionRow, note.session_id) if note.session_id is not None else None
        if not user.may_correct(exam.prov_num if exam is not None else 0):
            raise PermissionError("only the clinic lead corrects another person's note")
        return note
