"""Small inline SVG plots for the dashboard: one line per operatory or person over the days (no JavaScript,
no plotting library)."""

from __future__ import annotations

from collections import defaultdict
from html import escape
from typing import Any

WIDTH, HEIGHT, PAD = 520, 180, 36
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")


def line_plot(title: str, series: dict[str, dict[str, float]], *, unit: str = "") -> str:
    """`series`: name → {day: value}. Days on x (sorted), values on y from 0."""
    days = sorted({d for points in series.values() for d in points})
    top = max((v for points in series.values() for v in points.values()), default=0.0) or 1.0
    parts = [
        f'<svg class="plot" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        f'<text x="{PAD}" y="14" class="plot-title">{escape(title)}</text>',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - 8}" y2="{HEIGHT - PAD}" class="axis"/>',
        f'<line x1="{PAD}" y1="24" x2="{PAD}" y2="{HEIGHT - PAD}" class="axis"/>',
        f'<text x="4" y="30" class="tick">{top:.3g}{escape(unit)}</text>',
        f'<text x="4" y="{HEIGHT - PAD}" class="tick">0</text>',
    ]
    if not days:
        parts.append(f'<text x="{WIDTH / 2 - 40}" y="{HEIGHT / 2}" class="tick">no data yet</text></svg>')
        return "".join(parts)

    def x(i: int) -> float:
        return PAD + (WIDTH - PAD - 16) * (i / max(1, len(days) - 1) if len(days) > 1 else 0.5)

    def y(v: float) -> float:
        return HEIGHT - PAD - (HEIGHT - PAD - 28) * v / top

    for i, day in enumerate(days):
        if len(days) <= 8 or i % max(1, len(days) // 7) == 0:
            parts.append(
                f'<text x="{x(i) - 16:.0f}" y="{HEIGHT - PAD + 14}" class="tick">{escape(day[5:])}</text>'
            )
    for n, (name, points) in enumerate(sorted(series.items())):
        colour = COLOURS[n % len(COLOURS)]
        coords = [(x(i), y(points[d])) for i, d in enumerate(days) if d in points]
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in coords)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts.extend(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>' for px, py in coords)
        parts.append(
            f'<text x="{WIDTH - 150}" y="{30 + 12 * n}" fill="{colour}" class="legend">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def dashboard_svgs(figures: list[dict[str, Any]], people: dict[int, str]) -> dict[str, str]:
    """Utterances, flagged rate, corrections and latency per day, by operatory and by person."""
    out = {}
    for by, label in (("operatory", "operatory"), ("prov_num", "person")):
        sums: dict[str, dict[str, dict[str, list[float]]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(list))
        )
        for f in figures:
            key = (
                f"op {f['operatory']}"
                if by == "operatory"
                else people.get(f["prov_num"], f"provider {f['prov_num']}")
            )
            for metric in ("utterances", "flagged_rate", "corrections", "latency_ms_median"):
                if f[metric] is not None:
                    sums[metric][key][f["day"]].append(float(f[metric]))
        for metric, title, unit in (
            ("utterances", "Utterances", ""),
            ("flagged_rate", "Share not charted", " %"),
            ("corrections", "Corrections", ""),
            ("latency_ms_median", "Median end of speech → charted", " ms"),
        ):
            series = {
                name: {
                    day: (sum(v) if metric in ("utterances", "corrections") else sum(v) / len(v))
                    * (100 if metric == "flagged_rate" else 1)  # a share, shown in per cent
                    for day, v in days.items()
                }
                for name, days in sums[metric].items()
            }
            out[f"{metric}_by_{label}"] = line_plot(f"{title} by {label}", series, unit=unit)
    return out
