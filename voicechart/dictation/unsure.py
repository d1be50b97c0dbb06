"""Values the recognizer may have written without hearing them, inside an utterance it was sure of.

An utterance is judged by the mean probability of its tokens (voicechart.guards); one digit guessed among
twenty sure tokens barely moves the mean. Two marks go further, each a review mark on the command it is
about (never a refusal: the rest of the utterance is charted as heard):

- *a word heard unsure*: Whisper gives each token its own probability (the decoder's, given the prompt and
  the tokens before it: voicechart.asr.transcriber.TokenProb); a value whose word was heard below the floor is
  marked ("heard “2” in “2 2 3” unsure: check it");
- *the prompt's own words*: the domain prompt primes the recognizer with a finding on two sites ("Bleeding
  distal and mesial"), and it writes the prompt's ending where another was said ("distal and mid" heard
  "distal and mesial"); a finding that ends as the prompt's does is marked ("heard “and mesial” in “bleeding
  distal and mesial” as the prompt has it: check it").
"""

from __future__ import annotations

import functools
import math
import re

from voicechart.asr.transcriber import Hypothesis, Transcript
from voicechart.dictation.choose import Choice
from voicechart.dictation.commands import (
    Command,
    Depths,
    Flag,
    Furcation,
    Interpretation,
    Mobility,
    Mucogingival,
    Recession,
    SiteDepth,
)
from voicechart.dictation.interpreter import interpret
from voicechart.dictation.tokens import word_offsets

VALUES = (Depths, SiteDepth, Flag, Recession, Mucogingival, Furcation, Mobility)
"""Commands that write values to the chart: the ones these marks are on."""

UNSURE_NOTE = "unsure: check it"
"""The end of the mark of a value whose word the recognizer was unsure of (a mark that doubts the value, not
where it went: voicechart.exam.session)."""

ECHO_NOTE = "as the prompt has it: check it"
"""The end of the mark of a finding that ends with the prompt's words."""

_ENDINGS = "|".join(re.escape(note) for note in (UNSURE_NOTE, ECHO_NOTE))
_MARK = re.compile(rf"^heard “[^”]*” in “([^”]*)” (?:{_ENDINGS})$")

Phrase = tuple[str, ...]


def unsure_words(hypothesis: Hypothesis, interpretation: Interpretation, floor: float) -> dict[int, float]:
    """The words of the interpretation (by position) heard with a probability below `floor`; empty when the
    hypothesis has no token probabilities or its words cannot be matched to the interpretation's (a run of
    words read as one term)."""
    if not hypothesis.tokens:
        return {}
    offsets = word_offsets(hypothesis.text)
    if len(offsets) != len(interpretation.words):
        return {}
    probs = hypothesis.word_probs(offsets)
    return {i: p for i, p in enumerate(probs) if p < floor}


def unsure_notes(hypothesis: Hypothesis, interpretation: Interpretation, floor: float) -> dict[int, str]:
    """For each command (by position) that holds a word heard below `floor`: its review mark."""
    unsure = unsure_words(hypothesis, interpretation, floor)
    notes: dict[int, str] = {}
    for position, command in enumerate(interpretation.commands):
        heard = [i for i in unsure if command.span.start <= i < command.span.end]
        if heard:
            words = " ".join(interpretation.words[i] for i in heard)
            notes[position] = _mark(words, interpretation, command, UNSURE_NOTE)
    return notes


@functools.cache
def prompt_echoes(prompt: str) -> frozenset[Phrase]:
    """The endings of the prompt's findings on two or more sites ("… distal and mesial": ("and",
    "mesial")): what the recognizer may write from the prompt rather than from the audio."""
    said = interpret(prompt)
    return frozenset(
        said.words[c.span.end - 2 : c.span.end]
        for c in said.commands
        if isinstance(c, Flag) and len(c.parts) >= 2 and said.words[c.span.end - 2] == "and"
    )


def echo_notes(interpretation: Interpretation, echoes: frozenset[Phrase]) -> dict[int, str]:
    """For each finding (by position) that ends with one of the prompt's endings: its review mark."""
    notes: dict[int, str] = {}
    for position, command in enumerate(interpretation.commands):
        ending = interpretation.words[command.span.end - 2 : command.span.end]
        if isinstance(command, Flag) and ending in echoes:
            notes[position] = _mark(" ".join(ending), interpretation, command, ECHO_NOTE)
    return notes


def unsure_marks(
    transcript: Transcript, choice: Choice, floor: float, echoes: frozenset[Phrase] = frozenset()
) -> dict[int, str]:
    """The review marks of the chosen reading's commands: words heard below `floor` (0: none), findings
    ending as the prompt's do. Token probabilities are asked of the recognizer only for a reading that
    writes values."""
    interpretation = choice.interpretation
    if not any(isinstance(c, VALUES) for c in interpretation.commands):
        return {}
    marks = echo_notes(interpretation, echoes)
    if floor > 0 and not _all_above(choice.hypothesis, floor):
        hypothesis = choice.hypothesis
        if not hypothesis.tokens and transcript.with_token_probs is not None:
            hypothesis = transcript.with_token_probs(hypothesis)
        for position, note in unsure_notes(hypothesis, interpretation, floor).items():
            add_mark(marks, position, note)
    return marks


def add_mark(marks: dict[int, str], position: int, note: str) -> None:
    """Add a review mark to a command's (by position), after any it has ("…; …", as the journal splits)."""
    marks[position] = f"{marks[position]}; {note}" if position in marks else note


def _all_above(hypothesis: Hypothesis, floor: float) -> bool:
    """Whether no token of the hypothesis can be below `floor`, from its score alone: its token
    log-probabilities and the end of text's sum to avg_logprob × (tokens + 1), each at most 0, so none is
    below that sum (the extra decoder pass is then not needed)."""
    if not hypothesis.ids:
        return False
    return hypothesis.avg_logprob * (len(hypothesis.ids) + 1) >= math.log(floor)


def marks_in_reason(interpretation: Interpretation, reason: str) -> dict[int, str]:
    """The marks an applied utterance's journaled flag reason holds, given back to the commands they were on
    (a resumed session has the text, not the token probabilities): each to the command whose words it
    quotes (to each, when the utterance said the same command twice)."""
    marks: dict[int, str] = {}
    for note in reason.split("; "):
        quoted = _MARK.match(note)
        if quoted is None:
            continue
        for position, command in enumerate(interpretation.commands):
            if _words(interpretation, command) == quoted.group(1):
                add_mark(marks, position, note)
    return marks


def _mark(heard: str, interpretation: Interpretation, command: Command, why: str) -> str:
    return f"heard “{heard}” in “{_words(interpretation, command)}” {why}"


def _words(interpretation: Interpretation, command: Command) -> str:
    return " ".join(interpretation.words[command.span.start : command.span.end])
