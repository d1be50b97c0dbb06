"""Corrupt dictation text the way the recognizer does, from a confusion table collected on its own output.

The table (bench/results/confusions.json, written by `bench recognizer`) maps a said phrase (tokenizer
words) to how often it was seen and what it was heard as: {"six five four": {"seen": 3, "heard": {"6 by 4":
1}}}. "-" as the said phrase is an insertion (heard where nothing was said); "-" as heard is a dropped word.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from voicechart.dictation.tokens import tokenize

MAX_PHRASE = 3


@dataclass(frozen=True, slots=True)
class Confusions:
    heard: Mapping[str, Mapping[str, int]]
    seen: Mapping[str, int]
    rate: float = 1.0  # scales every confusion's probability

    @classmethod
    def from_json(cls, data: Mapping[str, Any], rate: float = 1.0) -> Confusions:
        return cls(
            {k: dict(v["heard"]) for k, v in data.items()},
            {k: int(v["seen"]) for k, v in data.items()},
            rate,
        )

    def probability(self, said: str) -> float:
        total = sum(self.heard.get(said, {}).values())
        return min(1.0, self.rate * total / max(self.seen.get(said, 0), total, 1))


def corrupt(text: str, confusions: Confusions, rng: random.Random) -> str:
    """The text as the recognizer might have heard it (normalized words, space separated)."""
    words = [t.text for t in tokenize(text)[1]]
    out: list[str] = []
    i = 0
    while i < len(words):
        for n in range(MAX_PHRASE, 0, -1):
            said = " ".join(words[i : i + n])
            if (
                i + n <= len(words)
                and said in confusions.heard
                and rng.random() < confusions.probability(said)
            ):
                options = confusions.heard[said]
                heard = rng.choices(list(options), list(options.values()))[0]
                if heard != "-":
                    out.append(heard)
                i += n
                break
        else:
            out.append(words[i])
            i += 1
    if "-" in confusions.heard and rng.random() < confusions.probability("-"):
        options = confusions.heard["-"]
        out.append(rng.choices(list(options), list(options.values()))[0])
    return " ".join(out)
