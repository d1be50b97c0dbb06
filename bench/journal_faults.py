"""Reliability scenario `journal-faults`: the journal's disk turns read-only or full in the middle of an exam.

Random full-mouth exams are dictated through the pipeline (text level: a scripted recognizer gives each
utterance's words; segmenter, session, journal, outbox and the sandbox PMS are the real ones). For a random
stretch of each exam the journal cannot write: the disk is read-only (SQLite's query_only on every new
connection) or full (the insert fails as SQLite's "database or disk is full" does). Every utterance in that
stretch must be answered "not stored" at once (the flagged earcon and a spoken message) and change nothing;
the hygienist says those utterances again once the journal writes again, as the message asks. Figures:
utterances, utterances not stored and how many of them the operatory was told about, utterances
acknowledged without being stored, the chart in the PMS against the same dictation without a fault (cells
lost or changed, extra rows, duplicate rows), edits left waiting.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from bench.scenario import pms_rows, run_exams, stored_rows
from voicechart.asr.transcriber import Transcript
from voicechart.audio.segmenter import Segmenter, SegmenterConfig, Utterance
from voicechart.dictation.interpreter import interpret
from voicechart.exam.decide import decide
from voicechart.exam.session import ExamSession
from voicechart.feedback.earcons import Earcon, earcon_for
from voicechart.journal.store import Journal
from voicechart.pipeline import Pipeline, PipelineOptions, UtteranceResult
from voicechart.pms.sandbox import SandboxConnector, add_patient, create_sandbox
from voicechart.simulate.exams import random_exam
from voicechart.simulate.journal_faults import disk_full, read_only
from voicechart.simulate.speech import random_style, render_exam

QUIET = np.zeros(8000, dtype=np.int16)


class Scripted:
    """A recognizer that hears exactly the next scripted words (the scenario is about the journal)."""

    def __init__(self) -> None:
        self.next_text = ""

    def transcribe(self, audio: np.ndarray, *, prompt: str | None = None) -> Transcript:
        return Transcript(self.next_text, -0.1, 0.01)


def one_exam(seed: int, tmp: Path) -> dict[str, Any]:
    rng = random.Random(seed)
    truth = random_exam(rng)
    texts = [u.text() for u in render_exam(truth, random_style(rng), rng)]
    reference = ExamSession()  # the same dictation, no fault
    for text in texts:
        decide(reference, interpret(text))

    engine = sa.create_engine(f"sqlite:///{tmp / 'pms.db'}", connect_args={"check_same_thread": False})
    create_sandbox(engine)
    pat_num = add_patient(engine, first_name="Bench", last_name=f"J{seed}", missing_teeth=[])
    connector = SandboxConnector(engine)
    journal = Journal(f"sqlite:///{tmp / 'journal.db'}")
    recognizer = Scripted()
    pipeline = Pipeline(
        segmenter=Segmenter(detector=None, config=SegmenterConfig()),  # type: ignore[arg-type]
        transcriber=recognizer,
        connector=connector,
        journal=journal,
        clips_dir=tmp / "clips",
        pat_num=pat_num,
        pms_url="sqlite:///bench-pms",
        model_name="scripted",
        options=PipelineOptions(
            min_avg_logprob=-1.0, min_avg_logprob_commands=-1.5, max_no_speech_prob=0.6, pms_wait_s=0.0
        ),
        today=dt.date.today(),
    )
    kind = rng.choice(("read-only", "disk-full"))
    first = rng.randrange(2, max(3, len(texts) - 6))
    broken = range(first, min(len(texts) - 1, first + rng.randint(1, 6)))  # never the final "end exam"
    results: list[UtteranceResult] = []
    lost: list[str] = []
    restore: Callable[[], None] | None = None
    try:
        clock = 0.0
        for i, text in enumerate(texts):
            if i == broken.start:
                restore = read_only(journal) if kind == "read-only" else disk_full(journal)
            if restore is not None and i == broken.stop:
                restore()
                restore = None
                for again in lost:  # said again, as the message asks
                    recognizer.next_text = again
                    results.append(pipeline.process(Utterance(QUIET, clock, clock + 0.5, clock + 0.9)))
                    clock += 1
                lost = []
            recognizer.next_text = text
            result = pipeline.process(Utterance(QUIET, clock, clock + 0.5, clock + 0.9))
            clock += 1
            results.append(result)
            if result.status == "not_stored":
                lost.append(text)
            pipeline.outbox.drain()
        pipeline.outbox.drain()
        not_stored = [r for r in results if r.status == "not_stored"]
        told = [r for r in not_stored if r.speak and earcon_for(r.status, r.commands) is Earcon.FLAGGED]
        stored = {u.seq for u in journal.utterances(pipeline.session_id)}
        acknowledged_not_stored = [r for r in results if r.status != "not_stored" and r.seq not in stored]
        exam = pipeline.exam
        held, rows = pms_rows(engine, exam.exam_num) if exam is not None else ({}, 0)
        wanted = stored_rows(reference.rows.values())
        return {
            "seed": seed,
            "fault": kind,
            "utterances": len(results),
            "utterances_in_fault": len(broken),
            "not_stored": len(not_stored),
            "told_at_once": len(told),
            "acknowledged_not_stored": len(acknowledged_not_stored),
            "cells_lost_or_changed": sum(1 for k, v in wanted.items() if held.get(k) != v),
            "extra_rows": sum(1 for k in held if k not in wanted),
            "duplicate_rows": rows - len(held),
            "pending_at_end": len(journal.pending_edits()),
        }
    finally:
        if restore is not None:
            restore()
        journal.close()
        connector.close()
        engine.dispose()


def run(exams: int = 20) -> dict[str, Any]:
    summed = (
        "utterances", "utterances_in_fault", "not_stored", "told_at_once", "acknowledged_not_stored",
        "cells_lost_or_changed", "extra_rows", "duplicate_rows", "pending_at_end",
    )  # fmt: skip
    report = run_exams("journal-faults", one_exam, exams, summed)
    report["faults"] = {
        k: sum(e["fault"] == k for e in report["per_exam"]) for k in ("read-only", "disk-full")
    }
    return report
