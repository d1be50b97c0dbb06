"""Housekeeping that only makes sense on the sandbox PMS (never on a real Open Dental)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from voicechart.pms.sandbox.schema import perioexam, periomeasure


def clear_exam_on(engine: sa.Engine, pat_num: int, exam_date: dt.date) -> bool:
    """Delete the patient's sandbox exams of that date (so the demo can run again the same day)."""
    with engine.begin() as conn:
        exams = [
            r[0]
            for r in conn.execute(
                sa.select(perioexam.c.PerioExamNum).where(
                    perioexam.c.PatNum == pat_num, perioexam.c.ExamDate == exam_date
                )
            )
        ]
        if not exams:
            return False
        conn.execute(sa.delete(periomeasure).where(periomeasure.c.PerioExamNum.in_(exams)))
        conn.execute(sa.delete(perioexam).where(perioexam.c.PerioExamNum.in_(exams)))
        return True
