"""Word error rate for notes: words lower-cased, punctuation dropped, number words written as digits."""

from __future__ import annotations

import re

from voicechart.dictation.tokens import NUMBER_WORDS
from voicechart.notes.lexicon import PROTECTED


def words(text: str) -> list[str]:
    found = re.findall(r"[a-z]+(?:'[a-z]+)?|\d+", text.lower().replace("-", " "))
    return [str(NUMBER_WORDS[w]) if w in NUMBER_WORDS else w for w in found]


def edit_distance(a: list[str], b: list[str]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def wer(truth: str, heard: str) -> float:
    reference = words(truth)
    return edit_distance(reference, words(heard)) / len(reference) if reference else 0.0


def protected_words(text: str) -> list[str]:
    """Numbers, negations and laterality words, in order: what a note must carry exactly as it was said."""
    return [w for w in words(text) if w in PROTECTED or w.isdigit()]
