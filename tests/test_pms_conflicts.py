"""Someone else edits the same exam meanwhile (a user in Open Dental, another operatory charting the same
patient): voicechart never overwrites their value silently. The edit is kept as a conflict for a person,
audited, and the rest of the exam goes on."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa

from voicechart.dictation.interpreter import interpret
from voicechart.exam.decide import decide
from voicechart.exam.session import ExamSession
from voicechart.journal.store import Journal
from voicechart.pms.outbox import CONFLICT, Outbox
from voicechart.pms.records import MeasureRow, SequenceType
from voicechart.pms.sandbox import SandboxConnector

P = SequenceType.PROBING


def _say(journal: Journal, session: ExamSession, session_id: int, exam_num: int, seq: int, text: str) -> None:
    outcome = decide(session, interpret(text)).outcome
    journal.record_utterance(
        session_id=session_id, seq=seq, clip_path=Path("x.wav"), audio_start_s=0.0, audio_end_s=1.0,
        text=text, avg_logprob=0.0, no_speech_prob=0.0, status="applied", flag_reason="", readback="",
        timings={}, commands=(), edits=outcome.edits if outcome else (), exam_num=exam_num,
    )  # fmt: skip


def test_a_row_someone_else_changed_is_not_overwritten_and_goes_to_a_person(
    sandbox: tuple[SandboxConnector, sa.Engine, Journal],
) -> None:
    connector, _engine, journal = sandbox
    exam = connector.open_exam(3, dt.date.today())
    session = ExamSession(rows=exam.measures)
    sid = journal.start_session(pms_url="sqlite:///pms", pat_num=3, model="t")
    outbox = Outbox(journal, connector, pms_url="sqlite:///pms")
    _say(journal, session, sid, exam.exam_num, 1, "three two four")  # tooth 1 facial
    assert outbox.drain().pending == 0
    theirs = MeasureRow(P, 1, sites=(6, 6, 6, -1, -1, -1))
    connector.upsert_measure(exam.exam_num, theirs)  # a user in Open Dental changes tooth 1 meanwhile
    _say(journal, session, sid, exam.exam_num, 2, "correction tooth 1 facial 5 5 5")
    _say(journal, session, sid, exam.exam_num, 3, "tooth 2 facial 4 3 3")
    assert outbox.drain().pending == 0
    chart = connector.read_chart(exam.exam_num)
    assert chart[P][1] == theirs  # their value stands
    assert chart[P][2].sites[:3] == (3, 3, 4)  # the rest of the exam went on
    (conflict,) = journal.rejected_edits()
    assert (conflict.tooth, conflict.pms_error) == (1, CONFLICT)
    assert "pms_conflict" in [e.action for e in journal.audit_events()]


def test_two_sessions_charting_the_same_patient_do_not_overwrite_each_other(
    sandbox: tuple[SandboxConnector, sa.Engine, Journal],
) -> None:
    connector, _engine, journal = sandbox
    exam = connector.open_exam(3, dt.date.today())
    outbox = Outbox(journal, connector, pms_url="sqlite:///pms")
    first, second = ExamSession(rows=exam.measures), ExamSession(rows=exam.measures)
    sid1 = journal.start_session(pms_url="sqlite:///pms", pat_num=3, model="t", operatory=1)
    sid2 = journal.start_session(pms_url="sqlite:///pms", pat_num=3, model="t", operatory=2)
    _say(journal, first, sid1, exam.exam_num, 1, "three two four")
    assert outbox.drain().pending == 0
    _say(journal, second, sid2, exam.exam_num, 1, "five five five")  # operatory 2 starts from a stale chart
    assert outbox.drain().pending == 0
    assert connector.read_chart(exam.exam_num)[P][1].sites[:3] == (4, 2, 3)
    assert [(e.session_id, e.pms_error) for e in journal.rejected_edits()] == [(sid2, CONFLICT)]
