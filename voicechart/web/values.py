"""Chart values in words a clinician reads: what a row measures (depth, bleeding, mobility, …), and a value
or a whole row as text ("MB 6 · B 3 · DB 3", "bleeding, suppuration", "+2": a margin above the CEJ)."""

from __future__ import annotations

from typing import Any

from voicechart.pms.records import BLANK, SITE_COLUMNS, BleedingFlags, MeasureRow, SequenceType, row_from_json

MEASURES: dict[SequenceType, str] = {
    SequenceType.PROBING: "depth",
    SequenceType.GING_MARGIN: "GM/recession",
    SequenceType.MGJ: "MGJ",
    SequenceType.FURCATION: "furcation",
    SequenceType.BLEED_SUP_PLAQ_CALC: "bleeding/suppuration",
    SequenceType.MOBILITY: "mobility",
    SequenceType.SKIP_TOOTH: "missing",
}
FLAG_NAMES: tuple[tuple[BleedingFlags, str], ...] = (
    (BleedingFlags.BLOOD, "bleeding"),
    (BleedingFlags.SUPPURATION, "suppuration"),
    (BleedingFlags.PLAQUE, "plaque"),
    (BleedingFlags.CALCULUS, "calculus"),
)


def measure(seq: int) -> str:
    return MEASURES[SequenceType(seq)]


def value_text(seq: int, value: int) -> str:
    """One site's (or a row's) value as the chart shows it; "blank" when nothing is charted."""
    kind = SequenceType(seq)
    if value == BLANK:
        return "blank"
    if kind is SequenceType.BLEED_SUP_PLAQ_CALC:
        return ", ".join(name for flag, name in FLAG_NAMES if value & flag) or "none"
    if kind is SequenceType.GING_MARGIN and value > 100:
        return f"+{value - 100}"
    if kind is SequenceType.SKIP_TOOTH:
        return "yes" if value == 1 else "no"
    return str(value)


def row_text(row: MeasureRow) -> str:
    """A row's charted values: "MB 6 · B 3 · DB 3"; a row value (mobility, missing) alone."""
    if row.sequence_type in (SequenceType.MOBILITY, SequenceType.SKIP_TOOTH):
        return value_text(row.sequence_type, row.tooth_value)
    parts = [
        f"{column} {value_text(row.sequence_type, value)}"
        for column, value in zip(SITE_COLUMNS, row.sites, strict=True)
        if value != BLANK and not (row.sequence_type is SequenceType.BLEED_SUP_PLAQ_CALC and value == 0)
    ]
    return " · ".join(parts) or "nothing"


def has_flag(value: int, flag: int) -> bool:
    """Whether a BleedSupPlaqCalc site value carries the flag (a BleedingFlags bit)."""
    return value != BLANK and bool(value & flag)


def journaled_row_text(seq: int, tooth: int, data: dict[str, Any] | None) -> str:
    """A row as the journal keeps it (chart_edit.before / .after), in words."""
    row = row_from_json(seq, tooth, data)
    return row_text(row) if row is not None else "nothing"


def counted(number: int, noun: str, plural: str = "") -> str:
    """ "1 edit", "2 edits", "0 utterances"; `plural` when adding an s is wrong."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"
