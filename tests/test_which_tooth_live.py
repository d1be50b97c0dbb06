""" "Which tooth?" answered with the tooth alone, through the live pipeline into the sandbox PMS: the depths
refused while the cursor was lost wait, and "tooth 3 facial" charts them there, judged with the depths'
confidence floor (a tooth number alone would need the findings' higher one)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tests.scripted_pipeline import run
from voicechart.asr.transcriber import Transcript
from voicechart.exam.session import WHERE_NOTE
from voicechart.journal.store import Journal
from voicechart.pipeline import probe_answer
from voicechart.pms.records import SequenceType
from voicechart.pms.sandbox import SandboxConnector

UNSURE_OF_A_TOOTH = -0.45
"""Confidence 0.64: above the depths' floor (-0.7), below the findings' (-0.2) of a tooth number alone."""


def test_the_tooth_alone_charts_what_waited_for_it_in_the_pms(
    sandbox: tuple[SandboxConnector, sa.Engine, Journal], tmp_path: Path
) -> None:
    said = [
        ("Start perio exam.", -0.1),
        ("3 2 4.", -0.1),
        ("3 2 grumble.", -0.1),  # a triplet? "skip"? the cursor is lost
        ("2 2 2, bleeding distal.", -0.1),
        ("Tooth 3 facial.", UNSURE_OF_A_TOOTH),
    ]
    pipeline, results = run(sandbox, tmp_path, said)
    assert [r.status for r in results] == ["applied", "applied", "flagged", "flagged", "applied"]
    assert WHERE_NOTE in results[3].flags and "say the tooth" in results[3].readback
    assert results[4].edits, "the answer writes the waiting values"
    exam = pipeline.exam
    assert exam is not None
    chart = sandbox[0].read_chart(exam.exam_num)
    assert chart[SequenceType.PROBING][3].sites[:3] == (2, 2, 2)
    assert chart[SequenceType.BLEED_SUP_PLAQ_CALC][3].sites[2] & 1  # distal of tooth 3 facial (DB)
    assert 2 not in chart[SequenceType.PROBING]  # the side that was not understood stays blank


def test_a_tooth_number_alone_is_not_taken_at_the_depths_floor_when_nothing_waits(
    sandbox: tuple[SandboxConnector, sa.Engine, Journal], tmp_path: Path
) -> None:
    said = [
        ("Start perio exam.", -0.1),
        ("3 2 4.", -0.1),
        ("Tooth 3 facial.", UNSURE_OF_A_TOOTH),
        ("2 2 2.", -0.1),
    ]
    pipeline, results = run(sandbox, tmp_path, said)
    assert [r.status for r in results] == ["applied", "applied", "flagged", "flagged"]
    assert "recognizer unsure" in results[2].flags[0]  # a move, not an answer: the findings' floor
    assert WHERE_NOTE in results[3].flags  # it may have moved the cursor: the tooth is asked for
    exam = pipeline.exam
    assert exam is not None
    assert set(sandbox[0].read_chart(exam.exam_num)[SequenceType.PROBING]) == {1}


def test_an_answer_heard_unsure_is_asked_again_and_the_values_still_wait(
    sandbox: tuple[SandboxConnector, sa.Engine, Journal], tmp_path: Path
) -> None:
    said = [
        ("Start perio exam.", -0.1),
        ("3 2 4.", -0.1),
        ("3 2 grumble.", -0.1),
        ("2 2 2.", -0.1),
        ("Tooth 3 facial.", -1.2),  # confidence 0.30: below even the depths' floor
        ("Tooth 3 facial.", -0.1),  # said again
    ]
    pipeline, results = run(sandbox, tmp_path, said)
    assert [r.status for r in results] == ["applied", "applied", "flagged", "flagged", "flagged", "applied"]
    assert "say the tooth again" in results[4].readback.lower()
    exam = pipeline.exam
    assert exam is not None
    assert sandbox[0].read_chart(exam.exam_num)[SequenceType.PROBING][3].sites[:3] == (2, 2, 2)


def test_the_early_end_probe_ends_an_answer_at_the_depths_floor_only_while_the_tooth_is_awaited(
    sandbox: tuple[SandboxConnector, sa.Engine, Journal], tmp_path: Path
) -> None:
    """Ended at the pause, the answer reaches the PMS without waiting out the hang-over."""
    said = [("Start perio exam.", -0.1), ("3 2 4.", -0.1), ("3 2 grumble.", -0.1), ("2 2 2.", -0.1)]
    pipeline, _ = run(sandbox, tmp_path, said)
    session = pipeline.session
    assert session is not None and session.awaiting_tooth
    answer = Transcript("Tooth 3 facial.", UNSURE_OF_A_TOOTH, 0.01)
    options = pipeline.options
    assert probe_answer(answer, options, answers=session.answers).complete
    assert not probe_answer(answer, options).complete  # a tooth alone: the findings' floor
    move = Transcript("Next tooth.", -0.1, 0.01)
    assert probe_answer(move, options, answers=session.answers).complete  # other commands as before
