"""A live pipeline into the sandbox PMS whose recognizer says what the test scripts: each utterance's text and
confidence (mean token log-probability), for tests of what the pipeline does with what was heard."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from voicechart.asr.transcriber import Transcriber, Transcript
from voicechart.audio.segmenter import Segmenter, SegmenterConfig, Utterance
from voicechart.journal.store import Journal
from voicechart.pipeline import Pipeline, PipelineOptions, UtteranceResult
from voicechart.pms.connector import PmsConnector
from voicechart.pms.sandbox import SandboxConnector


class Scripted:
    def __init__(self, said: list[tuple[str, float]]) -> None:
        self.said = list(said)

    def transcribe(self, audio: np.ndarray, *, prompt: str | None = None) -> Transcript:
        text, avg_logprob = self.said.pop(0)
        return Transcript(text, avg_logprob, 0.01)


def scripted_pipeline(
    transcriber: Transcriber,
    connector: PmsConnector,
    journal: Journal,
    tmp_path: Path,
    *,
    pat_num: int,
    options: PipelineOptions,
    pms_url: str = "sqlite:///sandbox",
) -> Pipeline:
    """A live pipeline fed whole utterances (no speech detector) whose recognizer is a test's script."""
    return Pipeline(
        segmenter=Segmenter(detector=None, config=SegmenterConfig()),  # type: ignore[arg-type]
        transcriber=transcriber,
        connector=connector,
        journal=journal,
        clips_dir=tmp_path / "clips",
        pat_num=pat_num,
        pms_url=pms_url,
        model_name="scripted",
        options=options,
        today=dt.date.today(),
    )


def utterance(i: int) -> Utterance:
    """The i-th utterance of a script: half a second of quiet audio, one a second."""
    return Utterance(np.zeros(8000, dtype=np.int16), float(i), i + 0.5, i + 0.9)


def run(
    sandbox: tuple[SandboxConnector, sa.Engine, Journal], tmp_path: Path, said: list[tuple[str, float]]
) -> tuple[Pipeline, list[UtteranceResult]]:
    """Each scripted utterance through the pipeline, the outbox drained after each; patient 3 has no
    missing teeth, so the path starts at tooth 1 facial."""
    connector, _engine, journal = sandbox
    options = PipelineOptions(
        min_avg_logprob=-0.7,
        min_avg_logprob_commands=-0.6,
        min_avg_logprob_findings=-0.2,
        max_no_speech_prob=0.6,
        pms_wait_s=0.0,
    )
    pipeline = scripted_pipeline(Scripted(said), connector, journal, tmp_path, pat_num=3, options=options)
    results = []
    for i in range(len(said)):
        results.append(pipeline.process(utterance(i)))
        pipeline.outbox.drain()
    return pipeline, results
