"""The exam session: path, site order, cursor, atomic utterances, undo, plausibility."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import SAMPLES
from voicechart.accuracy import score_chart
from voicechart.dictation.commands import Depths, Flag, FlagKind, Side, SitePart, Skip, Undo
from voicechart.dictation.interpreter import interpret
from voicechart.exam.decide import decide
from voicechart.exam.path import ToothSide, site_order, tooth_sides
from voicechart.exam.session import ExamSession
from voicechart.pms.records import SITE_COLUMNS, MeasureRow, SequenceType
from voicechart.simulate.dictate import chart_of, flagged_cell_keys

D, M, MID = SitePart.DISTAL, SitePart.MESIAL, SitePart.MID


@pytest.mark.parametrize(
    ("tooth", "side", "expected"),
    [
        (3, Side.FACIAL, (D, MID, M)),
        (12, Side.FACIAL, (M, MID, D)),
        (14, Side.LINGUAL, (D, MID, M)),
        (5, Side.LINGUAL, (M, MID, D)),
        (30, Side.FACIAL, (D, MID, M)),
        (20, Side.FACIAL, (M, MID, D)),
        (19, Side.LINGUAL, (D, MID, M)),
        (28, Side.LINGUAL, (M, MID, D)),
    ],
)
def test_site_order_follows_dictation_table(tooth: int, side: Side, expected: tuple[SitePart, ...]) -> None:
    assert site_order("maxillary_first", ToothSide(tooth, side)) == expected


def test_paths_visit_every_tooth_side_once() -> None:
    for order in ("maxillary_first", "facials_first"):
        sides = tooth_sides(order)  # type: ignore[arg-type]
        assert len(sides) == 64 == len(set(sides))
    assert [str(s) for s in tooth_sides("facials_first")[15:18]] == [
        "tooth 16 facial", "tooth 17 facial", "tooth 18 facial"
    ]  # fmt: skip


def run_script(lines: list[str], missing: list[int]) -> ExamSession:
    session = ExamSession(rows=[MeasureRow(SequenceType.SKIP_TOOTH, t, 1) for t in missing])
    for line in lines:
        result = interpret(line)
        assert result.accepted, (line, result.rejected)
        session.apply(result.commands)
    return session


@pytest.mark.parametrize("sample_id", ["a-piper-joe", "b-piper-joe"])
def test_sample_scripts_as_text_give_the_expected_chart(sample_id: str) -> None:
    entry: dict[str, Any] = SAMPLES[sample_id]
    session = run_script([u["text"] for u in entry["utterances"]], entry["patient"]["missing_teeth"])
    score = score_chart(entry["expected_chart"], chart_of(session))
    assert score.accuracy == 1.0, (score.wrong_cells, score.missing_cells)


def test_an_utterance_is_applied_whole_or_not_at_all() -> None:
    session = ExamSession()
    outcome = session.apply((Depths((3, 2, 4)), Flag(FlagKind.BLEEDING, (D,), tooth=40)))
    assert outcome.flagged and not outcome.edits
    assert session.rows == {} and session.describe_cursor() == "tooth 1 facial distal"


def test_undo_reverts_multi_site_commands_and_is_repeatable() -> None:
    session = run_script(["3 2 4 4 3 3", "bleeding all"], [])
    session.apply((Undo(),))
    assert (SequenceType.BLEED_SUP_PLAQ_CALC, 2) not in session.rows
    outcome = session.apply((Undo(),))
    assert session.rows == {} and session.describe_cursor() == "tooth 1 facial distal"
    assert {e.tooth for e in outcome.edits} == {1, 2} and all(e.after.is_blank() for e in outcome.edits)
    assert session.apply((Undo(),)).flagged == "nothing to undo"


def test_skip_moves_past_the_tooth_and_path_skips_missing_teeth() -> None:
    session = run_script(["skip"], [1, 2])
    assert session.describe_cursor() == "tooth 4 facial distal"


def test_skip_heard_as_two_is_accepted_only_where_both_readings_agree() -> None:
    session = ExamSession()
    assert session.apply((Skip(tooth=2, tooth_heard_as_number=True),)).flagged
    session.apply(interpret("3 2 4").commands)
    assert not session.apply((Skip(tooth=2, tooth_heard_as_number=True),)).flagged
    assert 2 in session.skipped


def test_large_change_since_last_exam_is_written_but_flagged() -> None:
    previous = [MeasureRow(SequenceType.PROBING, 1, sites=(3, 2, 3, -1, -1, -1))]
    session = ExamSession(previous=previous)
    outcome = session.apply(interpret("7 2 3").commands)
    assert outcome.edits[0].after.site("DB") == 7
    assert "was 3 mm" in outcome.flagged


def test_forgotten_last_site_keeps_findings_off_the_previous_tooth() -> None:
    session = run_script(["3 2 4"], [])
    session.forget_last_site()
    assert session.apply(interpret("bleeding distal").commands).flagged


def test_end_exam_reads_back_a_summary() -> None:
    session = run_script(["5 2 6", "bleeding all"], [])
    outcome = session.apply(interpret("end exam").commands)
    assert outcome.ended and "1 teeth charted, 2 sites 5 mm or deeper, 3 bleeding sites" in outcome.readback


commands = st.one_of(
    st.lists(st.integers(0, 9), min_size=1, max_size=6).map(lambda v: Depths(tuple(v))),
    st.sampled_from([Skip(), Flag(FlagKind.BLEEDING, (D,)), Flag(FlagKind.SUPPURATION, (M, MID))]),
    st.integers(1, 32).map(lambda t: Depths((2, 3, 2), tooth=t, side=Side.LINGUAL)),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(commands, max_size=8), commands)
def test_undo_after_any_command_restores_the_previous_state(history: list[Any], last: Any) -> None:
    session = ExamSession()
    for cmd in history:
        session.apply((cmd,))
    before = (dict(session.rows), session.cursor)
    outcome = session.apply((last,))
    if outcome.flagged or not outcome.edits:
        return
    session.apply((Undo(),))
    assert (dict(session.rows), session.cursor) == before


SCRIPTS = json.loads((Path(__file__).parent / "cases" / "scripts.json").read_text())


@pytest.mark.parametrize("script", SCRIPTS, ids=[s["name"] for s in SCRIPTS])
def test_golden_script_gives_the_expected_chart(script: dict[str, Any]) -> None:
    numbering = script.get("numbering", "universal")
    previous = [
        MeasureRow(SequenceType.PROBING, int(tooth), sites=tuple(sites.get(c, -1) for c in SITE_COLUMNS))  # type: ignore[arg-type]
        for tooth, sites in script.get("previous", {}).get("probing", {}).items()
    ]
    session = ExamSession(
        path_order=script.get("path_order", "maxillary_first"),
        numbering=numbering,
        rows=[MeasureRow(SequenceType.SKIP_TOOTH, t, tooth_value=1) for t in script["missing"]],
        previous=previous,
    )
    statuses = [decide(session, interpret(line, numbering)).status for line in script["lines"]]
    if "statuses" in script:
        assert statuses == script["statuses"]
    score = score_chart(script["expected_chart"], chart_of(session))
    assert (score.wrong_cells, score.missing_cells) == ((), ())
    assert flagged_cell_keys(session) == set(script["flagged_cells"])
    if "cursor" in script:
        assert session.describe_cursor() == script["cursor"]


def test_exam_note_keeps_the_words_as_said() -> None:
    session = ExamSession()
    outcome = session.apply(interpret("3 2 4, exam note: Patient anxious, used topical.").commands)
    assert outcome.notes == ("Patient anxious, used topical.",)
    assert len(outcome.edits) == 1


def test_readback_repeats_the_last_tooth_side_and_can_be_switched_off() -> None:
    session = ExamSession(rows=[MeasureRow(SequenceType.SKIP_TOOTH, 1, tooth_value=1)])
    session.apply(interpret("three two four").commands)
    assert session.apply(interpret("read back").commands).readback == "tooth 2 facial 3 2 4"
    session.apply(interpret("readback off").commands)
    assert not session.apply(interpret("two two two").commands).speak
    assert session.apply(interpret("two two seven").commands).speak is False
    assert session.apply(interpret("bleeding all").commands).speak  # findings are always confirmed


def test_out_of_range_is_rejected_and_said_not_clipped() -> None:
    session = ExamSession()
    for text in ("twenty two three", "furcation grade 4", "mobility 5", "tooth 33 2 2 2", "recession 25"):
        result = interpret(text)
        assert result.rejected, text
    assert not session.rows


def test_a_flagged_utterance_asks_to_repeat_with_the_tooth() -> None:
    session = ExamSession()
    decision = decide(session, interpret("6 by 4"))
    assert decision.status == "flagged"
    assert "repeat, with the tooth" in decision.readback
    assert decide(session, interpret("three two four")).flags  # the cursor is in doubt until a tooth is named
    assert not decide(session, interpret("tooth 2 facial three two four")).flags
