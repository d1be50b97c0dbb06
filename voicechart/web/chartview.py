"""The perio chart as clinicians read it, as data for the page, the PDF and the CSV.

Upper arch from the patient's right (tooth 1) to left (16); lower arch from right (32) to left (17). Each
tooth has its facial and lingual depth rows (three sites, left to right on the screen), recession / gingival
margin, MGJ, furcation, bleeding and suppuration marks, mobility; skipped teeth are greyed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from voicechart.dictation.commands import Side
from voicechart.exam.path import ToothSide, site_column
from voicechart.pms.records import BLANK, BleedingFlags, MeasureRow, SequenceType
from voicechart.render import DEEP_MM, screen_parts

Chart = Mapping[SequenceType, Mapping[int, MeasureRow]]
WORSENED_MM = 2
UPPER = tuple(range(1, 17))
LOWER = tuple(range(32, 16, -1))
ROWS = (
    ("Probing", SequenceType.PROBING),
    ("GM", SequenceType.GING_MARGIN),
    ("MGJ", SequenceType.MGJ),
    ("Furcation", SequenceType.FURCATION),
)


@dataclass(frozen=True, slots=True)
class SiteCell:
    tooth: int
    column: str  # MB … DL
    sequence_type: int
    text: str
    value: int
    classes: str  # deep, bleeding, suppuration, marked, worse
    edit_id: int | None  # the edit that last set it (its utterance has the audio)
    mark: str  # why it carries a review mark, if it does
    previous: int


@dataclass(frozen=True, slots=True)
class ToothCell:
    tooth: int
    skipped: bool
    mobility: str
    sites: tuple[SiteCell, SiteCell, SiteCell]


@dataclass(frozen=True, slots=True)
class ChartRow:
    label: str
    side: str
    teeth: tuple[ToothCell, ...]


@dataclass(frozen=True, slots=True)
class ArchView:
    name: str
    teeth: tuple[int, ...]
    rows: tuple[ChartRow, ...]


def _value(chart: Chart, seq: SequenceType, tooth: int, column: str) -> int:
    row = chart.get(seq, {}).get(tooth)
    return row.site(column) if row else BLANK


def _text(seq: SequenceType, value: int) -> str:
    if value == BLANK:
        return ""
    if seq is SequenceType.GING_MARGIN and value > 100:
        return f"+{value - 100}"
    return str(value)


def arch_views(
    chart: Chart,
    *,
    previous: Chart | None = None,
    sources: Mapping[tuple[int, int, str], int] | None = None,
    marks: Mapping[tuple[int, int, str], str] | None = None,
) -> tuple[ArchView, ArchView]:
    sources = sources or {}
    marks = marks or {}
    skipped = {t for t, r in chart.get(SequenceType.SKIP_TOOTH, {}).items() if r.tooth_value == 1}
    mobility = {
        t: r.tooth_value for t, r in chart.get(SequenceType.MOBILITY, {}).items() if r.tooth_value >= 0
    }

    def site(seq: SequenceType, tooth: int, column: str) -> SiteCell:
        value = _value(chart, seq, tooth, column)
        before = _value(previous, seq, tooth, column) if previous else BLANK
        classes = []
        if seq is SequenceType.PROBING:
            flags = max(_value(chart, SequenceType.BLEED_SUP_PLAQ_CALC, tooth, column), 0)
            if value >= DEEP_MM:
                classes.append("deep")
            if flags & BleedingFlags.BLOOD:
                classes.append("bleeding")
            if flags & BleedingFlags.SUPPURATION:
                classes.append("suppuration")
            if value != BLANK and before != BLANK and value - before >= WORSENED_MM:
                classes.append("worse")
            flag_key = (int(SequenceType.BLEED_SUP_PLAQ_CALC), tooth, column)
        else:
            flag_key = (int(seq), tooth, column)
        key = (int(seq), tooth, column)
        mark = marks.get(key) or (marks.get(flag_key, "") if seq is SequenceType.PROBING else "")
        if mark:
            classes.append("marked")
        source = sources.get(key) or (sources.get(flag_key) if seq is SequenceType.PROBING else None)
        return SiteCell(
            tooth, column, int(seq), _text(seq, value), value, " ".join(classes), source, mark, before
        )

    def arch(name: str, teeth: tuple[int, ...], sides: tuple[Side, Side]) -> ArchView:
        rows = []
        for side in sides:
            columns_of = {t: [site_column(ToothSide(t, side), p) for p in screen_parts(t)] for t in teeth}
            for label, seq in ROWS:
                if seq is SequenceType.MGJ and side is Side.LINGUAL and teeth is UPPER:
                    continue  # MGJ is charted on facial sites and on lower lingual sites only
                cells = []
                for tooth in teeth:
                    sites = tuple(site(seq, tooth, c) for c in columns_of[tooth])
                    cells.append(
                        ToothCell(
                            tooth,
                            tooth in skipped,
                            str(mobility[tooth]) if tooth in mobility else "",
                            (sites[0], sites[1], sites[2]),
                        )
                    )
                rows.append(ChartRow(label, side.value, tuple(cells)))
        return ArchView(name, teeth, tuple(rows))

    return (
        arch("Upper", UPPER, (Side.FACIAL, Side.LINGUAL)),
        arch("Lower", LOWER, (Side.LINGUAL, Side.FACIAL)),
    )


def csv_rows(chart: Chart) -> list[list[str]]:
    """One line per tooth and site: depth, GM, MGJ, furcation, bleeding, suppuration, plaque, calculus."""
    out = [
        [
            "tooth",
            "site",
            "depth",
            "gm",
            "mgj",
            "furcation",
            "bleeding",
            "suppuration",
            "plaque",
            "calculus",
            "mobility",
            "skipped",
        ]
    ]
    skipped = {t for t, r in chart.get(SequenceType.SKIP_TOOTH, {}).items() if r.tooth_value == 1}
    mobility = {
        t: r.tooth_value for t, r in chart.get(SequenceType.MOBILITY, {}).items() if r.tooth_value >= 0
    }
    for tooth in range(1, 33):
        for column in ("DB", "B", "MB", "DL", "L", "ML"):
            flags = max(_value(chart, SequenceType.BLEED_SUP_PLAQ_CALC, tooth, column), 0)
            out.append(
                [
                    str(tooth),
                    column,
                    _text(SequenceType.PROBING, _value(chart, SequenceType.PROBING, tooth, column)),
                    _text(SequenceType.GING_MARGIN, _value(chart, SequenceType.GING_MARGIN, tooth, column)),
                    _text(SequenceType.MGJ, _value(chart, SequenceType.MGJ, tooth, column)),
                    _text(SequenceType.FURCATION, _value(chart, SequenceType.FURCATION, tooth, column)),
                    "1" if flags & BleedingFlags.BLOOD else "",
                    "1" if flags & BleedingFlags.SUPPURATION else "",
                    "1" if flags & BleedingFlags.PLAQUE else "",
                    "1" if flags & BleedingFlags.CALCULUS else "",
                    str(mobility[tooth]) if tooth in mobility else "",
                    "1" if tooth in skipped else "",
                ]
            )
    return out
