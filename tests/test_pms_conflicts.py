"""Someone else edits the same exam meanwhile (a user in Open Dental, another operatory charting the same
patient): voicechart never overwrites their value silently. The edit is kept as a conflict for a person,
audited, and the rest of the exam goes on."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from voicechart.cli import app
from voicechart.dictation.interpreter import interpret
from voicechart.errors import PmsRejected
from voicechart.exam.decide import decide
from voicechart.exam.session import ExamSession
from voicechart.journal.store import Journal
from voicechart.pms.outbox import CONFLICT, DUPLICATE_EXAM, Outbox
from voicechart.pms.records import MeasureRow, SequenceType
from voicechart.pms.sandbox import SandboxConnector
from voicechart.pms.sandbox.schema import perioexam
from voicechart.settings import Settings

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


def _open_dental_saves_a_second_exam(engine: sa.Engine, connector: SandboxConnector, pat_num: int) -> int:
    """What Open Dental does when a user saves a perio chart whose exam changed while it was open
    (DateTMeasureEdit differs, OPENDENTAL.md §3.6): a new exam with the user's chart."""
    now = dt.datetime.now()
    with engine.begin() as conn:
        other = conn.execute(
            sa.insert(perioexam).values(
                PatNum=pat_num, ExamDate=dt.date.today(), ProvNum=1, DateTMeasureEdit=now, Note=""
            )
        ).inserted_primary_key[0]
    connector.upsert_measure(int(other), MeasureRow(P, 1, sites=(6, 6, 6, -1, -1, -1)))
    return int(other)


def test_a_second_exam_open_dental_made_meanwhile_is_surfaced_once_and_nothing_is_overwritten(
    sandbox: tuple[SandboxConnector, sa.Engine, Journal],
) -> None:
    connector, engine, journal = sandbox
    exam = connector.open_exam(3, dt.date.today())
    session = ExamSession(rows=exam.measures)
    sid = journal.start_session(pms_url="sqlite:///pms", pat_num=3, model="t")
    outbox = Outbox(journal, connector, pms_url="sqlite:///pms", duplicate_check_s=0.0)
    _say(journal, session, sid, exam.exam_num, 1, "three two four")  # tooth 1 facial
    assert outbox.drain().pending == 0
    assert journal.alerts() == []  # one exam so far
    other = _open_dental_saves_a_second_exam(engine, connector, 3)
    _say(journal, session, sid, exam.exam_num, 2, "four three three")  # tooth 2 facial
    assert outbox.drain().pending == 0
    _say(journal, session, sid, exam.exam_num, 3, "two two two")
    assert outbox.drain().pending == 0  # looked again: still one alert
    (alert,) = journal.alerts()
    assert (alert.kind, alert.exam_num, alert.other_num, alert.detail) == (
        "duplicate_exam", exam.exam_num, other, DUPLICATE_EXAM
    )  # fmt: skip
    audited = [(e.action, e.object_id, e.detail) for e in journal.audit_events()]
    assert audited.count(("pms_duplicate_exam", str(exam.exam_num), f"exam {other} on the same day")) == 1
    ours, theirs = connector.read_chart(exam.exam_num), connector.read_chart(other)
    assert [ours[P][t].sites[:3] for t in (1, 2, 3)] == [(4, 2, 3), (3, 3, 4), (2, 2, 2)]  # dictation goes on
    assert list(theirs[P]) == [1] and theirs[P][1].sites[:3] == (6, 6, 6)  # theirs untouched
    journal.resolve_alert(alert.id, by="lead")
    assert journal.alerts() == [] and journal.alerts(open_only=False)[0].resolved_by == "lead"


def test_voicechart_outbox_lists_the_second_exam_for_a_person(settings: Settings) -> None:
    journal = Journal(settings.journal_url)
    url = settings.resolved_pms_url
    journal.add_alert(pms_url=url, kind="duplicate_exam", exam_num=7, other_num=8, detail=DUPLICATE_EXAM)
    journal.add_alert(
        pms_url="sqlite:///another-pms", kind="duplicate_exam", exam_num=1, other_num=2, detail="x"
    )
    journal.close()
    out = CliRunner().invoke(app, ["outbox"])
    assert out.exit_code == 0, out.output
    assert f"exam 7 and exam 8: {DUPLICATE_EXAM}" in out.output.replace("\n", " ")
    assert "exam 1 and exam 2" not in out.output  # another PMS's


def test_a_look_up_for_a_second_exam_that_the_pms_refuses_does_not_hold_up_the_write(
    sandbox: tuple[SandboxConnector, sa.Engine, Journal], monkeypatch: pytest.MonkeyPatch
) -> None:
    connector, _engine, journal = sandbox
    exam = connector.open_exam(3, dt.date.today())
    session = ExamSession(rows=exam.measures)
    sid = journal.start_session(pms_url="sqlite:///pms", pat_num=3, model="t")
    outbox = Outbox(journal, connector, pms_url="sqlite:///pms")

    def refused(_exam_num: int) -> list[int]:
        raise PmsRejected("not allowed")

    monkeypatch.setattr(connector, "same_day_exams", refused)
    _say(journal, session, sid, exam.exam_num, 1, "three two four")
    assert outbox.drain().pending == 0 and journal.rejected_edits() == []
    assert connector.read_chart(exam.exam_num)[P][1].sites[:3] == (4, 2, 3)
