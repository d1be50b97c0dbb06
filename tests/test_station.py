"""`voicechart serve`: two operatories dictating at once in one process, one shared model, each charting its
own scheduled patient; the charts read back from the PMS match what was spoken in each room."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import SAMPLES
from voicechart.accuracy import score_chart
from voicechart.pms.sandbox import SandboxConnector, add_patient, create_sandbox
from voicechart.pms.sandbox.seed import add_operatory_appointment, seed_demo
from voicechart.settings import SAMPLES_DIR

pytestmark = [pytest.mark.model, pytest.mark.e2e]
ROOMS = {11: "a-flite-rms", 12: "b-flite-slt"}


def test_two_operatories_chart_their_own_patients_at_once(tmp_path: Path) -> None:
    pms_url = f"sqlite:///{tmp_path / 'pms.sqlite3'}"
    engine = sa.create_engine(pms_url)
    create_sandbox(engine)
    seed_demo(engine, dt.date.today())
    patients = {}
    # ten minutes ago, but today: just after midnight, "ten minutes ago" was yesterday's schedule
    midnight = dt.datetime.combine(dt.date.today(), dt.time())
    started = max(dt.datetime.now() - dt.timedelta(minutes=10), midnight)
    for op, sample in ROOMS.items():
        missing = tuple(SAMPLES[sample]["patient"]["missing_teeth"])
        patients[op] = add_patient(engine, first_name="Room", last_name=str(op), missing_teeth=missing)
        add_operatory_appointment(engine, op, patients[op], started)
    engine.dispose()
    args = [sys.executable, "-m", "voicechart.cli", "serve", "--json", "--no-feedback"]
    for op, sample in ROOMS.items():
        args += ["--operatory", f"{op}={SAMPLES_DIR / SAMPLES[sample]['audio']}"]
    env = {**os.environ, "VOICECHART_DATA_DIR": str(tmp_path), "VOICECHART_PMS_URL": pms_url}
    run = subprocess.run(args, env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-2000:]
    results = [json.loads(line) for line in run.stdout.splitlines()]
    assert {r["operatory"] for r in results} == set(ROOMS)
    for op in ROOMS:
        assert f"operatory {op}: patient {patients[op]}" in run.stderr
    connector = SandboxConnector.from_url(pms_url)
    try:
        for op, sample in ROOMS.items():
            exam = connector.previous_exam(patients[op], dt.date.today() + dt.timedelta(days=1))
            assert exam is not None, f"no exam in operatory {op}"
            score = score_chart(SAMPLES[sample]["expected_chart"], connector.read_chart(exam.exam_num))
            total = score.correct + score.wrong + score.missing
            assert score.correct / total >= 0.75, (op, score)
            timed = [
                r["latency_ms"]
                for r in results
                if r["operatory"] == op and "speech_end_to_pms" in r["latency_ms"]
            ]
            assert timed and all("recognized_after_speech_end" in t for t in timed)
    finally:
        connector.close()
