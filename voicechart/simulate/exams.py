"""Random perio exams with realistic shapes: a patient's severity sets the depths, bleeding follows depth,
furcations only on molars, third molars often missing. The ground truth for tests and benchmarks."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from voicechart.dictation.commands import FlagKind
from voicechart.pms.records import SITE_COLUMNS

MOLARS = frozenset({1, 2, 3, 14, 15, 16, 17, 18, 19, 30, 31, 32})
THIRD_MOLARS = frozenset({1, 16, 17, 32})
SEVERITIES = ("healthy", "gingivitis", "moderate", "severe")
_DEPTHS = {  # (values, weights) for interproximal sites; mid sites are one shallower
    "healthy": ((1, 2, 3, 4), (2, 6, 5, 1)),
    "gingivitis": ((2, 3, 4, 5), (3, 6, 3, 1)),
    "moderate": ((2, 3, 4, 5, 6, 7), (2, 5, 5, 3, 2, 1)),
    "severe": ((3, 4, 5, 6, 7, 8, 9, 10, 11, 12), (2, 4, 5, 5, 4, 3, 2, 1, 1, 1)),
}
FLAG_BIT = {FlagKind.BLEEDING: 1, FlagKind.SUPPURATION: 2, FlagKind.PLAQUE: 4, FlagKind.CALCULUS: 8}
Site = tuple[int, str]  # (tooth, column)


@dataclass(slots=True)
class Exam:
    """One exam as it was found in the mouth, in Open Dental's encoding (Universal teeth, site columns)."""

    severity: str
    missing_known: set[int] = field(default_factory=set)  # in the PMS before the exam: the path skips them
    missing_spoken: set[int] = field(
        default_factory=set
    )  # found missing and said ("skip", "tooth N missing")
    probing: dict[Site, int] = field(default_factory=dict)
    flags: dict[Site, int] = field(default_factory=dict)  # bit sum
    furcation: dict[Site, int] = field(default_factory=dict)
    recession: dict[Site, int] = field(default_factory=dict)  # 100+N above the CEJ
    mgj: dict[Site, int] = field(default_factory=dict)  # mucogingival junction: facial, and lower lingual
    mobility: dict[int, int] = field(default_factory=dict)

    @property
    def present(self) -> list[int]:
        return [t for t in range(1, 33) if t not in self.missing_known | self.missing_spoken]

    def expected_chart(self) -> dict[str, Any]:
        """The chart in the manifest's format (see voicechart.accuracy)."""

        def by_tooth(cells: dict[Site, int]) -> dict[str, dict[str, int]]:
            out: dict[str, dict[str, int]] = {}
            for (tooth, column), value in sorted(cells.items()):
                out.setdefault(str(tooth), {})[column] = value
            return out

        return {
            "probing": by_tooth(self.probing),
            "bleeding": by_tooth(self.flags),
            "furcation": by_tooth(self.furcation),
            "recession": by_tooth(self.recession),
            "mgj": by_tooth(self.mgj),
            "skipped": sorted(self.missing_known | self.missing_spoken),
            "mobility": {str(t): v for t, v in sorted(self.mobility.items())},
        }


def random_exam(rng: random.Random, *, severity: str | None = None, findings: bool = True) -> Exam:
    exam = Exam(severity or rng.choice(SEVERITIES))
    for tooth in range(1, 33):
        p_missing = 0.45 if tooth in THIRD_MOLARS else 0.04
        if rng.random() < p_missing:
            (exam.missing_known if rng.random() < 0.7 else exam.missing_spoken).add(tooth)
    if len(exam.present) == 0:  # keep at least one tooth to chart
        exam.missing_known.discard(8)
        exam.missing_spoken.discard(8)
    values, weights = _DEPTHS[exam.severity]
    deep_bias = {"healthy": 0.05, "gingivitis": 0.3, "moderate": 0.4, "severe": 0.5}[exam.severity]
    for tooth in exam.present:
        for column in SITE_COLUMNS:
            depth = rng.choices(values, weights)[0]
            if column in ("B", "L"):
                depth = max(1, depth - 1)
            exam.probing[(tooth, column)] = depth
            if not findings:
                continue
            bits = 0
            if rng.random() < (0.5 if depth >= 4 else 0.08) * (1 + deep_bias):
                bits |= 1
            if depth >= 5 and rng.random() < 0.1:
                bits |= 2
            if rng.random() < 0.05:
                bits |= 4
            if rng.random() < 0.04:
                bits |= 8
            if bits:
                exam.flags[(tooth, column)] = bits
        if not findings:
            continue
        if tooth in MOLARS and exam.severity in ("moderate", "severe") and rng.random() < 0.3:
            columns = ("B",) if tooth <= 16 else rng.choice((("B",), ("L",), ("B", "L")))
            for column in columns:
                exam.furcation[(tooth, column)] = rng.randint(1, 3)
        if rng.random() < 0.06 * (1 + deep_bias):
            exam.mobility[tooth] = rng.randint(1, 3 if exam.severity == "severe" else 2)
        for side_columns in (("MB", "B", "DB"), ("ML", "L", "DL")):
            roll = rng.random()
            if roll < 0.06:
                for column in side_columns:
                    exam.recession[(tooth, column)] = rng.randint(0, 4)
            elif roll < 0.12:
                exam.recession[(tooth, side_columns[1])] = rng.randint(1, 5)
            elif roll < 0.13:
                exam.recession[(tooth, side_columns[1])] = 100 + rng.randint(1, 3)
    _add_mucogingival(exam, random.Random(f"mgj:{exam.severity}:{sorted(exam.probing.items())[:3]}"))
    return exam


def _add_mucogingival(exam: Exam, rng: random.Random) -> None:
    """The MGJ on some facial and lower lingual sides (there is none on the palate). Drawn from its own
    generator, so the rest of a seeded exam is the same with or without it."""
    for tooth in exam.present:
        for columns, lingual in ((("MB", "B", "DB"), False), (("ML", "L", "DL"), True)):
            if lingual and tooth <= 16:
                continue
            roll = rng.random()
            if roll < 0.03:
                for column in columns:
                    exam.mgj[(tooth, column)] = rng.randint(1, 6)
            elif roll < 0.07:
                exam.mgj[(tooth, columns[1])] = rng.randint(1, 6)
