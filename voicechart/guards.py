"""Recognizer output that must never reach the chart: hallucinations on silence/noise, and low confidence."""

from __future__ import annotations

import re
from dataclasses import dataclass

from voicechart.asr.transcriber import Transcript

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


@dataclass(frozen=True, slots=True)
class Verdict:
    status: str  # "ok" | "noise" | "low_confidence"
    reason: str = ""


def _normalized(text: str) -> str:
    return " ".join(_NORMALIZE.sub(" ", text.lower()).split())


def _is_repetitive(words: list[str]) -> bool:
    """The same 1–3-word phrase three or more times in a row ("no, no, no, no")."""
    for n in (1, 2, 3):
        for i in range(len(words) - 3 * n + 1):
            phrase = words[i : i + n]
            if words[i + n : i + 2 * n] == phrase and words[i + 2 * n : i + 3 * n] == phrase:
                return not all(w.isdigit() for w in phrase)
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
        return Verdict("noise", "repeated phrase: a recognizer hallucination")
    if transcript.avg_logprob < min_avg_logprob:
        return Verdict("low_confidence", f"recognizer unsure (confidence {transcript.confidence:.2f})")
    return Verdict("ok")
