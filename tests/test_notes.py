"""Clinical notes: note mode, SOAP sections, spoken punctuation, the constrained lexicon correction, and
switching from a perio exam to a note and back (the pipeline with a scripted recognizer, into the sandbox)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from tests.scripted_pipeline import scripted_pipeline, utterance
from voicechart.asr.transcriber import Transcript
from voicechart.journal.store import Journal
from voicechart.notes.composer import NoteComposer, starts_note
from voicechart.notes.lexicon import MISSPELLINGS, NOTE_PROMPT, PROTECTED, correct
from voicechart.pipeline import Pipeline, PipelineOptions
from voicechart.pms.records import SequenceType
from voicechart.pms.sandbox import SandboxConnector
from voicechart.pms.sandbox.schema import procedurelog, procnote


def test_soap_sections_punctuation_and_scratch_that() -> None:
    note = NoteComposer()
    note.add("Subjective: patient reports sensitivity on the lower left molars")
    note.add("no swelling period")
    note.add("Objective, bleeding on probing on 3 of 6 sites comma calculus lingual")
    note.add("tooth 24 fractured")
    assert note.add("scratch that") == "Removed the last sentence"
    note.add("new paragraph")
    note.add("Plan: scaling and root planing in four quadrants, re-evaluate in six weeks. End note.")
    assert note.ended
    assert note.text == (
        "Subjective: Patient reports sensitivity on the lower left molars. No swelling.\n\n"
        "Objective: Bleeding on probing on 3 of 6 sites, calculus lingual.\n\n"
        "Plan: Scaling and root planing in four quadrants, re-evaluate in six weeks."
    )


def test_a_note_is_opened_by_start_note_or_clinical_note() -> None:
    assert starts_note("Start note.") == ""
    assert starts_note("Clinical note. Subjective: pain") == "Subjective: pain"
    assert starts_note("begin clinical note") == ""
    assert starts_note("exam note: anxious") is None  # that one goes on the perio exam
    assert starts_note("3 2 4") is None


@pytest.mark.parametrize("heard", ["End note.", "And note.", "in note", "End of note.", "and the note"])
def test_end_note_as_the_recognizer_hears_it_ends_the_note(heard: str) -> None:
    composer = NoteComposer()
    composer.add("Plan: review in six weeks.")
    composer.add(heard)
    assert composer.ended and composer.text == "Plan: Review in six weeks."


def test_and_note_inside_a_sentence_is_note_text() -> None:
    composer = NoteComposer()
    composer.add("Plan: check the recession and note the margin.")
    assert not composer.ended


def test_the_note_prompt_names_no_drug_number_or_side() -> None:
    """Whisper copies prompt words into what it hears: nothing a note must never gain may be in it."""
    words = set(re.findall(r"[a-z]+|\d+", NOTE_PROMPT.lower()))
    assert not words & PROTECTED
    assert not any(w.isdigit() for w in words)
    assert not words & {"lidocaine", "epinephrine", "chlorhexidine", "articaine", "fluoride"}


def test_lexicon_fixes_spelling_and_records_it() -> None:
    fixed, changes = correct(
        "Recession on the buckle of tooth 3. Scaling and root planning, chlorhexadine rinse."
    )
    assert fixed == "Recession on the buccal of tooth 3. Scaling and root planing, chlorhexidine rinse."
    assert {(c.before, c.after) for c in changes} == {
        ("buckle", "buccal"),
        ("Scaling and root planning", "Scaling and root planing"),
        ("chlorhexadine", "chlorhexidine"),
    }


words = st.sampled_from(
    [
        *MISSPELLINGS,
        *PROTECTED,
        "tooth",
        "3",
        "14",
        "2.5",
        "the",
        "patient",
        "reports",
        "pain",
        "Buckle",
        "mm",
    ]
)


@given(st.lists(words, max_size=30))
def test_lexicon_never_changes_numbers_negations_or_sides(tokens: list[str]) -> None:
    text = " ".join(tokens)
    fixed, changes = correct(text)

    def kept(s: str) -> list[str]:
        return [w.lower() for w in re.findall(r"[A-Za-z]+|\d+", s) if w.lower() in PROTECTED or w.isdigit()]

    assert kept(fixed) == kept(text)
    assert all(c.after.lower() in MISSPELLINGS.values() for c in changes)


# --- the pipeline, with a scripted recognizer ---


class ScriptedTranscriber:
    def __init__(self, lines: list[str]) -> None:
        self.lines = list(lines)
        self.prompts: list[str | None] = []

    def transcribe(self, audio: np.ndarray, *, prompt: str | None = None) -> Transcript:
        self.prompts.append(prompt)
        return Transcript(self.lines.pop(0), avg_logprob=-0.1, no_speech_prob=0.01)


def run_script(
    lines: list[str], sandbox: tuple[SandboxConnector, sa.Engine, Journal], tmp_path: Path, mode: str
) -> Pipeline:
    connector, _, journal = sandbox
    transcriber = ScriptedTranscriber(lines)
    options = PipelineOptions(
        min_avg_logprob=-0.45, min_avg_logprob_commands=-1.5, max_no_speech_prob=0.6, mode=mode
    )
    pipeline = scripted_pipeline(transcriber, connector, journal, tmp_path, pat_num=1, options=options)
    pipeline.outbox.start()
    for i in range(len(lines)):
        pipeline.process(utterance(i))
    assert pipeline.outbox.stop(flush_timeout_s=5) == 0
    pipeline.prompts = transcriber.prompts  # type: ignore[attr-defined]
    return pipeline


def test_a_note_in_the_middle_of_an_exam_never_charts_its_numbers(
    sandbox: tuple[SandboxConnector, sa.Engine, Journal], tmp_path: Path
) -> None:
    lines = [
        "Start perio exam.",
        "3 2 4.",
        "Start note.",
        "Subjective: pain on tooth 3, 4 out of 10, worse on the buckle side.",
        "Plan: recheck in 2 weeks. End note.",
        "4 3 3.",
    ]
    pipeline = run_script(lines, sandbox, tmp_path, "perio")
    connector, engine, journal = sandbox
    assert pipeline.exam is not None
    chart = connector.read_chart(pipeline.exam.exam_num)[SequenceType.PROBING]
    assert sorted(chart) == [
        2,
        3,
    ]  # 3 2 4 on tooth 2, then 4 3 3 on tooth 3: the note's numbers charted nothing
    assert chart[3].sites[:3] == (3, 3, 4)  # MB, B, DB of "4 3 3" probed DB, B, MB
    assert pipeline.prompts == [None, None, None, NOTE_PROMPT, NOTE_PROMPT, None]  # type: ignore[attr-defined]
    with engine.connect() as conn:
        notes = conn.execute(sa.select(procnote.c.Note)).scalars().all()
        procedures = conn.execute(sa.select(procedurelog.c.ProcStatus, procedurelog.c.PatNum)).all()
    assert notes == [
        "Subjective: Pain on tooth 3, 4 out of 10, worse on the buccal side.\n\nPlan: Recheck in 2 weeks."
    ]
    assert procedures == [(2, 1)]  # one completed clinical-note procedure for the patient
    assert journal.pending_notes() == []  # delivered
    (saved,) = journal.notes()
    assert "buckle" in saved.raw_text and ["buckle", "buccal"] in saved.corrections


def test_note_mode_from_the_first_word(
    sandbox: tuple[SandboxConnector, sa.Engine, Journal], tmp_path: Path
) -> None:
    pipeline = run_script(["Assessment: generalized gingivitus.", "End note."], sandbox, tmp_path, "note")
    assert pipeline.notes_saved == 1 and pipeline.exam is None  # no perio exam was opened
    _, engine, _ = sandbox
    with engine.connect() as conn:
        assert conn.execute(sa.select(procnote.c.Note)).scalar() == "Assessment: Generalized gingivitis."
