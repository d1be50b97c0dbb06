"""Values said while the exam is paused are not charted, and the hygienist is told so (a "pause" she forgot,
or a "resume listening" that was not heard, would otherwise lose every value after it in silence); talk to
the patient while paused stays silent transcript."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tests.scripted_pipeline import run
from voicechart.dictation.interpreter import interpret
from voicechart.exam.decide import PAUSED, STILL_PAUSED_READBACK, decide
from voicechart.exam.resume import JournaledUtterance, replay
from voicechart.exam.session import ExamSession
from voicechart.feedback.earcons import Earcon, earcon_for
from voicechart.journal.store import Journal
from voicechart.pms.records import BLANK, MeasureRow, SequenceType
from voicechart.pms.sandbox import SandboxConnector


def probing(session: ExamSession, tooth: int) -> tuple[int, ...]:
    row = session.rows.get((SequenceType.PROBING, tooth))
    return row.sites if row else (BLANK,) * 6


def paused_exam() -> ExamSession:
    session = ExamSession(rows=[MeasureRow(SequenceType.SKIP_TOOTH, 1, tooth_value=1)])
    decide(session, interpret("3 2 4"))
    decide(session, interpret("pause"))
    assert session.paused
    return session


def test_values_said_while_paused_are_not_charted_and_the_readback_says_so() -> None:
    session = paused_exam()
    for said in ("2 2 3", "bleeding distal", "tooth 5 lingual 3 3 3", "next tooth", "skip"):
        decision = decide(session, interpret(said))
        assert decision.status == "transcript_only" and decision.flags == [PAUSED], said
        assert decision.readback == STILL_PAUSED_READBACK, said
    assert probing(session, 2)[:3] == (4, 2, 3) and probing(session, 3) == (BLANK,) * 6
    assert decide(session, interpret("resume listening")).status == "applied"
    assert decide(session, interpret("2 2 3")).status == "applied"
    assert probing(session, 3)[:3] == (3, 2, 2), "charted where the exam was paused"


def test_talk_while_paused_stays_silent() -> None:
    session = paused_exam()
    for said in ("we will see you in six months", "does that hurt", "grumble 3 2"):
        decision = decide(session, interpret(said))
        assert decision.status == "transcript_only" and not decision.readback, said


def test_values_heard_unsure_while_paused_stay_silent() -> None:
    session = paused_exam()  # a reading the recognizer doubts may be talk: no reminder on a guess
    decision = decide(session, interpret("2 2 3"), low_confidence="recognizer unsure")
    assert decision.status == "transcript_only" and not decision.readback


def test_a_resume_misheard_in_its_first_word_still_resumes() -> None:
    for heard in ("Rehoom listening.", "Presume listening", "listening", "Resume lazily.", "Resume. Resume."):
        session = paused_exam()
        assert decide(session, interpret(heard)).status == "applied", heard
        assert not session.paused, heard


def test_talk_about_listening_does_not_resume() -> None:
    session = paused_exam()
    talk = ("Are you listening to me?", "we will resume after the x-ray", "stop listening", "not listening")
    for heard in (*talk, "pause listening", "Receive place again."):
        assert decide(session, interpret(heard)).status == "transcript_only", heard
        assert session.paused, heard


def test_a_resumed_session_replays_a_misheard_resume_the_same_way() -> None:
    said = ["3 2 4", "pause", "2 2 3", "Rehoom listening.", "2 2 3"]
    live = ExamSession(rows=[MeasureRow(SequenceType.SKIP_TOOTH, 1, tooth_value=1)])
    journaled = []
    for text in said:
        decision = decide(live, interpret(text))
        journaled.append(JournaledUtterance(decision.status, text, "; ".join(decision.flags)))
    resumed = ExamSession(rows=[MeasureRow(SequenceType.SKIP_TOOTH, 1, tooth_value=1)])
    replay(resumed, journaled, "universal")
    assert not resumed.paused and resumed.rows == live.rows
    assert probing(live, 3)[:3] == (3, 2, 2)


def test_a_command_heard_unsure_is_asked_again_as_said_and_values_with_the_tooth() -> None:
    session = ExamSession(rows=[MeasureRow(SequenceType.SKIP_TOOTH, 1, tooth_value=1)])
    decide(session, interpret("3 2 4"))
    for said in ("pause", "scratch that", "end exam", "next tooth"):
        decision = decide(session, interpret(said), low_confidence="recognizer unsure (confidence 0.50)")
        assert decision.status == "flagged", said
        assert decision.readback == "Not done: recognizer unsure (confidence 0.50). Say it again", said
    assert not session.paused and not session.ended and probing(session, 2)[:3] == (4, 2, 3)
    unsure_values = decide(session, interpret("2 2 3"), low_confidence="recognizer unsure (confidence 0.50)")
    assert unsure_values.readback.endswith("Please repeat, with the tooth.")


def test_the_reminder_plays_the_flagged_earcon_and_talk_plays_none() -> None:
    assert earcon_for("transcript_only", [], STILL_PAUSED_READBACK) is Earcon.FLAGGED
    assert earcon_for("transcript_only", [], "") is None


def test_through_the_pipeline_values_while_paused_are_said_back_and_nothing_reaches_the_pms(
    sandbox: tuple[SandboxConnector, sa.Engine, Journal], tmp_path: Path
) -> None:
    connector = sandbox[0]
    said = ["Start perio exam.", "3 2 4.", "Pause.", "2 2 3.", "Resume listening.", "2 2 3."]
    pipeline, results = run(sandbox, tmp_path, [(text, -0.1) for text in said])
    reminded = results[3]
    assert reminded.status == "transcript_only" and not reminded.edits
    assert reminded.readback == STILL_PAUSED_READBACK and reminded.speak
    assert pipeline.exam is not None
    in_the_pms = connector.read_chart(pipeline.exam.exam_num)[SequenceType.PROBING]
    assert in_the_pms[1].sites[:3] == (4, 2, 3)  # "3 2 4" (distal first)
    assert in_the_pms[2].sites[:3] == (3, 2, 2), "resumed: '2 2 3' on the next side"
    assert [r.status for r in results[4:]] == ["applied", "applied"]
