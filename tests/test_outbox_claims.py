"""Several outboxes on one journal: each claims what it writes, so no row is written by two at once."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import sqlalchemy as sa

from voicechart.exam.edits import ChartEdit
from voicechart.journal.store import Journal
from voicechart.journal.tables import ChartEditRow
from voicechart.pms.odapi.client import OpenDentalApi
from voicechart.pms.odapi.connector import OpenDentalApiConnector
from voicechart.pms.outbox import Outbox
from voicechart.pms.records import MeasureRow, SequenceType
from voicechart.pms.sandbox import add_patient, create_sandbox
from voicechart.pms.sandbox.api import BackgroundServer, SandboxApi
from voicechart.pms.sandbox.schema import CLINICAL_NOTE_CODE, periomeasure

KEYS = {"developer_key": "claims", "customer_key": "claims"}


def _edits(journal: Journal, url: str, exam_num: int, teeth: range) -> list[int]:
    sid = journal.start_session(pms_url=url, pat_num=1, model="test")
    ids: list[int] = []
    for seq, tooth in enumerate(teeth, 1):
        for depth in (2, 3):  # two edits per row: coalesced, the newest wins
            row = MeasureRow(SequenceType.PROBING, tooth, sites=(depth, depth, depth, -1, -1, -1))
            _, new = journal.record_utterance(
                session_id=sid, seq=seq * 10 + depth, clip_path=Path("x.wav"), audio_start_s=0.0,
                audio_end_s=0.0, text="", avg_logprob=0.0, no_speech_prob=0.0, status="applied",
                flag_reason="", readback="", timings={}, commands=(),
                edits=(ChartEdit(SequenceType.PROBING, tooth, None, row),), exam_num=exam_num,
            )  # fmt: skip
            ids += new
    return ids


def test_a_claim_is_all_or_nothing_and_lapses(tmp_path: Path, journal_url: str) -> None:
    journal = Journal(journal_url)
    ids = _edits(journal, "pms", 1, range(1, 4))
    assert journal.claim("chart_edit", ids[:2], "a", lease_s=60)
    assert not journal.claim("chart_edit", ids[1:3], "b", lease_s=60)  # one of them is a's
    assert journal.claim("chart_edit", [ids[2]], "b", lease_s=60)  # b's failed claim took nothing
    assert journal.claim("chart_edit", ids[:2], "b", lease_s=0)  # a's claim has lapsed (a died)
    journal.mark_edits(ids[:2], status="committed")
    assert not journal.claim("chart_edit", ids[:2], "c", lease_s=0)  # written: nothing to claim
    with journal.engine.connect() as conn:
        claims = dict(conn.execute(sa.select(ChartEditRow.id, ChartEditRow.claim)).all())
    assert claims[ids[0]] == "" and claims[ids[2]] == "b"
    journal.close()


def test_a_claim_left_by_a_process_that_died_here_is_taken_at_once(tmp_path: Path, journal_url: str) -> None:
    """A process killed mid-write leaves its claim; the next run on this machine must not wait out the lease
    (the exam would end with the edit still waiting). A live process's claim, and another machine's, wait."""
    import os
    import subprocess
    import sys

    from voicechart.journal.claims import died_here, new_owner, this_host

    journal = Journal(journal_url)
    ids = _edits(journal, "pms", 1, range(1, 4))
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # a process of this machine that has ended
    dead = f"{this_host()}/{child.pid}/0"
    alive = f"{this_host()}/{os.getppid()}/0"
    elsewhere = f"another-host/{child.pid}/0"
    assert died_here(dead) and not died_here(alive) and not died_here(elsewhere) and not died_here("a1b2")
    assert not died_here(new_owner()) and len(new_owner()) <= 32  # this process; fits the journal's column
    for held, taken in ((dead, True), (alive, False), (elsewhere, False)):
        journal.release("chart_edit", ids, "someone")
        with journal.engine.begin() as conn:
            conn.execute(
                sa.update(ChartEditRow)
                .where(ChartEditRow.id.in_(ids))
                .values(claim=held, claimed_at=dt.datetime.now(dt.UTC))
            )
        assert journal.claim("chart_edit", ids, new_owner(), lease_s=60) is taken, held
    journal.close()


def test_outboxes_draining_one_journal_at_once_write_each_row_once(tmp_path: Path, journal_url: str) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'pms.db'}", connect_args={"check_same_thread": False})
    create_sandbox(engine)
    server = BackgroundServer(SandboxApi(engine, **KEYS)).start()
    journal = Journal(journal_url)
    connectors = [
        OpenDentalApiConnector(OpenDentalApi(server.url, **KEYS), clinical_note_code=CLINICAL_NOTE_CODE)
        for _ in range(4)
    ]
    try:
        pat = add_patient(engine, first_name="Claims", last_name="Test")
        exam = connectors[0].open_exam(pat, dt.date.today())
        _edits(journal, server.url, exam.exam_num, range(1, 33))
        outboxes = [Outbox(journal, c, pms_url=server.url) for c in connectors]
        barrier = threading.Barrier(len(outboxes))

        def drain(outbox: Outbox) -> None:
            barrier.wait()
            while outbox.drain().contended:
                pass

        threads = [threading.Thread(target=drain, args=(o,)) for o in outboxes]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not journal.pending_edits() and not journal.rejected_edits()
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(periomeasure.c.IntTooth, periomeasure.c.MBvalue).where(
                    periomeasure.c.PerioExamNum == exam.exam_num
                )
            ).all()
        assert sorted(t for t, _ in rows) == list(range(1, 33))  # each row once
        assert {v for _, v in rows} == {3}  # the newest edit of each row
        writes = [e for e in journal.audit_events() if e.action == "pms_write"]
        assert len(writes) == 32
    finally:
        for c in connectors:
            c.close()
        journal.close()
        server.stop()
        engine.dispose()


def test_a_row_another_connector_changed_is_written_again(tmp_path: Path, journal_url: str) -> None:
    """Connectors in one process share what they know of the rows; a connector in another process (here: the
    same server under another name) sees the rows again when its outbox checks for conflicts first."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'pms.db'}", connect_args={"check_same_thread": False})
    create_sandbox(engine)
    server = BackgroundServer(SandboxApi(engine, **KEYS)).start()
    elsewhere = server.url.replace("127.0.0.1", "localhost")

    def connector(url: str) -> OpenDentalApiConnector:
        return OpenDentalApiConnector(OpenDentalApi(url, **KEYS), clinical_note_code=CLINICAL_NOTE_CODE)

    a, b, other_process = connector(server.url), connector(server.url), connector(elsewhere)
    journal = Journal(journal_url)
    try:
        exam = a.open_exam(add_patient(engine, first_name="Stale", last_name="Cache"), dt.date.today())

        def row(depth: int) -> MeasureRow:
            return MeasureRow(SequenceType.PROBING, 3, sites=(depth, depth, depth, -1, -1, -1))

        def in_pms() -> int:
            return a.read_chart(exam.exam_num)[SequenceType.PROBING][3].sites[0]

        a.upsert_measure(exam.exam_num, row(2))
        b.upsert_measure(exam.exam_num, row(5))
        a.upsert_measure(exam.exam_num, row(2))  # "undo": back to 2, written by the connector that wrote 2
        assert in_pms() == 2
        other_process.upsert_measure(exam.exam_num, row(4))
        other_process.upsert_measure(exam.exam_num, row(2))  # learns the row (2), writes nothing
        sid = journal.start_session(pms_url=server.url, pat_num=1, model="test")
        _edit(journal, sid, 1, exam.exam_num, 3, 6)  # this process's outbox writes 6 …
        Outbox(journal, a, pms_url=server.url).drain()
        _edit(journal, sid, 2, exam.exam_num, 3, 2)  # … and the other process's outbox 2 after it
        Outbox(journal, other_process, pms_url=server.url).drain()
        assert in_pms() == 2  # it did not trust what it last knew of the row (2) and skip the write
    finally:
        for c in (a, b, other_process):
            c.close()
        journal.close()
        server.stop()
        engine.dispose()


def _edit(journal: Journal, sid: int, seq: int, exam_num: int, tooth: int, depth: int) -> None:
    row = MeasureRow(SequenceType.PROBING, tooth, sites=(depth, depth, depth, -1, -1, -1))
    journal.record_utterance(
        session_id=sid, seq=seq, clip_path=Path("x.wav"), audio_start_s=0.0, audio_end_s=0.0, text="",
        avg_logprob=0.0, no_speech_prob=0.0, status="applied", flag_reason="", readback="", timings={},
        commands=(), edits=(ChartEdit(SequenceType.PROBING, tooth, None, row),), exam_num=exam_num,
    )  # fmt: skip
