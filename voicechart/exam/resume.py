"""Resume an exam after the process died: rebuild the session from what the journal holds.

The journal has every utterance of the interrupted session, in order, with the words acted on and what
became of them (applied, flagged, …), and every chart edit with the row before and after it. The session is
rebuilt by starting from the chart as it was when the session began (the PMS's rows, with each edited row
taken back to its value before the session's first edit of it) and applying the utterances again, exactly
as `decide` did: charted utterances are applied, flagged ones hold their tooth sides or mark the cursor as
uncertain. The cursor, the undo stack ("scratch that" right after a restart takes back the utterance before
it) and the review marks come back with it. The rows are then checked against the journal's last edit of
each; where they differ (they should not), the journal wins: it is what the PMS holds or will hold.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from voicechart.dictation.commands import Depths, ResumeListening
from voicechart.dictation.interpreter import interpret
from voicechart.dictation.numbering import Numbering
from voicechart.dictation.unsure import marks_in_reason
from voicechart.exam.decide import (
    ANSWER_UNSURE_NOTE,
    CURSOR_KEPT_NOTE,
    HEARD_PART_NOTE,
    UNCONFIRMED_REASON,
    chart_heard_part,
    review_marks,
)
from voicechart.exam.session import HELD_NOTE, WHERE_NOTE, WHERE_UNKNOWN_NOTE, ExamSession
from voicechart.pms.records import MeasureRow, SequenceType, row_from_json

log = logging.getLogger("voicechart.resume")
NOT_OPENED = "the exam could not be opened"


@dataclass(frozen=True, slots=True)
class JournaledUtterance:
    status: str  # applied | flagged | transcript_only | noise | note
    text: str  # the words acted on
    flag_reason: str = ""


@dataclass(frozen=True, slots=True)
class JournaledEdit:
    sequence_type: int
    tooth: int
    before: dict[str, Any] | None
    after: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ResumeReport:
    utterances: int  # utterances of the interrupted session replayed into the session
    edits: int  # chart edits the session had journaled
    corrected_rows: int  # rows where the replay differed from the journal (the journal's value was kept)


def rows_at_start(current: Iterable[MeasureRow], edits: Sequence[JournaledEdit]) -> list[MeasureRow]:
    """The chart when the session began: the PMS's rows, each edited row as it was before its first edit."""
    rows = {(r.sequence_type, r.tooth): r for r in current}
    seen: set[tuple[SequenceType, int]] = set()
    for edit in edits:
        key = (SequenceType(edit.sequence_type), edit.tooth)
        if key in seen:
            continue
        seen.add(key)
        before = row_from_json(edit.sequence_type, edit.tooth, edit.before)
        if before is None:
            rows.pop(key, None)
        else:
            rows[key] = before
    return list(rows.values())


def replay(session: ExamSession, utterances: Iterable[JournaledUtterance], numbering: Numbering) -> int:
    """Apply the journaled utterances to a session built from `rows_at_start`; returns how many."""
    count = 0
    charting = False  # before the first charted utterance there was no session: flags changed nothing
    for utt in utterances:
        count += 1
        if utt.status == "applied":
            interpretation = interpret(utt.text, numbering)
            if session.paused:  # as decide: only "resume listening" is taken from a paused utterance
                session.apply((ResumeListening(),))
            else:
                unsure = marks_in_reason(interpretation, utt.flag_reason)
                session.apply(interpretation.commands, guessed=review_marks(interpretation, unsure))
            charting = True
        elif utt.status == "flagged" and charting and not utt.flag_reason.startswith(NOT_OPENED):
            _flagged(session, utt, numbering)
    return count


def _flagged(session: ExamSession, utt: JournaledUtterance, numbering: Numbering) -> None:
    partly_heard = HEARD_PART_NOTE in utt.flag_reason.split("; ")
    if partly_heard and chart_heard_part(session, interpret(utt.text, numbering)) is not None:
        return
    held = held_sides(utt.flag_reason)
    if held and session.hold(held, utt.flag_reason).held:
        return
    if WHERE_UNKNOWN_NOTE in utt.flag_reason.split("; "):  # "where was I" answered "not known": no change
        return
    if ANSWER_UNSURE_NOTE in utt.flag_reason.split("; "):
        session.note_not_understood(cursor_uncertain=True, may_take_back=False, refused=True)
        return
    if CURSOR_KEPT_NOTE in utt.flag_reason.split("; "):
        session.note_not_understood(cursor_uncertain=False)
        return
    interpretation = interpret(utt.text, numbering)
    commands = interpretation.commands
    if interpretation.accepted and not session.applies(commands):  # refused by the session: not "undo"
        if WHERE_NOTE in utt.flag_reason.split("; "):
            session.apply(commands)  # refused again: its depths wait for the tooth, as they did
        session.note_not_understood(
            cursor_uncertain=any(isinstance(c, Depths) for c in commands), may_take_back=False, refused=True
        )
    else:  # not understood, or not trusted; what came before was marked only if it might have been "undo"
        session.note_not_understood(
            cursor_uncertain=True, may_take_back=UNCONFIRMED_REASON in utt.flag_reason
        )


def held_sides(flag_reason: str) -> int:
    """How many tooth sides a flagged utterance held ("tooth 5 facial and tooth 5 lingual: not charted…")."""
    for part in flag_reason.split("; "):
        if part.endswith(HELD_NOTE):
            return part.count("tooth ")
    return 0


def reconcile(session: ExamSession, edits: Sequence[JournaledEdit]) -> int:
    """Make every row the session edited equal the journal's last edit of it; returns how many differed."""
    last: dict[tuple[int, int], JournaledEdit] = {}
    for edit in edits:
        last[(edit.sequence_type, edit.tooth)] = edit
    differed = 0
    for (seq, tooth), edit in last.items():
        journaled = row_from_json(seq, tooth, edit.after)
        assert journaled is not None
        if session.row(SequenceType(seq), tooth) != journaled:
            differed += 1
            session.set_row(journaled)
    if differed:
        log.warning(
            "resumed exam: %d rows differed from the journal after the replay; kept its rows", differed
        )
    return differed
