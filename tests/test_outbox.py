"""The outbox: order, coalescing, retry after the PMS comes back, refusals, restarts, and a full-mouth exam
through an API that throttles like the remote one."""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from voicechart.dictation.interpreter import interpret
from voicechart.errors import PmsRejected, PmsUnavailable
from voicechart.exam.decide import decide
from voicechart.exam.session import ExamSession
from voicechart.journal.store import Journal
from voicechart.pms.odapi.client import OpenDentalApi
from voicechart.pms.odapi.connector import OpenDentalApiConnector
from voicechart.pms.outbox import Outbox, coalesce
from voicechart.pms.records import BLANK, ExamRecord, MeasureRow, SequenceType
from voicechart.pms.sandbox import SandboxConnector, add_patient, create_sandbox, seed_demo
from voicechart.pms.sandbox.api import BackgroundServer, SandboxApi
from voicechart.pms.sandbox.schema import CLINICAL_NOTE_CODE
from voicechart.simulate.exams import random_exam
from voicechart.simulate.speech import Style, render_exam

P = SequenceType.PROBING
URL = "sqlite:///unused-pms-url"
TODAY = dt.date.today()


class FlakyPms:
    """Records writes; fails the first `down` calls (PMS unreachable) and refuses tooth `refuse`."""

    def __init__(self, down: int = 0, refuse: int = 0) -> None:
        self.down = down
        self.refuse = refuse
        self.writes: list[tuple[int, MeasureRow]] = []
        self.notes: list[str] = []

    def upsert_measure(self, exam_num: int, row: MeasureRow) -> None:
        if self.down > 0:
            self.down -= 1
            raise PmsUnavailable("the PMS is down")
        if row.tooth == self.refuse:
            raise PmsRejected("Open Dental refused it")
        self.writes.append((exam_num, row))

    def append_exam_note(self, exam_num: int, text: str) -> None:
        self.notes.append(text)

    def same_day_exams(self, exam_num: int) -> list[int]:
        return []

    def read_chart(self, exam_num: int) -> dict[SequenceType, dict[int, MeasureRow]]:
        chart: dict[SequenceType, dict[int, MeasureRow]] = {}
        for exam, row in self.writes:
            if exam == exam_num:
                chart.setdefault(row.sequence_type, {})[row.tooth] = row
        return chart


@pytest.fixture
def journal(journal_url: str) -> Iterator[Journal]:
    j = Journal(journal_url)
    yield j
    j.close()


def dictate(journal: Journal, lines: list[str], *, exam_num: int = 7, url: str = URL) -> ExamSession:
    session_id = journal.start_session(pms_url=url, pat_num=3, model="test")
    session = ExamSession()
    for seq, line in enumerate(lines, 1):
        decision = decide(session, interpret(line))
        outcome = decision.outcome
        journal.record_utterance(
            session_id=session_id,
            seq=seq,
            clip_path=Path("none.wav"),
            audio_start_s=0.0,
            audio_end_s=1.0,
            text=line,
            avg_logprob=-0.1,
            no_speech_prob=0.0,
            status=decision.status,
            flag_reason="",
            readback="",
            timings={},
            commands=(),
            edits=outcome.edits if outcome else (),
            exam_num=exam_num,
            exam_notes=outcome.notes if outcome else (),
            pat_num=3,
        )
    return session


def test_coalescing_writes_each_row_once_in_the_order_of_its_last_edit(journal: Journal) -> None:
    dictate(
        journal, ["three two four", "bleeding distal", "tooth 1 facial 2 2 2", "undo", "tooth 1 facial 3 3 3"]
    )
    groups = coalesce(journal.pending_edits())
    assert [(g[-1].sequence_type, g[-1].tooth) for g in groups] == [(6, 1), (4, 1)]
    assert len(groups[1]) == 4  # four edits of tooth 1's probing row, one write
    pms = FlakyPms()
    result = Outbox(journal, pms, pms_url=URL).drain()  # type: ignore[arg-type]
    assert (result.written, result.committed_edits, result.pending) == (2, 5, 0)
    assert pms.writes[-1][1].sites[:3] == (3, 3, 3)


def test_a_pms_that_is_down_gets_everything_once_it_is_back(journal: Journal) -> None:
    dictate(journal, ["three two four", "4 3 3, exam note: anxious"])
    pms = FlakyPms(down=3)
    outbox = Outbox(journal, pms, pms_url=URL)  # type: ignore[arg-type]
    for _ in range(3):
        assert outbox.drain().error == "the PMS is down"
        assert outbox.waiting() == 3  # two edits and a note, all still in the journal
        assert outbox.backoff_s() > 0
    assert outbox.drain().pending == 0
    assert [row.tooth for _, row in pms.writes] == [1, 2] and pms.notes == ["anxious"]
    assert journal.pending_edits()[:1] == []
    assert [e.action for e in journal.audit_events()].count("pms_write") == 3


def test_a_refused_write_is_kept_for_a_person_and_the_rest_goes_on(journal: Journal) -> None:
    dictate(journal, ["3 2 4, 4 3 3, 3 3 3"])
    pms = FlakyPms(refuse=2)
    result = Outbox(journal, pms, pms_url=URL).drain()  # type: ignore[arg-type]
    assert result.pending == 0 and [row.tooth for _, row in pms.writes] == [1, 3]
    rejected = journal.rejected_edits()
    assert [e.tooth for e in rejected] == [2] and "refused" in rejected[0].pms_error


def test_only_what_was_meant_for_a_pms_goes_to_it(journal: Journal) -> None:
    dictate(journal, ["three two four"], url="sqlite:///other-pms")
    pms = FlakyPms()
    assert Outbox(journal, pms, pms_url=URL).drain().written == 0  # type: ignore[arg-type]
    assert len(journal.pending_edits(pms_url="sqlite:///other-pms")) == 1


def test_edits_survive_a_restart(tmp_path: Path, journal_url: str) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'pms.db'}")
    create_sandbox(engine)
    seed_demo(engine, TODAY)
    pms_url = f"sqlite:///{tmp_path / 'pms.db'}"
    connector = SandboxConnector(engine)
    exam = connector.open_exam(3, TODAY)
    first = Journal(journal_url)
    dictate(first, ["three two four", "bleeding all"], exam_num=exam.exam_num, url=pms_url)
    first.close()  # the process ends before anything reached the PMS
    second = Journal(journal_url)
    try:
        assert Outbox(second, connector, pms_url=pms_url).drain().pending == 0
    finally:
        second.close()
    chart = connector.read_chart(exam.exam_num)
    assert chart[P][1].sites[:3] == (4, 2, 3)  # MB, B, DB: tooth 1 facial is probed DB, B, MB
    assert chart[SequenceType.BLEED_SUP_PLAQ_CALC][1].sites[:3] == (1, 1, 1)
    connector.close()
    engine.dispose()


def test_full_mouth_exam_lands_completely_through_a_throttled_api(tmp_path: Path, journal: Journal) -> None:
    """The remote API allows 1 request/s; here 0.1 s keeps the test short (the benchmark uses 1 s)."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'pms.db'}", connect_args={"check_same_thread": False})
    create_sandbox(engine)
    exam_truth = random_exam(random.Random(4), severity="moderate")
    pat_num = add_patient(
        engine, first_name="Full", last_name="Mouth", missing_teeth=sorted(exam_truth.missing_known)
    )
    keys = {"developer_key": "d", "customer_key": "c"}
    server = BackgroundServer(SandboxApi(engine, throttle_s=0.1, **keys)).start()
    connector = OpenDentalApiConnector(
        OpenDentalApi(server.url, min_interval_s=0.1, **keys), clinical_note_code=CLINICAL_NOTE_CODE
    )
    try:
        exam = _open_exam_through_throttle(connector, pat_num)
        session_id = journal.start_session(pms_url=server.url, pat_num=pat_num, model="test")
        outbox = Outbox(journal, connector, pms_url=server.url)
        outbox.start()
        session = ExamSession(rows=exam.measures)
        spoken = render_exam(exam_truth, Style(sides_per_breath=1), random.Random(4))
        edits_made = 0
        for seq, utterance in enumerate(spoken, 1):
            outcome = decide(session, interpret(utterance.text())).outcome
            edits = outcome.edits if outcome else ()
            edits_made += len(edits)
            journal.record_utterance(
                session_id=session_id, seq=seq, clip_path=Path("x.wav"), audio_start_s=0.0, audio_end_s=1.0,
                text=utterance.text(), avg_logprob=0.0, no_speech_prob=0.0, status="applied", flag_reason="",
                readback="", timings={}, commands=(), edits=edits, exam_num=exam.exam_num,
            )  # fmt: skip
            outbox.kick()
            time.sleep(0.03)  # faster than anyone speaks, so edits pile up behind the throttle
        assert outbox.wait_until_delivered(timeout_s=120)
        outbox.stop()
        chart = connector.read_chart(exam.exam_num)
        wanted = {k: v for k, v in session.rows.items() if not v.records_nothing()}
        got = {(seq, tooth): row for seq, rows in chart.items() for tooth, row in rows.items()}
        assert {k: _stored(v) for k, v in wanted.items()} == {k: _stored(v) for k, v in got.items()}
        writes = [e for e in journal.audit_events() if e.action == "pms_write"]
        assert len(writes) < edits_made  # coalesced behind the throttle
    finally:
        connector.close()
        server.stop()
        engine.dispose()


def _open_exam_through_throttle(connector: OpenDentalApiConnector, pat_num: int) -> ExamRecord:
    return connector.open_exam(pat_num, TODAY)  # the client paces itself to the throttle


def _stored(row: MeasureRow) -> tuple[int, ...]:
    if row.sequence_type is SequenceType.BLEED_SUP_PLAQ_CALC:
        return tuple(0 if v == BLANK else v for v in row.sites)
    return (row.tooth_value, *row.sites)


def test_outbox_thread_delivers_in_the_background(journal: Journal) -> None:
    pms = FlakyPms()
    outbox = Outbox(journal, pms, pms_url=URL)  # type: ignore[arg-type]
    outbox.start()
    try:
        dictate(journal, ["three two four"])
        outbox.kick()
        assert outbox.wait_until_delivered(timeout_s=5)
    finally:
        assert outbox.stop(flush_timeout_s=1) == 0
    assert len(pms.writes) == 1
    assert threading.active_count() >= 1
