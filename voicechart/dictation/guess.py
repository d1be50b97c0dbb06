"""Guessing a finding or site word the recognizer misspelt: "black mid" → plaque mid, "nobility 2" →
mobility 2, "interroximal" → interproximal.

Only words the grammar did not understand are guessed, only as one of the finding and site words (never a
number, a tooth or a command that moves the cursor), only when one word is clearly the closest in spelling
as it sounds, and only when the guess makes the whole utterance understood. What is charted from a guess is
marked for review, naming the word that was heard.
"""

from __future__ import annotations

import difflib
import re

TARGETS = (
    "plaque", "calculus", "bleeding", "suppuration", "mesial", "distal", "interproximal", "mobility",
    "recession", "furcation", "gingival", "mucogingival", "junction",
)  # fmt: skip
"""The words a misheard word may be taken for: findings, sites and measures."""

MISHEARD: dict[str, str] = {
    "black": "plaque",
    "separation": "suppuration",
    "good": "mid",
    "meal": "mesial",
    "plant": "plaque",
    "home": "all",
}
"""Words tiny.en writes for a finding or site word, whatever their spelling ("plant" for plaque),
learned from the corpus's dev voices by `python -m bench misheard` (seen twice or more, from two or more dev
speakers; never a tooth side). Guessed like a misspelling: only where not understood, only when that makes the
utterance understood, and marked for review."""

SIMILAR = 0.75
"""How alike (`likeness`) a heard word and the word it is taken for must be (here on the words as they sound;
voicechart.dictation.choose uses it for words like a cursor-moving command's)."""

LEAD = 0.1
"""How much closer the guess must be than the next closest word."""

MIN_LETTERS = 4

_SOUNDS = (
    ("ph", "f"),
    ("que", "k"),
    ("qu", "k"),
    ("ck", "k"),
    ("c", "k"),
    ("x", "ks"),
    ("z", "s"),
    ("y", "i"),
)


def _as_it_sounds(word: str) -> str:
    for spelling, sound in _SOUNDS:
        word = word.replace(spelling, sound)
    return re.sub(r"(.)\1+", r"\1", word)  # doubled letters sound once


def likeness(heard: str, word: str) -> float:
    """How alike two words are spelt, 0–1 (difflib's ratio: twice the letters in common over both lengths)."""
    return difflib.SequenceMatcher(None, heard, word).ratio()


_TARGET_SOUNDS = tuple((_as_it_sounds(t), t) for t in TARGETS)


def guess(word: str) -> str | None:
    """The finding or site word `word` most likely was, or None when none is clearly it."""
    if word in MISHEARD:
        return MISHEARD[word]
    if len(word) < MIN_LETTERS or not word.isalpha() or word in TARGETS:
        return None
    sound = _as_it_sounds(word)
    scored = sorted(
        ((likeness(sound, target_sound), target) for target_sound, target in _TARGET_SOUNDS),
        reverse=True,
    )
    (best, target), (second, _) = scored[0], scored[1]
    return target if best >= SIMILAR and best - second >= LEAD else None
