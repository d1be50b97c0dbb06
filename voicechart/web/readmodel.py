"""What the review app shows, read from the journal: the operatories today, an exam's chart with the source
and review state of every value, the review queue, search, and the figures for the dashboard.

A value's review mark: the dictated chart edit that last changed the site was flagged by the exam session,
no later dictated edit of that row came without flags (the session's doubt about the row is gone), no
reviewer confirmed that edit and no reviewer set the site since. Edits carry their row's flags (the session
keeps them per site; the journal per row), so every site a flagged edit changed carries the mark.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from voicechart.journal.store import Journal
from voicechart.journal.tables import (
    ChartEditRow,
    CommandRow,
    ExamSessionRow,
    PmsAlertRow,
    PmsNoteRow,
    ReviewActionRow,
    UtteranceRow,
)
from voicechart.pms.records import BLANK, SITE_COLUMNS, MeasureRow, SequenceType, row_from_json

SiteKey = tuple[int, int, str]  # sequence type, tooth, column ("MB" … "DL", or "tooth" for a row value)
Chart = dict[SequenceType, dict[int, MeasureRow]]
NOT_CHARTED = "flagged"  # UtteranceRow.status of an utterance that was not charted (see pipeline)


@dataclass(frozen=True, slots=True)
class Mark:
    reason: str
    edit_id: int


@dataclass(slots=True)
class ExamView:
    session: ExamSessionRow
    chart: Chart
    sources: dict[SiteKey, int]  # the edit that last changed each site
    marks: dict[SiteKey, Mark]
    edits: dict[int, ChartEditRow]
    utterances: list[UtteranceRow]
    commands: dict[int, list[CommandRow]]
    notes: list[PmsNoteRow]
    reviews: list[ReviewActionRow]
    pending: int = 0
    rejected: int = 0

    def value(self, seq: SequenceType, tooth: int, column: str) -> int:
        row = self.chart.get(seq, {}).get(tooth)
        if row is None:
            return BLANK
        return row.tooth_value if column == "tooth" else row.site(column)

    @property
    def skipped(self) -> frozenset[int]:
        return frozenset(
            t for t, r in self.chart.get(SequenceType.SKIP_TOOTH, {}).items() if r.tooth_value == 1
        )

    def utterance(self, utterance_id: int | None) -> UtteranceRow | None:
        return next((u for u in self.utterances if u.id == utterance_id), None)


@dataclass(frozen=True, slots=True)
class OperatoryToday:
    operatory: int | None
    session_id: int
    pat_num: int
    prov_num: int
    started_at: dt.datetime
    ended: bool
    utterances: int
    values: int
    to_review: int


@dataclass(frozen=True, slots=True)
class QueueItem:
    kind: str  # not_charted | marked | refused
    session_id: int
    utterance_id: int | None
    edit_id: int | None
    text: str
    reason: str
    sites: tuple[SiteKey, ...] = ()
    at: dt.datetime | None = None
    values: tuple[int, ...] = ()  # each marked site's value in the chart now


@dataclass(frozen=True, slots=True)
class AlertItem:
    """Something to sort out in the PMS itself (a second exam Open Dental saved beside voicechart's)."""

    alert_id: int
    kind: str
    exam_num: int
    other_num: int
    detail: str
    at: dt.datetime
    session_ids: tuple[int, ...]  # the sessions that charted the exam


@dataclass(slots=True)
class Queue:
    items: list[QueueItem] = field(default_factory=list)
    pending_edits: int = 0
    pending_notes: int = 0
    alerts: list[AlertItem] = field(default_factory=list)


def newest_edit(s: Session, session_id: int, seq: SequenceType, tooth: int) -> ChartEditRow | None:
    """The session's newest edit of one row (what the journal holds for it now), or None."""
    return s.scalar(
        select(ChartEditRow)
        .where(
            ChartEditRow.session_id == session_id,
            ChartEditRow.sequence_type == int(seq),
            ChartEditRow.tooth == tooth,
        )
        .order_by(ChartEditRow.id.desc())
        .limit(1)
    )


def _row(data: dict[str, Any] | None, seq: int, tooth: int) -> MeasureRow:
    return row_from_json(seq, tooth, data) or MeasureRow(SequenceType(seq), tooth)


def _changed(before: MeasureRow, after: MeasureRow) -> list[str]:
    """The sites (and "tooth") whose value the edit changed; a site of bleeding/suppuration/plaque/calculus
    flags that goes from blank to no flags (0) says nothing new and is no change."""
    flags = before.sequence_type is SequenceType.BLEED_SUP_PLAQ_CALC

    def same(b: int, a: int) -> bool:
        return b == a or (flags and {b, a} == {BLANK, 0})

    columns = [c for c, b, a in zip(SITE_COLUMNS, before.sites, after.sites, strict=True) if not same(b, a)]
    if before.tooth_value != after.tooth_value:
        columns.append("tooth")
    return columns


def _site_order(key: SiteKey) -> tuple[int, int, int]:
    """Marked sites in table order: MB, B, DB, ML, L, DL, then a row value."""
    seq, tooth, column = key
    return seq, tooth, SITE_COLUMNS.index(column) if column in SITE_COLUMNS else len(SITE_COLUMNS)


class ReadModel:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._sessions = sessionmaker(journal.engine, expire_on_commit=False)

    def _s(self) -> Session:
        return self._sessions()

    # --- one exam ------------------------------------------------------------------------------------------
    def exam_session(self, session_id: int) -> ExamSessionRow | None:
        with self._s() as s:
            return s.get(ExamSessionRow, session_id)

    def exam(self, session_id: int) -> ExamView | None:
        with self._s() as s:
            session = s.get(ExamSessionRow, session_id)
            if session is None:
                return None
            edits = list(
                s.scalars(
                    select(ChartEditRow)
                    .where(ChartEditRow.session_id == session_id)
                    .order_by(ChartEditRow.id)
                )
            )
            utterances = list(
                s.scalars(
                    select(UtteranceRow)
                    .where(UtteranceRow.session_id == session_id)
                    .order_by(UtteranceRow.seq)
                )
            )
            commands: dict[int, list[CommandRow]] = defaultdict(list)
            ids = [u.id for u in utterances]
            if ids:
                for c in s.scalars(
                    select(CommandRow).where(CommandRow.utterance_id.in_(ids)).order_by(CommandRow.idx)
                ):
                    commands[c.utterance_id].append(c)
            notes = list(
                s.scalars(
                    select(PmsNoteRow).where(PmsNoteRow.session_id == session_id).order_by(PmsNoteRow.id)
                )
            )
            reviews = list(
                s.scalars(
                    select(ReviewActionRow)
                    .where(ReviewActionRow.session_id == session_id)
                    .order_by(ReviewActionRow.id)
                )
            )
        view = ExamView(
            session, {}, {}, {}, {e.id: e for e in edits}, utterances, dict(commands), notes, reviews
        )
        confirmed = {r.edit_id for r in reviews if r.action == "confirm" and r.edit_id is not None}
        for edit in edits:
            before = _row(edit.before, edit.sequence_type, edit.tooth)
            after = _row(edit.after, edit.sequence_type, edit.tooth)
            view.chart.setdefault(SequenceType(edit.sequence_type), {})[edit.tooth] = after
            dictated = edit.origin == "dictation"
            if dictated and not edit.flagged:
                # the session keeps no doubt about this row any more (a repeat, a correction by voice)
                for key in [k for k in view.marks if (k[0], k[1]) == (edit.sequence_type, edit.tooth)]:
                    del view.marks[key]
            mark = dictated and bool(edit.flagged) and edit.id not in confirmed
            for column in _changed(before, after):
                key = (edit.sequence_type, edit.tooth, column)
                view.sources[key] = edit.id
                if mark:
                    view.marks[key] = Mark(edit.flagged, edit.id)
                else:
                    view.marks.pop(key, None)  # confirmed, or set by a reviewer
            if edit.pms_status == "pending":
                view.pending += 1
            elif edit.pms_status == "rejected":
                view.rejected += 1
        return view

    def current_row(self, session_id: int, seq: SequenceType, tooth: int) -> MeasureRow | None:
        """A row of an exam as the journal holds it now (its newest edit), or None if never charted."""
        with self._s() as s:
            newest = newest_edit(s, session_id, seq, tooth)
            return row_from_json(int(seq), tooth, newest.after) if newest is not None else None

    def utterance(
        self, utterance_id: int
    ) -> tuple[UtteranceRow, list[CommandRow], list[ChartEditRow]] | None:
        with self._s() as s:
            utt = s.get(UtteranceRow, utterance_id)
            if utt is None:
                return None
            commands = list(
                s.scalars(
                    select(CommandRow).where(CommandRow.utterance_id == utterance_id).order_by(CommandRow.idx)
                )
            )
            edits = list(
                s.scalars(
                    select(ChartEditRow)
                    .where(ChartEditRow.utterance_id == utterance_id)
                    .order_by(ChartEditRow.id)
                )
            )
            return utt, commands, edits

    def note(self, note_id: int) -> PmsNoteRow | None:
        with self._s() as s:
            return s.get(PmsNoteRow, note_id)

    def corrections_of(self, note_id: int) -> list[PmsNoteRow]:
        with self._s() as s:
            return list(
                s.scalars(select(PmsNoteRow).where(PmsNoteRow.supersedes == note_id).order_by(PmsNoteRow.id))
            )

    # --- today ---------------------------------------------------------------------------------------------
    def today(self, now: dt.datetime | None = None) -> list[OperatoryToday]:
        """The latest session of each operatory that started today (UTC day of the server, with 12 hours'
        grace for time zones), by operatory."""
        now = now or dt.datetime.now(dt.UTC)
        start = now.replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(hours=12)
        with self._s() as s:
            query = select(ExamSessionRow).where(ExamSessionRow.started_at >= start)
            latest: dict[int | None, ExamSessionRow] = {}
            for row in s.scalars(query.order_by(ExamSessionRow.id.desc())):
                latest.setdefault(row.operatory, row)
        result = []
        for row in latest.values():
            view = self.exam(row.id)
            assert view is not None
            depths = sum(
                1 for r in view.chart.get(SequenceType.PROBING, {}).values() for v in r.sites if v != BLANK
            )
            result.append(
                OperatoryToday(
                    row.operatory,
                    row.id,
                    row.pat_num,
                    row.prov_num,
                    row.started_at,
                    row.ended_at is not None,
                    len(view.utterances),
                    depths,
                    len(self.queue(row.id, views={row.id: view}).items),
                )
            )
        return sorted(result, key=lambda o: (o.operatory is None, o.operatory or 0))

    def _alerts(self, s: Session, session_id: int | None) -> list[AlertItem]:
        """Open alerts about the PMS: all of them, or those about one session's exam."""
        query = select(PmsAlertRow).where(PmsAlertRow.resolved_at.is_(None)).order_by(PmsAlertRow.id)
        if session_id is not None:
            exam_num = s.scalar(select(ExamSessionRow.exam_num).where(ExamSessionRow.id == session_id))
            query = query.where(PmsAlertRow.exam_num == (exam_num if exam_num is not None else -1))
        items = []
        for alert in s.scalars(query):
            sessions = select(ExamSessionRow.id).where(
                ExamSessionRow.exam_num == alert.exam_num, ExamSessionRow.pms_url == alert.pms_url
            )
            items.append(
                AlertItem(
                    alert.id, alert.kind, alert.exam_num, alert.other_num, alert.detail, alert.at,
                    tuple(s.scalars(sessions.order_by(ExamSessionRow.id))),
                )
            )  # fmt: skip
        return items

    def sessions(self, limit: int = 200) -> list[ExamSessionRow]:
        with self._s() as s:
            return list(s.scalars(select(ExamSessionRow).order_by(ExamSessionRow.id.desc()).limit(limit)))

    # --- the review queue ----------------------------------------------------------------------------------
    def queue(self, session_id: int | None = None, *, views: dict[int, ExamView] | None = None) -> Queue:
        """What waits for a person (of one exam, if given). `views`: exams already read (not read again)."""
        queue = Queue()
        views = views or {}
        with self._s() as s:
            reviewed_utterances = set(
                s.scalars(
                    select(ReviewActionRow.utterance_id).where(
                        ReviewActionRow.action.in_(("chart", "dismiss")),
                        ReviewActionRow.utterance_id.is_not(None),
                    )
                )
            )
            query = select(UtteranceRow).where(UtteranceRow.status == NOT_CHARTED).order_by(UtteranceRow.id)
            if session_id is not None:
                query = query.where(UtteranceRow.session_id == session_id)
            for utt in s.scalars(query):
                if utt.id not in reviewed_utterances:
                    queue.items.append(
                        QueueItem(
                            "not_charted",
                            utt.session_id,
                            utt.id,
                            None,
                            utt.text,
                            utt.flag_reason,
                            at=utt.created_at,
                        )
                    )
            ids_query = select(ChartEditRow.session_id).where(ChartEditRow.flagged != "").distinct()
            if session_id is not None:
                ids_query = ids_query.where(ChartEditRow.session_id == session_id)
            marked_sessions = list(s.scalars(ids_query))
            refused = (
                select(ChartEditRow).where(ChartEditRow.pms_status == "rejected").order_by(ChartEditRow.id)
            )
            pending_edits = select(func.count()).where(ChartEditRow.pms_status == "pending")
            pending_notes = select(func.count()).where(PmsNoteRow.pms_status == "pending")
            if session_id is not None:
                refused = refused.where(ChartEditRow.session_id == session_id)
                pending_edits = pending_edits.where(ChartEditRow.session_id == session_id)
                pending_notes = pending_notes.where(PmsNoteRow.session_id == session_id)
            refused_rows = list(s.scalars(refused))
            queue.alerts = self._alerts(s, session_id)
            queue.pending_edits = int(s.scalar(pending_edits) or 0)
            queue.pending_notes = int(s.scalar(pending_notes) or 0)
        for sid in marked_sessions:
            view = views.get(sid) or self.exam(sid)
            if view is None:
                continue
            by_edit: dict[int, list[SiteKey]] = defaultdict(list)
            for key, mark in view.marks.items():
                by_edit[mark.edit_id].append(key)
            for edit_id, sites in sorted(by_edit.items()):
                edit = view.edits[edit_id]
                source = view.utterance(edit.utterance_id)
                in_order = sorted(sites, key=_site_order)
                queue.items.append(
                    QueueItem(
                        "marked",
                        sid,
                        edit.utterance_id,
                        edit_id,
                        source.text if source else "",
                        edit.flagged,
                        tuple(in_order),
                        edit.created_at,
                        tuple(view.value(SequenceType(k[0]), k[1], k[2]) for k in in_order),
                    )
                )
        for edit in refused_rows:
            queue.items.append(
                QueueItem(
                    "refused",
                    edit.session_id,
                    edit.utterance_id,
                    edit.id,
                    "",
                    edit.pms_error,
                    at=edit.created_at,
                )
            )
        queue.items.sort(key=lambda i: (i.session_id, i.utterance_id or 0, i.edit_id or 0))
        return queue

    # --- search --------------------------------------------------------------------------------------------
    def search(
        self,
        *,
        words: str = "",
        pat_nums: frozenset[int] | None = None,
        day: dt.date | None = None,
        operatory: int | None = None,
        prov_num: int | None = None,
        limit: int = 200,
    ) -> list[tuple[ExamSessionRow, UtteranceRow | PmsNoteRow]]:
        """Utterances and notes whose words contain every given word, in sessions matching the filters."""
        terms = [w for w in words.lower().split() if w][:10]
        filters: list[Any] = []
        if pat_nums is not None:
            filters.append(ExamSessionRow.pat_num.in_(pat_nums or {-1}))
        if day is not None:
            start = dt.datetime.combine(day, dt.time(), dt.UTC)
            filters += [
                ExamSessionRow.started_at >= start,
                ExamSessionRow.started_at < start + dt.timedelta(days=1),
            ]
        if operatory is not None:
            filters.append(ExamSessionRow.operatory == operatory)
        if prov_num is not None:
            filters.append(ExamSessionRow.prov_num == prov_num)
        out: list[tuple[ExamSessionRow, UtteranceRow | PmsNoteRow]] = []
        with self._s() as s:
            utt_query = (
                select(ExamSessionRow, UtteranceRow)
                .join(UtteranceRow, UtteranceRow.session_id == ExamSessionRow.id)
                .where(*filters, *(func.lower(UtteranceRow.text).contains(t, autoescape=True) for t in terms))
                .order_by(UtteranceRow.id.desc())
                .limit(limit)
            )
            out.extend((sess, utt) for sess, utt in s.execute(utt_query))
            note_query = (
                select(ExamSessionRow, PmsNoteRow)
                .join(PmsNoteRow, PmsNoteRow.session_id == ExamSessionRow.id)
                .where(
                    *filters,
                    *(
                        or_(
                            func.lower(PmsNoteRow.text).contains(t, autoescape=True),
                            func.lower(PmsNoteRow.raw_text).contains(t, autoescape=True),
                        )
                        for t in terms
                    ),
                )
                .order_by(PmsNoteRow.id.desc())
                .limit(limit)
            )
            out.extend((sess, note) for sess, note in s.execute(note_query))
        return out[:limit]

    # --- dashboard -----------------------------------------------------------------------------------------
    def daily_figures(self, days: int = 14, now: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Per day, operatory and provider: utterances, the share not charted, corrections, median latency."""
        now = now or dt.datetime.now(dt.UTC)
        since = now - dt.timedelta(days=days)
        groups: dict[tuple[str, int | None, int], dict[str, Any]] = {}
        with self._s() as s:
            rows = s.execute(
                select(
                    UtteranceRow.created_at,
                    UtteranceRow.status,
                    UtteranceRow.timings,
                    ExamSessionRow.operatory,
                    ExamSessionRow.prov_num,
                )
                .join(ExamSessionRow, ExamSessionRow.id == UtteranceRow.session_id)
                .where(UtteranceRow.created_at >= since)
            )
            for at, status, timings, op, prov in rows:
                key = (at.date().isoformat(), op, prov)
                g = groups.setdefault(key, {"utterances": 0, "flagged": 0, "latency": [], "corrections": 0})
                if status == "noise":
                    continue
                g["utterances"] += 1
                g["flagged"] += status == NOT_CHARTED
                latency = (timings or {}).get("speech_end_to_applied_ms")
                if isinstance(latency, int | float):
                    g["latency"].append(float(latency))
            reviews = s.execute(
                select(ReviewActionRow.at, ExamSessionRow.operatory, ExamSessionRow.prov_num)
                .join(ExamSessionRow, ExamSessionRow.id == ReviewActionRow.session_id)
                .where(
                    ReviewActionRow.at >= since,
                    ReviewActionRow.action.in_(("correct", "chart", "correct_note")),
                )
            )
            for at, op, prov in reviews:
                key = (at.date().isoformat(), op, prov)
                groups.setdefault(key, {"utterances": 0, "flagged": 0, "latency": [], "corrections": 0})[
                    "corrections"
                ] += 1
        return [
            {
                "day": day,
                "operatory": op,
                "prov_num": prov,
                "utterances": g["utterances"],
                "flagged_rate": g["flagged"] / g["utterances"] if g["utterances"] else 0.0,
                "corrections": g["corrections"],
                "latency_ms_median": statistics.median(g["latency"]) if g["latency"] else None,
            }
            for (day, op, prov), g in sorted(
                groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0, kv[0][2])
            )
        ]

    def latest_ids(self) -> tuple[int, int, int, int]:
        """The newest utterance, edit, note and review ids: the live view's change detector."""
        with self._s() as s:
            return (
                int(s.scalar(select(func.max(UtteranceRow.id))) or 0),
                int(s.scalar(select(func.max(ChartEditRow.id))) or 0),
                int(s.scalar(select(func.max(PmsNoteRow.id))) or 0),
                int(s.scalar(select(func.max(ReviewActionRow.id))) or 0),
            )

    def outbox_state(self) -> dict[tuple[int, str, str], int]:
        """How many chart edits and notes of each exam wait for the PMS or were refused by it, by (session,
        "edit" or "note", status): the live view's detector of writes whose status changed (pending →
        delivered or refused, refused → pending again), which adds no row to the journal."""
        state: dict[tuple[int, str, str], int] = {}
        undecided = ("pending", "rejected")
        with self._s() as s:
            for kind, table in (("edit", ChartEditRow), ("note", PmsNoteRow)):
                rows = s.execute(
                    select(table.session_id, table.pms_status, func.count())
                    .where(table.pms_status.in_(undecided))
                    .group_by(table.session_id, table.pms_status)
                )
                for session_id, status, count in rows:
                    if session_id is not None:
                        state[(int(session_id), kind, str(status))] = int(count)
        return state

    def sessions_changed_since(
        self, utterance_id: int, edit_id: int, note_id: int, review_id: int
    ) -> set[int]:
        with self._s() as s:
            changed = set(s.scalars(select(UtteranceRow.session_id).where(UtteranceRow.id > utterance_id)))
            changed |= set(s.scalars(select(ChartEditRow.session_id).where(ChartEditRow.id > edit_id)))
            changed |= {
                sid for sid in s.scalars(select(PmsNoteRow.session_id).where(PmsNoteRow.id > note_id)) if sid
            }
            changed |= {
                sid
                for sid in s.scalars(select(ReviewActionRow.session_id).where(ReviewActionRow.id > review_id))
                if sid
            }
            return changed
