"""One unclear word costs its own part of a breath, not the breath and every site after it.

- A partly understood utterance charts what came before its first unclear words (the findings it set are
  marked: the lost words may have added to them), stays flagged for a repeat, and leaves the cursor
  uncertain; a resumed session replays it the same way.
- Findings close a tooth side: depths that did not fill whole sides ("6 5, bleeding distal") do not push
  every later value one site along.
- "Resume listening" is taken even when the recognizer was unsure of it.
"""

from __future__ import annotations

from voicechart.dictation.commands import Side
from voicechart.dictation.interpreter import interpret
from voicechart.exam.decide import HEARD_PART_NOTE, decide, heard_part
from voicechart.exam.path import Position, ToothSide
from voicechart.exam.resume import JournaledUtterance, replay
from voicechart.exam.session import LOST_NOTE, PARTIAL_NOTE, UNCLEAR_AFTER_NOTE, WHERE_NOTE, ExamSession
from voicechart.pms.records import BLANK, MeasureRow, SequenceType


def probing(session: ExamSession, tooth: int) -> tuple[int, ...]:
    row = session.rows.get((SequenceType.PROBING, tooth))
    return row.sites if row else (BLANK,) * 6


def new_exam() -> ExamSession:
    """Tooth 1 missing: the path starts on tooth 2 facial (distal first: "3 2 4" is DB 3, B 2, MB 4)."""
    return ExamSession(rows=[MeasureRow(SequenceType.SKIP_TOOTH, 1, tooth_value=1)])


def notes_on(session: ExamSession, seq: SequenceType, tooth: int) -> set[str]:
    return {n for (s, t, _), ns in session.flagged_sites.items() if (s, t) == (seq, tooth) for n in ns}


UNCLEAR = "3 2 4, bleeding distal, 2 2 3, bleeding interclock signal, 5 4 6"


def test_the_words_before_an_unclear_one_are_charted_and_the_utterance_stays_flagged() -> None:
    session = new_exam()
    decision = decide(session, interpret(UNCLEAR))
    assert decision.status == "flagged" and HEARD_PART_NOTE in decision.flags
    assert "Not charted after that" in decision.readback and "interclock signal" in decision.readback
    assert decision.outcome is not None and decision.outcome.speak
    assert probing(session, 2)[:3] == (4, 2, 3) and probing(session, 3)[:3] == (3, 2, 2)
    assert probing(session, 4) == (BLANK,) * 6  # "5 4 6" came after the unclear words: not charted
    assert not notes_on(session, SequenceType.PROBING, 2) and not notes_on(session, SequenceType.PROBING, 3)
    assert UNCLEAR_AFTER_NOTE in notes_on(session, SequenceType.BLEED_SUP_PLAQ_CALC, 2)  # may lack a flag
    assert not session.rows.get((SequenceType.BLEED_SUP_PLAQ_CALC, 3))  # "bleeding" lost its sites
    edits = decision.outcome.edits if decision.outcome else ()
    assert {e.tooth for e in edits if e.sequence_type is SequenceType.PROBING} == {2, 3}
    # what followed is unknown: depths without a tooth are refused (which tooth?) until a tooth is named
    refused = decide(session, interpret("4 4 4"))
    assert refused.status == "flagged" and WHERE_NOTE in refused.flags
    assert probing(session, 4) == (BLANK,) * 6
    decide(session, interpret("tooth 4 facial 4 4 4"))
    assert probing(session, 4)[:3] == (4, 4, 4) and not notes_on(session, SequenceType.PROBING, 4)


def test_nothing_is_charted_when_the_unclear_words_come_first_or_something_else_precedes_them() -> None:
    for text in ("interclock signal 3 2 4", "scratch that, 3 2 4 grumble", "tooth 5 interclock 3 2 4"):
        session = new_exam()
        decision = decide(session, interpret(text))
        assert decision.status == "flagged" and HEARD_PART_NOTE not in decision.flags, text
        assert not session.rows.get((SequenceType.PROBING, 2)), text


def test_depths_cut_short_by_the_unclear_words_are_left_for_the_repeat() -> None:
    assert len(heard_part(interpret("3 2 4, 2 2 interclock"))) == 0  # "3 2 4 2 2" is one run of five
    session = new_exam()
    decision = decide(session, interpret("3 2 4, bleeding distal, 2 2 interclock"))
    assert HEARD_PART_NOTE in decision.flags
    assert probing(session, 2)[:3] == (4, 2, 3) and probing(session, 3) == (BLANK,) * 6


def assert_resume_replays(said: list[str]) -> None:
    """The journal's resume rebuilds the session these utterances made, each as it was decided."""
    live = new_exam()
    journaled = []
    for text in said:
        decision = decide(live, interpret(text))
        journaled.append(JournaledUtterance(decision.status, text, "; ".join(decision.flags)))
    rebuilt = new_exam()
    replay(rebuilt, journaled, "universal")
    assert rebuilt.rows == live.rows and rebuilt.cursor == live.cursor
    assert rebuilt.flagged_sites == live.flagged_sites


def test_a_resumed_session_replays_a_partly_heard_utterance_as_it_was_decided() -> None:
    assert_resume_replays(["3 3 3", UNCLEAR, "tooth 4 facial 5 4 6"])


def test_findings_close_a_tooth_side_whose_depths_lost_a_value() -> None:
    session = new_exam()
    decide(session, interpret("6 5, bleeding distal, furcation grade 1, 4 1 5, bleeding mesial"))
    assert probing(session, 2)[1:3] == (5, 6) and probing(session, 2)[0] == BLANK  # DB 6, B 5: MB lost
    assert PARTIAL_NOTE in notes_on(session, SequenceType.PROBING, 2)
    assert probing(session, 3)[:3] == (5, 1, 4)  # the next side, where it was said
    assert not notes_on(session, SequenceType.PROBING, 3)
    decide(session, interpret("2 2 2"))
    assert probing(session, 4)[:3] == (2, 2, 2) and not notes_on(session, SequenceType.PROBING, 4)


def test_findings_close_a_tooth_side_that_gained_a_value() -> None:
    session = new_exam()
    decide(session, interpret("3 2 4 4, bleeding distal, 4 1 5"))
    assert probing(session, 3)[:3] == (5, 1, 4)  # the stray fourth value was replaced, not shifted on
    assert probing(session, 4) == (BLANK,) * 6


def test_a_triplet_split_across_utterances_still_completes_its_side() -> None:
    session = new_exam()
    decide(session, interpret("3 2"))
    decide(session, interpret("4"))
    decide(session, interpret("2 2 2"))
    assert probing(session, 2)[:3] == (4, 2, 3) and probing(session, 3)[:3] == (2, 2, 2)
    assert not notes_on(session, SequenceType.PROBING, 2)


def test_an_unsure_resume_listening_still_resumes() -> None:
    session = new_exam()
    decide(session, interpret("3 2 4"))
    decide(session, interpret("pause"))
    assert session.paused
    decision = decide(session, interpret("resume listening"), low_confidence="recognizer unsure")
    assert decision.status == "applied" and not session.paused
    assert decide(session, interpret("2 2 2")).status == "applied"


def test_a_finding_whose_sites_were_lost_at_the_end_leaves_the_cursor_where_it_was() -> None:
    session = new_exam()
    decision = decide(session, interpret("3 2 4, bleeding interclock signal"))
    assert decision.status == "flagged" and HEARD_PART_NOTE in decision.flags
    assert probing(session, 2)[:3] == (4, 2, 3)
    assert not session.rows.get((SequenceType.BLEED_SUP_PLAQ_CALC, 2))
    decide(session, interpret("2 2 2"))
    assert probing(session, 3)[:3] == (2, 2, 2) and not notes_on(session, SequenceType.PROBING, 3)


def test_unclear_words_that_may_hold_a_number_leave_the_cursor_uncertain() -> None:
    for text in ("3 2 4, bleeding interclock 5", "3 2 4, bleeding interclock signal, 2 2 3"):
        session = new_exam()
        decide(session, interpret(text))
        assert probing(session, 2)[:3] == (4, 2, 3), text
        assert decide(session, interpret("2 2 2")).status == "flagged", text  # which tooth?
        assert probing(session, 3) == (BLANK,) * 6, text


def test_a_finding_on_a_named_side_whose_sites_were_lost_is_not_charted_on_the_whole_side() -> None:
    session = new_exam()
    decide(session, interpret("3 2 4"))
    said = "tooth 3 facial 2 2 3, bleeding on tooth 3 facial interclock signal"
    decision = decide(session, interpret(said))
    assert HEARD_PART_NOTE in decision.flags and probing(session, 3)[:3] == (3, 2, 2)
    assert not session.rows.get((SequenceType.BLEED_SUP_PLAQ_CALC, 3))


def test_a_repeat_that_is_again_partly_heard_keeps_the_findings_marked() -> None:
    session = new_exam()
    said = "tooth 2 facial 3 2 4, bleeding on tooth 2 facial distal, supplication on tooth 2 facial distal"
    for _ in range(2):  # the first hearing and a repeat, both losing "suppuration"
        assert HEARD_PART_NOTE in decide(session, interpret(said)).flags
    assert UNCLEAR_AFTER_NOTE in notes_on(session, SequenceType.BLEED_SUP_PLAQ_CALC, 2)


def test_nothing_is_charted_from_part_of_a_breath_when_the_cursor_is_in_doubt() -> None:
    session = new_exam()
    decide(session, interpret("3 2 4"))  # tooth 2 facial
    decide(session, interpret("bleeding on tooth 9 distal"))  # a tooth named away from the one being charted
    assert not session.lost and not session.cursor_trusted
    decision = decide(session, interpret(UNCLEAR))
    assert decision.status == "flagged" and HEARD_PART_NOTE not in decision.flags
    assert probing(session, 3) == (BLANK,) * 6
    # a breath that names its tooth (near where the exam was) does not depend on the cursor
    decision = decide(session, interpret("tooth 4 facial 2 2 3, bleeding distal, interclock signal 5 4 6"))
    assert HEARD_PART_NOTE in decision.flags and probing(session, 4) != (BLANK,) * 6


def test_a_tooth_named_far_from_where_a_lost_cursor_was_is_marked() -> None:
    session = new_exam()
    decide(session, interpret("3 2 4"))  # tooth 2 facial
    decide(session, interpret("3 2 free"), low_confidence="recognizer unsure")  # the cursor is lost
    assert session.lost
    decide(session, interpret("tooth 4 facial 2 2 3"))  # two sides on: where the exam was, re-anchors
    assert not notes_on(session, SequenceType.PROBING, 4) and not session.lost
    decide(session, interpret("3 2 free"), low_confidence="recognizer unsure")
    decide(session, interpret("tooth 13 facial 2 2 3"))  # nine sides on (30 heard as 13?): marked
    assert any(n.startswith("charted on tooth 13") for n in notes_on(session, SequenceType.PROBING, 13))


def test_values_that_run_over_values_charted_before_leave_the_cursor_in_doubt() -> None:
    session = new_exam()
    decide(session, interpret("3 2 4"))  # tooth 2 facial
    decide(session, interpret("2 2 2"))  # tooth 3 facial
    session.cursor = Position(ToothSide(2, Side.FACIAL), 0)  # the cursor is not where the speaker is
    decide(session, interpret("5 5 5"))  # replaces tooth 2's values without "correction"
    assert session.lost
    decide(session, interpret("4 4 4"))
    assert LOST_NOTE in notes_on(session, SequenceType.PROBING, 3)


REPEAT = "tooth 4 facial 3 3, bleeding distal, tooth 5 facial 4 3 3, bleeding mid, mobility 1"
"""A repeat with the tooth whose first side lost a value: the second side names itself."""


def test_a_side_named_after_the_unclear_words_is_charted_where_it_says() -> None:
    session = new_exam()
    decide(session, interpret("3 2 4, 2 2 3"))  # teeth 2 and 3 facial: the cursor is on tooth 4 facial
    decision = decide(session, interpret(REPEAT))
    assert decision.status == "flagged" and HEARD_PART_NOTE in decision.flags
    assert "Not charted:" in decision.readback and "Repeat it, with the tooth" in decision.readback
    assert probing(session, 4) == (BLANK,) * 6  # the side that lost a value waits for the repeat
    assert probing(session, 5)[:3] == (3, 3, 4) and not notes_on(session, SequenceType.PROBING, 5)
    bleeding = session.rows[(SequenceType.BLEED_SUP_PLAQ_CALC, 5)]
    assert bleeding.sites[1] and not bleeding.sites[0] and not bleeding.sites[2]  # mid only
    assert session.rows[(SequenceType.MOBILITY, 5)].tooth_value == 1
    assert not session.rows.get((SequenceType.BLEED_SUP_PLAQ_CALC, 4))  # "bleeding distal" was tooth 4's
    assert {e.tooth for e in decision.outcome.edits} == {5} if decision.outcome else False
    assert decide(session, interpret("2 2 2")).status == "applied"  # the named side set the cursor
    assert probing(session, 6)[:3] == (2, 2, 2) and not notes_on(session, SequenceType.PROBING, 6)


def test_a_side_named_far_from_where_the_cursor_may_be_or_after_a_command_is_not_charted() -> None:
    session = new_exam()
    decide(session, interpret("3 2 4"))  # tooth 2 facial
    decision = decide(session, interpret("tooth 3 facial 2 2, tooth 14 facial 3 3 3"))  # "14" for "4"?
    assert decision.status == "flagged" and HEARD_PART_NOTE not in decision.flags
    assert probing(session, 14) == (BLANK,) * 6 and probing(session, 3) == (BLANK,) * 6
    session = new_exam()
    decide(session, interpret("3 2 4"))
    decision = decide(session, interpret("tooth 3 facial 2 2, scratch that, tooth 4 facial 3 3 3"))
    assert HEARD_PART_NOTE not in decision.flags and probing(session, 4) == (BLANK,) * 6


def test_a_resumed_session_replays_the_sides_named_after_the_unclear_words() -> None:
    assert_resume_replays(["3 2 4, 2 2 3", REPEAT, "2 2 2"])
