"""After an utterance that was not understood: what the cursor can still be trusted with.

- Nothing in it could have moved the cursor (no number-like word, nothing like "skip", "tooth", "next",
  "scratch that" in any reading): the cursor stays trusted and what follows is charted as usual.
- Otherwise the cursor is lost, and depths said without a tooth are refused with "which tooth?" until a
  tooth is named, rather than charted where the cursor may be: the repeat with the tooth charts them where
  they belong. A tooth named away from the path (understood, only perhaps misheard) still marks what follows.
- The refused depths wait for the answer: when the next utterance only names a tooth ("tooth 3 facial"), they
  are charted from there, with what came with them; anything else charted or not understood drops them.
- A resumed session (the journal's replay) does the same.
"""

from __future__ import annotations

from dataclasses import replace

from voicechart.asr.transcriber import Hypothesis, Transcript
from voicechart.dictation.choose import choose, could_move_cursor, may_move_cursor
from voicechart.dictation.interpreter import interpret
from voicechart.exam.decide import ANSWER_UNSURE_NOTE, CURSOR_KEPT_NOTE, decide
from voicechart.exam.resume import JournaledUtterance, replay
from voicechart.exam.session import LOST_NOTE, LOST_READBACK, WHERE_NOTE, WHERE_UNKNOWN_NOTE, ExamSession
from voicechart.guards import Gates, judge_choice
from voicechart.pms.records import BLANK, MeasureRow, SequenceType


def new_exam(**options: bool) -> ExamSession:
    """Tooth 1 missing: the path starts on tooth 2 facial (distal first: "3 2 4" is DB 3, B 2, MB 4)."""
    return ExamSession(rows=[MeasureRow(SequenceType.SKIP_TOOTH, 1, tooth_value=1)], **options)


def probing(session: ExamSession, tooth: int) -> tuple[int, ...]:
    row = session.rows.get((SequenceType.PROBING, tooth))
    return row.sites if row else (BLANK,) * 6


def marks(session: ExamSession) -> set[str]:
    return {n for notes in session.flagged_sites.values() for n in notes}


def transcript(*readings: str) -> Transcript:
    hypotheses = tuple(Hypothesis(text, -0.3 - 0.1 * i) for i, text in enumerate(readings))
    return Transcript(readings[0], -0.3, 0.0, alternatives=hypotheses)


def test_what_could_have_moved_the_cursor() -> None:
    for text in ("3 2 4 grumble", "Tooth for", "ship", "skipped that one", "next", "Where was my?",
                 "scratch that", "go to the lingual", "to"):  # fmt: skip
        assert could_move_cursor(text), text
    for text in ("capitalist mesial", "Start virial and man.", "black mid", "interclock signal", "uh huh"):
        assert not could_move_cursor(text), text
    # every reading counts: one of them with a number is enough
    assert may_move_cursor(transcript("capitalist mesial", "capitalist 3"))
    assert not may_move_cursor(transcript("capitalist mesial", "capitalists mesial"))


def test_an_unclear_utterance_with_nothing_cursor_like_keeps_the_cursor() -> None:
    session = new_exam()
    decide(session, interpret("3 2 4"))
    unclear = interpret("calculus interclock signal")  # "calculus interproximal", not understood
    decision = decide(session, unclear, may_move_cursor=False)
    assert decision.status == "flagged" and CURSOR_KEPT_NOTE in decision.flags
    assert session.cursor_trusted
    assert decide(session, interpret("2 2 2")).status == "applied"
    assert probing(session, 3)[:3] == (2, 2, 2) and not marks(session)


def test_depths_without_a_tooth_while_the_cursor_is_lost_are_refused_until_a_tooth_is_named() -> None:
    session = new_exam()
    decide(session, interpret("3 2 4"))
    decide(session, interpret("3 2 grumble"))  # a triplet? "skip"? the cursor is lost
    assert session.lost
    refused = decide(session, interpret("2 2 2"))
    assert refused.status == "flagged" and refused.flags == [WHERE_NOTE]
    assert "which tooth" in refused.readback and probing(session, 3) == (BLANK,) * 6
    assert decide(session, interpret("tooth 3 facial 2 2 2, 3 3 3")).status == "applied"
    assert probing(session, 3)[:3] == (2, 2, 2) and probing(session, 4)[:3] == (3, 3, 3)
    assert not session.lost and LOST_NOTE not in marks(session)


def test_without_asking_the_values_are_charted_where_the_cursor_was_and_marked() -> None:
    session = new_exam(ask_where_when_lost=False)
    decide(session, interpret("3 2 4"))
    decide(session, interpret("3 2 grumble"))
    assert decide(session, interpret("2 2 2")).status == "applied"
    assert LOST_NOTE in marks(session)


def test_a_tooth_named_away_from_the_path_marks_what_follows_and_does_not_ask() -> None:
    session = new_exam()
    decide(session, interpret("tooth 9 facial 3 2 3"))  # understood; perhaps a misheard tooth number
    decision = decide(session, interpret("3 2 3"))
    assert decision.status == "applied" and LOST_NOTE in marks(session)


def test_a_resumed_session_keeps_and_loses_the_cursor_as_the_live_one_did() -> None:
    live = new_exam()
    said = [
        ("3 2 4", True),
        ("calculus interclock signal", False),
        ("2 2 2", True),
        ("3 3 grumble", True),
        ("4 4 4", True),
    ]
    journaled = []
    for text, moves in said:
        decision = decide(live, interpret(text), may_move_cursor=moves)
        journaled.append(JournaledUtterance(decision.status, text, "; ".join(decision.flags)))
    assert [j.status for j in journaled] == ["applied", "flagged", "applied", "flagged", "flagged"]
    rebuilt = new_exam()
    replay(rebuilt, journaled, "universal")
    assert rebuilt.rows == live.rows and rebuilt.cursor == live.cursor and rebuilt.lost == live.lost
    assert rebuilt.flagged_sites == live.flagged_sites
    assert rebuilt.cursor_trusted == live.cursor_trusted


def lost_after_two_sides() -> ExamSession:
    session = new_exam()
    decide(session, interpret("3 2 4"))
    decide(session, interpret("3 2 grumble"))  # a triplet? "skip"? the cursor is lost
    assert session.lost
    return session


def test_the_refused_depths_wait_for_the_tooth_and_are_charted_where_it_is_named() -> None:
    session = lost_after_two_sides()
    refused = decide(session, interpret("2 2 2, bleeding distal, 3 1 3"))
    assert refused.status == "flagged" and refused.flags == [WHERE_NOTE] and session.awaiting_tooth
    assert "say the tooth" in refused.readback and probing(session, 4) == (BLANK,) * 6
    answer = decide(session, interpret("tooth 4 facial"))
    assert answer.status == "applied" and not answer.flags
    assert probing(session, 4)[:3] == (2, 2, 2) and probing(session, 5)[:3] == (3, 1, 3)
    assert probing(session, 3) == (BLANK,) * 6  # the side that was not understood stays blank
    bleeding = session.rows[(SequenceType.BLEED_SUP_PLAQ_CALC, 4)].sites
    assert bleeding[2] & 1  # distal of tooth 4 facial (DB)
    assert not session.awaiting_tooth and not session.lost
    assert not [key for key in session.flagged_sites if key[1] in (4, 5)]  # charted as if said with the tooth
    assert decide(session, interpret("4 4 4")).status == "applied"  # the path goes on from there
    assert probing(session, 6)[:3] == (4, 4, 4)
    for _ in range(3):  # "scratch that" takes back one command at a time: 4 4 4, then the answer's
        assert decide(session, interpret("scratch that")).status == "applied"
    assert probing(session, 6) == (BLANK,) * 6 and probing(session, 5) == (BLANK,) * 6
    assert not session.awaiting_tooth  # taken back, not waiting again: "tooth 9" is only a move now


def test_only_an_answer_that_names_just_a_tooth_charts_what_waited() -> None:
    for other in ("4 4 4", "tooth 4 facial 1 1 1", "bleeding distal", "calculus interclock signal"):
        session = lost_after_two_sides()
        decide(session, interpret("2 2 2"))
        assert session.awaiting_tooth
        decide(session, interpret(other))
        assert 2 not in probing(session, 4) + probing(session, 3), other  # the waiting values were dropped
        assert not session.awaiting_tooth or other == "4 4 4", other  # refused again: these wait now
    session = lost_after_two_sides()
    decide(session, interpret("2 2 2"))
    assert decide(session, interpret("Thank you, that is fine.")).status == "transcript_only"
    assert session.awaiting_tooth  # talk with the patient does not drop them
    session.fits(interpret("tooth 4 facial").commands)  # nor does a dry run
    assert session.awaiting_tooth
    assert decide(session, interpret("tooth 4")).status == "applied" and probing(session, 4)[:3] == (2, 2, 2)


def test_a_resumed_session_charts_the_answer_as_the_live_one_did() -> None:
    live = new_exam()
    said = ["3 2 4", "3 2 grumble", "2 2 2, bleeding distal", "tooth 4 facial", "3 3 3"]
    journaled = []
    for text in said:
        decision = decide(live, interpret(text))
        journaled.append(JournaledUtterance(decision.status, text, "; ".join(decision.flags)))
    assert [j.status for j in journaled] == ["applied", "flagged", "flagged", "applied", "applied"]
    rebuilt = new_exam()
    replay(rebuilt, journaled, "universal")
    assert probing(live, 4)[:3] == (2, 2, 2) and probing(live, 5)[:3] == (3, 3, 3)
    assert rebuilt.rows == live.rows and rebuilt.cursor == live.cursor and rebuilt.lost == live.lost
    assert rebuilt.flagged_sites == live.flagged_sites


def test_an_answer_far_from_where_the_exam_was_is_charted_there_and_marked() -> None:
    session = lost_after_two_sides()
    decide(session, interpret("2 2 2"))
    assert decide(session, interpret("tooth 13 facial")).status == "applied"  # "tooth 4"? 13 is far off
    assert probing(session, 13)[:3] == (2, 2, 2)
    assert any("named away from the path" in n for n in marks(session))


def test_the_reading_that_answers_near_where_the_exam_was_is_chosen_and_judged_as_depths() -> None:
    session = lost_after_two_sides()
    decide(session, interpret("2 2 2"))
    heard = transcript("Tooth 13 facial.", "Tooth 3 facial.")  # the beam's top is a tooth far off
    choice = choose(heard, "universal", session.fits)
    assert choice.text == "Tooth 3 facial." and session.answers(choice.interpretation.commands)
    gates = Gates(depths=-0.7, findings=-0.2, commands=-0.6)
    unsure = replace(choice, hypothesis=Hypothesis(choice.text, -0.45))  # confidence 0.64
    assert judge_choice(heard, unsure, gates).status == "low_confidence"  # as a tooth number alone
    assert judge_choice(heard, unsure, gates, answering=True).status == "ok"  # as the depths it charts


def test_a_tooth_named_far_off_while_lost_charts_all_it_was_said_with_marked() -> None:
    session = lost_after_two_sides()
    decision = decide(
        session, interpret("tooth 13 facial 2 2 2, bleeding distal, 3 3 3")
    )  # not refused for 3 3 3
    assert decision.status == "applied"
    assert probing(session, 13)[:3] == (2, 2, 2) and probing(session, 14)[:3] == (3, 3, 3)
    assert LOST_NOTE in marks(session) and any("named away from the path" in n for n in marks(session))


def test_missing_without_a_tooth_while_lost_is_refused_and_waits_for_the_tooth() -> None:
    session = lost_after_two_sides()
    refused = decide(session, interpret("missing"))  # which tooth is missing? not where the cursor may be
    assert refused.status == "flagged" and refused.flags == [WHERE_NOTE]
    assert session.skipped == frozenset({1})  # tooth 1 was missing from the start
    assert decide(session, interpret("tooth 4")).status == "applied"
    assert session.skipped == frozenset({1, 4})
    assert decide(session, interpret("tooth 6 missing")).status == "applied"  # named: charted as said
    assert session.skipped == frozenset({1, 4, 6})


def test_an_unsure_answer_keeps_what_waited_for_the_answer_said_again_and_the_resume_does_the_same() -> None:
    live = new_exam()
    said = [("3 2 4", ""), ("scratch that", ""), ("3 2 grumble", ""), ("2 2 2", ""),
            ("tooth 4 facial", "recognizer unsure"), ("tooth 4 facial", ""), ("3 3 3", "")]  # fmt: skip
    # (nothing charted before the unsure answer: its flag names no values marked for an "undo")
    journaled = []
    for text, unsure in said:
        decision = decide(live, interpret(text), low_confidence=unsure)
        journaled.append(JournaledUtterance(decision.status, text, "; ".join(decision.flags)))
        if unsure:
            assert ANSWER_UNSURE_NOTE in decision.flags and "say the tooth again" in decision.readback.lower()
            assert live.awaiting_tooth
    assert [j.status for j in journaled] == ["applied"] * 2 + ["flagged"] * 3 + ["applied"] * 2
    assert probing(live, 4)[:3] == (2, 2, 2) and probing(live, 5)[:3] == (3, 3, 3)  # said again: charted
    rebuilt = new_exam()
    replay(rebuilt, journaled, "universal")
    assert (
        rebuilt.rows == live.rows
        and rebuilt.cursor == live.cursor
        and rebuilt.flagged_sites == live.flagged_sites
    )
    not_an_answer = lost_after_two_sides()
    decide(not_an_answer, interpret("2 2 2"))
    decide(not_an_answer, interpret("4 4 grumble"), low_confidence="recognizer unsure")
    assert not not_an_answer.awaiting_tooth  # anything else not heard surely drops what waited


def test_where_was_i_while_the_cursor_is_lost_says_so_and_changes_nothing() -> None:
    session = new_exam()
    decide(session, interpret("3 2 4"))
    decide(session, interpret("3 2 grumble"))  # the cursor is lost
    waiting = decide(session, interpret("2 2 2"))  # refused: "which tooth?", the values wait for it
    assert waiting.flags == [WHERE_NOTE] and session.awaiting_tooth
    cursor = session.cursor
    answer = decide(session, interpret("where was I"))
    assert answer.status == "flagged" and answer.flags == [WHERE_UNKNOWN_NOTE]
    assert answer.readback == LOST_READBACK  # a guess read back would be charted as fact
    assert session.lost and session.cursor == cursor and session.awaiting_tooth
    assert decide(session, interpret("tooth 3 facial")).status == "applied"  # what waited is charted
    assert probing(session, 3)[:3] == (2, 2, 2)
    decide(session, interpret("scratch that"))  # takes back the 2 2 2, not the "where was I"
    assert probing(session, 3) == (BLANK,) * 6 and probing(session, 2) != (BLANK,) * 6


def test_where_was_i_with_values_while_lost_charts_nothing_and_asks_for_the_tooth() -> None:
    session = new_exam()
    decide(session, interpret("3 2 4"))
    decide(session, interpret("3 2 grumble"))
    answer = decide(session, interpret("where was I 2 2 2"))
    assert answer.status == "flagged" and answer.readback == LOST_READBACK
    assert all(probing(session, t) == (BLANK,) * 6 for t in range(3, 17))


def test_a_resumed_session_answers_where_was_i_as_the_live_one_did() -> None:
    live = new_exam()
    journaled = []
    for text in ("3 2 4", "3 2 grumble", "2 2 2", "where was I"):
        decision = decide(live, interpret(text))
        journaled.append(JournaledUtterance(decision.status, text, "; ".join(decision.flags)))
    rebuilt = new_exam()
    replay(rebuilt, journaled, "universal")
    assert rebuilt.rows == live.rows and rebuilt.cursor == live.cursor and rebuilt.lost == live.lost
    assert rebuilt.awaiting_tooth == live.awaiting_tooth


def test_where_was_i_after_a_tooth_named_off_the_path_says_where_the_cursor_is() -> None:
    session = new_exam()
    decide(session, interpret("3 2 4"))
    decide(session, interpret("tooth 9 facial 3 2 3"))  # understood; perhaps a misheard tooth number
    answer = decide(session, interpret("where was I"))  # the first blank site, as ever: tooth 3 facial
    assert answer.readback == "At tooth 3 facial distal" and session.cursor_trusted
    decide(session, interpret("2 2 2"))
    assert probing(session, 3)[:3] == (2, 2, 2) and LOST_NOTE not in marks(session)
