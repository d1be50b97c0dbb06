"""The interpreter against a golden table (tests/cases/interpreter.json) and as properties."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voicechart.dictation.commands import Command, command_json
from voicechart.dictation.interpreter import interpret
from voicechart.dictation.tokens import FILLERS, NUMBER_WORDS

CASES = json.loads((Path(__file__).parent / "cases" / "interpreter.json").read_text())
WORDS_FOR = {v: k for k, v in NUMBER_WORDS.items() if k != "eightteen"}


def describe(cmd: Command) -> dict[str, Any]:
    return command_json(cmd)


@pytest.mark.parametrize("case", CASES, ids=[c["text"] for c in CASES])
def test_golden(case: dict[str, Any]) -> None:
    result = interpret(case["text"])
    if case.get("chatter"):
        assert result.is_chatter
    elif case.get("rejected"):
        assert result.rejected and not result.accepted
    else:
        assert not result.rejected, result.rejected
        assert [describe(c) for c in result.commands] == case["commands"]


def test_spans_point_at_the_words() -> None:
    result = interpret("okay three two four, bleeding distal")
    depths, flag = result.commands
    assert result.words[depths.span.start : depths.span.end] == ("three", "two", "four")
    assert result.words[flag.span.start : flag.span.end] == ("bleeding", "distal")


depth_lists = st.lists(st.integers(min_value=0, max_value=19), min_size=1, max_size=12)


def render(values: list[int], style: str) -> str:
    if style == "words":
        return " ".join(WORDS_FOR[v] for v in values)
    if style == "digits":
        return " ".join(str(v) for v in values)
    return ", ".join(str(v) for v in values)


@given(values=depth_lists, style=st.sampled_from(["words", "digits", "commas"]))
def test_any_depths_in_any_style_parse_back(values: list[int], style: str) -> None:
    result = interpret(render(values, style))
    assert [describe(c) for c in result.commands] == [{"kind": "Depths", "values": values}]


@given(
    values=depth_lists,
    fillers=st.lists(st.sampled_from(sorted(FILLERS)), min_size=1, max_size=4),
    where=st.lists(st.integers(min_value=0, max_value=12), min_size=1, max_size=4),
)
def test_filler_words_never_change_a_parse(values: list[int], fillers: list[str], where: list[int]) -> None:
    words = render(values, "words").split()
    for filler, index in zip(fillers, where, strict=False):
        words.insert(min(index, len(words)), filler)
    assert interpret(" ".join(words)).commands == interpret(render(values, "words")).commands


@given(st.text(max_size=80))
def test_total_on_any_text(text: str) -> None:
    result = interpret(text)
    assert result.is_chatter or result.commands or result.rejected
