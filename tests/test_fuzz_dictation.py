"""Fuzzing the interpreter and the exam session with Hypothesis: any transcript, in any chart state, never
raises, changes the chart only through a whole valid command, and never writes a row the PMS would refuse.
(The coverage-guided fuzzer, bench/fuzz_dictation.py, checks the same invariants, in
voicechart.simulate.fuzz.)"""

from __future__ import annotations

from hypothesis import event, given, settings
from hypothesis import strategies as st

from tests.test_dictation_properties import GRAMMAR_WORDS
from voicechart.dictation.numbering import Numbering
from voicechart.exam.session import ExamSession
from voicechart.simulate.fuzz import check_dictation, check_utterance

TALK = (
    "the", "patient", "said", "her", "gums", "hurt", "when", "brushing", "yesterday", "morning", "coffee",
    "weather", "is", "nice", "how", "are", "you", "feeling", "comfortable", "wider", "little", "bit",
    "rinse", "spit", "great", "job", "almost", "finished", "thank", "floss", "sensitive", "cold", "water",
)  # fmt: skip
MORE = (
    "twenty", "thirty", "nineteen", "0", "99", "100", "-3", "3.5", "½", "tooth tooth", "to", "for", "won",
    "oh", "buckle", "forcation", "next", "tooth 40", "grade 9", "mobility 4", "plus 12",
)  # fmt: skip
words = st.sampled_from(GRAMMAR_WORDS + MORE + TALK)
utterances = st.lists(words, max_size=10).map(" ".join) | st.text(max_size=40)
numberings = st.sampled_from(["universal", "fdi"])


@given(dictation=st.lists(utterances, min_size=1, max_size=25), numbering=numberings)
@settings(max_examples=300, deadline=None)
def test_any_dictation_keeps_the_safety_invariants(dictation: list[str], numbering: Numbering) -> None:
    edits = check_dictation(dictation, numbering)
    event("charted something" if edits else "charted nothing")


@given(talk=st.lists(st.lists(st.sampled_from(TALK), min_size=1, max_size=12).map(" ".join), max_size=10))
@settings(max_examples=200, deadline=None)
def test_talk_with_the_patient_never_changes_the_chart(talk: list[str]) -> None:
    session = ExamSession()
    check_utterance(session, "start perio exam")
    for text in ["three two four", *talk]:
        check_utterance(session, text)
    rows = dict(session.rows)
    for text in talk:
        assert check_utterance(session, text) == 0
    assert session.rows == rows
