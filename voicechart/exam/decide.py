"""What becomes of one understood (or not understood) utterance: charted, flagged, or transcript only.

Shared by the live pipeline and the simulations in tests and benchmarks, so both follow the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from voicechart.dictation.commands import Depths, Interpretation, ResumeListening
from voicechart.exam.session import ExamSession, Outcome

Status = Literal["applied", "flagged", "transcript_only"]


@dataclass(frozen=True, slots=True)
class Decision:
    status: Status
    flags: list[str] = field(default_factory=list)
    outcome: Outcome | None = None

    @property
    def readback(self) -> str:
        """What to say back: the session's readback, or why nothing was charted and how to go on."""
        if self.status == "flagged" and (self.outcome is None or not self.outcome.readback):
            return f"Not charted: {self.flags[0]}. Please repeat, with the tooth."
        return self.outcome.readback if self.outcome else ""


def decide(
    session: ExamSession | None,
    interpretation: Interpretation,
    *,
    low_confidence: str = "",
    spoken_sides: int = 0,
) -> Decision:
    """Apply an interpretation to the session, or flag it. `session` may be None before any command was
    accepted (nothing to apply to yet); `low_confidence` is the recognizer's reason to distrust the text;
    `spoken_sides` is how many tooth sides of depths the utterance clearly was (voicechart.dictation.choose),
    whose place a flagged utterance then holds instead of losing the cursor."""
    if interpretation.is_chatter:
        return Decision("transcript_only")
    if session is not None and session.paused:
        if not any(isinstance(c, ResumeListening) for c in interpretation.commands):
            return Decision("transcript_only", ["paused"])
        interpretation = Interpretation(interpretation.words, (ResumeListening(),))
    reasons = [low_confidence] if low_confidence else [r.reason for r in interpretation.rejected]
    if reasons or session is None:
        if session is not None and spoken_sides and not session.paused:
            held = session.hold(spoken_sides, reasons[0] if reasons else "not understood")
            if held.held:
                return Decision("flagged", [*reasons, held.flagged], held)
        if session is not None:
            unconfirmed = session.note_not_understood(cursor_uncertain=True)
            if unconfirmed:
                reasons.append("values charted just before are marked for review: " + ", ".join(unconfirmed))
        return Decision("flagged", reasons or ["not understood"])
    outcome = session.apply(interpretation.commands)
    if outcome.flagged and not outcome.applied:
        had_depths = any(isinstance(c, Depths) for c in interpretation.commands)
        session.note_not_understood(cursor_uncertain=had_depths)
        return Decision("flagged", [outcome.flagged], outcome)
    return Decision("applied", [outcome.flagged] if outcome.flagged else [], outcome)
