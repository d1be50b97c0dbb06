"""What voicechart exchanges with a practice-management system, in Open Dental's own encoding.

Encodings follow OPENDENTAL.md §3: Universal tooth numbers 1–32, -1 for "not measured", gingival margin above
the CEJ stored as 100+N, the bleeding/suppuration/plaque/calculus bit sum, SkipTooth rows with ToothValue 1.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag
from typing import Any

BLANK = -1
"""Open Dental's value for "no measurement" in every periomeasure value column."""


class SequenceType(IntEnum):
    """Open Dental's PerioSequenceType (periomeasure.SequenceType)."""

    MOBILITY = 0
    FURCATION = 1
    GING_MARGIN = 2
    MGJ = 3
    PROBING = 4
    SKIP_TOOTH = 5
    BLEED_SUP_PLAQ_CALC = 6

    @property
    def api_name(self) -> str:
        """The enum string Open Dental's REST API uses."""
        return _API_NAMES[self]


_API_NAMES = {
    SequenceType.MOBILITY: "Mobility",
    SequenceType.FURCATION: "Furcation",
    SequenceType.GING_MARGIN: "GingMargin",
    SequenceType.MGJ: "MGJ",
    SequenceType.PROBING: "Probing",
    SequenceType.SKIP_TOOTH: "SkipTooth",
    SequenceType.BLEED_SUP_PLAQ_CALC: "BleedSupPlaqCalc",
}


class BleedingFlags(IntFlag):
    """Bits of a BleedSupPlaqCalc site value."""

    NONE = 0
    BLOOD = 1
    SUPPURATION = 2
    PLAQUE = 4
    CALCULUS = 8


SITE_COLUMNS: tuple[str, ...] = ("MB", "B", "DB", "ML", "L", "DL")
"""The six site columns of a periomeasure row, in table order (MBvalue … DLvalue)."""


@dataclass(frozen=True, slots=True)
class MeasureRow:
    """One periomeasure row: one tooth, one sequence type, up to six site values."""

    sequence_type: SequenceType
    tooth: int
    tooth_value: int = BLANK
    sites: tuple[int, int, int, int, int, int] = (BLANK,) * 6  # MB, B, DB, ML, L, DL

    def site(self, name: str) -> int:
        return self.sites[SITE_COLUMNS.index(name)]

    def is_blank(self) -> bool:
        return self.tooth_value == BLANK and all(v == BLANK for v in self.sites)

    def records_nothing(self) -> bool:
        """Whether the row, as stored, says nothing: no mobility, no skip, no flag, no measurement."""
        if self.sequence_type is SequenceType.MOBILITY:
            return self.tooth_value == BLANK
        if self.sequence_type is SequenceType.SKIP_TOOTH:
            return self.tooth_value != 1
        if self.sequence_type is SequenceType.BLEED_SUP_PLAQ_CALC:
            return all(v in (BLANK, 0) for v in self.sites)
        return all(v == BLANK for v in self.sites)


def row_json(row: MeasureRow) -> dict[str, Any]:
    """A row as the journal keeps it (chart_edit.before / .after)."""
    return {"tooth_value": row.tooth_value, "sites": list(row.sites)}


def row_from_json(seq: int, tooth: int, data: dict[str, Any] | None) -> MeasureRow | None:
    """The row the journal kept (`row_json`), or None for none."""
    if not data:
        return None
    s = tuple(int(v) for v in data["sites"])
    return MeasureRow(
        SequenceType(seq), tooth, int(data["tooth_value"]), (s[0], s[1], s[2], s[3], s[4], s[5])
    )


@dataclass(frozen=True, slots=True)
class Patient:
    pat_num: int
    first_name: str
    last_name: str
    pri_prov: int
    birthdate: dt.date | None = None

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True, slots=True)
class Appointment:
    """An appointment on the schedule: who is in which operatory, from when, for how long."""

    apt_num: int
    pat_num: int
    operatory: int
    start: dt.datetime
    minutes: int  # Open Dental's Pattern: 5 minutes per character
    prov_num: int
    prov_hyg: int = 0

    def covers(self, at: dt.datetime) -> bool:
        return self.start <= at < self.start + dt.timedelta(minutes=self.minutes)


def appointment_now(appointments: list[Appointment], at: dt.datetime) -> Appointment | None:
    """The appointment in progress at `at`; else the next one today; else the last one that ended."""
    current = [a for a in appointments if a.covers(at)]
    if current:
        return min(current, key=lambda a: a.start)
    upcoming = sorted((a for a in appointments if a.start > at), key=lambda a: a.start)
    if upcoming:
        return upcoming[0]
    past = sorted(appointments, key=lambda a: a.start)
    return past[-1] if past else None


SCHEDULED_STATUSES = frozenset({1, 2})  # ApptStatus Scheduled, Complete


@dataclass(frozen=True, slots=True)
class ExamRecord:
    """A perio exam in the PMS and what voicechart needs to chart on it."""

    exam_num: int
    pat_num: int
    exam_date: dt.date
    prov_num: int
    note: str = ""
    measures: tuple[MeasureRow, ...] = field(default=())

    @property
    def skipped_teeth(self) -> frozenset[int]:
        return frozenset(
            m.tooth
            for m in self.measures
            if m.sequence_type is SequenceType.SKIP_TOOTH and m.tooth_value == 1
        )


def provider_display_name(first: str | None, last: str | None, abbr: str | None) -> str:
    """A provider as people call them: "First Last", else the abbreviation, else ""."""
    name = " ".join(part.strip() for part in (first or "", last or "") if part and part.strip())
    return name or (abbr or "").strip()
