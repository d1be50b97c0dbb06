"""The probing strings of `POST /perioexams`: UpperFacial, UpperLingual, LowerLingual, LowerFacial.

As documented [API:apiperioexams]: a string is read left to right along its region, from the patient's right
to the patient's left (the UI's "AutoAdvance Left"); each digit 0-9 is the probing depth of the next surface;
the letters b, s, p and c after a digit set Bleeding, Suppuration, Plaque and Calculus on that same surface;
any other character is ignored; once every surface of the region has a depth, the rest is ignored. The surface
order within a tooth follows the screen (OPENDENTAL.md §3.7): e.g. "323b" gives tooth 1 DB 3, B 2, MB 3 and
bleeding on MB.

Choices where the documentation is silent are marked "sandbox:".
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from voicechart.pms.records import BLANK, BleedingFlags, MeasureRow, SequenceType

MB, B, DB, ML, L, DL = range(6)  # indexes into MeasureRow.sites
REGIONS = ("UpperFacial", "UpperLingual", "LowerLingual", "LowerFacial")
FLAG_LETTERS = {
    "b": BleedingFlags.BLOOD,
    "s": BleedingFlags.SUPPURATION,
    "p": BleedingFlags.PLAQUE,
    "c": BleedingFlags.CALCULUS,
}

Surface = tuple[int, int]
"""(tooth, index into MeasureRow.sites)."""


def _path(
    teeth: range, right_side: int, right_order: tuple[int, ...], left_order: tuple[int, ...]
) -> list[Surface]:
    """The surfaces of `teeth` in screen order: teeth on the patient's right side (the first `right_side`) run
    distal to mesial, the others mesial to distal."""
    return [
        (tooth, site)
        for i, tooth in enumerate(teeth)
        for site in (right_order if i < right_side else left_order)
    ]


PATHS: dict[str, list[Surface]] = {
    "UpperFacial": _path(range(1, 17), 8, (DB, B, MB), (MB, B, DB)),
    "UpperLingual": _path(range(1, 17), 8, (DL, L, ML), (ML, L, DL)),
    "LowerLingual": _path(range(32, 16, -1), 8, (DL, L, ML), (ML, L, DL)),
    "LowerFacial": _path(range(32, 16, -1), 8, (DB, B, MB), (MB, B, DB)),
}
"""Each region's 48 surfaces, in the order its string fills them."""


def read_region(region: str, text: str) -> Iterator[tuple[Surface, int, BleedingFlags]]:
    """(surface, probing depth, flags) for each digit of `text`, along `region`'s path."""
    path = PATHS[region]
    current: tuple[Surface, int, BleedingFlags] | None = None
    filled = 0
    for char in text:
        if char.isascii() and char.isdigit():
            if current is not None:
                yield current
            if filled == len(path):  # the region is fully measured: the rest is ignored
                return
            current = (path[filled], int(char), BleedingFlags.NONE)
            filled += 1
        elif char in FLAG_LETTERS and current is not None:
            # sandbox: characters between a digit and its flags are skipped like any other ("3 b" = "3b"),
            # a flag before the first digit is ignored, and flags after the last surface's digit still count
            surface, depth, flags = current
            current = (surface, depth, flags | FLAG_LETTERS[char])
    if current is not None:
        yield current


def measures_from_strings(strings: Mapping[str, str]) -> list[MeasureRow]:
    """The Probing and BleedSupPlaqCalc rows the region strings describe, one per tooth and type.

    A tooth gets a Probing row when any of its surfaces got a digit, and a BleedSupPlaqCalc row when any of
    its surfaces got a flag (sites without flags are 0, as Open Dental's chart saves them).
    """
    depths: dict[int, list[int]] = {}
    flags: dict[int, list[int]] = {}
    for region in REGIONS:
        for (tooth, site), depth, surface_flags in read_region(region, strings.get(region, "")):
            depths.setdefault(tooth, [BLANK] * 6)[site] = depth
            if surface_flags:
                flags.setdefault(tooth, [0] * 6)[site] = int(surface_flags)
    rows = [MeasureRow(SequenceType.PROBING, tooth, BLANK, _six(sites)) for tooth, sites in depths.items()]
    rows += [
        MeasureRow(SequenceType.BLEED_SUP_PLAQ_CALC, tooth, BLANK, _six(s)) for tooth, s in flags.items()
    ]
    return sorted(rows, key=lambda row: (row.sequence_type, row.tooth))


def _six(values: list[int]) -> tuple[int, int, int, int, int, int]:
    mb, b, db, ml, lingual, dl = values
    return (mb, b, db, ml, lingual, dl)
