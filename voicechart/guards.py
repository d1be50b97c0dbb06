"""Recognizer output that must never reach the chart: hallucinations on silence/noise, and low confidence."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from voicechart.asr.transcriber import Hypothesis, Transcript, honest_logprob
from voicechart.dictation.choose import Choice
from voicechart.dictation.commands import Depths, EndExam, Interpretation, Pause, SiteDepth, Undo
from voicechart.dictation.interpreter import interpret
from voicechart.dictation.tokens import HOMOPHONES, NUMBER_WORDS

HALLUCINATIONS = (
    "thanks for watching",
    "thank you for watching",
    "thank you",
    "thanks",
    "see you next time",
    "see you next",
    "please subscribe",
    "subscribe",
    "bye",
    "you",
    "so",
    "no no no",
)
"""Whisper's stock outputs on silence and noise (FEASIBILITY.md §3, §9)."""

_NORMALIZE = re.compile(r"[^a-z0-9 ]+")

LOOP_AFTER_NUMBERS = "recognizer repeating itself after numbers: not understood"
"""Numbers, then a phrase over and over ("3 2 4. Scratch that. Scratch that. Scratch that."): speech that was
not understood (the cursor is in doubt after it), never acted on however sure the recognizer was."""


@dataclass(frozen=True, slots=True)
class Verdict:
    status: str  # "ok" | "noise" | "low_confidence"
    reason: str = ""


def _normalized(text: str) -> str:
    return " ".join(_NORMALIZE.sub(" ", text.lower()).split())


def _is_number_word(word: str) -> bool:
    return word.isdigit() or word in NUMBER_WORDS or word in HOMOPHONES


def _is_repetitive(words: list[str]) -> bool:
    """The same 1–3-word phrase three or more times in a row ("no, no, no, no")."""
    for n in (1, 2, 3):
        for i in range(len(words) - 3 * n + 1):
            phrase = words[i : i + n]
            if words[i + n : i + 2 * n] == phrase and words[i + 2 * n : i + 3 * n] == phrase:
                return not all(_is_number_word(w) for w in phrase)  # "two two two" is a triplet
    return False


def judge(transcript: Transcript, *, min_avg_logprob: float, max_no_speech_prob: float) -> Verdict:
    text = _normalized(transcript.text)
    if not text:
        return Verdict("noise", "no words recognised")
    if text in HALLUCINATIONS:
        return Verdict("noise", f"recognizer filler on silence/noise: “{transcript.text.strip()}”")
    if transcript.no_speech_prob > max_no_speech_prob and transcript.avg_logprob < min_avg_logprob:
        return Verdict("noise", f"probably not speech (no-speech {transcript.no_speech_prob:.2f})")
    if _is_repetitive(text.split()):
        if any(w.isdigit() or w in NUMBER_WORDS for w in text.split()):  # numbers said, then a loop
            return Verdict("low_confidence", LOOP_AFTER_NUMBERS)
        return Verdict("noise", "repeated phrase: a recognizer hallucination")
    if transcript.avg_logprob < min_avg_logprob:
        return Verdict("low_confidence", f"recognizer unsure (confidence {transcript.confidence:.2f})")
    return Verdict("ok")


@dataclass(frozen=True, slots=True)
class Gates:
    """How sure the recognizer must be before an utterance acts, per kind of utterance (calibrated on the
    corpus's dev voices by `bench calibrate`): a floor on the chosen reading's mean token log-probability,
    and on its margin over the best reading that means something else."""

    depths: float
    findings: float
    commands: float
    depths_margin: float = 0.0
    findings_margin: float = 0.0
    max_no_speech_prob: float = 0.6
    undo_pause_end: float | None = None  # "scratch that", "pause", "end exam"; None: as other commands
    unsure_word: float = 0.0  # a charted value whose word was heard below this probability is marked; 0: off


def kind_of(interpretation: Interpretation) -> str:
    """depths (pocket depths), findings (other numbers: recession, furcation, mobility, teeth),
    undo_pause_end (commands without numbers that take back, pause or end the exam: heard wrongly, they
    cost what was charted or everything said after them) or commands (other commands without numbers)."""
    if any(isinstance(c, Depths | SiteDepth) for c in interpretation.commands):
        return "depths"
    if interpretation.has_numbers:
        return "findings"
    if any(isinstance(c, Undo | Pause | EndExam) for c in interpretation.commands):
        return "undo_pause_end"
    return "commands"


def floor_of(kind: str, gates: Gates) -> float:
    """The confidence floor of a kind of utterance (see `kind_of`)."""
    stops = gates.commands if gates.undo_pause_end is None else gates.undo_pause_end
    floors = {"depths": gates.depths, "findings": gates.findings, "commands": gates.commands}
    return {**floors, "undo_pause_end": stops}[kind]


LOOP_RUN = 4
"""A number said this many times in a row or more may be the recognizer looping ("0 0 0 0 0 0 0 0")."""


def _runs(text: str) -> dict[str, int]:
    """For each number, its longest run of repeats in the text ("3 2 2 2 2" -> {"3": 1, "2": 4})."""
    longest: dict[str, int] = {}
    run, previous = 0, ""
    for word in _normalized(text).split():
        run = run + 1 if word == previous else 1
        previous = word
        if word.isdigit() or word in NUMBER_WORDS:
            longest[word] = max(longest.get(word, 0), run)
    return longest


def looping(transcript: Transcript, chosen: str) -> str:
    """The number the recognizer may have looped on: the chosen reading repeats it LOOP_RUN times or more
    in a row, and the readings disagree on how many times ("0 0 0 0 0 0 0 0", "0 0 0 0 0 0 0 0 0 0 0 0").
    Two healthy sides ("2 2 2, 2 2 2") heard alike by every reading are not a loop. Empty when none."""
    runs = _runs(chosen)
    counts = [_runs(h.text) for h in transcript.hypotheses]
    for number, run in runs.items():
        if run >= LOOP_RUN and len({c.get(number, 0) for c in counts}) > 1:
            return number
    return ""


def _takes_back_more(transcript: Transcript, choice: Choice) -> Hypothesis | None:
    """A reading of the beam that only takes back, fewer times than the chosen one, which only takes back
    ("Scratch that." under "Scratch that. Scratch that."), or None: the recognizer doubles short commands,
    and each "undo" too many takes back a value that was right."""
    chosen = choice.interpretation.commands
    if not chosen or not all(isinstance(c, Undo) for c in chosen):
        return None
    for hypothesis in transcript.hypotheses:
        other = interpret(hypothesis.text).commands
        if other and all(isinstance(c, Undo) for c in other) and len(other) < len(chosen):
            return hypothesis
    return None


UNKNOWN_LOGPROB = -10.0
"""The confidence of a constrained reading whose token probabilities could not be had: below every gate."""


def confidence_of(transcript: Transcript, choice: Choice) -> float:
    """The chosen reading's mean token log-probability. Decoded in the charting vocabulary only, its beam
    score is renormalized over those words (a word nobody says there, forced into one, would look sure):
    an understood reading is then judged by the unconstrained model's token probabilities instead."""
    hypothesis = choice.hypothesis
    if not hypothesis.constrained or not choice.interpretation.accepted:
        return hypothesis.avg_logprob
    if not hypothesis.tokens and transcript.with_token_probs is not None:
        hypothesis = transcript.with_token_probs(hypothesis)
    honest = honest_logprob(hypothesis)
    return UNKNOWN_LOGPROB if honest is None else honest  # not known: never taken on the beam's word


def judge_choice(transcript: Transcript, choice: Choice, gates: Gates, *, answering: bool = False) -> Verdict:
    """The guards on the reading chosen among the hypotheses: noise and hallucinations on what the beam
    heard first; confidence on the chosen reading, with the floor of its kind. `answering`: the reading only
    names the tooth that depths refused while the cursor was lost wait for (ExamSession.answers); it is
    judged as those depths."""
    kind = "depths" if answering else kind_of(choice.interpretation)
    floor = floor_of(kind, gates)
    heard = judge(transcript, min_avg_logprob=floor, max_no_speech_prob=gates.max_no_speech_prob)
    if heard.status == "noise" or heard.reason == LOOP_AFTER_NUMBERS:
        return heard
    if choice.interpretation.has_numbers and (number := looping(transcript, choice.text)):
        return Verdict("low_confidence", f"recognizer repeating itself: how many “{number}”?")
    chosen = confidence_of(transcript, choice)
    if chosen < floor:
        return Verdict("low_confidence", f"recognizer unsure (confidence {math.exp(chosen):.2f})")
    if kind == "undo_pause_end" and (fewer := _takes_back_more(transcript, choice)) is not None:
        return Verdict("low_confidence", f"recognizer torn between “{choice.text}” and “{fewer.text}”")
    margin = {"depths": gates.depths_margin, "findings": gates.findings_margin}.get(kind, 0.0)
    if margin > 0 and choice.rival is not None and choice.margin < margin:
        return Verdict("low_confidence", f"recognizer torn between “{choice.text}” and “{choice.rival.text}”")
    return Verdict("ok")
