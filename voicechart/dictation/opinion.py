"""A second, independent reading of the same audio: where Whisper is unsure, two recognizers that agree.

Whisper's doubts are of two kinds (voicechart.guards, voicechart.dictation.unsure): a reading refused as
unsure (it charts nothing and the hygienist is asked to say it again), and values charted with a review mark
for a word heard unsure. Where an utterance writes values and Whisper doubts it, a recognizer built apart
(voicechart.asr.second_ear: another acoustic model, another decoder, a language model of the dictation
language) reads the audio too, and its reading is chosen among its hypotheses by the same grammar and chart:

- a refused reading that the second ear reads alike, every command, is charted (unmarked, since the next
  rule drops the marks of every value read alike; a prompt echo's mark stays);
- a value that both read alike loses the mark of a word heard unsure (the mark of a prompt's echo stays: both
  recognizers can be primed the same way only by the words themselves, but the echo is Whisper's own habit).

Measured and not taken into the product (the corpus bench keeps it as a lever, `opinion_answers`): the
answer to "which tooth?" ("tooth 28 facial"), refused as unsure, charted where the second ear reads it alike.
It places the values waiting for it, which were refused only for the lost cursor and are charted unmarked:
on one test exam at 10 dB they were misheard (README, ninth round).

Where the two differ nothing changes: Whisper's verdict stands. Measured on the corpus's dev voices and
reported on its test voices (`python -m bench second-opinion report`, README).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from voicechart.dictation.choose import Choice
from voicechart.dictation.commands import Command
from voicechart.dictation.unsure import VALUES


@dataclass(frozen=True, slots=True)
class OpinionPolicy:
    accepts: bool = True  # a reading refused as unsure that the second ear reads alike is charted
    unmarks: bool = True  # values the second ear reads alike lose the marks of words heard unsure


@dataclass(frozen=True, slots=True)
class Weighed:
    low_confidence: str  # the refusal's reason, "" when the reading is charted
    unsure: dict[int, str]  # review marks by command position
    asked: bool = False  # whether the second ear was asked
    accepted: bool = False  # whether a refused reading is charted because the second ear read it alike


def weigh(
    choice: Choice,
    low_confidence: str,
    unsure: dict[int, str],
    *,
    second_reading: Callable[[], Choice],
    marks_of: Callable[[], dict[int, str]],
    echoes: Callable[[], dict[int, str]],
    policy: OpinionPolicy,
) -> Weighed:
    """Whisper's verdict on `choice` (`low_confidence`, `unsure` marks) weighed with the second ear's reading.

    `second_reading` reads the audio again (asked only when Whisper doubts values); `marks_of` gives the
    unsure-word marks of `choice` once it is to be charted; `echoes` the marks of the prompt's echoes in
    it."""
    asked = (policy.accepts and low_confidence) or (policy.unmarks and unsure)
    if not asked or not writes_values(choice):
        return Weighed(low_confidence, unsure)
    other = second_reading()
    accepted = False
    if low_confidence and policy.accepts and other.interpretation.commands == choice.interpretation.commands:
        # charted; with `unmarks`, every value of it is read alike, so only a prompt echo's mark can stay
        low_confidence, unsure, accepted = "", {} if policy.unmarks else marks_of(), True
    if policy.unmarks and not low_confidence:
        seconded = read_alike(choice.interpretation.commands, other.interpretation.commands)
        echoed = echoes()
        unsure = dict(unsure)
        for position in seconded:
            unsure.pop(position, None)
            if position in echoed:
                unsure[position] = echoed[position]
    return Weighed(low_confidence, unsure, asked=True, accepted=accepted)


def read_alike(commands: tuple[Command, ...], others: tuple[Command, ...]) -> set[int]:
    """The positions of the values commands that the other reading holds too (each of its commands once)."""
    left = list(others)
    alike: set[int] = set()
    for position, command in enumerate(commands):
        if isinstance(command, VALUES) and command in left:
            left.remove(command)
            alike.add(position)
    return alike


def writes_values(choice: Choice) -> bool:
    commands = choice.interpretation.commands
    return choice.interpretation.accepted and any(isinstance(c, VALUES) for c in commands)
