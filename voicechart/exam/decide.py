"""What becomes of one understood (or not understood) utterance: charted, flagged, or transcript only.

Shared by the live pipeline and the simulations in tests and benchmarks, so both follow the same rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from voicechart.dictation.choose import could_move_cursor
from voicechart.dictation.commands import (
    Command,
    Depths,
    Flag,
    Furcation,
    GoTo,
    Interpretation,
    Mobility,
    Mucogingival,
    Recession,
    ResumeListening,
    SiteDepth,
    Skip,
    Step,
)
from voicechart.dictation.unsure import add_mark
from voicechart.exam.edits import ChartEdit
from voicechart.exam.session import LOST_READBACK, WHERE_UNKNOWN_NOTE, ExamSession, Outcome
from voicechart.pms.records import SequenceType

HEARD_PART_NOTE = "charted what came before it"
"""Part of a flag reason: the utterance was charted up to the words that were not understood (see
`chart_heard_part`); the journal's resume replays it the same way."""

CURSOR_KEPT_NOTE = "nothing in it could have moved the cursor"
"""Part of a flag reason: no reading of the utterance held a number or a word of a command that moves the
cursor (voicechart.dictation.choose.may_move_cursor), the cursor stays trusted; the resume does the same."""

ANSWER_UNSURE_NOTE = "what waits for the tooth still waits: say the tooth again"
"""Part of a flag reason: the answer to "which tooth?" ("tooth 8 lingual") was heard with too little
confidence to chart what waited for it; what waited keeps waiting for the answer said again (the resume does
the same)."""

UNCONFIRMED_REASON = "values charted just before are marked for review"
"""Part of a flag reason: the utterance might have been "undo" or a correction, so what was charted just
before it is marked; the resume marks it again only then."""

RESUME_WORDS = 3
"""At most this many words in an utterance that resumes by "resume" or "listening" alone (see `resumes`)."""

PAUSED = "paused"
"""The flag of an utterance kept as transcript only because the exam was paused ("pause")."""

STILL_PAUSED_READBACK = "Paused: not charted. Say resume listening, then say it again"
"""Said when values are dictated while paused (see `_while_paused`)."""

CHARTING = (Depths, SiteDepth, Skip, Flag, Recession, Mucogingival, Furcation, Mobility)
"""Commands that may be charted from the heard part of an utterance: values on the path. Commands that
move elsewhere, take back, end or pause are acted on only when the whole utterance was understood."""

Status = Literal["applied", "flagged", "transcript_only"]


@dataclass(frozen=True, slots=True)
class Decision:
    status: Status
    flags: list[str] = field(default_factory=list)
    outcome: Outcome | None = None

    @property
    def says_still_paused(self) -> bool:
        """Values were said while the exam was paused: nothing was charted, and the readback says so."""
        return self.status == "transcript_only" and self.outcome is not None and PAUSED in self.flags

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
    may_move_cursor: bool = True,
    unsure: Mapping[int, str] | None = None,
) -> Decision:
    """Apply an interpretation to the session, or flag it. `session` may be None before any command was
    accepted (nothing to apply to yet); `low_confidence` is the recognizer's reason to distrust the text;
    `spoken_sides` is how many tooth sides of depths the utterance clearly was (voicechart.dictation.choose),
    whose place a flagged utterance then holds instead of losing the cursor; `may_move_cursor` False: no
    reading of it could have moved the cursor, so a flagged utterance leaves it trusted; `unsure`: review
    marks for the commands (by position) the recognizer may have written without hearing them: a word heard
    unsure, the prompt's own words (voicechart.dictation.unsure)."""
    if session is not None and session.paused:
        if not resumes(interpretation):
            return _while_paused(interpretation, low_confidence)
        interpretation = Interpretation(interpretation.words, (ResumeListening(),))
        # Resuming is taken even when the recognizer was unsure of it: it charts nothing by itself (what
        # follows passes its own checks), and a "resume listening" refused leaves the rest unheard.
        low_confidence = ""
    elif interpretation.is_chatter:
        return Decision("transcript_only")
    reasons = [low_confidence] if low_confidence else [r.reason for r in interpretation.rejected]
    if session is not None and not low_confidence and interpretation.rejected and not session.paused:
        heard = chart_heard_part(session, interpretation)
        if heard is not None:
            only_before = heard.applied == heard_part(interpretation)
            not_charted = "Not charted after that" if only_before else "Not charted"
            readback = f"{heard.readback}. {not_charted}: {reasons[0]}. Repeat it, with the tooth"
            said = replace(heard, readback=readback, speak=True)  # a repeat is asked for: always said
            return Decision("flagged", [*reasons, HEARD_PART_NOTE], said)
    if reasons or session is None:
        if session is not None and spoken_sides and not session.paused:
            held = session.hold(spoken_sides, reasons[0] if reasons else "not understood")
            if held.held:
                return Decision("flagged", [*reasons, held.flagged], held)
        if session is not None and low_confidence and session.answers(interpretation.commands):
            # "which tooth?" answered, not heard surely: said again, it charts what waited (dropping it would
            # leave the hygienist repeating only the tooth, and the values she said before lost)
            session.note_not_understood(cursor_uncertain=True, may_take_back=False, refused=True)
            readback = f"Not charted: {reasons[0]}. Which tooth? Say the tooth again"
            return Decision("flagged", [*reasons, ANSWER_UNSURE_NOTE], Outcome(readback=readback, speak=True))
        if session is not None:
            if not may_move_cursor:
                session.note_not_understood(cursor_uncertain=False)
                return _refused(interpretation, [*(reasons or ["not understood"]), CURSOR_KEPT_NOTE])
            unconfirmed = session.note_not_understood(cursor_uncertain=True)
            if unconfirmed:
                reasons.append(f"{UNCONFIRMED_REASON}: " + ", ".join(unconfirmed))
        return _refused(interpretation, reasons or ["not understood"])
    if session.where_unknown(interpretation.commands):  # "where was I" while lost: nothing moves
        return Decision("flagged", [WHERE_UNKNOWN_NOTE], Outcome(readback=LOST_READBACK, speak=True))
    outcome = session.apply(interpretation.commands, guessed=review_marks(interpretation, unsure or {}))
    if outcome.flagged and not outcome.applied:
        had_depths = any(isinstance(c, Depths) for c in interpretation.commands)
        session.note_not_understood(
            cursor_uncertain=had_depths, may_take_back=False, refused=True
        )  # understood: not "undo"
        return Decision("flagged", [outcome.flagged], outcome)
    return Decision("applied", [outcome.flagged] if outcome.flagged else [], outcome)


def review_marks(interpretation: Interpretation, unsure: Mapping[int, str]) -> dict[int, str]:
    """The review marks of an understood utterance's commands (by position): a guessed word's, the
    recognizer's doubt (`unsure`), or both."""
    marks = interpretation.guessed_notes()
    for position, note in unsure.items():
        add_mark(marks, position, note)
    return marks


def _refused(interpretation: Interpretation, flags: list[str]) -> Decision:
    """Flagged, nothing charted. A command that names no tooth and charts nothing ("pause", "scratch that",
    "next tooth" heard unsure) is asked again as it was said; anything else, with the tooth."""
    said = interpretation.commands
    if interpretation.accepted and not any(isinstance(c, (*CHARTING, GoTo)) for c in said):
        return Decision("flagged", flags, Outcome(readback=f"Not done: {flags[0]}. Say it again"))
    return Decision("flagged", flags)


def resumes(interpretation: Interpretation) -> bool:
    """Whether an utterance said while paused resumes: "resume listening", or a short one that holds
    "resume" or "listening" and does not stop ("Rehoom listening", "Resume lazily", "Resume. Resume."): the
    recognizer often gets one of the two words wrong, and a resume not heard loses every value said after
    it; while paused, nothing else is taken from what is said."""
    if any(isinstance(c, ResumeListening) for c in interpretation.commands):
        return True
    words = set(interpretation.words)  # lower case, without punctuation
    short = len(interpretation.words) <= RESUME_WORDS
    return short and bool(words & {"resume", "listening"}) and not words & {"stop", "pause", "not"}


def _while_paused(interpretation: Interpretation, low_confidence: str) -> Decision:
    """Paused, an utterance is transcript only. One that was plainly charting (understood, heard surely,
    values, findings or a move along the path) says so out loud: the hygienist has forgotten the pause, or
    her "resume listening" was not heard, and without a word every value she says after it is lost."""
    said = interpretation.commands
    charting = interpretation.accepted and any(isinstance(c, (*CHARTING, GoTo, Step)) for c in said)
    if not charting or low_confidence:
        return Decision("transcript_only", [PAUSED])
    return Decision("transcript_only", [PAUSED], Outcome(readback=STILL_PAUSED_READBACK, ignored=True))


def heard_part(interpretation: Interpretation) -> tuple[Command, ...]:
    """The charting commands an utterance holds before its first words that were not understood: in "3 2 4,
    bleeding distal, 2 2 3, bleeding interclock signal" everything up to "interclock signal". Left out, as
    their words may be in the unclear ones: depths just before them that do not fill whole tooth sides, and a
    finding just before them without its sites ("bleeding" + "interclock signal"). Empty when the utterance
    begins with what was not understood, or a command other than charting comes first."""
    if not interpretation.rejected:
        return ()
    first_unclear = _first_unclear(interpretation)
    heard: list[Command] = []
    for command in interpretation.commands:
        if command.span.end > first_unclear:
            break
        if not isinstance(command, CHARTING):
            return ()
        heard.append(command)
    if heard and _cut_short(heard[-1]):
        heard.pop()
    return tuple(heard)


def _first_unclear(interpretation: Interpretation) -> int:
    """The position of the first word that was not understood."""
    return min(r.span.start for r in interpretation.rejected)


def _cut_short(command: Command) -> bool:
    """Depths that do not fill whole tooth sides, or a finding without its sites: just before unclear words,
    the rest of it may be in them."""
    if isinstance(command, Depths):
        return len(command.values) % 3 != 0
    return isinstance(command, Flag) and not command.parts  # "bleeding on tooth 9 lingual" + unclear words


def anchored_parts(interpretation: Interpretation) -> tuple[tuple[Command, ...], ...]:
    """The runs after the first words that were not understood that begin by naming their tooth side, as a
    repeat with the tooth does ("tooth 14 lingual 3 3 [unclear], tooth 12 lingual 2 3 4, bleeding mesial"):
    each says where it goes, so it does not depend on what the unclear words did to the cursor. A run is the
    named depths and the charting that follows them up to the next unclear words (what comes just before
    those is left out as in `heard_part`). Empty when a command other than charting comes after the first
    unclear words (a "scratch that" or "tooth 5" there may have changed what the runs mean)."""
    if not interpretation.rejected:
        return ()
    first = _first_unclear(interpretation)
    unclear = [r.span for r in interpretation.rejected]
    runs: list[list[Command]] = []
    run: list[Command] | None = None
    end = first
    for command in interpretation.commands:
        if command.span.start < first:
            continue  # the heard part's
        if not isinstance(command, CHARTING):
            return ()
        if any(s.start < command.span.end and s.end > end for s in unclear):  # unclear words since the last
            if run and _cut_short(run[-1]):
                run.pop()
            run = None
        end = command.span.end
        if any(s.start < command.span.end and command.span.start < s.end for s in unclear):
            continue  # inside words that were not understood
        if _names_its_side(command):
            run = [command]
            runs.append(run)
        elif run is not None:
            run.append(command)
    if run and any(s.start >= run[-1].span.end for s in unclear) and _cut_short(run[-1]):
        run.pop()
    return tuple(tuple(r) for r in runs if r)


def _names_its_side(command: Command) -> bool:
    return (
        isinstance(command, Depths)
        and command.tooth is not None
        and command.side is not None
        and not command.correction
        and len(command.values) % 3 == 0
    )


def _unclear_after(interpretation: Interpretation, position: int) -> str:
    """The words from the first unclear one at or after `position` to the end ("" when none is)."""
    starts = [r.span.start for r in interpretation.rejected if r.span.start >= position]
    return " ".join(interpretation.words[min(starts) :]) if starts else ""


def chart_heard_part(session: ExamSession, interpretation: Interpretation) -> Outcome | None:
    """Chart what a partly understood utterance said before the words that were not understood, when it
    fits the chart where it is (no doubt about where it goes, and none about where the cursor was: it starts
    with a tooth, or the cursor is trusted), instead of losing the whole breath; then each run after the
    unclear words that names its tooth side (`anchored_parts`) and fits the chart from where the cursor may
    be. What was not understood is unknown, so after it the cursor is uncertain (depths from the cursor are
    marked until a tooth is named; not when only a finding's sites were lost at the end) and the utterance
    stays flagged for a repeat. None when there is nothing to chart this way."""
    heard = heard_part(interpretation)
    anchored = isinstance(heard[0], Depths | SiteDepth) and heard[0].tooth is not None if heard else False
    outcomes: list[Outcome] = []
    if heard and (anchored or session.cursor_trusted) and session.fits(heard):
        outcomes.append(session.apply(heard, unclear_after=True))
    runs = anchored_parts(interpretation)
    if not outcomes and not runs:
        return None  # values said from a cursor in doubt wait for the repeat with the tooth
    before_runs = session.snapshot()
    _after_unclear(session, _unclear_after(interpretation, 0))
    for run in runs:
        if not session.fits(run):
            continue  # a tooth named far from where the cursor may be: perhaps misheard
        later = _unclear_after(interpretation, run[-1].span.end)
        outcomes.append(session.apply(run, unclear_after=bool(later)))
        if later:
            _after_unclear(session, later)
    if not outcomes:
        session.restore(before_runs)  # no named side fits: nothing charted, the cursor as it was
        return None
    return _merged(outcomes)


def _after_unclear(session: ExamSession, unclear_words: str) -> None:
    """Where the cursor is after words that were not understood: lost when they hold anything number-like or
    like a command that moves the cursor; otherwise where it was (only a finding's sites were lost)."""
    if could_move_cursor(unclear_words):
        session.lose_cursor()
    else:
        session.forget_last_site()


def _merged(outcomes: list[Outcome]) -> Outcome:
    """Outcomes applied one after another as one: each row's edit from its first `before` to its last
    `after`."""
    if len(outcomes) == 1:
        return outcomes[0]
    edits: dict[tuple[SequenceType, int], ChartEdit] = {}
    for outcome in outcomes:
        for edit in outcome.edits:
            key = (edit.sequence_type, edit.tooth)
            first = edits.get(key)
            edits[key] = edit if first is None else replace(edit, before=first.before)
    return Outcome(
        tuple(edits.values()),
        ". ".join(o.readback for o in outcomes if o.readback),
        "; ".join(dict.fromkeys(o.flagged for o in outcomes if o.flagged)),
        applied=tuple(c for o in outcomes for c in o.applied),
        speak=any(o.speak for o in outcomes),
    )
