"""Which of the recognizer's hypotheses was said: the grammar and the chart decide, not the beam alone.

Whisper's beam returns several hypotheses with their scores. Many differ only in how numbers are written
("3 2 4", "3, 2, 4", "324", "three two four"); some differ in what was heard ("Tooth 3 8" for "two three
eight"). The choice, in order:

1. readings the grammar accepts whole beat readings it rejects in part;
2. readings that fit the chart where it is (the session would apply them without a review mark) beat
   readings that do not (a tooth named away from the cursor, a value replaced, an incomplete tooth side);
3. then the beam's own order (its score).

Talk with the patient is never charted from a lower reading: when the top reading is talk and another is a
command ("Crap net." over "Scratch that."), the utterance is not understood (flagged, asked again; the
values charted just before are marked in case it was "scratch that"), never silently taken for talk.

A reading that stops where a reading the beam scored higher goes on ("5 4 6. Bleeding." under "5 4 6.
Bleeding to that distal.") is never chosen: it is understood only because it leaves out what was not.

The rival is the best other accepted reading that means something different (other commands). How far
apart the two are is the surest sign the recognizer was torn between two charts; the confidence gates use it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace

from voicechart.asr.transcriber import Hypothesis, Transcript
from voicechart.dictation.commands import Command, Depths, Interpretation, Rejected, Span
from voicechart.dictation.guess import SIMILAR, likeness
from voicechart.dictation.interpreter import interpret, split_depths
from voicechart.dictation.numbering import Numbering
from voicechart.dictation.tokens import tokenize

NO_RIVAL_MARGIN = 10.0
"""The margin reported when no other hypothesis means something else."""

WINDOW = 1.0
"""How far below the top hypothesis (mean token log-probability) a reading may be and still be chosen."""

FitsChart = Callable[[tuple[Command, ...]], bool]
"""Whether the session would apply these commands here without a review mark (a dry run)."""


_interpret = functools.lru_cache(maxsize=4096)(interpret)
"""The interpreter is pure and its results immutable: the same text (a probe's, then the utterance's; the
same hypothesis in several beams) is parsed once."""


@dataclass(frozen=True, slots=True)
class Choice:
    hypothesis: Hypothesis
    interpretation: Interpretation
    rank: int  # its place in the beam (0 = the top)
    margin: float  # its score minus the rival's (NO_RIVAL_MARGIN without a rival)
    rival: Hypothesis | None = None

    @property
    def text(self) -> str:
        return self.hypothesis.text


def choose(
    transcript: Transcript,
    numbering: Numbering = "universal",
    fits: FitsChart | None = None,
    *,
    window: float = WINDOW,
    guess_words: bool = True,
) -> Choice:
    """The reading to act on, among the transcript's hypotheses (best first). Readings scored more than
    `window` below the top one are not considered. A reading understood only by guessing a word
    (voicechart.dictation.guess) comes after every reading understood as it was heard."""
    readings = []
    for rank, hypothesis in enumerate(transcript.hypotheses):
        interpretation = _interpret(hypothesis.text, numbering, guess_words=guess_words)
        readings.append((rank, hypothesis, interpretation))
    accepted = [
        r
        for r in readings
        if r[2].accepted
        and r[1].avg_logprob >= readings[0][1].avg_logprob - window
        and not _cut_short(r[2].words, [better[2].words for better in readings[: r[0]]])
    ]
    if not accepted:
        rank, hypothesis, interpretation = readings[0]
        return Choice(hypothesis, interpretation, rank, NO_RIVAL_MARGIN)
    if readings[0][2].is_chatter:  # talk, or a command heard as talk ("Crap net." over "Scratch that.")
        _, hypothesis, interpretation = readings[0]
        command = accepted[0][1]
        torn = Rejected(f"heard as talk, or “{command.text.strip()}”?", Span(0, len(interpretation.words)))
        return Choice(hypothesis, replace(interpretation, rejected=(torn,)), 0, NO_RIVAL_MARGIN, command)

    def preference(reading: tuple[int, Hypothesis, Interpretation]) -> tuple[bool, int, int]:
        rank, _, interpretation = reading
        fitting = fits is None or fits(interpretation.commands)
        return (bool(interpretation.guessed), 0 if fitting else 1, rank)

    rank, hypothesis, interpretation = min(accepted, key=preference)
    rival = next((h for _, h, i in accepted if i.commands != interpretation.commands), None)
    margin = hypothesis.avg_logprob - rival.avg_logprob if rival is not None else NO_RIVAL_MARGIN
    return Choice(hypothesis, interpretation, rank, margin, rival)


def _cut_short(words: tuple[str, ...], better: list[tuple[str, ...]]) -> bool:
    """Whether a reading the beam scored higher holds these words and more after them ("5 4 6. Bleeding."
    below "5 4 6. Bleeding to that distal."): the reading is understood only because it stops before what
    was not; the beam heard more, so it is not taken (the utterance is then partly heard, and what came
    before the unclear words can still be charted)."""
    return any(len(other) > len(words) and other[: len(words)] == words for other in better)


MAX_HELD_SIDES = 3


def spoken_sides(transcript: Transcript) -> int:
    """How many tooth sides' worth of depths an utterance clearly was, whatever their values: at least half
    of its readings are number-like words only ("Tooth" first counts as "two", the way the recognizer
    mishears it), and the best of those holds a whole number of triplets. 0 when that is not clear."""
    hypotheses = transcript.hypotheses
    counts = [c for c in (_value_count(h.text) for h in hypotheses) if c is not None]
    if not counts or len(counts) * 2 < len(hypotheses):
        return 0
    count = counts[0]  # the best-scored number-like reading
    return count // 3 if count % 3 == 0 and 3 <= count <= 3 * MAX_HELD_SIDES else 0


def _value_count(text: str) -> int | None:
    """Number of depth values if the text is only number-like words, else None. A reading that the grammar
    takes for something other than plain depths ("Tooth 24": go to tooth 24) is not number-like."""
    interpretation = _interpret(text, "universal")
    if interpretation.accepted and not all(
        isinstance(c, Depths) and c.tooth is None and c.side is None for c in interpretation.commands
    ):
        return None
    _, tokens = tokenize(text)
    count = 0
    for i, tok in enumerate(tokens):
        if tok.is_number:
            count += len(split_depths(tok))
        elif tok.homophone is not None or (i == 0 and tok.text == "tooth"):
            count += 1
        elif tok.text not in {"and", "then"}:
            return None
    return count or None


CURSOR_WORDS = frozenset(
    {
        "tooth", "skip", "skipped", "missing", "go", "switch", "select", "next", "previous", "undo",
        "scratch", "cancel", "delete", "correction", "correct", "facial", "buccal", "lingual", "side",
        "sides", "other", "where", "resume",
    }
)  # fmt: skip
"""Words of the commands that move the cursor or change what was charted (DICTATION.md): a triplet's numbers
aside, "skip", "tooth 5", "next", "lingual", "scratch that", "where was I"."""


def may_move_cursor(transcript: Transcript) -> bool:
    """Whether an utterance that was not understood could have been one that moves the cursor: any of its
    readings holds a number-like word (a triplet? "tooth 5"?) or a word like one of CURSOR_WORDS. When none
    does ("capitalist mesial", "start virial and man", "black mid"), the cursor is where it was and the
    values that follow need no mark for where they go."""
    return any(could_move_cursor(h.text) for h in transcript.hypotheses)


def could_move_cursor(text: str) -> bool:
    """Whether these words hold a number-like word or a word like one of CURSOR_WORDS."""
    _, tokens = tokenize(text)
    return any(
        token.is_number
        or token.homophone is not None
        or token.text in CURSOR_WORDS
        or (len(token.text) >= 3 and any(likeness(token.text, word) >= SIMILAR for word in CURSOR_WORDS))
        for token in tokens
    )  # a word like one of them counts ("ship": "skip")
