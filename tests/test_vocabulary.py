"""While charting, the recognizer writes only the charting language's words, and is judged honestly.

The vocabulary must hold every word a hygienist may say (else that word can never be heard); a reading
decoded under it is judged by the unconstrained model's token probabilities, since the constrained beam's
own score is renormalized over the allowed words; an exam note, free text, is heard without it.
"""

from __future__ import annotations

import random
import re
import shutil

import numpy as np
import pytest

from voicechart.asr.transcriber import Hypothesis, TokenProb, Transcript, honest_logprob, once_each
from voicechart.dictation.choose import choose
from voicechart.dictation.vocabulary import FREE_TEXT_WORDS, charting_words
from voicechart.guards import Gates, confidence_of, judge_choice
from voicechart.simulate.exams import random_exam
from voicechart.simulate.speech import random_style, render_exam

WORD = re.compile(r"[a-z]+")
DICTATION_EXAMPLES = (  # DICTATION.md's perio commands, as its tables give them
    "start perio exam", "end exam", "finish charting", "three two four", "3 2 4", "skip", "missing",
    "tooth fourteen buccal", "tooth 3 lingual", "next tooth", "previous tooth", "go to tooth 30",
    "bleeding distal", "bleeding all", "suppuration mesial", "plaque mid and distal", "calculus lingual",
    "bleeding interproximal", "recession two", "recession plus one", "gingival margin three two two",
    "furcation grade two on three", "furcation class two", "mobility one", "mobility class two on eight",
    "M G J three", "mucogingival junction two on 24", "scratch that", "undo", "cancel", "correction",
    "pause", "resume listening", "where was I", "read back", "readback off", "readback on",
    "switch to FDI numbering", "select tooth 14",
)  # fmt: skip


def test_every_word_dictated_in_any_style_is_in_the_vocabulary() -> None:
    words = charting_words()
    said: set[str] = set()
    for seed in range(200):
        rng = random.Random(seed)
        exam = random_exam(rng)
        for spoken in render_exam(exam, random_style(rng), rng):
            for text in (spoken.text(), spoken.text(named=True), spoken.where):
                said.update(WORD.findall(text.lower()))
    for text in DICTATION_EXAMPLES:
        said.update(WORD.findall(text.lower()))
    assert said - words == set()
    assert words >= FREE_TEXT_WORDS  # "exam note" is heard, then the note is recognized without it


def _hypothesis(text: str, avg_logprob: float, probs: list[float], *, constrained: bool) -> Hypothesis:
    ends = [len(text) * (i + 1) // len(probs) for i in range(len(probs))]
    return Hypothesis(
        text,
        avg_logprob,
        tuple(TokenProb(e, p) for e, p in zip(ends, probs, strict=True)),
        constrained=constrained,
    )


GATES = Gates(depths=-0.7, findings=-0.2, commands=-1.2)


def test_a_constrained_reading_is_judged_by_the_unconstrained_models_probabilities() -> None:
    # the constrained beam was sure of "3 2 4" (renormalized); the model itself gave its words 0.2
    forced = _hypothesis("3 2 4", -0.05, [0.2, 0.2, 0.2], constrained=True)
    transcript = Transcript(forced.text, forced.avg_logprob, 0.0, alternatives=(forced,))
    choice = choose(transcript)
    assert confidence_of(transcript, choice) == pytest.approx(3 * np.log(0.2) / 4)
    assert judge_choice(transcript, choice, GATES).status == "low_confidence"
    # the same probabilities on a reading decoded freely: its beam score is already the model's
    free = _hypothesis("3 2 4", -0.05, [0.2, 0.2, 0.2], constrained=False)
    transcript = Transcript(free.text, free.avg_logprob, 0.0, alternatives=(free,))
    assert judge_choice(transcript, choose(transcript), GATES).status == "ok"
    # the model's probabilities could not be had: a constrained reading is not taken on the beam's word
    unknown = Hypothesis("3 2 4", -0.05, constrained=True)
    transcript = Transcript(unknown.text, unknown.avg_logprob, 0.0, alternatives=(unknown,))
    assert judge_choice(transcript, choose(transcript), GATES).status == "low_confidence"
    # heard surely by the model too: charted
    sure = _hypothesis("3 2 4", -0.05, [0.97, 0.95, 0.9], constrained=True)
    transcript = Transcript(sure.text, sure.avg_logprob, 0.0, alternatives=(sure,))
    assert judge_choice(transcript, choose(transcript), GATES).status == "ok"


def test_token_probabilities_are_asked_for_once_per_reading() -> None:
    asked: list[str] = []

    def token_probs(h: Hypothesis) -> Hypothesis:
        asked.append(h.text)
        return Hypothesis(h.text, h.avg_logprob, (TokenProb(len(h.text), 0.9),))

    once = once_each(token_probs)
    first = once(Hypothesis("3 2 4", -0.1))
    assert once(Hypothesis("3 2 4", -0.1)) == first and asked == ["3 2 4"]
    once(Hypothesis("3 2 5", -0.1))
    assert asked == ["3 2 4", "3 2 5"]
    assert honest_logprob(Hypothesis("3 2 4", -0.1)) is None  # not known


def _speech(text: str) -> np.ndarray:
    from voicechart.feedback.tts import EspeakReadback

    audio, rate = EspeakReadback(words_per_minute=150).synthesize(text)
    n = int(len(audio) * 16000 / rate)
    speech = np.interp(np.linspace(0, len(audio) - 1, n), np.arange(len(audio)), audio).astype(np.float32)
    pad = np.zeros(8000, dtype=np.float32)
    return np.concatenate([pad, speech, pad])


@pytest.mark.model
def test_the_real_model_charts_in_the_vocabulary_and_hears_an_exam_note_freely() -> None:
    from voicechart.runner import load_transcriber
    from voicechart.settings import load_settings

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (Debian: apt install espeak-ng)")
    settings = load_settings()
    asr = settings.asr.model_copy(update={"charting_vocabulary": True})
    transcriber = load_transcriber(settings.model_copy(update={"asr": asr}))
    words = charting_words()
    triplet = transcriber.transcribe(_speech("three two four, bleeding distal"))
    for hypothesis in triplet.hypotheses:
        assert hypothesis.constrained
        assert set(WORD.findall(hypothesis.text.lower())) <= words, hypothesis.text
    note = transcriber.transcribe(_speech("exam note, patient anxious, used topical"))
    heard = set(WORD.findall(note.text.lower()))
    assert not note.hypotheses[0].constrained  # recognized again without the vocabulary
    assert heard - words, f"the note's own words were not heard: {note.text!r}"
