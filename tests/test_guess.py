"""A finding or site word the recognizer misspelt is guessed only where that makes a charting utterance
understood, never in talk, never as a number, tooth or command, and what it charts is marked for review."""

from __future__ import annotations

from voicechart.asr.transcriber import Hypothesis, Transcript
from voicechart.dictation.choose import choose
from voicechart.dictation.commands import Flag, FlagKind, Mobility
from voicechart.dictation.guess import guess
from voicechart.dictation.interpreter import interpret
from voicechart.exam.decide import decide
from voicechart.exam.session import ExamSession
from voicechart.pms.records import MeasureRow, SequenceType


def test_clear_misspellings_are_guessed_and_the_rest_is_not() -> None:
    assert guess("black") == "plaque"
    assert guess("nobility") == "mobility"
    assert guess("interroximal") == "interproximal"
    assert guess("leeding") == "bleeding"
    assert guess("mistail") == "distal"
    for word in ("grumble", "signal", "goods", "patient", "tooth", "skip", "next", "four", "out", "ill"):
        assert guess(word) is None, word
    assert guess("plaque") is None  # a word already understood is not a guess


def test_words_the_recognizer_writes_for_a_finding_are_guessed_like_misspellings_and_marked() -> None:
    """voicechart.dictation.guess.MISHEARD, learned from the dev voices (`bench misheard`)."""
    interpretation = interpret("3 3 3. Plant distal.")
    assert interpretation.accepted and interpretation.guessed == ((3, "plaque"),)
    assert interpretation.commands[-1] == Flag(FlagKind.PLAQUE, parts=interpretation.commands[-1].parts)
    assert interpretation.guessed_notes() == {1: "heard “plant”, taken for plaque: check it"}
    assert interpret("4 2 5, bleeding good").guessed == ((4, "mid"),)
    session = ExamSession(rows=[MeasureRow(SequenceType.SKIP_TOOTH, 1, tooth_value=1)])
    assert decide(session, interpret("3 3 3. Plant distal.")).status == "applied"
    assert session.flagged_sites, "what a guess charts is marked for review"
    for talk in ("that looks good", "good job", "a plant in the window", "we will send you home"):
        assert not interpret(talk).accepted, talk  # talk stays talk: a guess must make it understood


def test_a_guess_that_makes_the_utterance_understood_is_taken_and_named() -> None:
    interpretation = interpret("3 2 4, black mid")
    assert interpretation.accepted and interpretation.guessed == ((3, "plaque"),)  # words: 3 2 4 black mid
    assert interpretation.commands[-1] == Flag(FlagKind.PLAQUE, parts=interpretation.commands[-1].parts)
    assert interpretation.guessed_notes() == {1: "heard “black”, taken for plaque: check it"}
    assert isinstance(interpret("nobility 2").commands[0], Mobility)


def test_no_guess_where_it_would_not_make_the_whole_utterance_understood_or_in_talk() -> None:
    assert not interpret("3 2 4, black mid grumble").accepted  # still not understood: no guess kept
    assert not interpret("3 2 4, black mid grumble").guessed
    talk = interpret("how are you feeling today")  # "feeling" is not "bleeding": talk stays talk
    assert talk.is_chatter and not talk.guessed
    assert not interpret("3 2 4, black mid", guess_words=False).accepted


def test_what_a_guess_charts_is_marked_for_review() -> None:
    session = ExamSession(rows=[MeasureRow(SequenceType.SKIP_TOOTH, 1, tooth_value=1)])
    decision = decide(session, interpret("3 2 4, black mid"))
    assert decision.status == "applied"
    marked = dict(session.flagged_sites)
    assert [key for key in marked if key[0] is SequenceType.BLEED_SUP_PLAQ_CALC] == [
        (SequenceType.BLEED_SUP_PLAQ_CALC, 2, "B")
    ]
    assert not [key for key in marked if key[0] is SequenceType.PROBING]  # the depths were heard as said
    assert session.cursor_trusted


def test_a_reading_heard_as_said_beats_one_understood_by_a_guess() -> None:
    transcript = Transcript(
        "3 2 4, black mid",
        -0.2,
        0.0,
        alternatives=(Hypothesis("3 2 4, black mid", -0.2), Hypothesis("3 2 4, bleeding mid", -0.5)),
    )
    choice = choose(transcript)
    assert choice.text == "3 2 4, bleeding mid" and not choice.interpretation.guessed
