"""The spoken sample exams in samples/: load the manifest, replay one into a sandbox, score the chart."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from voicechart.accuracy import Score, cell_keys, score_chart
from voicechart.asr.transcriber import WhisperTranscriber
from voicechart.audio.sources import array_chunks, decode_file
from voicechart.journal.store import Journal
from voicechart.pipeline import UtteranceResult
from voicechart.pms.records import MeasureRow, SequenceType
from voicechart.pms.sandbox.schema import create_sandbox
from voicechart.pms.sandbox.seed import add_patient, seed_demo
from voicechart.runner import build_pipeline, open_connector
from voicechart.settings import SAMPLES_DIR, Settings


def load_manifest(samples_dir: Path = SAMPLES_DIR) -> dict[str, dict[str, Any]]:
    manifest = json.loads((samples_dir / "manifest.json").read_text())
    return {s["id"]: s for s in manifest["samples"]}


@dataclass(frozen=True, slots=True)
class SampleRun:
    sample_id: str
    results: tuple[UtteranceResult, ...]
    chart: dict[SequenceType, dict[int, MeasureRow]]
    score: Score
    flagged_cells: frozenset[str] = frozenset()  # written, but marked for review

    @property
    def wrong_unflagged(self) -> tuple[str, ...]:
        """Wrong values in the PMS that nothing marks for review: the number that must stay at zero."""
        return tuple(c for c in self.score.wrong_cells if c not in self.flagged_cells)

    @property
    def flagged_utterances(self) -> int:
        return sum(r.status == "flagged" for r in self.results)


def replay_sample(
    entry: dict[str, Any],
    *,
    settings: Settings,
    transcriber: WhisperTranscriber,
    pms_url: str,
    audio_filter: Callable[[np.ndarray], np.ndarray] | None = None,
    sandbox_url: str | None = None,
) -> SampleRun:
    """A new patient with the sample's missing teeth in the sandbox, the sample's audio through the real
    pipeline into the PMS at `pms_url`, and the resulting chart read back from that PMS and scored.

    `pms_url` is the sandbox database itself, or an Open Dental API URL serving the sandbox database at
    `sandbox_url` (where the patient is added)."""
    engine = sa.create_engine(sandbox_url or pms_url)
    try:
        create_sandbox(engine)
        seed_demo(engine, dt.date.today())
        pat_num = add_patient(
            engine,
            first_name="Sample",
            last_name=entry["id"],
            missing_teeth=tuple(entry["patient"]["missing_teeth"]),
        )
    finally:
        engine.dispose()
    pcm = decode_file(SAMPLES_DIR / entry["audio"])
    if audio_filter is not None:
        pcm = audio_filter(pcm)
    journal = Journal(settings.journal_url)
    connector = open_connector(pms_url, settings)
    try:
        pipeline = build_pipeline(
            settings,
            transcriber=transcriber,
            connector=connector,
            journal=journal,
            pat_num=pat_num,
            pms_url=pms_url,
            realtime=False,
        )
        results = tuple(pipeline.run(array_chunks(pcm)))
        chart = connector.read_chart(pipeline.exam.exam_num) if pipeline.exam else {}
        flagged = frozenset(cell_keys(pipeline.session.flagged_sites)) if pipeline.session else frozenset()
    finally:
        connector.close()
        journal.close()
    return SampleRun(entry["id"], results, chart, score_chart(entry["expected_chart"], chart), flagged)
