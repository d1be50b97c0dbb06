"""The dental lexicon: the terms the recognizer is prompted with, and a constrained correction of its
mis-spellings.

The correction only replaces a phrase the recognizer is known to produce for a dental term ("buckle" →
buccal).
It never touches numbers, tooth numbers, negations or laterality words — a replacement that would change one
of those is refused — and it returns every before/after pair for the audit trail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NOTE_PROMPT = (
    "Clinical note. Subjective: patient reports sensitivity. Objective: generalized gingivitis, bleeding on "
    "probing, calculus on the lingual of the anteriors, recession on the buccal of the tooth, furcation "
    "involvement, mesial, distal. Assessment: localized moderate periodontitis. Plan: scaling and root "
    "planing in quadrants, rinse, re-evaluate."
)
"""Whisper's initial prompt in note mode: the vocabulary and the shape of a SOAP note. It names no drug or
material, no number, no tooth number and no side of the mouth: Whisper copies words from its prompt into
what it hears (a prompt ending "Lidocaine with epinephrine." put "And epinephrine." into a note), and a note
must never gain a drug, a number or a tooth that nobody said. The price, measured: drug names are heard less
well ("chlorhexidine" came out "Poor Hicksitting" on one voice) — kept with the audio for the dentist."""

MISSPELLINGS: dict[str, str] = {
    "buckle": "buccal",
    "buckles": "buccal",
    "bucal": "buccal",
    "lingle": "lingual",
    "mesio": "mesial",
    "distle": "distal",
    "occlusial": "occlusal",
    "vocation": "furcation",
    "forcation": "furcation",
    "gingervitis": "gingivitis",
    "gingivitus": "gingivitis",
    "periodontitus": "periodontitis",
    "perio dontitis": "periodontitis",
    "peri odontal": "periodontal",
    "calculous": "calculus",
    "plack": "plaque",
    "scaling and root planning": "scaling and root planing",
    "scaling and rude planing": "scaling and root planing",
    "root planning": "root planing",
    "chlorhexadine": "chlorhexidine",
    "chlorhexidene": "chlorhexidine",
    "glorhexidine": "chlorhexidine",
    "lidocane": "lidocaine",
    "lydocaine": "lidocaine",
    "articane": "articaine",
    "epinephrin": "epinephrine",
    "bite wing": "bitewing",
    "bite wings": "bitewings",
    "pulpitus": "pulpitis",
    "endodonic": "endodontic",
}
PROTECTED = frozenset(
    {
        "no",
        "not",
        "none",
        "never",
        "denies",
        "without",
        "negative",
        "absent",
        "left",
        "right",
        "upper",
        "lower",
        "maxillary",
        "mandibular",
        "anterior",
        "posterior",
    }
)
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?|\d+")


@dataclass(frozen=True, slots=True)
class Correction:
    before: str
    after: str


def _protected(phrase: str) -> bool:
    words = phrase.lower().split()
    return any(w in PROTECTED or w.isdigit() for w in words)


def correct(text: str) -> tuple[str, tuple[Correction, ...]]:
    """The text with known mis-spellings of dental terms fixed, and what was changed."""
    corrections: list[Correction] = []
    out = text
    for wrong, right in sorted(MISSPELLINGS.items(), key=lambda kv: -len(kv[0])):
        if _protected(wrong) or _protected(right):
            continue  # the lexicon itself must never move a number, a negation or a side
        pattern = re.compile(rf"\b{re.escape(wrong)}\b", re.IGNORECASE)

        def replace(match: re.Match[str], right: str = right) -> str:
            found = match.group(0)
            fixed = right.capitalize() if found[:1].isupper() else right
            corrections.append(Correction(found, fixed))
            return fixed

        out = pattern.sub(replace, out)
    if _invariants(text) != _invariants(out):  # cannot happen with this lexicon; never let it through
        return text, ()
    return out, tuple(corrections)


def _invariants(text: str) -> list[str]:
    """Numbers, negations and laterality words, in order: what a correction must leave exactly as it was."""
    return [w.lower() for w in _WORD.findall(text) if w.lower() in PROTECTED or w.isdigit()]
