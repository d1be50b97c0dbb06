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

from bench.scenario import dictate, pms_rows, run_exams, sandbox_with_patient, stored_rows
from voicechart.exam.session import ExamSession
from voicechart.journal.store import Journal
from voicechart.pms.odapi.client import OpenDentalApi
from voicechart.pms.odapi.connector import OpenDentalApiConnector
from voicechart.pms.outbox import Outbox
from voicechart.pms.records import MeasureRow, SequenceType
from voicechart.pms.sandbox import SandboxConnector
from voicechart.pms.sandbox.api import BackgroundServer, SandboxApi
from voicechart.pms.sandbox.connector import stored_values
from voicechart.pms.sandbox.schema import CLINICAL_NOTE_CODE, perioexam
from voicechart.simulate.speech import random_style, render_exam

KEYS = {"developer_key": "bench-developer", "customer_key": "bench-customer"}
USER_EDIT_RATE = 0.08  # per utterance: a user in Open Dental changes one row of the exam
SECOND_EXAM_SHARE = 0.5  # of the exams: a user saves a chart that changed while open


def one_exam(seed: int, tmp: Path) -> dict[str, Any]:
    rng = random.Random(seed)
    engine, truth, pat_num = sandbox_with_patient(tmp, rng, f"C{seed}")
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
            dictate(journal, session, session_id, seq, utterance.text(), exam.exam_num)
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
        held, count = pms_rows(engine, exam.exam_num)
        conflicts = journal.rejected_edits()
        kept = {(e.sequence_type, e.tooth) for e in conflicts}
        wanted = stored_rows(session.rows.values())
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
