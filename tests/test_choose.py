"""Choosing among the recognizer's hypotheses, holding the place of an unclear tooth side, and the MGJ row."""

from __future__ import annotations

from voicechart.asr.transcriber import Hypothesis, Transcript
from voicechart.dictation.choose import choose, spoken_sides
from voicechart.dictation.commands import Depths, Mucogingival, Side
from voicechart.dictation.interpreter import interpret
from voicechart.exam.decide import decide
from voicechart.exam.path import ToothSide
from voicechart.exam.session import ExamSession
from voicechart.guards import Gates, judge_choice
from voicechart.pms.records import BLANK, MeasureRow, SequenceType


def heard(*readings: tuple[str, float], no_speech: float = 0.01) -> Transcript:
    hypotheses = tuple(Hypothesis(text, lp) for text, lp in readings)
    return Transcript(hypotheses[0].text, hypotheses[0].avg_logprob, no_speech, alternatives=hypotheses)


def probing(session: ExamSession, tooth: int) -> tuple[int, ...]:
    row = session.rows.get((SequenceType.PROBING, tooth))
    return row.sites if row else (BLANK,) * 6


def test_an_accepted_reading_beats_a_rejected_top() -> None:
    choice = choose(heard(("Tooth 3 2 3.", -0.3), ("3 2 3.", -0.4), ("3, 2, 3", -0.5)))
    assert choice.interpretation.commands == (Depths((3, 2, 3)),)
    assert choice.rank == 1
    assert choice.rival is None  # every other accepted reading means the same


def test_a_reading_that_fits_the_chart_beats_a_jump() -> None:
    session = ExamSession(rows=[MeasureRow(SequenceType.SKIP_TOOTH, 1, tooth_value=1)])
    choice = choose(heard(("Tooth 14 lingual 3 2 3", -0.2), ("2 3 2 3 2 3", -0.3)), fits=session.fits)
    assert choice.interpretation.commands == (Depths((2, 3, 2, 3, 2, 3)),)
    assert list(session.rows) == [(SequenceType.SKIP_TOOTH, 1)]  # the dry run changed nothing


def test_talk_stays_talk_whatever_else_the_beam_guessed() -> None:
    choice = choose(heard(("how are you doing today", -0.3), ("how are you doing 2 day", -0.5)))
    assert choice.interpretation.is_chatter


def test_readings_far_below_the_top_are_not_considered() -> None:
    choice = choose(heard(("Tooth 3 2 3.", -0.2), ("3 2 3.", -2.5)), window=1.0)
    assert not choice.interpretation.accepted


def test_a_close_rival_with_other_values_makes_the_reading_unsure() -> None:
    transcript = heard(("3 2 4", -0.30), ("3 2 5", -0.35))
    choice = choose(transcript)
    assert choice.rival is not None and abs(choice.margin - 0.05) < 1e-9
    gates = Gates(depths=-1.0, findings=-1.0, commands=-1.5, depths_margin=0.2)
    assert judge_choice(transcript, choice, gates).status == "low_confidence"
    assert judge_choice(transcript, choice, Gates(depths=-1.0, findings=-1.0, commands=-1.5)).status == "ok"


def test_spoken_sides_counts_number_like_readings() -> None:
    assert spoken_sides(heard(("3 to 4", -0.9), ("3 2 4", -1.0), ("324", -1.1))) == 1
    assert spoken_sides(heard(("Tooth 3 8", -0.9), ("2 3 8", -1.0))) == 1
    assert (
        spoken_sides(
            heard(
                ("3 2 4, 4 3 3", -0.9),
            )
        )
        == 2
    )
    assert spoken_sides(heard(("3 2", -0.9), ("3 2 4", -1.0))) == 0  # readings disagree
    assert (
        spoken_sides(
            heard(
                ("bleeding distal", -0.9),
            )
        )
        == 0
    )
    assert (
        spoken_sides(
            heard(
                ("undo", -0.9),
            )
        )
        == 0
    )


def exam_at_tooth_3() -> ExamSession:
    session = ExamSession(rows=[MeasureRow(SequenceType.SKIP_TOOTH, 1, tooth_value=1)])
    decide(session, interpret("3 2 4"))  # tooth 2 facial
    return session


def test_an_unclear_triplet_holds_its_place_and_what_follows_lands_where_it_belongs() -> None:
    session = exam_at_tooth_3()
    decision = decide(session, interpret("3 2 free"), low_confidence="recognizer unsure", spoken_sides=1)
    assert decision.status == "flagged"
    assert ToothSide(3, Side.FACIAL) in session.held
    assert "Say it again with the tooth" in decision.readback
    assert decide(session, interpret("4 3 3")).status == "applied"
    assert probing(session, 3) == (BLANK,) * 6  # the held side stays blank
    assert probing(session, 4)[:3] == (3, 3, 4)  # MB B DB columns: distal first on tooth 4 → DB=4
    assert not session.flagged_sites  # nothing after the hold is doubted
    assert "tooth sides not charted" in session.summary()


def test_a_repeat_with_the_tooth_fills_the_held_side_and_leaves_the_cursor() -> None:
    session = exam_at_tooth_3()
    decide(session, interpret("3 2 free"), low_confidence="recognizer unsure", spoken_sides=1)
    cursor = session.cursor
    decision = decide(session, interpret("tooth 3 facial 5 4 5"))
    assert decision.status == "applied" and not decision.flags
    assert probing(session, 3)[:3] == (5, 4, 5)
    assert session.cursor == cursor and not session.held
    decide(session, interpret("undo"))
    assert ToothSide(3, Side.FACIAL) in session.held and probing(session, 3) == (BLANK,) * 6


def test_without_a_clear_count_the_cursor_is_lost_as_before() -> None:
    session = exam_at_tooth_3()
    decide(session, interpret("3 wobble"), low_confidence="recognizer unsure", spoken_sides=0)
    assert not session.held
    decide(session, interpret("4 3 3"))
    assert session.flagged_sites  # charted from a cursor that may be off: marked for review


def test_mgj_lands_on_the_side_just_charted_and_never_on_the_palate() -> None:
    session = exam_at_tooth_3()
    assert decide(session, interpret("MGJ 3")).status == "applied"
    row = session.rows[(SequenceType.MGJ, 2)]
    assert row.site("B") == 3
    assert decide(session, interpret("tooth 24 MGJ 2 2 3")).status == "applied"
    assert decide(session, interpret("mucogingival junction 2 on tooth 14 lingual")).status == "flagged"
    assert interpret("MGJ 3").commands == (Mucogingival((3,)),)
