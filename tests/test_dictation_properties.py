"""Properties of the whole language: random exams, dictated in any allowed style, chart back exactly."""

from __future__ import annotations

import random

from hypothesis import example, given, settings
from hypothesis import strategies as st

from voicechart.dictation.interpreter import interpret
from voicechart.dictation.numbering import Numbering
from voicechart.exam.decide import decide
from voicechart.exam.path import PathOrder
from voicechart.exam.session import UNUSUAL_DEPTH_MM, ExamSession
from voicechart.pms.records import MeasureRow, SequenceType
from voicechart.simulate.corrupt import Confusions, corrupt
from voicechart.simulate.dictate import dictate
from voicechart.simulate.exams import random_exam
from voicechart.simulate.speech import FILLERS, NUMBER_STYLES, Style, render_exam

styles = st.builds(
    Style,
    numbers=st.sampled_from(NUMBER_STYLES),
    sides_per_breath=st.integers(min_value=1, max_value=4),
    named_every=st.sampled_from([0.0, 0.2, 1.0]),
    split_chance=st.sampled_from([0.0, 0.1]),
    filler_chance=st.sampled_from([0.0, 0.3]),
    skip_style=st.sampled_from(["skip", "missing", "named"]),
)
orders = st.sampled_from(["maxillary_first", "facials_first"])
numberings = st.sampled_from(["universal", "fdi"])


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), style=styles, order=orders, numbering=numberings)
def test_any_exam_in_any_style_charts_back_exactly(
    seed: int, style: Style, order: PathOrder, numbering: Numbering
) -> None:
    rng = random.Random(seed)
    exam = random_exam(rng)
    spoken = render_exam(exam, style, rng, order=order, numbering=numbering)
    result = dictate(exam, spoken, order=order, numbering=numbering, retries=0)
    assert result.flagged == 0
    assert result.score.accuracy == 1.0, (result.score.wrong_cells, result.score.missing_cells)
    unusual = {key for key in result.session.flagged_sites if result.session.value(*key) >= UNUSUAL_DEPTH_MM}
    assert set(result.session.flagged_sites) == unusual  # only the ≥ 10 mm pockets, which are always checked
    assert result.session.ended


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), style=styles, order=orders)
def test_named_repeats_chart_the_same_exam(seed: int, style: Style, order: PathOrder) -> None:
    """Every utterance said with its teeth named (how a flagged one is repeated) means the same thing."""
    rng = random.Random(seed)
    exam = random_exam(rng)
    spoken = render_exam(exam, style, rng, order=order)
    session = ExamSession(
        path_order=order,
        rows=[MeasureRow(SequenceType.SKIP_TOOTH, t, tooth_value=1) for t in exam.missing_known],
    )
    for utterance in spoken:
        decision = decide(session, interpret(utterance.text(named=True)))
        assert decision.status == "applied", (utterance.text(named=True), decision.flags)
    expected = dictate(exam, render_exam(exam, style, random.Random(seed), order=order), order=order)
    assert session.rows == expected.session.rows


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    fillers=st.lists(st.sampled_from(FILLERS), min_size=1, max_size=3),
    where=st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=3),
)
def test_filler_words_never_change_a_parse(seed: int, fillers: list[str], where: list[int]) -> None:
    rng = random.Random(seed)
    exam = random_exam(rng)
    for utterance in render_exam(exam, Style(sides_per_breath=2), rng)[:12]:
        words = utterance.text().replace(",", "").split()
        plain = interpret(" ".join(words)).commands
        for filler, index in zip(fillers, where, strict=False):
            words.insert(min(index, len(words)), filler)
        assert interpret(" ".join(words)).commands == plain


COMMANDS_TO_UNDO = [
    "three two four",
    "3 2 4, 4 3 3",
    "three two",
    "tooth fourteen lingual two two three",
    "tooth three mesial buccal five",
    "distal six",
    "bleeding distal and mesial",
    "bleeding on tooth 8 all",
    "calculus lingual",
    "recession two one two",
    "gingival margin plus one",
    "furcation grade two",
    "mobility grade 2 on tooth 9",
    "skip",
    "tooth 12 missing",
    "next tooth",
    "previous tooth",
    "go to tooth 14",
    "switch to lingual",
    "where was I",
    "correction tooth 3 facial 4 3 4",
    "correction 5 5 5",
]


@settings(max_examples=120, deadline=None)
@given(
    history=st.lists(st.sampled_from(COMMANDS_TO_UNDO), max_size=8),
    last=st.sampled_from(COMMANDS_TO_UNDO),
)
def test_undo_after_any_command_restores_the_previous_state(history: list[str], last: str) -> None:
    session = ExamSession(rows=[MeasureRow(SequenceType.SKIP_TOOTH, 1, tooth_value=1)])
    for line in history:
        decide(session, interpret(line))
    before = (dict(session.rows), session.cursor, dict(session.flagged_sites))
    decision = decide(session, interpret(last))
    if decision.status != "applied":
        return  # nothing was applied, so there is nothing of it to undo
    undo = decide(session, interpret("undo"))
    assert undo.status == "applied"
    assert (dict(session.rows), session.cursor, dict(session.flagged_sites)) == before


def test_corruption_follows_the_confusion_table() -> None:
    table = Confusions(
        heard={"four": {"for": 3}, "six five four": {"6 by 4": 1}, "-": {"thank you": 1}},
        seen={"four": 3, "six five four": 1, "-": 1},
    )
    rng = random.Random(1)
    assert corrupt("six five four", table, rng).startswith("6 by 4")
    assert corrupt("three two four", table, rng).split()[:3] == ["three", "two", "for"]
    never = Confusions(heard=table.heard, seen=table.seen, rate=0.0)
    assert corrupt("three two four", never, rng) == "three two four"


GRAMMAR_WORDS = (
    "tooth", "one", "two", "3", "14", "324", "to", "for", "skip", "missing", "bleeding", "all", "on", "and",
    "distal", "mesial", "mid", "buccal", "lingual", "recession", "plus", "MGJ", "M", "G", "J", "furcation",
    "grade", "mobility", "undo", "scratch", "that", "correction", "go", "next", "exam", "note", "start",
    "end", "perio", "pause", "resume", "listening", "where", "was", "I", ",", ".", "junction", "mucogingival",
)  # fmt: skip


@given(
    words=st.lists(st.sampled_from(GRAMMAR_WORDS), max_size=12),
    numbering=numberings,
)
@example(words=["One", "tooth", "."], numbering="universal")
@settings(max_examples=400)
def test_the_interpreter_is_total_on_any_sequence_of_its_words(
    words: list[str], numbering: Numbering
) -> None:
    """Recognizer output is arbitrary ("One tooth." once raised): every text yields an Interpretation."""
    result = interpret(" ".join(words), numbering)
    assert isinstance(result.commands, tuple) and isinstance(result.rejected, tuple)
