"""Words the recognizer writes for a finding or site word, learned from the corpus's dev voices only.

Every first hearing of the dev exams (cached recognitions, the product's prompt, the top reading) that the
grammar did not understand is aligned word by word with what was said; a single word said as a finding or
site word ("calculus", "mesial", "all") and written as a word the grammar does not know ("capitalist") is a
substitution. Kept: those seen at least MIN_TIMES times from at least MIN_SPEAKERS dev speakers (a confusion
of the recognizer, not of one person: flite's and festival's kal are one speaker), never a tooth side (a side
moves the cursor: it is not guessed). The product guesses them like a misspelling
(voicechart.dictation.guess.MISHEARD), and what they chart is marked.

    VOICECHART_CORPUS_DIR=… python -m bench misheard exams=0,3,36,… --cached
"""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter, defaultdict

from bench.corpus import said
from bench.corpus_eval import RESULTS, Recognitions, _args, selected
from voicechart.dictation.guess import MISHEARD, TARGETS
from voicechart.dictation.interpreter import SIDE_WORDS, interpret

MIN_TIMES = 2
MIN_SPEAKERS = 2
SITE_WORDS = frozenset(TARGETS) | {"mid", "all"}
"""What a misheard word may be learned as: findings, measures and sites, never a tooth side."""

_WORD = re.compile(r"[^a-z0-9 ]+")


def _words(text: str) -> list[str]:
    return _WORD.sub(" ", text.lower()).split()


Pair = tuple[str, str]


def substitutions(split: str = "dev") -> tuple[Counter[Pair], dict[Pair, set[str]]]:
    """(heard, said) single-word substitutions in first hearings the grammar did not understand, and the
    speakers each was seen from."""
    _, count = _args()
    recognitions = Recognitions(configs=("digit",))
    seen: Counter[Pair] = Counter()
    speakers: dict[Pair, set[str]] = defaultdict(set)
    for exam in selected(split, count):
        for k in range(len(exam.spoken)):
            heard_text = recognitions.get(exam, k)["digit"][0][0]
            if not interpret(heard_text, exam.numbering, guess_words=False).rejected:
                continue
            truth, heard = _words(said(exam, k)), _words(heard_text)
            matcher = difflib.SequenceMatcher(None, truth, heard, autojunk=False)
            for op, a1, a2, b1, b2 in matcher.get_opcodes():
                if op != "replace" or a2 - a1 != 1 or b2 - b1 != 1:
                    continue
                word, written = truth[a1], heard[b1]
                known = written in SITE_WORDS or written in SIDE_WORDS or written.isdigit()
                if word in SITE_WORDS and not known:
                    seen[(written, word)] += 1
                    speakers[(written, word)].add(exam.voice.speaker)
    return seen, speakers


def main() -> None:
    seen, speakers = substitutions()
    learned = {
        written: word
        for (written, word), n in seen.most_common()
        if n >= MIN_TIMES and len(speakers[(written, word)]) >= MIN_SPEAKERS
    }
    lines = [
        "# Words the recognizer writes for a finding or site word (`bench misheard`, dev voices only)",
        "",
        f"Kept: seen {MIN_TIMES}+ times from {MIN_SPEAKERS}+ dev speakers; shipped in"
        " voicechart.dictation.guess.MISHEARD.",
        "",
        "| written | said | times | dev speakers | kept |",
        "|---|---|---|---|---|",
    ]
    for (written, word), n in seen.most_common(40):
        kept = "yes" if learned.get(written) == word else ""
        lines.append(f"| {written} | {word} | {n} | {len(speakers[(written, word)])} | {kept} |")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "misheard.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(json.dumps(learned))
    if learned != MISHEARD:
        print(f"voicechart.dictation.guess.MISHEARD differs from what the dev voices give: {MISHEARD}")
