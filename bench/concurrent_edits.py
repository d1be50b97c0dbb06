"""Reliability scenario `concurrent-edits`: someone else edits the exam in Open Dental while it is dictated.

Random full-mouth exams are dictated (text level) and delivered as they are spoken through the outbox and
the Open Dental API connector to the sandbox's API server. Meanwhile a user in Open Dental changes random
rows of the same exam (written straight to its database, as Open Dental's desktop does), and in half the
exams saves a second exam for the patient that day (what Open Dental does when a user saves a chart that
changed while it was open, OPENDENTAL.md §3.6). Nothing of theirs may be overwritten, every dictated value
must be in the PMS or kept for a person as a conflict, and every second exam must be surfaced. Figures:
edits, rows the user changed, their values overwritten, conflicts kept for a person, dictated cells lost
silently, second exams made and surfaced, duplicate rows.

The outbox looks for a second exam on every pass here (`duplicate_check_s=0`): the whole exam is dictated in
a second or two, where the product looks every 30 s while an exam is written.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.scenario import run_exams
from voicechart.dictation.interpreter import interpret
from voicechart.exam.decide import decide
from voicechart.exam.session import ExamSession
from voicechart.journal.store import Journal
from voicechart.pms.odapi.client import OpenDentalApi
from voicechart.pms.odapi.connector import OpenDentalApiConnector
from voicechart.pms.outbox import Outbox
from voicechart.pms.records import MeasureRow, SequenceType
from voicechart.pms.sandbox import SandboxConnector, add_patient, create_sandbox
from voicechart.pms.sandbox.api import BackgroundServer, SandboxApi
from voicechart.pms.sandbox.connector import stored_values
from voicechart.pms.sandbox.schema import CLINICAL_NOTE_CODE, perioexam
from voicechart.simulate.exams import random_exam
from voicechart.simulate.speech import random_style, render_exam

KEYS = {"developer_key": "bench-developer", "customer_key": "bench-customer"}
USER_EDIT_RATE = 0.08  # per utterance: a user in Open Dental changes one row of the exam
SECOND_EXAM_SHARE = 0.5  # of the exams: a user saves a chart that changed while open


def _rows(engine: sa.Engine, exam_num: int) -> tuple[dict[tuple[int, int], tuple[int, ...]], int]:
    """The exam's rows as stored (newest row of a key wins), and how many rows there are in all."""
    reader = SandboxConnector(engine, read_only=True)
    try:
        chart = reader.read_chart(exam_num)
    finally:
        reader.close()
    held = {
        (int(seq), tooth): stored_values(row)
        for seq, rows in chart.items()
        for tooth, row in rows.items()
        if not row.records_nothing()
    }
    with engine.connect() as conn:
        count = conn.execute(
            sa.text("SELECT COUNT(*) FROM periomeasure WHERE PerioExamNum = :e"), {"e": exam_num}
        ).scalar_one()
    return held, int(count)


def one_exam(seed: int, tmp: Path) -> dict[str, Any]:
    rng = random.Random(seed)
    engine = sa.create_engine(f"sqlite:///{tmp / 'pms.db'}", connect_args={"check_same_thread": False})
    create_sandbox(engine)
    truth = random_exam(rng)
    pat_num = add_patient(
        engine, first_name="Bench", last_name=f"C{seed}", missing_teeth=sorted(truth.missing_known)
    )
    server = BackgroundServer(SandboxApi(engine, **KEYS)).start()
    connector = OpenDentalApiConnector(
        OpenDentalApi(server.url, **KEYS), clinical_note_code=CLINICAL_NOTE_CODE
    )
    user = SandboxConnector(engine)  # Open Dental's desktop writes its database directly
    journal = Journal(f"sqlite:///{tmp / 'journal.db'}")
    try:
        exam = connector.open_exam(pat_num, dt.date.today())
        session = ExamSession(rows=exam.measures)
        session_id = journal.start_session(pms_url=server.url, pat_num=pat_num, model="bench")
        outbox = Outbox(journal, connector, pms_url=server.url, duplicate_check_s=0.0)
        utterances = render_exam(truth, random_style(rng), rng)
        second_at = rng.randrange(len(utterances)) if rng.random() < SECOND_EXAM_SHARE else None
        theirs: dict[tuple[int, int], tuple[int, ...]] = {}
        for seq, utterance in enumerate(utterances, 1):
            outcome = decide(session, interpret(utterance.text())).outcome
            journal.record_utterance(
                session_id=session_id, seq=seq, clip_path=Path("x.wav"), audio_start_s=0.0, audio_end_s=1.0,
                text="", avg_logprob=0.0, no_speech_prob=0.0, status="applied", flag_reason="", readback="",
                timings={}, commands=(), edits=outcome.edits if outcome else (), exam_num=exam.exam_num,
            )  # fmt: skip
            if rng.random() < USER_EDIT_RATE:
                tooth = rng.choice([t for t in range(1, 33) if t not in truth.missing_known])
                row = MeasureRow(
                    SequenceType.PROBING, tooth, sites=tuple(rng.randint(1, 9) for _ in range(6))
                )
                user.upsert_measure(exam.exam_num, row)
                theirs[(int(SequenceType.PROBING), tooth)] = stored_values(row)
            if seq == second_at:
                with engine.begin() as conn:
                    conn.execute(
                        sa.insert(perioexam).values(
                            PatNum=pat_num, ExamDate=dt.date.today(), ProvNum=1,
                            DateTMeasureEdit=dt.datetime.now(), Note="",
                        )
                    )  # fmt: skip
            outbox.drain()  # delivered as it is spoken
        while outbox.drain().pending:
            pass
        held, count = _rows(engine, exam.exam_num)
        conflicts = journal.rejected_edits()
        kept = {(e.sequence_type, e.tooth) for e in conflicts}
        wanted = {
            (int(s), t): stored_values(r) for (s, t), r in session.rows.items() if not r.records_nothing()
        }
        return {
            "seed": seed,
            "edits": len(journal.session_edits(session_id)),
            "rows_they_changed": len(theirs),
            "their_values_overwritten": sum(1 for k, v in theirs.items() if held.get(k) != v),
            "conflicts_kept_for_a_person": len(conflicts),
            "dictated_cells_lost_silently": sum(
                1 for k, v in wanted.items() if held.get(k) != v and k not in kept and k not in theirs
            ),
            "second_exams_made": int(second_at is not None),
            "second_exams_surfaced": len(journal.alerts(exam_num=exam.exam_num)),
            "duplicate_rows": count - len(held),
        }
    finally:
        journal.close()
        user.close()
        connector.close()
        server.stop()
        engine.dispose()


def run(exams: int = 20) -> dict[str, Any]:
    summed = (
        "edits", "rows_they_changed", "their_values_overwritten", "conflicts_kept_for_a_person",
        "dictated_cells_lost_silently", "second_exams_made", "second_exams_surfaced", "duplicate_rows",
    )  # fmt: skip
    return run_exams("concurrent-edits", one_exam, exams, summed)
