"""`voicechart serve`: two operatories dictating at once in one process, one shared model, each charting its
own scheduled patient; the charts read back from the PMS match what was spoken in each room."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import SAMPLES
from voicechart.accuracy import score_chart
from voicechart.pms.records import SequenceType
from voicechart.pms.sandbox import SandboxConnector, add_patient, create_sandbox
from voicechart.pms.sandbox.seed import add_operatory_appointment, seed_demo
from voicechart.settings import SAMPLES_DIR

pytestmark = [pytest.mark.model, pytest.mark.e2e]
ROOMS = {11: "a-flite-rms", 12: "b-flite-slt"}


def scheduled(pms_url: str, rooms: dict[int, str]) -> dict[int, int]:
    """A sandbox PMS with a patient in each operatory now (missing the sample's teeth); their numbers."""
    engine = sa.create_engine(pms_url)
    create_sandbox(engine)
    seed_demo(engine, dt.date.today())
    patients = {}
    # ten minutes ago, but today: just after midnight, "ten minutes ago" was yesterday's schedule
    midnight = dt.datetime.combine(dt.date.today(), dt.time())
    started = max(dt.datetime.now() - dt.timedelta(minutes=10), midnight)
    for op, sample in rooms.items():
        missing = tuple(SAMPLES[sample]["patient"]["missing_teeth"])
        patients[op] = add_patient(engine, first_name="Room", last_name=str(op), missing_teeth=missing)
        add_operatory_appointment(engine, op, patients[op], started)
    engine.dispose()
    return patients


def test_two_operatories_chart_their_own_patients_at_once(tmp_path: Path) -> None:
    pms_url = f"sqlite:///{tmp_path / 'pms.sqlite3'}"
    patients = scheduled(pms_url, ROOMS)
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


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_a_stopped_station_delivers_what_it_heard_and_exits_cleanly(
    tmp_path: Path, stop: signal.Signals
) -> None:
    """A service manager stopping the station (SIGTERM), or Ctrl-C: the operatory's source ends where it is,
    and every value it reported is in the PMS before the process exits 0. The dictation stops short of
    "end exam" and the line stays open, so only the signal can end the run."""
    from voicechart.audio.sources import decode_file

    sample = SAMPLES["a-piper-joe"]
    before_end_exam = int(sample["utterances"][-1]["start_s"] * 16000)
    assert "end exam" in sample["utterances"][-1]["text"]
    pcm = decode_file(SAMPLES_DIR / sample["audio"])[:before_end_exam].astype("<i2").tobytes()
    pms_url = f"sqlite:///{tmp_path / 'pms.sqlite3'}"
    patient = scheduled(pms_url, {21: "a-piper-joe"})[21]
    env = {**os.environ, "VOICECHART_DATA_DIR": str(tmp_path), "VOICECHART_PMS_URL": pms_url}
    args = [sys.executable, "-m", "voicechart.cli", "serve", "--json", "--no-feedback", "--no-web"]
    with (tmp_path / "stderr.txt").open("wb") as stderr:
        station = subprocess.Popen(
            [*args, "--operatory", "21=-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
        )
    assert station.stdin is not None and station.stdout is not None
    stdin, stdout = station.stdin, station.stdout
    threading.Thread(target=lambda: stdin.write(pcm) and stdin.flush(), daemon=True).start()
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.extend(stdout.readline() for _ in range(3)), daemon=True)
    reader.start()
    reader.join(timeout=240)
    try:
        assert len(lines) == 3 and all(lines), "serve printed no results, or ended before the signal"
        station.send_signal(stop)
        out, _ = station.communicate(timeout=180)
    finally:
        station.kill()
    err = (tmp_path / "stderr.txt").read_text()
    assert station.returncode == 0, err[-2000:]
    assert "Stopped." in err and "not in the PMS yet" not in err and "did not finish" not in err
    results = [json.loads(line) for line in [*lines, *out.splitlines()]]
    reported: dict[int, tuple[int, ...]] = {}  # the last probing values reported for each tooth
    for result in results:
        for edit in result["edits"]:
            if edit["sequence_type"] == "Probing":
                sites = edit["sites"]
                reported[edit["tooth"]] = tuple(sites[c] for c in ("MB", "B", "DB", "ML", "L", "DL"))
    assert reported, "nothing was charted before the signal"
    connector = SandboxConnector.from_url(pms_url)
    try:
        exam = connector.previous_exam(patient, dt.date.today() + dt.timedelta(days=1))
        assert exam is not None
        probing = connector.read_chart(exam.exam_num)[SequenceType.PROBING]
        in_pms = {tooth: tuple(row.sites) for tooth, row in probing.items()}
    finally:
        connector.close()
    assert {tooth: in_pms.get(tooth) for tooth in reported} == reported
