"""The exam session: path, cursor, values, validation and undo. Applies commands, emits chart edits.

An utterance is applied atomically: if any of its commands cannot be applied, none is, and the utterance is
flagged. Each applied command can be undone on its own ("undo" is repeatable).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from voicechart.dictation.commands import (
    Command,
    Depths,
    EndExam,
    Flag,
    FlagKind,
    Side,
    SitePart,
    Skip,
    StartExam,
    Undo,
)
from voicechart.exam.edits import ChartEdit
from voicechart.exam.path import PathOrder, Position, ToothSide, site_column, site_order, tooth_sides
from voicechart.pms.records import BLANK, SITE_COLUMNS, BleedingFlags, MeasureRow, SequenceType

RowKey = tuple[SequenceType, int]
IMPLAUSIBLE_CHANGE_MM = 4
DEEP_POCKET_MM = 5
FLAG_BITS = {
    FlagKind.BLEEDING: BleedingFlags.BLOOD,
    FlagKind.SUPPURATION: BleedingFlags.SUPPURATION,
    FlagKind.PLAQUE: BleedingFlags.PLAQUE,
    FlagKind.CALCULUS: BleedingFlags.CALCULUS,
}


class CommandError(Exception):
    """A command that cannot be applied in the current chart state; the message is read back."""


@dataclass(slots=True)
class _Snapshot:
    rows: dict[RowKey, MeasureRow | None]
    cursor: Position | None
    last_site: tuple[ToothSide, SitePart] | None
    description: str = ""


@dataclass(slots=True)
class _State:
    rows: dict[RowKey, MeasureRow]
    cursor: Position | None
    last_site: tuple[ToothSide, SitePart] | None
    started: bool
    ended: bool
    undo: list[list[_Snapshot]]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one utterance did: edits to write, what to say back, and why it was flagged (if it was)."""

    edits: tuple[ChartEdit, ...] = ()
    readback: str = ""
    flagged: str = ""
    ended: bool = False
    started: bool = False
    applied: tuple[Command, ...] = field(default=())


class ExamSession:
    """State of one perio exam for one patient."""

    def __init__(
        self,
        *,
        path_order: PathOrder = "maxillary_first",
        rows: Iterable[MeasureRow] = (),
        previous: Iterable[MeasureRow] = (),
    ) -> None:
        self.path_order: PathOrder = path_order
        self._sides = tooth_sides(path_order)
        self.rows: dict[RowKey, MeasureRow] = {(r.sequence_type, r.tooth): r for r in rows}
        self._previous = {(r.sequence_type, r.tooth): r for r in previous}
        self._undo: list[list[_Snapshot]] = []
        self.last_site: tuple[ToothSide, SitePart] | None = None
        self.cursor: Position | None = self.first_empty_site()
        self.started = False
        self.ended = False

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

    def describe_cursor(self) -> str:
        if self.cursor is None:
            return "end of the path"
        ts = self.cursor.tooth_side
        part = site_order(self.path_order, ts)[self.cursor.site_index]
        return f"{ts} {part.value}"

    def forget_last_site(self) -> None:
        """After an utterance that was not charted, a finding without a tooth ("bleeding distal") must not
        land on the tooth charted before it: the speaker meant the one that was not charted."""
        self.last_site = None

    # --- applying ------------------------------------------------------------------------------------------
    def apply(self, commands: Sequence[Command]) -> Outcome:
        """Apply an utterance's commands atomically."""
        snapshot_before = self._snapshot_all()
        changed_before: dict[RowKey, MeasureRow | None] = {}
        readbacks: list[str] = []
        notes: dict[RowKey, str] = {}
        entries: list[_Snapshot] = []
        started = ended = False
        try:
            for command in commands:
                entry = _Snapshot({}, self.cursor, self.last_site)
                text = self._apply_one(command, entry, notes)
                for key, before in entry.rows.items():
                    changed_before.setdefault(key, before)
                entry.description = text
                if not isinstance(command, Undo) and entry.rows:
                    entries.append(entry)
                started |= isinstance(command, StartExam)
                ended |= isinstance(command, EndExam)
                readbacks.append(text)
        except CommandError as exc:
            self._restore(snapshot_before)
            return Outcome(flagged=str(exc), readback=f"{exc}. Nothing charted.")
        self._undo.extend([e] for e in entries)
        edits = tuple(
            ChartEdit(key[0], key[1], before, self._row_or_blank(key), flagged=notes.get(key, ""))
            for key, before in changed_before.items()
            if self.rows.get(key) != before
        )
        flagged = "; ".join(e.flagged for e in edits if e.flagged)
        return Outcome(edits, ". ".join(t for t in readbacks if t), flagged, ended, started, tuple(commands))

    def _apply_one(self, command: Command, entry: _Snapshot, notes: dict[RowKey, str]) -> str:
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
                return self._depths(command, entry, notes)
            case Skip():
                return self._skip(command, entry)
            case Flag():
                return self._flag(command, entry)
        raise CommandError(f"cannot apply {type(command).__name__}")  # pragma: no cover

    def _set_row(self, entry: _Snapshot, row: MeasureRow) -> None:
        key = (row.sequence_type, row.tooth)
        entry.rows.setdefault(key, self.rows.get(key))
        if row.is_blank():
            self.rows.pop(key, None)
        else:
            self.rows[key] = row

    def _row_or_blank(self, key: RowKey) -> MeasureRow:
        return self.rows.get(key) or MeasureRow(key[0], key[1])

    def _set_site(self, entry: _Snapshot, seq: SequenceType, tooth: int, column: str, value: int) -> None:
        row = self.rows.get((seq, tooth)) or MeasureRow(seq, tooth, sites=_blank_sites(seq))
        sites = list(row.sites)
        sites[SITE_COLUMNS.index(column)] = value
        self._set_row(entry, replace(row, sites=(sites[0], sites[1], sites[2], sites[3], sites[4], sites[5])))

    def _depths(self, command: Depths, entry: _Snapshot, notes: dict[RowKey, str]) -> str:
        _check_tooth(command.tooth)
        if command.tooth is not None:
            side = command.side or (self.cursor.tooth_side.side if self.cursor else Side.FACIAL)
            target = ToothSide(command.tooth, side)
            if command.tooth in self.skipped:
                raise CommandError(f"tooth {command.tooth} is marked missing")
            self.cursor = Position(target, 0)
        elif command.side is not None and self.cursor is not None:
            self.cursor = Position(ToothSide(self.cursor.tooth_side.tooth, command.side), 0)
        said: list[str] = []
        current: ToothSide | None = None
        for value in command.values:
            if not 0 <= value <= 19:
                raise CommandError(f"depth {value} is out of range")
            if self.cursor is None:
                raise CommandError("the path is complete; say which tooth")
            ts = self.cursor.tooth_side
            part = site_order(self.path_order, ts)[self.cursor.site_index]
            column = site_column(ts, part)
            self._check_plausible(ts.tooth, column, value, notes)
            self._set_site(entry, SequenceType.PROBING, ts.tooth, column, value)
            self.last_site = (ts, part)
            if ts != current:
                said.append(f"{ts}")
                current = ts
            said.append(str(value))
            self.cursor = self._advance(self.cursor)
        return " ".join(said)

    def _check_plausible(self, tooth: int, column: str, value: int, notes: dict[RowKey, str]) -> None:
        previous = self._previous.get((SequenceType.PROBING, tooth))
        if previous is None or previous.site(column) == BLANK:
            return
        change = value - previous.site(column)
        if abs(change) >= IMPLAUSIBLE_CHANGE_MM:
            note = f"tooth {tooth} {column} {value} mm, was {previous.site(column)} mm last exam"
            key = (SequenceType.PROBING, tooth)
            notes[key] = f"{notes[key]}; {note}" if key in notes else note

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

    def _skip(self, command: Skip, entry: _Snapshot) -> str:
        cursor_tooth = self.cursor.tooth_side.tooth if self.cursor else None
        tooth = command.tooth if command.tooth is not None else cursor_tooth
        if command.tooth_heard_as_number and cursor_tooth != command.tooth:
            raise CommandError("did you mean skip this tooth, or skip tooth 2? Please repeat")
        if tooth is None:
            raise CommandError("which tooth should be skipped?")
        if not 1 <= tooth <= 32:
            raise CommandError(f"tooth {tooth} is out of range")
        self._set_row(entry, MeasureRow(SequenceType.SKIP_TOOTH, tooth, tooth_value=1))
        if self.cursor is not None and self.cursor.tooth_side.tooth == tooth:
            self.cursor = self._next_side(self.cursor.tooth_side)
        return f"tooth {tooth} skipped"

    def _flag(self, command: Flag, entry: _Snapshot) -> str:
        _check_tooth(command.tooth)
        if command.tooth is not None:
            if self.last_site and self.last_site[0].tooth == command.tooth and command.side is None:
                side = self.last_site[0].side
            else:
                side = command.side or (self.cursor.tooth_side.side if self.cursor else Side.FACIAL)
            target = ToothSide(command.tooth, side)
            if not command.parts:
                raise CommandError(f"{command.kind.value} on which sites of tooth {command.tooth}?")
            parts: tuple[SitePart, ...] = command.parts
        else:
            if self.last_site is None:
                raise CommandError(f"{command.kind.value} on which tooth?")
            last_side, last_part = self.last_site
            target = ToothSide(last_side.tooth, command.side or last_side.side)
            parts = command.parts or (last_part,)
        if target.tooth in self.skipped:
            raise CommandError(f"tooth {target.tooth} is marked missing")
        bit = FLAG_BITS[command.kind]
        columns = [site_column(target, p) for p in parts]
        for column in columns:
            current = self.value(SequenceType.BLEED_SUP_PLAQ_CALC, target.tooth, column)
            self._set_site(
                entry, SequenceType.BLEED_SUP_PLAQ_CALC, target.tooth, column, int(max(current, 0) | bit)
            )
        return f"{command.kind.value} tooth {target.tooth} {' '.join(columns)}"

    def _undo_last(self, entry: _Snapshot) -> str:
        if not self._undo:
            raise CommandError("nothing to undo")
        for snap in reversed(self._undo.pop()):
            for key, row in snap.rows.items():
                entry.rows.setdefault(key, self.rows.get(key))
                if row is None:
                    self.rows.pop(key, None)
                else:
                    self.rows[key] = row
            self.cursor, self.last_site = snap.cursor, snap.last_site
            description = snap.description
        return f"undone: {description}"

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
        return (
            f"Exam ended: {len({r.tooth for r in probing})} teeth charted, "
            f"{deep} sites 5 mm or deeper, {bleeding} bleeding sites"
        )

    # --- snapshots -----------------------------------------------------------------------------------------
    def _snapshot_all(self) -> _State:
        return _State(
            dict(self.rows), self.cursor, self.last_site, self.started, self.ended, list(self._undo)
        )

    def _restore(self, state: _State) -> None:
        self.rows, self.cursor, self.last_site = state.rows, state.cursor, state.last_site
        self.started, self.ended, self._undo = state.started, state.ended, state.undo


def _check_tooth(tooth: int | None) -> None:
    if tooth is not None and not 1 <= tooth <= 32:
        raise CommandError(f"tooth {tooth} is not a permanent tooth (1–32)")


def _blank_sites(seq: SequenceType) -> tuple[int, int, int, int, int, int]:
    """Open Dental saves 0, not -1, for unflagged sites of a BleedSupPlaqCalc row."""
    fill = 0 if seq is SequenceType.BLEED_SUP_PLAQ_CALC else BLANK
    return (fill,) * 6
