"""The exam session: path, cursor, values, validation and undo. Applies commands, emits chart edits.

An utterance is applied atomically: if any of its commands cannot be applied, none is, and the utterance is
flagged. Each applied command that changed the chart or the cursor can be undone on its own ("undo" is
repeatable).

After an utterance with numbers in it was not understood, the session does not know whether the next
triplet repeats it or belongs to the next tooth: until the speaker names a tooth (or says "where was I"),
depths charted from the cursor are written but flagged for review, never silently as fact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from voicechart.dictation.commands import (
    GM_ABOVE_CEJ,
    Command,
    Depths,
    EndExam,
    ExamNote,
    Flag,
    FlagKind,
    Furcation,
    GoTo,
    Mobility,
    Mucogingival,
    Pause,
    ReadBack,
    Recession,
    Resume,
    ResumeListening,
    Side,
    SiteDepth,
    SitePart,
    Skip,
    StartExam,
    Step,
    Undo,
)
from voicechart.dictation.numbering import Numbering, from_universal
from voicechart.exam.edits import ChartEdit
from voicechart.exam.path import PathOrder, Position, ToothSide, site_column, site_order, tooth_sides
from voicechart.pms.records import BLANK, SITE_COLUMNS, BleedingFlags, MeasureRow, SequenceType

RowKey = tuple[SequenceType, int]
SiteKey = tuple[SequenceType, int, str]
IMPLAUSIBLE_CHANGE_MM = 4
DEEP_POCKET_MM = 5
MAX_DEPTH = 19
MAX_GRADE = 3
FLAG_BITS = {
    FlagKind.BLEEDING: BleedingFlags.BLOOD,
    FlagKind.SUPPURATION: BleedingFlags.SUPPURATION,
    FlagKind.PLAQUE: BleedingFlags.PLAQUE,
    FlagKind.CALCULUS: BleedingFlags.CALCULUS,
}
FINDINGS = (Flag, Recession, Mucogingival, Furcation, Mobility)
RUN_KEEPERS = (Depths, ReadBack, ExamNote, *FINDINGS)
"""Commands that do not end a run of depths (anything that moves the cursor does)."""
FINDING_ON_FLAGGED_NOTE = "a finding on a tooth side whose depths are marked for review"
FINDING_JUMP_NOTE = "a finding on a tooth named away from the one being charted: check the tooth number"
JUMP_NOTE = "charted on {named}, named away from the path ({expected} was next): check the tooth number"
FAR_WHILE_LOST = 4
"""Tooth sides along the path beyond which a tooth named while the cursor is lost is marked (see _far)."""
LOST_READBACK = "Not sure where you are since the unclear part. Say the tooth"
"""The answer to "where was I" while the cursor is lost after an utterance that was not understood: a guess
read back (the first blank site) would be charted as fact."""
WHERE_UNKNOWN_NOTE = "where was I: not known since an utterance that was not understood"
UNUSUAL_DEPTH_MM = 10
UNUSUAL_NOTE = "{value} mm: check it was not a single digit misheard (nine → nineteen)"
UNCONFIRMED_NOTE = "followed by an utterance that was not understood (was it 'undo' or a correction?)"
OVERWRITE_NOTE = "replaced {old} mm charted before without 'correction'"
UNCLEAR_AFTER_NOTE = "words after this finding were not understood: a finding may be missing"
PARTIAL_NOTE = "an incomplete tooth side: a depth may have been dropped or added"
LOST_NOTE = "charted without a tooth named after an utterance that was not understood: check the tooth"
WHERE_NOTE = "which tooth? After what was not understood I am not sure where you are: say the tooth"
"""Why depths (or "skip", "missing") said without a tooth were refused while the cursor is lost. What was
refused waits for the answer: a next utterance that only names a tooth ("tooth 8 lingual") charts it
there (see ExamSession.awaiting_tooth); saying it all again with the tooth works as well."""
HELD_NOTE = "not charted: its values were not heard clearly; say them again with the tooth"


NOT_UNDONE = (Undo, ReadBack, Pause, ResumeListening, ExamNote, StartExam, EndExam)
"""Commands "undo" steps over: they change neither the chart nor the cursor (an exam note is already in the
PMS; the clinic lead edits it there)."""


class CommandError(Exception):
    """A command that cannot be applied in the current chart state; the message is read back."""


@dataclass(slots=True)
class _Cursorish:
    cursor: Position | None
    last_site: tuple[ToothSide, SitePart] | None
    lost: bool
    run: tuple[SiteKey, ...]  # depths of a tooth side not yet complete, said from its first site
    run_start: Position | None = None  # where that run began (the first site of a tooth side)
    run_closed: bool = False  # a finding came after the run: its tooth side is over (see _close_run)
    doubted: bool = False  # the last utterance charted was marked for where its values went
    unheard: bool = False  # lost because an utterance was not understood (not a tooth named off the path)


@dataclass(slots=True)
class _Entry:
    """What one command changed: the rows before it, and where the cursor was."""

    rows: dict[RowKey, MeasureRow | None]
    flags: dict[SiteKey, tuple[str, ...] | None]
    before: _Cursorish
    description: str = ""
    held: dict[ToothSide, str] = field(default_factory=dict)  # held sides this command filled
    holds: tuple[ToothSide, ...] = ()  # sides this entry held (ExamSession.hold)


@dataclass(slots=True)
class _State:
    rows: dict[RowKey, MeasureRow]
    flags: dict[SiteKey, tuple[str, ...]]
    held: dict[ToothSide, str]
    where: _Cursorish
    started: bool
    ended: bool
    paused: bool
    readback_enabled: bool
    undo: list[_Entry]
    awaiting: _Awaiting | None


@dataclass(frozen=True, slots=True)
class _Awaiting:
    """Commands refused only because the cursor was lost (WHERE_NOTE), waiting for the tooth."""

    commands: tuple[Command, ...]
    guessed: Mapping[int, str]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one utterance did: edits to write, what to say back, and why it was flagged (if it was)."""

    edits: tuple[ChartEdit, ...] = ()
    readback: str = ""
    flagged: str = ""
    ended: bool = False
    started: bool = False
    applied: tuple[Command, ...] = field(default=())
    notes: tuple[str, ...] = ()  # exam-note text to append to the PMS exam
    held: tuple[ToothSide, ...] = ()  # tooth sides left blank for a repeat (see ExamSession.hold)
    ignored: bool = False  # paused: the utterance was kept as transcript only
    speak: bool = True  # whether the readback should be spoken (readback on, or something needs attention)


class ExamSession:
    """State of one perio exam for one patient."""

    def __init__(
        self,
        *,
        path_order: PathOrder = "maxillary_first",
        numbering: Numbering = "universal",
        rows: Iterable[MeasureRow] = (),
        previous: Iterable[MeasureRow] = (),
        readback_enabled: bool = True,
        ask_where_when_lost: bool = True,
    ) -> None:
        """`ask_where_when_lost`: depths said without a tooth while the cursor is lost are refused and the
        tooth asked for (WHERE_NOTE), not charted where the cursor may be and marked (False: the latter,
        kept to measure the difference in bench/corpus_eval.py)."""
        self.ask_where_when_lost = ask_where_when_lost
        self.path_order: PathOrder = path_order
        self.numbering: Numbering = numbering
        self._sides = tooth_sides(path_order)
        self.rows: dict[RowKey, MeasureRow] = {(r.sequence_type, r.tooth): r for r in rows}
        self.flagged_sites: dict[SiteKey, tuple[str, ...]] = {}
        """Values written but to be reviewed, and why."""
        self.held: dict[ToothSide, str] = {}
        """Tooth sides left blank because their utterance was not heard clearly, and why."""
        self._new_notes: list[str] = []
        self._run: tuple[SiteKey, ...] = ()
        self._run_start: Position | None = None
        self._run_closed = False
        self._doubted = False
        self._unheard = False
        self._previous = {(r.sequence_type, r.tooth): r for r in previous}
        self._undo: list[_Entry] = []
        self._awaiting: _Awaiting | None = None
        self.last_site: tuple[ToothSide, SitePart] | None = None
        self.cursor: Position | None = self.first_empty_site()
        self.lost = False
        self.started = False
        self.ended = False
        self.paused = False
        self.readback_enabled = readback_enabled

    # --- reading -------------------------------------------------------------------------------------------
    @property
    def skipped(self) -> frozenset[int]:
        return frozenset(
            t for (st, t), r in self.rows.items() if st is SequenceType.SKIP_TOOTH and r.tooth_value == 1
        )

    def value(self, seq: SequenceType, tooth: int, column: str) -> int:
        row = self.rows.get((seq, tooth))
        return row.site(column) if row else BLANK

    def first_empty_site(self) -> Position | None:
        skipped = self.skipped
        for ts in self._sides:
            if ts.tooth in skipped:
                continue
            for i, part in enumerate(site_order(self.path_order, ts)):
                if self.value(SequenceType.PROBING, ts.tooth, site_column(ts, part)) == BLANK:
                    return Position(ts, i)
        return None

    def name(self, ts: ToothSide) -> str:
        return f"tooth {from_universal(ts.tooth, self.numbering)} {ts.side.value}"

    def tooth_name(self, tooth: int) -> str:
        return f"tooth {from_universal(tooth, self.numbering)}"

    def describe_cursor(self) -> str:
        if self.cursor is None:
            return "the end of the path"
        ts = self.cursor.tooth_side
        part = site_order(self.path_order, ts)[self.cursor.site_index]
        return f"{self.name(ts)} {part.value}"

    def note_not_understood(
        self, *, cursor_uncertain: bool, may_take_back: bool = True, refused: bool = False
    ) -> list[str]:
        """An utterance was flagged and not charted. A finding without a tooth ("bleeding distal") must not
        land on the tooth charted before it. And when it is unknown what was said (a triplet? "undo"?
        "skip"?), the cursor may be off: depths from the cursor are flagged until a tooth is named. Unless
        it cannot have been "undo" or a correction (`may_take_back` False: it was understood), what was
        charted just before is marked for review. `refused`: it was understood and refused by the session
        (which kept what waits for a tooth, or not, as it refused it); otherwise what waited is dropped (it
        was not the tooth asked for)."""
        self.last_site = None
        self.lost = self.lost or cursor_uncertain
        self._unheard = self._unheard or cursor_uncertain
        if not refused:
            self._awaiting = None
        if not cursor_uncertain or not may_take_back or not self._undo:
            return []
        # it may have been "undo" or a correction of what was charted just before: mark that for review
        cells = []
        for key in self._changed_sites(self._undo[-1]):
            if UNCONFIRMED_NOTE not in self.flagged_sites.get(key, ()):
                self.flagged_sites[key] = (*self.flagged_sites.get(key, ()), UNCONFIRMED_NOTE)
            cells.append(f"tooth {key[1]} {key[2] or key[0].name.lower()}")
        return cells

    def _changed_sites(self, entry: _Entry) -> list[SiteKey]:
        """Sites (column "" for a whole-tooth value) whose value the entry's command set."""
        out: list[SiteKey] = []
        for (seq, tooth), before in entry.rows.items():
            now = self.rows.get((seq, tooth))
            if now is None:
                continue
            if seq in (SequenceType.MOBILITY, SequenceType.SKIP_TOOTH):
                if before is None or before.tooth_value != now.tooth_value:
                    out.append((seq, tooth, ""))
                continue
            for i, column in enumerate(SITE_COLUMNS):
                was = before.sites[i] if before else BLANK
                if now.sites[i] != was and now.sites[i] not in (
                    BLANK,
                    0 if seq is SequenceType.BLEED_SUP_PLAQ_CALC else BLANK,
                ):
                    out.append((seq, tooth, column))
        return out

    def fits(self, commands: Sequence[Command]) -> bool:
        """Whether these commands would apply here without a review mark about where they go (a dry run;
        nothing changes). Marks about the values themselves (a big change since the last exam, a pocket of
        10 mm or more) do not count: a reading must not win because its values look ordinary."""
        state = self._snapshot_all()
        try:
            outcome = self.apply(commands)
            doubts = [n for n in self._new_notes if not _is_about_value(n)]
        finally:
            self._restore(state)
        return bool(outcome.applied) and not outcome.ignored and not doubts

    def applies(self, commands: Sequence[Command]) -> bool:
        """Whether these commands can be applied here at all (a dry run; nothing changes)."""
        state = self._snapshot_all()
        try:
            outcome = self.apply(commands)
        finally:
            self._restore(state)
        return bool(outcome.applied) or outcome.ignored or not outcome.flagged

    def snapshot(self) -> object:
        """Everything the session holds (chart, cursor, undo), to put back with `restore`."""
        return self._snapshot_all()

    def restore(self, snapshot: object) -> None:
        """Back to a `snapshot`: what an utterance did that could not be stored is undone."""
        assert isinstance(snapshot, _State)
        self._restore(snapshot)

    def row(self, seq: SequenceType, tooth: int) -> MeasureRow:
        """The chart's row for (sequence type, tooth), blank if there is none."""
        return self._row_or_blank((seq, tooth))

    def set_row(self, row: MeasureRow) -> None:
        """Put a row in the chart as it is known to be (resuming an exam from the journal); not undoable."""
        self.rows[(row.sequence_type, row.tooth)] = row

    def hold(self, sides: int, reason: str) -> Outcome:
        """An utterance that was clearly `sides` tooth sides of depths, but not heard clearly enough to chart:
        those sides stay blank and marked, and the cursor moves past them, so what follows lands where it
        belongs. Saying them again with the tooth fills them ("tooth 5 facial 3 2 4") and leaves the cursor
        where it is. Returns an empty Outcome when the cursor is not at the start of a tooth side. "Undo" or
        "scratch that" right after takes the hold back (the cursor returns to the held side): what was just
        said is what people take back, not the values charted before it."""
        if self.cursor is None or self.cursor.site_index != 0 or self.paused or sides < 1 or self.lost:
            return Outcome()
        self._awaiting = None
        held: list[ToothSide] = []
        before = self._where()
        position: Position | None = self.cursor
        while position is not None and len(held) < sides:
            held.append(position.tooth_side)
            position = self._next_side(position.tooth_side)
        for ts in held:
            self.held[ts] = reason
        self.cursor, self.last_site, self._run = position, None, ()
        names = " and ".join(self.name(ts) for ts in held)
        self._undo.append(_Entry({}, {}, before, f"the unclear {names}", holds=tuple(held)))
        return Outcome(
            readback=f"{names} not charted. Say it again with the tooth",
            flagged=f"{names}: {HELD_NOTE}",
            held=tuple(held),
        )

    @property
    def awaiting_tooth(self) -> bool:
        """Whether the last utterance's depths were refused only because the cursor was lost ("which tooth?")
        and wait for the answer: if the next utterance only names a tooth ("tooth 8 lingual"), they are
        charted from there, as if said with it. Anything else that is charted or not understood drops them
        (talk with the patient and noise do not)."""
        return self._awaiting is not None

    def where_unknown(self, commands: Sequence[Command]) -> bool:
        """Whether these commands ask "where was I" while the cursor is lost after an utterance that was not
        understood: the answer is that it is not known (LOST_READBACK), and nothing changes, what waits for
        the tooth included."""
        lost = self.lost and self._unheard and self.ask_where_when_lost
        return lost and any(isinstance(c, Resume) for c in commands)

    @property
    def cursor_trusted(self) -> bool:
        """Whether the cursor can be taken as where the speaker is: not lost, and the last utterance charted
        had no doubt about where its values went (a tooth named away from the path, an incomplete side, a
        value replaced without "correction")."""
        return not self.lost and not self._doubted

    def lose_cursor(self) -> None:
        """Something after the last charted value was not understood (the rest of a partly heard breath): the
        cursor may be off, so depths from it are marked until a tooth is named, and a finding without a tooth
        does not land on the last site. What was charted stays as it is."""
        self.last_site = None
        self.lost = self._unheard = True

    def forget_last_site(self) -> None:
        self.note_not_understood(cursor_uncertain=False)

    # --- applying ------------------------------------------------------------------------------------------
    def apply(
        self,
        commands: Sequence[Command],
        *,
        unclear_after: bool = False,
        guessed: Mapping[int, str] | None = None,
    ) -> Outcome:
        """Apply an utterance's commands atomically. `unclear_after`: these are the heard part of an utterance
        whose later words were not understood; the findings they set are marked, since the words that were
        lost may have added to the same sites ("bleeding distal, [plaque distal]"). `guessed`: review marks
        for the commands (by position) built on a guessed word (Interpretation.guessed_notes)."""
        guessed = guessed or {}
        if self.paused and not any(isinstance(c, ResumeListening) for c in commands):
            return Outcome(ignored=True, speak=False)
        answered = self._answer(commands)
        if answered is not None:  # "tooth 8 lingual" after "which tooth?": what waited is charted from there
            commands, guessed = _said_with_the_tooth(commands[0], answered)
        state_before = self._snapshot_all()
        self._awaiting = None
        self._new_notes = []
        rows_before: dict[RowKey, MeasureRow | None] = {}
        readbacks: list[str] = []
        entries: list[_Entry] = []
        notes: list[str] = []
        speak = False
        try:
            for position, command in enumerate(commands):
                if self._unheard and self.ask_where_when_lost and _from_the_cursor(command):
                    raise CommandError(WHERE_NOTE)  # "which tooth?": never charted where it may not belong
                entry = _Entry({}, {}, self._where())
                expected = self._teeth_in_play()
                text = self._apply_one(command, entry, notes)
                note = ""
                if entry.before.lost and not isinstance(command, NOT_UNDONE) and not _names_a_tooth(command):
                    note = LOST_NOTE
                elif isinstance(command, FINDINGS) and _named_elsewhere(command, expected, entry.before.lost):
                    note = FINDING_JUMP_NOTE
                elif isinstance(command, FINDINGS) and command.tooth is None and self._depths_flagged(entry):
                    note = FINDING_ON_FLAGGED_NOTE
                elif isinstance(command, FINDINGS) and unclear_after:
                    note = UNCLEAR_AFTER_NOTE
                elif position in guessed:
                    note = guessed[position]
                # every site it wrote, changed or not: writing a site resets its marks, so a value set again
                # (a repeat, a bleeding flag already there) would otherwise lose the mark it had
                sites = dict.fromkeys([*self._changed_sites(entry), *entry.flags]) if note else {}
                for site in sites:
                    self._set_notes(entry, site, (*self.flagged_sites.get(site, ()), note))
                for key, before in entry.rows.items():
                    rows_before.setdefault(key, before)
                entry.description = text
                # a tooth named: found again (named off the path the cursor stays lost, but for a tooth
                # named, not for words unheard: what follows is charted and marked, not refused)
                self._unheard = self._unheard and self.lost and not _names_a_tooth(command)
                if not isinstance(command, NOT_UNDONE):
                    entries.append(entry)
                speak |= not isinstance(command, Depths | SiteDepth) or self.readback_enabled
                readbacks.append(text)
        except CommandError as exc:
            self._restore(state_before)
            where = str(exc) == WHERE_NOTE and answered is None
            self._awaiting = _Awaiting(tuple(commands), dict(guessed)) if where else None
            return Outcome(flagged=str(exc), readback=f"{exc}. Nothing charted.")
        self._undo.extend(entries)
        self._doubted = any(not _is_about_value(n) for n in self._new_notes)
        edits = tuple(
            ChartEdit(key[0], key[1], before, self._row_or_blank(key), self._row_notes(key))
            for key, before in rows_before.items()
            if self.rows.get(key) != before
        )
        flagged = "; ".join(dict.fromkeys(self._new_notes))
        return Outcome(
            edits,
            ". ".join(t for t in readbacks if t),
            flagged,
            self.ended and not state_before.ended,
            any(isinstance(c, StartExam) for c in commands),
            tuple(commands),
            tuple(notes),
            speak=speak or bool(flagged),
        )

    def answers(self, commands: Sequence[Command]) -> bool:
        """Whether these commands are the answer to "which tooth?" that waiting depths are charted with: the
        recognizer's confidence in them is then judged as in those depths."""
        return self._answer(commands) is not None

    def _answer(self, commands: Sequence[Command]) -> _Awaiting | None:
        """What waits for the tooth, when these commands are only the answer: a tooth named, nothing else."""
        if self._awaiting is None or len(commands) != 1:
            return None
        command = commands[0]
        if isinstance(command, GoTo) and command.tooth is not None:  # "tooth 8 lingual (mesial)"
            return self._awaiting
        return None

    def _apply_one(self, command: Command, entry: _Entry, notes: list[str]) -> str:
        if not isinstance(command, RUN_KEEPERS):
            self._run = ()  # anything that moves the cursor ends a run of depths
        elif isinstance(command, FINDINGS) and self._run:
            self._run_closed = True  # findings follow a tooth side's depths: that side is over
        match command:
            case StartExam():
                self.started = True
                return f"Exam started at {self.describe_cursor()}"
            case EndExam():
                self.ended = True
                return self.summary()
            case Undo():
                return self._undo_last(entry)
            case Depths():
                return self._depths(command, entry)
            case SiteDepth():
                return self._site_depth(command, entry)
            case Skip():
                return self._skip(command, entry)
            case Flag():
                return self._flag(command, entry)
            case Recession():
                return self._recession(command, entry)
            case Mucogingival():
                return self._mucogingival(command, entry)
            case Furcation():
                return self._furcation(command, entry)
            case Mobility():
                return self._mobility(command, entry)
            case GoTo():
                return self._goto(command)
            case Step():
                return self._step(command)
            case Resume():
                self.cursor = self.first_empty_site()
                self.lost = False
                return f"At {self.describe_cursor()}"
            case ReadBack():
                return self._readback(command)
            case Pause():
                self.paused = True
                return "Paused. Say 'resume listening' to go on"
            case ResumeListening():
                self.paused = False
                return f"Listening. At {self.describe_cursor()}"
            case ExamNote():
                notes.append(command.text)
                return "Exam note added"
        raise CommandError(f"cannot apply {type(command).__name__}")  # pragma: no cover

    # --- rows ----------------------------------------------------------------------------------------------
    def _depths_flagged(self, entry: _Entry) -> bool:
        """Whether the tooth side a finding went to (the one charted last) has depths marked for review."""
        if entry.before.last_site is None:
            return False
        ts = entry.before.last_site[0]
        return any(
            _is_about_position(note)
            for part in site_order(self.path_order, ts)
            for note in self.flagged_sites.get((SequenceType.PROBING, ts.tooth, site_column(ts, part)), ())
        )

    def _teeth_in_play(self) -> frozenset[int]:
        """The teeth a finding may name without surprise: where the cursor is, and the tooth charted last."""
        teeth = {self.cursor.tooth_side.tooth} if self.cursor else set()
        if self.last_site:
            teeth.add(self.last_site[0].tooth)
        return frozenset(teeth)

    def _where(self) -> _Cursorish:
        return _Cursorish(
            self.cursor,
            self.last_site,
            self.lost,
            self._run,
            self._run_start,
            self._run_closed,
            self._doubted,
            self._unheard,
        )

    def _set_where(self, where: _Cursorish) -> None:
        self.cursor, self.last_site, self.lost = where.cursor, where.last_site, where.lost
        self._run, self._run_start, self._run_closed = where.run, where.run_start, where.run_closed
        self._doubted, self._unheard = where.doubted, where.unheard

    def _set_row(self, entry: _Entry, row: MeasureRow) -> None:
        key = (row.sequence_type, row.tooth)
        entry.rows.setdefault(key, self.rows.get(key))
        if row.is_blank():
            self.rows.pop(key, None)
        else:
            self.rows[key] = row

    def _row_or_blank(self, key: RowKey) -> MeasureRow:
        return self.rows.get(key) or MeasureRow(key[0], key[1])

    def _set_site(
        self,
        entry: _Entry,
        seq: SequenceType,
        tooth: int,
        column: str,
        value: int,
        note: str = "",
        *,
        adds_to: bool = False,
    ) -> None:
        """Write one site's value; its review marks are reset (a new value), or kept when the write only
        `adds_to` what the site holds (a finding's bit beside another: the other's mark is still owed)."""
        row = self.rows.get((seq, tooth)) or MeasureRow(seq, tooth, sites=_blank_sites(seq))
        sites = list(row.sites)
        sites[SITE_COLUMNS.index(column)] = value
        self._set_row(entry, replace(row, sites=(sites[0], sites[1], sites[2], sites[3], sites[4], sites[5])))
        key = (seq, tooth, column)
        kept = self.flagged_sites.get(key, ()) if adds_to else ()
        self._set_notes(entry, key, (*kept, note) if note else kept)

    def _set_notes(self, entry: _Entry, key: SiteKey, notes: tuple[str, ...]) -> None:
        entry.flags.setdefault(key, self.flagged_sites.get(key))
        if notes:
            self.flagged_sites[key] = notes
            self._new_notes.extend(n for n in notes if n not in (entry.flags[key] or ()))
        else:
            self.flagged_sites.pop(key, None)

    def _row_notes(self, key: RowKey) -> str:
        notes = [n for (seq, tooth, _), ns in self.flagged_sites.items() if (seq, tooth) == key for n in ns]
        return "; ".join(dict.fromkeys(notes))

    def _check_open(self, tooth: int) -> None:
        if not 1 <= tooth <= 32:
            raise CommandError(f"tooth {tooth} is not a permanent tooth")
        if tooth in self.skipped:
            raise CommandError(f"{self.tooth_name(tooth)} is marked missing")

    # --- depths --------------------------------------------------------------------------------------------
    def _depths(self, command: Depths, entry: _Entry) -> str:
        if command.correction:
            self._run = ()
            return self._correction(command, entry)
        held = self._held_run(command.tooth, command.side, len(command.values))
        if held:
            return self._fill_held(held, command.values, entry)
        jump = ""
        if command.tooth is not None:
            self._check_open(command.tooth)
            expected = self.cursor.tooth_side.tooth if self.cursor else None
            side = command.side or (self.cursor.tooth_side.side if self.cursor else Side.FACIAL)
            named_side = ToothSide(command.tooth, side)
            if expected is not None and expected != command.tooth and self._far(named_side):
                jump = JUMP_NOTE.format(
                    named=self.tooth_name(command.tooth), expected=self.tooth_name(expected)
                )
            self.cursor = Position(ToothSide(command.tooth, side), 0)
            self.lost = False
        elif command.side is not None and self.cursor is not None:
            self.cursor = Position(ToothSide(self.cursor.tooth_side.tooth, command.side), 0)
        named = command.tooth is not None or command.side is not None
        continuing = bool(self._run) and not named
        if continuing and self._run_closed:
            self._close_run()
            continuing = False
        starts_on_side = self.cursor is not None and self.cursor.site_index == 0
        start = self.cursor
        written: list[SiteKey] = []
        said: list[str] = []
        current: ToothSide | None = None
        overwrote = False
        for value in command.values:
            if self.cursor is None:
                raise CommandError("the path is complete; say which tooth")
            ts = self.cursor.tooth_side
            part = site_order(self.path_order, ts)[self.cursor.site_index]
            old = self.value(SequenceType.PROBING, ts.tooth, site_column(ts, part))
            replaced = OVERWRITE_NOTE.format(old=old) if old not in (BLANK, value) else ""
            overwrote |= bool(replaced)
            self._write_depth(entry, ts, part, value, "; ".join(n for n in (jump, replaced) if n))
            written.append((SequenceType.PROBING, ts.tooth, site_column(ts, part)))
            if ts != current:
                said.append(self.name(ts))
                current = ts
            said.append(str(value))
            self.cursor = self._advance(self.cursor)
        self._track_run(entry, written, start, starts_on_side=starts_on_side, continuing=continuing)
        if jump or (overwrote and not named):
            # a misheard tooth number, or the path running over values charted before (the cursor is not
            # where the speaker is), would put every following value in the wrong place
            self.lost = True
        return " ".join(said)

    def _track_run(
        self,
        entry: _Entry,
        written: list[SiteKey],
        start: Position | None,
        *,
        starts_on_side: bool,
        continuing: bool,
    ) -> None:
        """Depths that do not fill whole tooth sides may have lost or gained a value on the way (a word the
        recognizer dropped or added): they are flagged until the side is completed in order, as when a
        triplet is said "three two" … "four"."""
        ends_on_side = self.cursor is None or self.cursor.site_index == 0
        if starts_on_side and ends_on_side and not continuing:
            self._run = ()
            return
        run = (*self._run, *written) if continuing else tuple(written)
        if ends_on_side and (continuing or starts_on_side):
            for key in run:
                notes = tuple(n for n in self.flagged_sites.get(key, ()) if n != PARTIAL_NOTE)
                self._set_notes(entry, key, notes)
            self._run = ()
            return
        for key in written:
            self._set_notes(entry, key, (*self.flagged_sites.get(key, ()), PARTIAL_NOTE))
        self._run = run if (continuing or starts_on_side) else ()
        if not continuing:
            self._run_start, self._run_closed = start, False

    def _far(self, named: ToothSide) -> bool:
        """Whether a named tooth side is away from where the exam is: any other tooth while the cursor is not
        lost; while it is lost, more than FAR_WHILE_LOST sides along the path from where it was (a lost
        cursor is off by a side or a few, so a tooth named that far off is likelier misheard: 13 for 30)."""
        if not self.lost:
            return True
        assert self.cursor is not None
        distance = abs(self._sides.index(named) - self._sides.index(self.cursor.tooth_side))
        return distance > FAR_WHILE_LOST

    def _close_run(self) -> None:
        """Depths that did not fill whole tooth sides were followed by that side's findings ("6 5, bleeding
        distal, 4 1 5": a value was dropped or added on the way): the side is over, so the next depths start
        on the next side, counted from where the run began, the nearest whole number of sides on. The
        incomplete side stays marked; one lost value costs that side, not every site after it."""
        position = self._run_start
        for _ in range(max(1, round(len(self._run) / 3))):
            position = self._next_side(position.tooth_side) if position is not None else None
        self.cursor, self._run, self._run_closed = position, (), False

    def _write_depth(
        self,
        entry: _Entry,
        ts: ToothSide,
        part: SitePart,
        value: int,
        extra_note: str = "",
    ) -> None:
        if not 0 <= value <= MAX_DEPTH:
            raise CommandError(f"depth {value} is out of range 0 to {MAX_DEPTH}")
        column = site_column(ts, part)
        unusual = UNUSUAL_NOTE.format(value=value) if value >= UNUSUAL_DEPTH_MM else ""
        note = "; ".join(n for n in (self._implausible(ts.tooth, column, value), unusual, extra_note) if n)
        self._set_site(entry, SequenceType.PROBING, ts.tooth, column, value, note)
        self.last_site = (ts, part)
        if ts in self.held and all(
            self.value(SequenceType.PROBING, ts.tooth, site_column(ts, p)) != BLANK
            for p in site_order(self.path_order, ts)
        ):  # a held side is charted once all three of its sites are
            entry.held.setdefault(ts, self.held.pop(ts))

    def _implausible(self, tooth: int, column: str, value: int) -> str:
        previous = self._previous.get((SequenceType.PROBING, tooth))
        if previous is None or previous.site(column) == BLANK:
            return ""
        if abs(value - previous.site(column)) >= IMPLAUSIBLE_CHANGE_MM:
            return f"tooth {tooth} {column} {value} mm, was {previous.site(column)} mm last exam"
        return ""

    def _held_run(self, tooth: int | None, side: Side | None, values: int) -> list[ToothSide]:
        """The held tooth sides a repeat names: "tooth 3 (facial) …" with three values per side, starting at
        a held side of that tooth and going on along the path through held sides only. Without a side, only
        when the cursor is not on that tooth (there, "tooth 3 …" is the next side of the path)."""
        if tooth is None or values % 3 or not self.held:
            return []
        if side is None and self.cursor is not None and self.cursor.tooth_side.tooth == tooth:
            return []
        starts = [ts for ts in self.held if ts.tooth == tooth and side in (None, ts.side)]
        if len(starts) != 1:
            return []
        run = [starts[0]]
        while len(run) < values // 3:
            following = self._next_side(run[-1])
            if following is None or following.tooth_side not in self.held:
                return []
            run.append(following.tooth_side)
        return run

    def _fill_held(self, targets: list[ToothSide], values: tuple[int, ...], entry: _Entry) -> str:
        """A repeat of held tooth sides: fill them and leave the cursor where the exam went on."""
        keep = self._where()
        said = []
        for i, target in enumerate(targets):
            self._check_open(target.tooth)
            side_values = values[3 * i : 3 * i + 3]
            for part, value in zip(site_order(self.path_order, target), side_values, strict=True):
                self._write_depth(entry, target, part, value)
            said.append(f"{self.name(target)} " + " ".join(str(v) for v in side_values))
        self.cursor, self.lost, self._run = keep.cursor, keep.lost, keep.run
        self._run_start, self._run_closed = keep.run_start, keep.run_closed
        return ", ".join(said)

    def _correction(self, command: Depths, entry: _Entry) -> str:
        if command.tooth is not None:
            self._check_open(command.tooth)
            side = command.side or (
                self.last_site[0].side
                if self.last_site and self.last_site[0].tooth == command.tooth
                else (self.cursor.tooth_side.side if self.cursor else Side.FACIAL)
            )
            target = ToothSide(command.tooth, side)
        elif self.last_site is not None:
            target = ToothSide(self.last_site[0].tooth, command.side or self.last_site[0].side)
        else:
            raise CommandError("correct which tooth?")
        keep = self._where()
        position: Position | None = Position(target, 0)
        said = [self.name(target)]
        for value in command.values:
            if position is None:
                raise CommandError("the correction runs past the end of the path")
            ts = position.tooth_side
            part = site_order(self.path_order, ts)[position.site_index]
            self._write_depth(entry, ts, part, value)
            said.append(str(value))
            position = self._advance(position)
        self.cursor, self.lost = keep.cursor, keep.lost
        return "corrected " + " ".join(said)

    def _site_depth(self, command: SiteDepth, entry: _Entry) -> str:
        if command.tooth is not None:
            self._check_open(command.tooth)
            ts = self._finding_side(command.tooth, command.side)
        elif self.cursor is not None:
            current = self.cursor.tooth_side
            ts = ToothSide(current.tooth, command.side or current.side)
        else:
            raise CommandError("which tooth?")
        self._write_depth(entry, ts, command.part, command.value)
        order = site_order(self.path_order, ts)
        if self.cursor is not None and self.cursor == Position(ts, order.index(command.part)):
            self.cursor = self._advance(self.cursor)
        if command.tooth is not None:
            self.lost = False
        return f"{self.name(ts)} {command.part.value} {command.value}"

    def _advance(self, pos: Position) -> Position | None:
        if pos.site_index < 2:
            return Position(pos.tooth_side, pos.site_index + 1)
        return self._next_side(pos.tooth_side)

    def _next_side(self, ts: ToothSide) -> Position | None:
        skipped = self.skipped
        index = self._sides.index(ts)
        for nxt in self._sides[index + 1 :]:
            if nxt.tooth not in skipped:
                return Position(nxt, 0)
        return None

    def _previous_side(self, ts: ToothSide | None) -> Position | None:
        skipped = self.skipped
        index = self._sides.index(ts) if ts else len(self._sides)
        for prev in reversed(self._sides[:index]):
            if prev.tooth not in skipped:
                return Position(prev, 0)
        return None

    # --- skip and navigation -------------------------------------------------------------------------------
    def _skip(self, command: Skip, entry: _Entry) -> str:
        cursor_tooth = self.cursor.tooth_side.tooth if self.cursor else None
        tooth = command.tooth if command.tooth is not None else cursor_tooth
        if command.tooth_heard_as_number and cursor_tooth != command.tooth:
            raise CommandError("did you mean skip this tooth, or skip tooth 2? Please repeat")
        if tooth is None:
            raise CommandError("which tooth should be skipped?")
        if not 1 <= tooth <= 32:
            raise CommandError(f"tooth {tooth} is out of range")
        self._set_row(entry, MeasureRow(SequenceType.SKIP_TOOTH, tooth, tooth_value=1))
        for ts in [ts for ts in self.held if ts.tooth == tooth]:  # a missing tooth has nothing to repeat
            entry.held.setdefault(ts, self.held.pop(ts))
        self.last_site = None  # a finding said next cannot mean the tooth before the skipped one
        if self.cursor is not None and self.cursor.tooth_side.tooth == tooth:
            self.cursor = self._next_side(self.cursor.tooth_side)
        return f"{self.tooth_name(tooth)} skipped"

    def _goto(self, command: GoTo) -> str:
        here = self.cursor.tooth_side if self.cursor else (self.last_site[0] if self.last_site else None)
        if command.tooth is not None:
            self._check_open(command.tooth)
            side = command.side or (here.side if here else Side.FACIAL)
            target = ToothSide(command.tooth, side)
            self.lost = False
        elif here is None:
            raise CommandError("go to which tooth?")
        else:
            other = Side.LINGUAL if here.side is Side.FACIAL else Side.FACIAL
            target = ToothSide(here.tooth, command.side or other)
        index = site_order(self.path_order, target).index(command.part) if command.part else 0
        self.cursor = Position(target, index)
        return f"At {self.describe_cursor()}"

    def _step(self, command: Step) -> str:
        here = self.cursor.tooth_side if self.cursor else None
        if command.teeth > 0:
            if here is None:
                raise CommandError("the path is complete")
            self.cursor = self._next_side(here)
        else:
            previous = self._previous_side(here)
            if previous is None:
                raise CommandError("already at the start of the path")
            self.cursor = previous
        return f"At {self.describe_cursor()}"

    def _readback(self, command: ReadBack) -> str:
        if command.enable is not None:
            self.readback_enabled = command.enable
            return f"Readback {'on' if command.enable else 'off'}"
        if self.last_site is None:
            return f"Nothing charted yet. At {self.describe_cursor()}"
        ts = self.last_site[0]
        values = [
            self.value(SequenceType.PROBING, ts.tooth, site_column(ts, part))
            for part in site_order(self.path_order, ts)
        ]
        spoken = " ".join("blank" if v == BLANK else str(v) for v in values)
        return f"{self.name(ts)} {spoken}"

    # --- findings ------------------------------------------------------------------------------------------
    def _finding_side(self, tooth: int | None, side: Side | None, what: str = "that") -> ToothSide:
        """The tooth side a finding belongs to: the named one, or the one that received the last depth."""
        if tooth is None:
            if self.last_site is None:
                raise CommandError(f"{what} on which tooth?")
            last = self.last_site[0]
            tooth, side = last.tooth, side or last.side
        self._check_open(tooth)
        if side is None:
            if self.last_site and self.last_site[0].tooth == tooth:
                side = self.last_site[0].side
            else:
                side = self.cursor.tooth_side.side if self.cursor else Side.FACIAL
        return ToothSide(tooth, side)

    def _flag(self, command: Flag, entry: _Entry) -> str:
        what = command.flag.value
        target = self._finding_side(command.tooth, command.side, what)
        if command.parts:
            parts: tuple[SitePart, ...] = command.parts
        elif command.side is not None:
            parts = site_order(self.path_order, target)  # "calculus lingual": that whole side
        elif command.tooth is not None:
            raise CommandError(f"{what} on which sites of {self.tooth_name(command.tooth)}?")
        else:
            assert self.last_site is not None
            parts = (self.last_site[1],)
        bit = FLAG_BITS[command.flag]
        columns = [site_column(target, p) for p in parts]
        for column in columns:
            current = self.value(SequenceType.BLEED_SUP_PLAQ_CALC, target.tooth, column)
            self._set_site(
                entry,
                SequenceType.BLEED_SUP_PLAQ_CALC,
                target.tooth,
                column,
                int(max(current, 0) | bit),
                adds_to=not max(current, 0) & bit,  # said again: a new hearing, its old marks go
            )
        return f"{what} {self.tooth_name(target.tooth)} {' '.join(columns)}"

    def _recession(self, command: Recession, entry: _Entry) -> str:
        target = self._finding_side(command.tooth, command.side, "recession")

        def valid(value: int) -> bool:
            return 0 <= value <= MAX_DEPTH or GM_ABOVE_CEJ < value <= GM_ABOVE_CEJ + MAX_DEPTH

        said = self._side_values(entry, SequenceType.GING_MARGIN, target, command, "recession", valid)
        return f"recession {self.tooth_name(target.tooth)} {', '.join(said)}"

    def _mucogingival(self, command: Mucogingival, entry: _Entry) -> str:
        target = self._finding_side(command.tooth, command.side, "MGJ")
        if target.side is Side.LINGUAL and target.tooth <= 16:
            raise CommandError(f"no MGJ on the palate: {self.tooth_name(target.tooth)} has it on the facial")
        said = self._side_values(
            entry, SequenceType.MGJ, target, command, "MGJ", lambda value: 0 <= value <= MAX_DEPTH
        )
        return f"MGJ {self.tooth_name(target.tooth)} {', '.join(said)}"

    def _side_values(
        self,
        entry: _Entry,
        seq: SequenceType,
        target: ToothSide,
        command: Recession | Mucogingival,
        what: str,
        valid: Callable[[int], bool],
    ) -> list[str]:
        """Three values fill the tooth side in probing order; one goes on the named sites, or the mid site."""
        if len(command.values) == 3:
            pairs = list(zip(site_order(self.path_order, target), command.values, strict=True))
        else:
            pairs = [(p, command.values[0]) for p in command.parts or (SitePart.MID,)]
        said = []
        for part, value in pairs:
            if not valid(value):
                raise CommandError(f"{what} {value} is out of range")
            column = site_column(target, part)
            self._set_site(entry, seq, target.tooth, column, value)
            said.append(f"{column} {_gm_spoken(value)}")
        return said

    def _furcation(self, command: Furcation, entry: _Entry) -> str:
        if not 0 <= command.grade <= MAX_GRADE:
            raise CommandError(f"furcation grade {command.grade} is out of range 0 to {MAX_GRADE}")
        target = self._finding_side(command.tooth, command.side, "furcation")
        column = site_column(target, command.part or SitePart.MID)
        self._set_site(entry, SequenceType.FURCATION, target.tooth, column, command.grade)
        return f"furcation grade {command.grade} {self.tooth_name(target.tooth)} {column}"

    def _mobility(self, command: Mobility, entry: _Entry) -> str:
        if not 0 <= command.grade <= MAX_GRADE:
            raise CommandError(f"mobility {command.grade} is out of range 0 to {MAX_GRADE}")
        tooth = command.tooth if command.tooth is not None else None
        if tooth is None:
            if self.last_site is None:
                raise CommandError("mobility of which tooth?")
            tooth = self.last_site[0].tooth
        self._check_open(tooth)
        self._set_row(entry, MeasureRow(SequenceType.MOBILITY, tooth, tooth_value=command.grade))
        return f"mobility {command.grade} {self.tooth_name(tooth)}"

    # --- undo and summary ----------------------------------------------------------------------------------
    def _undo_last(self, entry: _Entry) -> str:
        if not self._undo:
            raise CommandError("nothing to undo")
        undone = self._undo.pop()
        for key, row in undone.rows.items():
            entry.rows.setdefault(key, self.rows.get(key))
            if row is None:
                self.rows.pop(key, None)
            else:
                self.rows[key] = row
        for site, note in undone.flags.items():
            if note is None:
                self.flagged_sites.pop(site, None)
            else:
                self.flagged_sites[site] = note
        self.held.update(undone.held)
        for ts in undone.holds:
            self.held.pop(ts, None)
        lost_now, unheard_now = self.lost, self._unheard
        self._set_where(undone.before)
        self.lost = self.lost or lost_now  # undoing a command does not tell where the speaker is
        self._unheard = self._unheard or unheard_now
        return f"undone: {undone.description}"

    def summary(self) -> str:
        probing = [r for (st, _), r in self.rows.items() if st is SequenceType.PROBING]
        deep = sum(1 for r in probing for v in r.sites if v >= DEEP_POCKET_MM)
        bleeding = sum(
            1
            for (st, _), r in self.rows.items()
            if st is SequenceType.BLEED_SUP_PLAQ_CALC
            for v in r.sites
            if v > 0 and v & BleedingFlags.BLOOD
        )
        flagged = len(self.flagged_sites)
        review = f", {flagged} values to review" if flagged else ""
        if self.held:
            review += f", {len(self.held)} tooth sides not charted (say them with the tooth)"
        return (
            f"Exam ended: {len({r.tooth for r in probing})} teeth charted, "
            f"{deep} sites 5 mm or deeper, {bleeding} bleeding sites{review}"
        )

    # --- snapshots -----------------------------------------------------------------------------------------
    def _snapshot_all(self) -> _State:
        return _State(
            dict(self.rows),
            dict(self.flagged_sites),
            dict(self.held),
            self._where(),
            self.started,
            self.ended,
            self.paused,
            self.readback_enabled,
            list(self._undo),
            self._awaiting,
        )

    def _restore(self, state: _State) -> None:
        self.rows, self.flagged_sites, self.held = state.rows, state.flags, state.held
        self._set_where(state.where)
        self.started, self.ended, self.paused = state.started, state.ended, state.paused
        self.readback_enabled, self._undo = state.readback_enabled, state.undo
        self._awaiting = state.awaiting


def _is_about_value(note: str) -> bool:
    """Notes that doubt a value itself (a ≥ 10 mm pocket, a big change since the last exam, a finding word
    guessed from what was heard)."""
    return "misheard (nine" in note or note.endswith("mm last exam") or note.startswith("heard “")


def _is_about_position(note: str) -> bool:
    """Notes that doubt where a value went (not the value itself, like a 10 mm pocket)."""
    return note in (LOST_NOTE, PARTIAL_NOTE, UNCONFIRMED_NOTE) or note.startswith("charted on")


def _said_with_the_tooth(answer: Command, awaiting: _Awaiting) -> tuple[tuple[Command, ...], dict[int, str]]:
    """What waited for the tooth, as if said with the answer's tooth: "tooth 8 lingual" + "2 2 2, bleeding
    distal" is "tooth 8 lingual 2 2 2, bleeding distal" (a tooth named away from where the exam was is
    marked, as when said so); an answer naming a site goes there first ("tooth 8 lingual mesial" + "4")."""
    assert isinstance(answer, GoTo)
    first, *rest = awaiting.commands
    if isinstance(first, Depths) and first.tooth is None and not first.correction and answer.part is None:
        named = replace(first, tooth=answer.tooth, side=answer.side or first.side)
        return (named, *rest), dict(awaiting.guessed)
    return (answer, *awaiting.commands), {position + 1: note for position, note in awaiting.guessed.items()}


def _named_elsewhere(command: Command, expected: frozenset[int], lost: bool) -> bool:
    tooth = getattr(command, "tooth", None)
    return tooth is not None and not lost and bool(expected) and tooth not in expected


def _from_the_cursor(command: Command) -> bool:
    """Depths, or "skip" / "missing", said without a tooth: they go where the cursor is."""
    return isinstance(command, Depths | SiteDepth | Skip) and not _names_a_tooth(command)


def _names_a_tooth(command: Command) -> bool:
    """Whether the command says where it goes (so a lost cursor does not matter)."""
    return getattr(command, "tooth", None) is not None


def _gm_spoken(value: int) -> str:
    return f"plus {value - GM_ABOVE_CEJ}" if value > GM_ABOVE_CEJ else str(value)


def _blank_sites(seq: SequenceType) -> tuple[int, int, int, int, int, int]:
    """Open Dental saves 0, not -1, for unflagged sites of a BleedSupPlaqCalc row."""
    fill = 0 if seq is SequenceType.BLEED_SUP_PLAQ_CALC else BLANK
    return (fill,) * 6
