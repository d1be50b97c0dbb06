"""After an utterance that was not understood: what the cursor can still be trusted with.

- Nothing in it could have moved the cursor (no number-like word, nothing like "skip", "tooth", "next",
  "scratch that" in any reading): the cursor stays trusted and what follows is charted as usual.
- Otherwise the cursor is lost, and depths said without a tooth are refused with "which tooth?" until a
  tooth is named, rather than charted where the cursor may be: the repeat with the tooth charts them where
  they belong. A tooth named away from the path (understood, only perhaps misheard) still marks what follows.
- A resumed session (the journal's replay) does the same.
"""

from __future__ import annotations

from voicechart.asr.transcriber import Hypothesis, Transcript
from voicechart.dictation.choose import could_move_cursor, may_move_cursor
from voicechart.dictation.interpreter import interpret
from voicechart.exam.decide import CURSOR_KEPT_NOTE, decide
from voicechart.exam.resume import JournaledUtterance, replay
from voicechart.exam.session import LOST_NOTE, WHERE_NOTE, ExamSession
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
