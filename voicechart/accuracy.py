"""Chart accuracy: the chart in the PMS against the chart that was spoken (a sample's expected chart).

Cells are the union of what was expected and what was charted: every probing depth, every flag bit sum,
every skipped tooth, mobility and furcation value. Blank-on-both sides are not counted, so an empty chart
scores 0, not 99 %.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from voicechart.pms.records import BLANK, SITE_COLUMNS, MeasureRow, SequenceType

_SECTIONS = {
    "probing": SequenceType.PROBING,
    "bleeding": SequenceType.BLEED_SUP_PLAQ_CALC,
    "furcation": SequenceType.FURCATION,
    "recession": SequenceType.GING_MARGIN,
    "mgj": SequenceType.MGJ,
}


@dataclass(frozen=True, slots=True)
class Score:
    correct: int
    wrong: int  # charted, but not what was said
    missing: int  # said, but not charted
    wrong_cells: tuple[str, ...] = field(default=())
    missing_cells: tuple[str, ...] = field(default=())

    @property
    def total(self) -> int:
        return self.correct + self.wrong + self.missing

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 1.0


def expected_cells(expected: Mapping[str, Any]) -> dict[str, int]:
    cells: dict[str, int] = {}
    for section in _SECTIONS:
        for tooth, sites in expected.get(section, {}).items():
            for site, value in sites.items():
                if section == "bleeding" and value == 0:
                    continue
                cells[f"{section}:{int(tooth)}:{site}"] = int(value)
    for tooth in expected.get("skipped", []):
        cells[f"skipped:{int(tooth)}"] = 1
    for tooth, value in expected.get("mobility", {}).items():
        cells[f"mobility:{int(tooth)}"] = int(value)
    return cells


def charted_cells(chart: Mapping[SequenceType, Mapping[int, MeasureRow]]) -> dict[str, int]:
    cells: dict[str, int] = {}
    for section, seq in _SECTIONS.items():
        for tooth, row in chart.get(seq, {}).items():
            for column, value in zip(SITE_COLUMNS, row.sites, strict=True):
                if value == BLANK or (section == "bleeding" and value == 0):
                    continue
                cells[f"{section}:{tooth}:{column}"] = value
    for tooth, row in chart.get(SequenceType.SKIP_TOOTH, {}).items():
        if row.tooth_value == 1:
            cells[f"skipped:{tooth}"] = 1
    for tooth, row in chart.get(SequenceType.MOBILITY, {}).items():
        if row.tooth_value != BLANK:
            cells[f"mobility:{tooth}"] = row.tooth_value
    return cells


def cell_keys(sites: Iterable[tuple[SequenceType, int, str]]) -> set[str]:
    """Cell names ("probing:3:MB") of (sequence type, tooth, column) sites."""
    names = {seq: name for name, seq in _SECTIONS.items()}
    names |= {SequenceType.SKIP_TOOTH: "skipped", SequenceType.MOBILITY: "mobility"}
    return {
        f"{names[seq]}:{tooth}:{column}" if column else f"{names[seq]}:{tooth}"
        for seq, tooth, column in sites
        if seq in names
    }


def score_chart(expected: Mapping[str, Any], chart: Mapping[SequenceType, Mapping[int, MeasureRow]]) -> Score:
    want = expected_cells(expected)
    got = charted_cells(chart)
    correct = sorted(k for k in want if got.get(k) == want[k])
    wrong = sorted(k for k in got if (k in want and got[k] != want[k]) or k not in want)
    missing = sorted(k for k in want if k not in got)
    return Score(len(correct), len(wrong), len(missing), tuple(wrong), tuple(missing))
