"""The journal's disk is full or read-only: the operatory is told at once (the flagged earcon and a
message), nothing is acknowledged that was not stored, nothing reaches the PMS, and the exam goes on where
it was once the journal can write again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from tests.scripted_pipeline import scripted_pipeline, utterance
from voicechart.asr.transcriber import Transcript
from voicechart.feedback.earcons import Earcon, earcon_for
from voicechart.journal.store import Journal
from voicechart.pipeline import PipelineOptions, UtteranceResult
from voicechart.pms.records import SequenceType
from voicechart.pms.sandbox import SandboxConnector
from voicechart.simulate.journal_faults import disk_full, read_only


class Scripted:
    def __init__(self, texts: list[str]) -> None:
        self.texts = list(texts)

    def transcribe(self, audio: np.ndarray, *, prompt: str | None = None) -> Transcript:
        return Transcript(self.texts.pop(0), -0.1, 0.01)


@pytest.mark.parametrize("failure", ["read-only", "disk-full", "clips-unwritable"])
def test_an_utterance_the_journal_cannot_store_is_not_charted_and_is_said_to_be_lost(
    sandbox: tuple[SandboxConnector, sa.Engine, Journal],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    failure: str,
) -> None:
    connector, _engine, journal = sandbox
    script = ["Start perio exam.", "3 2 4.", "4 3 3.", "4 3 3.", "Bleeding all."]
    recognizer = Scripted(script)
    options = PipelineOptions(
        min_avg_logprob=-1.0, min_avg_logprob_commands=-1.5, max_no_speech_prob=0.6, pms_wait_s=0.0
    )
    # patient 3: no missing teeth, so the path starts at tooth 1
    pipeline = scripted_pipeline(recognizer, connector, journal, tmp_path, pat_num=3, options=options)

    def say(i: int) -> UtteranceResult:
        result = pipeline.process(utterance(i))
        pipeline.outbox.drain()
        return result

    results = [say(0), say(1)]
    if failure == "read-only":
        restore = read_only(journal)
    elif failure == "disk-full":
        restore = disk_full(journal)
    else:
        real = pipeline.clips_dir
        monkeypatch.setattr(pipeline, "clips_dir", Path("/proc/voicechart-cannot-write-here"))
        recognizer.texts.pop(0)  # its audio cannot be kept: it is not even recognized

        def restore() -> None:
            pipeline.clips_dir = real

    lost = say(2)  # "4 3 3" while the journal cannot store it
    restore()
    results += [say(3), say(4)]  # said again once it can

    assert lost.status == "not_stored" and lost.edits == [] and "Nothing was charted" in lost.readback
    assert lost.speak and earcon_for(lost.status, lost.commands) is Earcon.FLAGGED
    assert [r.status for r in results] == ["applied"] * 4
    exam = pipeline.exam
    assert exam is not None
    chart = connector.read_chart(exam.exam_num)
    probing = chart[SequenceType.PROBING]
    assert probing[1].sites[:3] == (4, 2, 3) and probing[2].sites[:3] == (3, 3, 4)  # DB,B,MB said → MB,B,DB
    assert 3 not in probing  # the lost "4 3 3" did not move the cursor: its repeat went to tooth 2
    stored = [u.text for u in journal.utterances(pipeline.session_id)]
    assert stored == ["Start perio exam.", "3 2 4.", "4 3 3.", "Bleeding all."]
    assert journal.pending_edits() == []
    audited = {(e.action, e.object_id) for e in journal.audit_events()}
    assert ("pms_open_exam", str(exam.exam_num)) in audited  # opening the exam may write to the PMS
