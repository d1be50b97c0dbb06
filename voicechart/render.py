"""A perio chart in the terminal, laid out the way a hygienist reads Open Dental's chart.

Each arch is shown from the patient's right to left in two halves; facial and lingual rows; pocket depths of
5 mm or more and bleeding highlighted (colour on a terminal, markers otherwise: * bleeding, ^ suppuration,
! 5 mm or deeper).
"""

from __future__ import annotations

from collections.abc import Mapping

from voicechart.dictation.commands import Side, SitePart
from voicechart.exam.path import ToothSide, site_column
from voicechart.pms.records import BLANK, BleedingFlags, MeasureRow, SequenceType

Chart = Mapping[SequenceType, Mapping[int, MeasureRow]]
DEEP_MM = 5
_RED, _BOLD, _DIM, _RESET = "\x1b[31m", "\x1b[1m", "\x1b[2m", "\x1b[0m"

HALVES: tuple[tuple[str, tuple[int, ...], tuple[Side, Side]], ...] = (
    ("Upper right", tuple(range(1, 9)), (Side.FACIAL, Side.LINGUAL)),
    ("Upper left", tuple(range(9, 17)), (Side.FACIAL, Side.LINGUAL)),
    ("Lower right", tuple(range(32, 24, -1)), (Side.LINGUAL, Side.FACIAL)),
    ("Lower left", tuple(range(24, 16, -1)), (Side.LINGUAL, Side.FACIAL)),
)


def screen_parts(tooth: int) -> tuple[SitePart, SitePart, SitePart]:
    """Left-to-right on the screen (patient's right to left): distal first on the patient's right side."""
    right_side = tooth <= 8 or tooth >= 25
    if right_side:
        return (SitePart.DISTAL, SitePart.MID, SitePart.MESIAL)
    return (SitePart.MESIAL, SitePart.MID, SitePart.DISTAL)


def _site_value(chart: Chart, seq: SequenceType, tooth: int, column: str) -> int:
    row = chart.get(seq, {}).get(tooth)
    return row.site(column) if row else BLANK


def _cell(chart: Chart, tooth: int, column: str, color: bool) -> str:
    depth = _site_value(chart, SequenceType.PROBING, tooth, column)
    flags = max(_site_value(chart, SequenceType.BLEED_SUP_PLAQ_CALC, tooth, column), 0)
    text = " ." if depth == BLANK else f"{depth:>2}"
    marker = " "
    if flags & BleedingFlags.BLOOD:
        marker = "*"
    elif flags & BleedingFlags.SUPPURATION:
        marker = "^"
    elif depth >= DEEP_MM:
        marker = "!"
    if not color:
        return text + marker
    if depth >= DEEP_MM:
        text = f"{_BOLD}{_RED}{text}{_RESET}"
    if marker in "*^":
        return f"{text}{_RED}{marker}{_RESET}"
    return text + (" " if marker == "!" else marker)


def render_chart(chart: Chart, *, title: str = "", color: bool = False) -> str:
    skipped = {t for t, r in chart.get(SequenceType.SKIP_TOOTH, {}).items() if r.tooth_value == 1}
    mobility = {
        t: r.tooth_value for t, r in chart.get(SequenceType.MOBILITY, {}).items() if r.tooth_value >= 0
    }
    lines = [title] if title else []
    for name, teeth, sides in HALVES:
        lines.append("")
        lines.append(f"{name:<12}" + "".join(f"{t:^10}" for t in teeth))
        for side in sides:
            cells = []
            for tooth in teeth:
                if tooth in skipped:
                    cells.append(f"{'missing':^10}" if not color else f"{_DIM}{'missing':^10}{_RESET}")
                    continue
                columns = [site_column(ToothSide(tooth, side), p) for p in screen_parts(tooth)]
                cells.append(" " + "".join(_cell(chart, tooth, c, color) for c in columns))
            lines.append(f"  {side.value:<10}" + "".join(cells))
        mob = [f"{mobility[t]:^10}" if t in mobility else " " * 10 for t in teeth]
        if any(s.strip() for s in mob):
            lines.append(f"  {'mobility':<10}" + "".join(mob))
    lines.append("")
    lines.append("  * bleeding   ^ suppuration   ! 5 mm or deeper   . not measured")
    return "\n".join(lines)


def chart_summary(chart: Chart) -> dict[str, int]:
    probing = chart.get(SequenceType.PROBING, {})
    flags = chart.get(SequenceType.BLEED_SUP_PLAQ_CALC, {})
    return {
        "teeth_charted": sum(1 for r in probing.values() if any(v != BLANK for v in r.sites)),
        "sites_charted": sum(1 for r in probing.values() for v in r.sites if v != BLANK),
        "deep_sites": sum(1 for r in probing.values() for v in r.sites if v >= DEEP_MM),
        "bleeding_sites": sum(
            1 for r in flags.values() for v in r.sites if v > 0 and v & BleedingFlags.BLOOD
        ),
    }
