"""A hygienist dictating an exam to the session, through a (possibly corrupting) ear, by the same rules as
the live pipeline. When the system flags an utterance as not understood, she repeats it with the tooth
named, as the readback asks; a value that is never understood stays missing, never guessed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from voicechart.accuracy import Score, cell_keys, score_chart
from voicechart.asr.transcriber import Transcript
from voicechart.dictation.choose import spoken_sides
from voicechart.dictation.interpreter import interpret
from voicechart.dictation.numbering import Numbering
from voicechart.exam.decide import decide
from voicechart.exam.path import PathOrder
from voicechart.exam.session import ExamSession
from voicechart.pms.records import MeasureRow, SequenceType
from voicechart.simulate.exams import Exam
from voicechart.simulate.speech import Spoken


@dataclass(frozen=True, slots=True)
class Dictation:
    session: ExamSession
    score: Score
    utterances: int
    flagged: int  # utterances not charted (each repeated, up to the retry limit)
    wrong_unflagged: tuple[str, ...]  # chart cells that are wrong and not marked for review
    wrong_flagged: tuple[str, ...]  # wrong, but marked for review
    flagged_cells: int  # values written and marked for review

    @property
    def clean_accuracy(self) -> float:
        """Correct and not flagged for review, over all cells."""
        total = self.score.total
        return (self.score.correct - self.correct_flagged) / total if total else 1.0

    @property
    def correct_flagged(self) -> int:
        return self.flagged_cells - len(self.wrong_flagged)


def chart_of(session: ExamSession) -> dict[SequenceType, dict[int, MeasureRow]]:
    chart: dict[SequenceType, dict[int, MeasureRow]] = {}
    for (seq, tooth), row in session.rows.items():
        chart.setdefault(seq, {})[tooth] = row
    return chart


def flagged_cell_keys(session: ExamSession) -> set[str]:
    return cell_keys(session.flagged_sites)


def answers_which_tooth(session: ExamSession, utterance: Spoken, attempt: int) -> bool:
    """Whether the hygienist's next try at an utterance is only its tooth side ("tooth 8 lingual"): the
    session asked "which tooth?" for depths that wait; otherwise she says it again with the tooth named."""
    return attempt > 0 and session.awaiting_tooth and bool(utterance.where)


RESUME_LISTENING = "resume listening"
"""What the hygienist says first when told that the exam is still paused (Decision.says_still_paused)."""


def dictate(
    exam: Exam,
    spoken: list[Spoken],
    *,
    hear: Callable[[str], str] = lambda text: text,
    retries: int = 2,
    order: PathOrder = "maxillary_first",
    numbering: Numbering = "universal",
) -> Dictation:
    session = ExamSession(
        path_order=order,
        numbering=numbering,
        rows=[MeasureRow(SequenceType.SKIP_TOOTH, t, tooth_value=1) for t in sorted(exam.missing_known)],
    )
    utterances = flagged = 0
    for utterance in spoken:
        for attempt in range(retries + 1):
            utterances += 1
            asked_where = answers_which_tooth(session, utterance, attempt)
            heard = hear(utterance.where if asked_where else utterance.text(named=attempt > 0))
            sides = spoken_sides(Transcript(heard, 0.0, 0.0))
            decision = decide(session, interpret(heard, numbering), spoken_sides=sides)
            if decision.status == "applied":
                break
            if decision.says_still_paused:  # she says "resume listening", then the utterance again
                utterances += 1
                decide(session, interpret(hear(RESUME_LISTENING), numbering))
            flagged += 1  # flagged, or heard as no command at all: no confirmation, so she repeats
    score = score_chart(exam.expected_chart(), chart_of(session))
    flagged_keys = flagged_cell_keys(session)
    wrong = set(score.wrong_cells)
    return Dictation(
        session,
        score,
        utterances,
        flagged,
        tuple(sorted(wrong - flagged_keys)),
        tuple(sorted(wrong & flagged_keys)),
        len(flagged_keys),
    )
