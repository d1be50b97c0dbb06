"""The probing path and the order of sites within a tooth side (DICTATION.md §1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from voicechart.dictation.commands import Side, SitePart

PathOrder = Literal["maxillary_first", "facials_first"]

_UPPER_RIGHT = range(1, 9)
_LOWER_LEFT = range(17, 25)


@dataclass(frozen=True, slots=True)
class ToothSide:
    tooth: int
    side: Side

    def __str__(self) -> str:
        return f"tooth {self.tooth} {self.side.value}"


@dataclass(frozen=True, slots=True)
class Position:
    """One site on the path: a tooth side and the index (0–2) of the site in probing order."""

    tooth_side: ToothSide
    site_index: int


def _segments(order: PathOrder) -> list[tuple[Side, list[int]]]:
    up, down = list(range(1, 17)), list(range(16, 0, -1))
    lower_back, lower_fwd = list(range(32, 16, -1)), list(range(17, 33))
    if order == "maxillary_first":
        return [(Side.FACIAL, up), (Side.LINGUAL, down), (Side.FACIAL, lower_back), (Side.LINGUAL, lower_fwd)]
    return [(Side.FACIAL, up), (Side.FACIAL, lower_fwd), (Side.LINGUAL, lower_back), (Side.LINGUAL, down)]


def _moving_up(order: PathOrder, tooth_side: ToothSide) -> bool:
    """Whether the path visits this tooth side while tooth numbers increase."""
    for side, teeth in _segments(order):
        if side is tooth_side.side and tooth_side.tooth in teeth:
            return teeth[0] < teeth[-1]
    raise ValueError(f"{tooth_side} is not on the path")


def site_order(order: PathOrder, tooth_side: ToothSide) -> tuple[SitePart, SitePart, SitePart]:
    """Distal→mid→mesial while the path moves toward the midline, mesial→mid→distal while moving away."""
    tooth = tooth_side.tooth
    up = _moving_up(order, tooth_side)
    toward_midline = up == (tooth in _UPPER_RIGHT or tooth in _LOWER_LEFT)
    if toward_midline:
        return (SitePart.DISTAL, SitePart.MID, SitePart.MESIAL)
    return (SitePart.MESIAL, SitePart.MID, SitePart.DISTAL)


def tooth_sides(order: PathOrder) -> list[ToothSide]:
    """Every tooth side in path order."""
    return [ToothSide(t, side) for side, teeth in _segments(order) for t in teeth]


def site_column(tooth_side: ToothSide, part: SitePart) -> str:
    """The periomeasure column of a site: 'MB', 'B', 'DB', 'ML', 'L' or 'DL'."""
    suffix = "B" if tooth_side.side is Side.FACIAL else "L"
    prefix = {SitePart.MESIAL: "M", SitePart.MID: "", SitePart.DISTAL: "D"}[part]
    return prefix + suffix
