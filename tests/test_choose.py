"""Choosing among the recognizer's hypotheses, holding the place of an unclear tooth side, and the MGJ row."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from tests.scripted_pipeline import scripted_pipeline, utterance
from voicechart.asr.transcriber import Hypothesis, Transcript
from voicechart.dictation.choose import choose, spoken_sides
from voicechart.dictation.commands import Depths, Mucogingival, Side
from voicechart.dictation.interpreter import interpret
from voicechart.exam.decide import decide
from voicechart.exam.path import ToothSide
from voicechart.exam.session import ExamSession
from voicechart.guards import Gates, judge_choice
from voicechart.journal.store import Journal
from voicechart.pipeline import PipelineOptions, gates_of
from voicechart.pms.records import BLANK, MeasureRow, SequenceType
from voicechart.pms.sandbox import SandboxConnector


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


def test_a_reading_cut_short_of_a_better_one_is_not_taken_but_its_heard_part_is_charted() -> None:
    # the beam heard "bleeding" and more; the third reading is understood only because it stops there
    transcript = heard(
        ("5 4 6. Bleeding to that distal.", -0.40),
        ("5 4 6, bleeding to that distal", -0.45),
        ("5 4 6. Bleeding.", -0.5),
    )
    choice = choose(transcript)
    assert not choice.interpretation.accepted and choice.rank == 0
    session = ExamSession(rows=[MeasureRow(SequenceType.SKIP_TOOTH, t, tooth_value=1) for t in (1, 2)])
    decision = decide(session, choice.interpretation)
    assert decision.status == "flagged"
    plain = ExamSession(rows=[MeasureRow(SequenceType.SKIP_TOOTH, t, tooth_value=1) for t in (1, 2)])
    plain.apply(interpret("5 4 6").commands)
    assert probing(session, 3) == probing(plain, 3) != (BLANK,) * 6  # the depths before the unclear words
    flags = session.rows.get((SequenceType.BLEED_SUP_PLAQ_CALC, 3))
    assert flags is None or not any(v > 0 for v in flags.sites)  # no bare "bleeding" put on the last site
    # a shorter reading the beam scored higher is the beam's own end of speech: taken
    assert choose(heard(("3 2 4.", -0.2), ("3 2 4, bleeding to that.", -0.6))).interpretation.accepted


def test_a_reading_that_fits_the_chart_beats_a_jump_and_is_charted() -> None:
    session = ExamSession(rows=[MeasureRow(SequenceType.SKIP_TOOTH, 1, tooth_value=1)])
    transcript = heard(("Tooth 14 lingual 3 2 3", -0.2), ("2 3 2 3 2 3", -0.3))
    before = (session.cursor, dict(session.held), session.readback_enabled, session.ended)
    choice = choose(transcript, fits=session.fits)
    assert choice.interpretation.commands == (Depths((2, 3, 2, 3, 2, 3)),)
    assert list(session.rows) == [(SequenceType.SKIP_TOOTH, 1)]  # the dry run changed nothing
    assert (session.cursor, dict(session.held), session.readback_enabled, session.ended) == before
    gates = Gates(depths=-1.0, findings=-1.0, commands=-1.5)
    assert judge_choice(transcript, choice, gates).status == "ok"
    assert decide(session, choice.interpretation).status == "applied"
    assert probing(session, 2)[:3] == (2, 3, 2) and not session.flagged_sites


def test_a_reading_does_not_win_because_its_values_look_ordinary() -> None:
    session = ExamSession(
        rows=[MeasureRow(SequenceType.SKIP_TOOTH, 1, tooth_value=1)],
        previous=[MeasureRow(SequenceType.PROBING, 2, sites=(2, 2, 3, 2, 2, 2))],
    )
    choice = choose(heard(("3 2 7", -0.2), ("3 2 2", -0.3)), fits=session.fits)
    assert choice.interpretation.commands == (Depths((3, 2, 7)),)  # 7 vs 2 last exam: marked, not hidden


def test_talk_is_never_charted_from_a_lower_reading_but_a_command_heard_as_talk_is_not_ignored() -> None:
    assert choose(
        heard(("how are you doing today", -0.3), ("how are you doing to day", -0.5))
    ).interpretation.is_chatter
    session = ExamSession(rows=[MeasureRow(SequenceType.SKIP_TOOTH, t, tooth_value=1) for t in (1, 2)])
    session.apply(interpret("3 2 4").commands)
    charted = dict(session.rows)
    choice = choose(
        heard(("Crap net.", -0.5), ("Scratch net.", -0.6), ("Scratch that.", -0.7)), fits=session.fits
    )
    assert not choice.interpretation.commands and not choice.interpretation.is_chatter
    assert "Scratch that." in choice.interpretation.rejected[0].reason
    decision = decide(session, choice.interpretation)
    assert decision.status == "flagged"  # asked again, not taken for talk
    assert dict(session.rows) == charted  # nothing charted or taken back by a guess
    assert session.flagged_sites  # the side charted just before is marked: it may have been "scratch that"


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
    assert spoken_sides(heard(("Free tooth.", -0.6), ("3 2, 2", -0.9), ("3 2 2 3", -0.9), ("3 2 2", -1))) == 1
    assert spoken_sides(heard(("3 2", -0.9), ("3 2 4", -1.0))) == 0  # the best number-like reading: two
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


def test_two_held_sides_repeated_in_one_breath_are_filled_in_place() -> None:
    session = exam_at_tooth_3()
    decide(session, interpret("3 2 4 4 3 3"), low_confidence="recognizer unsure", spoken_sides=2)
    assert set(session.held) == {ToothSide(3, Side.FACIAL), ToothSide(4, Side.FACIAL)}
    cursor = session.cursor
    decision = decide(session, interpret("tooth 3 facial 5 4 5 4 4 4"))
    assert decision.status == "applied" and not decision.flags
    assert session.cursor == cursor and not session.held and not session.lost


def test_a_repeat_without_a_side_on_the_cursors_tooth_is_the_path_not_a_repeat() -> None:
    session = ExamSession(rows=[MeasureRow(SequenceType.SKIP_TOOTH, t, tooth_value=1) for t in range(4, 17)])
    decide(session, interpret("3 2 4"))  # tooth 1 facial
    decide(session, interpret("3 2 4"))  # tooth 2 facial
    decide(session, interpret("3 2 free"), low_confidence="recognizer unsure", spoken_sides=1)  # 3 held
    for _ in range(2):
        decide(session, interpret("2 2 2"))  # tooth 3 lingual, tooth 2 lingual — the path went on
    assert session.held == {ToothSide(3, Side.FACIAL): "recognizer unsure"}
    session.cursor = session.first_empty_site()  # back on tooth 3 … lingual is charted; facial is held
    decide(session, interpret("tooth 3 5 5 6"))
    assert probing(session, 3)[:3] == (6, 5, 5)  # filled the held facial side


def test_a_single_site_does_not_clear_a_held_side_and_a_missing_tooth_does() -> None:
    session = exam_at_tooth_3()
    decide(session, interpret("3 2 free"), low_confidence="recognizer unsure", spoken_sides=1)
    decide(session, interpret("tooth 3 facial distal 4"))
    assert ToothSide(3, Side.FACIAL) in session.held
    decide(session, interpret("tooth 3 missing"))
    assert not session.held


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


class BeamTranscriber:
    """Returns each utterance's beam: several hypotheses with scores, best first."""

    def __init__(self, beams: list[list[tuple[str, float]]]) -> None:
        self.beams = list(beams)

    def transcribe(self, audio: np.ndarray, *, prompt: str | None = None) -> Transcript:
        return heard(*self.beams.pop(0))


def test_the_pipeline_acts_on_the_chosen_reading_and_holds_an_unclear_side(
    sandbox: tuple[SandboxConnector, sa.Engine, Journal], tmp_path: Path
) -> None:
    connector, _, journal = sandbox
    beams = [
        [("Start perio exam.", -0.1)],
        [("6 by 4.", -0.2), ("6 5 4.", -0.25)],  # the top reading is not whole: the next one is
        [("3 2 5", -0.9), ("3 2 4", -0.95), ("3 to 4", -1.0)],  # torn between two values: held
        [("4 3 3", -0.1)],
    ]
    options = PipelineOptions(
        min_avg_logprob=-1.5, min_avg_logprob_commands=-1.5, max_no_speech_prob=0.6, min_margin=0.2
    )
    # patient 3: no missing teeth and no previous exam, so the path starts at tooth 1
    pipeline = scripted_pipeline(
        BeamTranscriber(beams), connector, journal, tmp_path, pat_num=3, options=options
    )
    pipeline.outbox.start()
    results = [pipeline.process(utterance(i)) for i in range(len(beams))]
    assert pipeline.outbox.stop(flush_timeout_s=5) == 0
    assert [r.status for r in results] == ["applied", "applied", "flagged", "applied"]
    assert results[1].text == "6 5 4." and results[1].commands == [{"kind": "Depths", "values": [6, 5, 4]}]
    assert "torn between" in results[2].flags[0] and "not charted" in results[2].readback
    (edit,) = results[3].edits
    assert edit["tooth"] == 3 and not edit["flagged"]  # tooth 2 was held; tooth 3 is where it belongs
    assert results[2].confidence == pytest.approx(math.exp(-0.9))


def test_scratch_that_after_a_held_side_takes_back_the_hold_not_the_values_before() -> None:
    """Script A: "five six five" (unclear, held), "scratch that", "five four five"."""
    session = exam_at_tooth_3()
    decide(session, interpret("5 6 5"), low_confidence="recognizer unsure", spoken_sides=1)
    assert decide(session, interpret("scratch that")).status == "applied"
    assert not session.held and probing(session, 2)[:3] == (4, 2, 3)  # tooth 2 kept
    decide(session, interpret("5 4 5"))
    assert probing(session, 3)[:3] == (5, 4, 5) and not session.flagged_sites


def test_a_number_the_readings_repeat_a_different_number_of_times_is_a_loop_not_values() -> None:
    gates = Gates(depths=-1.0, findings=-1.0, commands=-1.0)
    looped = heard(
        ("Recession 0 0 0 0 0 0 1 2 27 facial.", -0.17),
        ("Recession 0 0 0 0 0 0 0 0 on tooth 27 facial.", -0.18),
        ("Recession 0 0 0 0 0 0 0 0 0 0 0 0", -0.20),
    )
    choice = choose(looped)
    verdict = judge_choice(looped, choice, gates)
    assert verdict.status == "low_confidence" and "repeating itself" in verdict.reason
    # two healthy sides, heard alike by every reading, are values
    healthy = heard(("2 2 2, 2 2 2.", -0.2), ("2 2 2 2 2 2.", -0.3), ("2, 2, 2, 2, 2, 2.", -0.4))
    assert judge_choice(healthy, choose(healthy), gates).status == "ok"


def test_undo_pause_and_end_exam_have_their_own_floor_and_other_commands_keep_theirs() -> None:
    """A "scratch that" heard in a "read back" takes back values; a "pause" heard in noise loses everything
    said after it: those commands may need more confidence than "next tooth" or "read back"."""
    gates = Gates(depths=-0.7, findings=-0.2, commands=-1.2, undo_pause_end=-0.8)
    for said in ("Scratch that.", "Pause.", "End exam."):
        unsure = heard((said, -0.95))
        assert judge_choice(unsure, choose(unsure), gates).status == "low_confidence", said
        sure = heard((said, -0.5))
        assert judge_choice(sure, choose(sure), gates).status == "ok", said
    for said in ("Next tooth.", "Read back.", "Resume listening."):
        unsure = heard((said, -0.95))
        assert judge_choice(unsure, choose(unsure), gates).status == "ok", said
    unset = Gates(depths=-0.7, findings=-0.2, commands=-1.2)  # no floor of their own: the commands' floor
    unsure = heard(("Scratch that.", -0.95))
    assert judge_choice(unsure, choose(unsure), unset).status == "ok"


def test_the_shipped_config_holds_the_gates_calibrated_on_the_dev_voices() -> None:
    repo = Path(__file__).parents[1]
    calibrated = json.loads((repo / "bench/results/gates.json").read_text())["gates"]
    asr = tomllib.loads((repo / "config/default.toml").read_text())["asr"]
    shipped = {
        "depths": asr["min_avg_logprob"],
        "findings": asr["min_avg_logprob_findings"],
        "commands": asr["min_avg_logprob_commands"],
        "depths_margin": asr["min_margin"],
        "findings_margin": asr["min_margin_findings"],
        "max_no_speech_prob": asr["max_no_speech_prob"],
        "undo_pause_end": asr["min_avg_logprob_undo_pause_end"],
        "unsure_word": asr["min_word_prob"],
    }
    assert shipped == calibrated
    options = PipelineOptions(
        min_avg_logprob=asr["min_avg_logprob"],
        min_avg_logprob_commands=asr["min_avg_logprob_commands"],
        max_no_speech_prob=asr["max_no_speech_prob"],
        min_avg_logprob_undo_pause_end=asr["min_avg_logprob_undo_pause_end"],
        min_word_prob=asr["min_word_prob"],
    )
    assert gates_of(options).undo_pause_end == calibrated["undo_pause_end"]
    assert gates_of(options).unsure_word == calibrated["unsure_word"]


def test_a_take_back_the_beam_doubled_is_asked_again_not_done_twice() -> None:
    """ "Scratch that. Scratch that." over "Scratch that.": each undo too many takes back a right value."""
    gates = Gates(depths=-0.7, findings=-0.2, commands=-1.2, undo_pause_end=-0.6)
    doubled = heard(("Scratch that. Scratch that.", -0.2), ("Scratch that.", -0.3), ("Scratch it.", -0.5))
    verdict = judge_choice(doubled, choose(doubled), gates)
    assert verdict.status == "low_confidence" and "torn" in verdict.reason
    # every reading says it twice: it was said twice
    twice = heard(("Scratch that. Scratch that.", -0.2), ("Scratch that, scratch that.", -0.3))
    assert judge_choice(twice, choose(twice), gates).status == "ok"
    once = heard(("Scratch that.", -0.2), ("Scratch that. Scratch that.", -0.4))
    assert judge_choice(once, choose(once), gates).status == "ok"


def test_numbers_then_a_loop_are_not_acted_on_however_sure_the_recognizer_was() -> None:
    gates = Gates(depths=-0.7, findings=-0.2, commands=-1.2, undo_pause_end=-0.6)
    looped = heard(("3 2 4. Scratch that. Scratch that. Scratch that.", -0.1), ("3 2 4.", -0.3))
    verdict = judge_choice(looped, choose(looped), gates)
    assert verdict.status == "low_confidence" and "repeating itself" in verdict.reason


def test_a_single_take_back_is_not_torn_by_readings_that_mean_something_else() -> None:
    gates = Gates(depths=-0.7, findings=-0.2, commands=-1.2, undo_pause_end=-0.6)
    once = heard(("Scratch that.", -0.1), ("3.", -0.9), ("Next tooth.", -1.0))
    assert judge_choice(once, choose(once), gates).status == "ok"
