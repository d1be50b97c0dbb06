"""An exam rendered into what a hygienist says, in the styles DICTATION.md allows.

The renderer walks the probing path the way the session does, so every utterance means exactly the values
of the exam. Each utterance can also be rendered "named" (each tooth side said before its depths, and in
every finding by a hygienist who names teeth often, `Style.names_findings`), which is how a hygienist
repeats something the system flagged, and knows the tooth side its depths begin on (`where`),
which is how she answers "which tooth?".
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

from voicechart.dictation.commands import SitePart
from voicechart.dictation.numbering import Numbering, from_universal
from voicechart.dictation.tokens import NUMBER_WORDS
from voicechart.exam.path import PathOrder, ToothSide, site_column, site_order, tooth_sides
from voicechart.simulate.exams import FLAG_BIT, Exam

NumberStyle = Literal["words", "digits", "commas", "run_together"]
NUMBER_STYLES: tuple[NumberStyle, ...] = ("words", "digits", "commas", "run_together")
WORDS = {v: k for k, v in NUMBER_WORDS.items() if k != "eightteen"}
TENS_WORDS = {2: "twenty", 3: "thirty", 4: "forty"}
FILLERS = ("um", "okay", "uh", "so")


@dataclass(frozen=True, slots=True)
class Style:
    numbers: NumberStyle = "words"
    sides_per_breath: int = 1  # tooth sides of depths in one utterance (findings stay with their side)
    named_every: float = 0.0  # chance that a tooth side is dictated with its tooth named
    split_chance: float = 0.0  # chance that a triplet is said as "three two" … "four"
    filler_chance: float = 0.0
    skip_style: Literal["skip", "missing", "named"] = "skip"

    @property
    def names_findings(self) -> bool:
        """Whether, repeating an utterance with the tooth, she also names it in every finding ("bleeding on
        tooth 4 facial distal"): only the hygienist who often names teeth anyway; the others name the tooth
        side before its depths and let the findings follow it, as they do in the flow."""
        return self.named_every >= 0.3


def random_style(rng: random.Random) -> Style:
    return Style(
        numbers=rng.choice(NUMBER_STYLES),
        sides_per_breath=rng.choice((1, 1, 1, 2, 3)),
        named_every=rng.choice((0.0, 0.0, 0.1, 0.3)),
        split_chance=rng.choice((0.0, 0.0, 0.05)),
        filler_chance=rng.choice((0.0, 0.05, 0.15)),
        skip_style=rng.choice(("skip", "missing", "named")),
    )


@dataclass(slots=True)
class Phrase:
    """One command's worth of speech: how it sounds in the flow, and how it sounds with the tooth named."""

    flowing: str
    named: str


@dataclass(slots=True)
class Spoken:
    phrases: list[Phrase] = field(default_factory=list)
    where: str = ""
    """The tooth side its first depths are on, as said in answer to "which tooth?" ("tooth eight lingual");
    empty when it holds no depths."""

    def text(self, *, named: bool = False) -> str:
        return ", ".join(p.named if named else p.flowing for p in self.phrases)


class _Renderer:
    def __init__(self, exam: Exam, style: Style, rng: random.Random, order: PathOrder, numbering: Numbering):
        self.exam, self.style, self.rng = exam, style, rng
        self.order: PathOrder = order
        self.numbering: Numbering = numbering

    def number(self, n: int) -> str:
        if self.style.numbers != "words":
            return str(n)
        if n < 20:
            return WORDS[n]
        tens, unit = divmod(n, 10)
        return f"{TENS_WORDS[tens]} {WORDS[unit]}" if unit else TENS_WORDS[tens]

    def numbers(self, values: list[int]) -> str:
        style = self.style.numbers
        if style == "run_together" and len(values) >= 3 and all(v < 10 for v in values):  # "11": eleven?
            return "".join(str(v) for v in values)
        if style == "commas":
            return ", ".join(str(v) for v in values)
        return " ".join(self.number(v) if style == "words" else str(v) for v in values)

    def tooth(self, tooth: int) -> str:
        return f"tooth {self.number(from_universal(tooth, self.numbering))}"

    def tooth_side(self, ts: ToothSide) -> str:
        return f"{self.tooth(ts.tooth)} {ts.side.value}"

    def filler(self, text: str) -> str:
        if self.rng.random() < self.style.filler_chance:
            return f"{self.rng.choice(FILLERS)} {text}"
        return text

    def depths(self, ts: ToothSide, values: list[int], *, say_tooth: bool) -> Phrase:
        named = f"{self.tooth_side(ts)} {self.numbers(values)}"
        return Phrase(self.filler(named if say_tooth else self.numbers(values)), named)

    def findings(self, ts: ToothSide) -> list[Phrase]:
        exam = self.exam
        order = site_order(self.order, ts)
        columns = [site_column(ts, p) for p in order]
        where_named = f" on {self.tooth_side(ts)}" if self.style.names_findings else ""
        out: list[Phrase] = []
        for kind, bit in FLAG_BIT.items():
            parts = [p for p, c in zip(order, columns, strict=True) if exam.flags.get((ts.tooth, c), 0) & bit]
            if not parts:
                continue
            if len(parts) == 3:
                sites = "all"
            elif set(parts) == {SitePart.DISTAL, SitePart.MESIAL} and self.rng.random() < 0.5:
                sites = "interproximal"
            else:
                sites = " and ".join(p.value for p in parts)
            out.append(Phrase(f"{kind.value} {sites}", f"{kind.value}{where_named} {sites}"))
        recession = [exam.recession.get((ts.tooth, c)) for c in columns]
        if all(v is not None for v in recession):
            said = self.numbers([v for v in recession if v is not None])
            out.append(Phrase(f"recession {said}", f"recession {said}{where_named}"))
        elif recession[1] is not None:
            value = recession[1]
            said = f"plus {self.number(value - 100)}" if value > 100 else self.number(value)
            out.append(Phrase(f"recession {said}", f"recession {said}{where_named}"))
        mgj = [exam.mgj.get((ts.tooth, c)) for c in columns]
        mgj_word = "M G J" if ts.tooth % 2 else "mucogingival junction"  # both ways, without a draw
        if all(v is not None for v in mgj):
            said = self.numbers([v for v in mgj if v is not None])
            out.append(Phrase(f"{mgj_word} {said}", f"{mgj_word} {said}{where_named}"))
        elif mgj[1] is not None:
            said = self.number(mgj[1])
            out.append(Phrase(f"{mgj_word} {said}", f"{mgj_word} {said}{where_named}"))
        grade = exam.furcation.get((ts.tooth, columns[1]))
        if grade is not None:
            out.append(
                Phrase(f"furcation grade {self.number(grade)}", f"furcation grade {grade}{where_named}")
            )
        return out

    def render(self) -> list[Spoken]:
        exam, style, rng = self.exam, self.style, self.rng
        spoken: list[Spoken] = [Spoken([Phrase("start perio exam", "start perio exam")])]
        skipped = set(exam.missing_known)
        current = Spoken()
        sides_in_breath = 0
        mobility_said: set[int] = set()

        def flush() -> None:
            nonlocal current, sides_in_breath
            if current.phrases:
                spoken.append(current)
            current, sides_in_breath = Spoken(), 0

        for ts in tooth_sides(self.order):
            if ts.tooth in skipped:
                continue
            if ts.tooth in exam.missing_spoken:
                flush()
                named = f"{self.tooth(ts.tooth)} missing"
                flowing = {"skip": "skip", "missing": "missing", "named": named}[style.skip_style]
                spoken.append(Spoken([Phrase(flowing, named)]))
                skipped.add(ts.tooth)
                continue
            values = [exam.probing[(ts.tooth, site_column(ts, p))] for p in site_order(self.order, ts)]
            say_tooth = rng.random() < style.named_every
            if rng.random() < style.split_chance:  # "three two" … "four"
                flush()
                parts = site_order(self.order, ts)
                site_named = [
                    f"{self.tooth(ts.tooth)} {ts.side.value} {p.value} {self.number(v)}"
                    for p, v in zip(parts, values, strict=True)
                ]
                first_two = Phrase(self.numbers(values[:2]), ", ".join(site_named[:2]))
                spoken.append(Spoken([first_two], where=self.tooth_side(ts)))
                current.phrases.append(Phrase(self.numbers(values[2:]), site_named[2]))
                current.where = current.where or f"{self.tooth_side(ts)} {parts[2].value}"
            else:
                if say_tooth:
                    flush()
                current.phrases.append(self.depths(ts, values, say_tooth=say_tooth))
                current.where = current.where or self.tooth_side(ts)
            current.phrases.extend(self.findings(ts))
            grade = exam.mobility.get(ts.tooth)
            if grade is not None and ts.tooth not in mobility_said:
                mobility_said.add(ts.tooth)
                current.phrases.append(
                    Phrase(
                        f"mobility {self.number(grade)}",
                        f"mobility {self.number(grade)}"
                        + (f" on {self.tooth(ts.tooth)}" if style.names_findings else ""),
                    )
                )
            sides_in_breath += 1
            if sides_in_breath >= style.sides_per_breath:
                flush()
        flush()
        spoken.append(Spoken([Phrase("end exam", "end exam")]))
        return spoken


def render_exam(
    exam: Exam,
    style: Style,
    rng: random.Random,
    *,
    order: PathOrder = "maxillary_first",
    numbering: Numbering = "universal",
) -> list[Spoken]:
    """The utterances that dictate `exam` from start to end."""
    return _Renderer(exam, style, rng, order, numbering).render()
