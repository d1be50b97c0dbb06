"""Reliability scenarios at text level (see bench/reliability.py): a sandbox PMS with a patient for a random
exam, utterances charted and journaled as the pipeline does, and the run of a scenario exam by exam, each in
its own temporary directory, its figures printed as it ends and summed at the end."""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from voicechart.dictation.interpreter import interpret
from voicechart.exam.decide import decide
from voicechart.exam.session import ExamSession
from voicechart.journal.store import Journal
from voicechart.pms.records import MeasureRow
from voicechart.pms.sandbox import SandboxConnector, add_patient, create_sandbox
from voicechart.pms.sandbox.connector import stored_values
from voicechart.simulate.exams import Exam, random_exam

OneExam = Callable[[int, Path], dict[str, Any]]


def run_exams(name: str, one_exam: OneExam, exams: int, summed: Sequence[str]) -> dict[str, Any]:
    """`one_exam(seed, directory)` for seeds 0…exams−1; the report: the scenario's name, the number of
    exams, the `summed` figures added up over the exams, and every exam's own figures."""
    per_exam = []
    for seed in range(exams):
        with tempfile.TemporaryDirectory() as tmp:
            per_exam.append(one_exam(seed, Path(tmp)))
        print(f"{name} exam {seed}: {per_exam[-1]}", flush=True)
    totals = {k: sum(e[k] for e in per_exam) for k in summed}
    return {"scenario": name, "exams": exams, **totals, "per_exam": per_exam}


def sandbox_with_patient(tmp: Path, rng: random.Random, last_name: str) -> tuple[sa.Engine, Exam, int]:
    """A new sandbox PMS in `tmp` (SQLite, shared across threads), a random exam to dictate and the patient
    it is for (the exam's missing teeth marked missing)."""
    engine = sa.create_engine(f"sqlite:///{tmp / 'pms.db'}", connect_args={"check_same_thread": False})
    create_sandbox(engine)
    truth = random_exam(rng)
    pat_num = add_patient(
        engine, first_name="Bench", last_name=last_name, missing_teeth=sorted(truth.missing_known)
    )
    return engine, truth, pat_num


def dictate(
    journal: Journal, session: ExamSession, session_id: int, seq: int, text: str, exam_num: int
) -> None:
    """One utterance at text level, charted and journaled as the pipeline does (no audio, no recognizer)."""
    outcome = decide(session, interpret(text)).outcome
    journal.record_utterance(
        session_id=session_id, seq=seq, clip_path=Path("x.wav"), audio_start_s=0.0, audio_end_s=1.0,
        text="", avg_logprob=0.0, no_speech_prob=0.0, status="applied", flag_reason="", readback="",
        timings={}, commands=(), edits=outcome.edits if outcome else (), exam_num=exam_num,
    )  # fmt: skip


Stored = dict[tuple[int, int], tuple[int, ...]]  # (sequence type, tooth) → the row's values as stored


def stored_rows(rows: Iterable[MeasureRow]) -> Stored:
    """Rows that record something, as the PMS stores them."""
    return {(int(r.sequence_type), r.tooth): stored_values(r) for r in rows if not r.records_nothing()}


def pms_rows(engine: sa.Engine, exam_num: int) -> tuple[Stored, int]:
    """The exam's rows in the sandbox as stored (the newest row of a key wins), and how many rows it has in
    all (more than the first holds keys: a row written twice)."""
    reader = SandboxConnector(engine, read_only=True)
    try:
        chart = reader.read_chart(exam_num)
    finally:
        reader.close()
    with engine.connect() as conn:
        count = conn.execute(
            sa.text("SELECT COUNT(*) FROM periomeasure WHERE PerioExamNum = :e"), {"e": exam_num}
        ).scalar_one()
    return stored_rows(row for rows in chart.values() for row in rows.values()), int(count)
