"""Tooth numbering: Universal 1–32 (the default, and what the PMS stores) or FDI 11–48 (a clinic setting)."""

from __future__ import annotations

from typing import Literal

Numbering = Literal["universal", "fdi"]

# FDI quadrant → (Universal number of the quadrant's central incisor, direction as the FDI digit grows)
_FDI_QUADRANTS = {1: (8, -1), 2: (9, +1), 3: (24, -1), 4: (25, +1)}


def to_universal(spoken: int, numbering: Numbering) -> int | None:
    """The Universal number of a spoken tooth number, or None when it names no permanent tooth."""
    if numbering == "universal":
        return spoken if 1 <= spoken <= 32 else None
    quadrant, position = divmod(spoken, 10)
    if quadrant not in _FDI_QUADRANTS or not 1 <= position <= 8:
        return None
    central, direction = _FDI_QUADRANTS[quadrant]
    return central + direction * (position - 1)


def from_universal(tooth: int, numbering: Numbering) -> int:
    """The number a person in this clinic calls a tooth by."""
    if numbering == "universal":
        return tooth
    for quadrant, (central, direction) in _FDI_QUADRANTS.items():
        position = (tooth - central) * direction + 1
        if 1 <= position <= 8:
            return quadrant * 10 + position
    raise ValueError(f"tooth {tooth} is not a permanent tooth")


def valid_range(numbering: Numbering) -> str:
    return "1–32" if numbering == "universal" else "11–48"
