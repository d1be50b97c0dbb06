"""The safety invariants of the interpreter and the exam session, checked on arbitrary text: shared by the
Hypothesis tests and the coverage-guided fuzzer (bench/fuzz_dictation.py).

For any transcript, in any chart state:
- the interpreter and the session never raise;
- the chart changes only through an utterance the grammar accepted whole, as a command, or through the
  charting commands a partly understood utterance held before its first unclear words (then flagged);
- every row the session writes is one the PMS accepts (Open Dental's ranges: nothing is ever clipped or
  invented);
- an edit's "before" is the row as it was, so the PMS ends with exactly what the session holds.
"""

from __future__ import annotations

from collections.abc import Iterable

from voicechart.dictation.interpreter import interpret
from voicechart.dictation.numbering import Numbering
from voicechart.exam.decide import HEARD_PART_NOTE, anchored_parts, decide, heard_part
from voicechart.exam.session import ExamSession
from voicechart.pms.sandbox.connector import validate_measure


class InvariantBroken(AssertionError):
    pass


def check_utterance(session: ExamSession, text: str, numbering: Numbering = "universal") -> int:
    """Interpret and decide one transcript on `session`; raise InvariantBroken if a safety rule breaks.
    Returns how many chart edits it made."""
    interpretation = interpret(text, numbering)
    rows_before = dict(session.rows)
    decision = decide(session, interpretation)
    partly = decision.status == "flagged" and HEARD_PART_NOTE in decision.flags
    charted = decision.status == "applied" or partly
    edits = decision.outcome.edits if decision.outcome is not None and charted else ()
    if not charted and session.rows != rows_before:
        raise InvariantBroken(f"{text!r}: the chart changed although the utterance was {decision.status}")
    heard = heard_part(interpretation) or anchored_parts(interpretation)
    if edits and not interpretation.accepted and not (partly and heard):
        raise InvariantBroken(f"{text!r}: the chart changed without a whole, valid command")
    for edit in edits:
        key = (edit.sequence_type, edit.tooth)
        if edit.before != rows_before.get(key):
            raise InvariantBroken(f"{text!r}: edit of {key} does not start from the row as it was")
        if session.rows.get(key, edit.after) != edit.after:
            raise InvariantBroken(f"{text!r}: edit of {key} is not what the session holds")
        try:
            validate_measure(edit.after)
        except Exception as exc:
            raise InvariantBroken(f"{text!r}: wrote a row the PMS refuses: {exc}") from exc
    return len(edits)


def check_dictation(texts: Iterable[str], numbering: Numbering = "universal") -> int:
    """A whole dictation on one session, utterance by utterance; returns the number of edits made."""
    session = ExamSession(numbering=numbering)
    return sum(check_utterance(session, text, numbering) for text in texts)
