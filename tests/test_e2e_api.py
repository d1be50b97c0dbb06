"""Spoken samples through the real pipeline into Open Dental's API (the sandbox's API server), read back with
GET /perioexams and GET /periomeasures: on SQLite and MariaDB, and with the server killed mid-exam."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import SAMPLES, assert_pms_holds_what_was_charted
from tests.test_sandbox_pms import MARIADB_URL, _mariadb_engine
from voicechart.accuracy import score_chart
from voicechart.loopback import free_port, wait_until_listening
from voicechart.pms.odapi import wire
from voicechart.pms.odapi.client import OpenDentalApi
from voicechart.pms.records import MeasureRow, SequenceType
from voicechart.pms.sandbox import create_sandbox, metadata
from voicechart.pms.sandbox.api import BackgroundServer, SandboxApi
from voicechart.samples import replay_sample
from voicechart.settings import SAMPLES_DIR, Settings

pytestmark = [pytest.mark.model, pytest.mark.e2e]
KEYS = {"developer_key": "e2e-developer", "customer_key": "e2e-customer"}
SAMPLE = "a-piper-joe"
ACCURACY_FLOOR = 0.9  # bench audio measured 100 %; recognition differs between CPUs, so not exactly


@pytest.fixture
def api_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICECHART_OD_DEVELOPER_KEY", KEYS["developer_key"])
    monkeypatch.setenv("VOICECHART_OD_CUSTOMER_KEY", KEYS["customer_key"])


def chart_via_api(
    api: OpenDentalApi, pat_num: int
) -> tuple[list[dict[str, Any]], dict[SequenceType, dict[int, MeasureRow]]]:
    """The patient's exams, and the chart of the latest as GET /perioexams and /periomeasures give it; fails
    on a duplicate (exam, sequence type, tooth) row."""
    exams = api.get_all("perioexams", PatNum=pat_num)
    rows = api.get_all("periomeasures", PerioExamNum=exams[-1]["PerioExamNum"])
    keys = [(r["SequenceType"], r["IntTooth"]) for r in rows]
    assert len(keys) == len(set(keys)), "duplicate periomeasure rows"
    chart: dict[SequenceType, dict[int, MeasureRow]] = {st: {} for st in SequenceType}
    for r in rows:
        row = wire.measure_from_wire(r)
        if not row.records_nothing():
            chart[row.sequence_type][row.tooth] = row
    return exams, chart


@pytest.mark.parametrize(
    "database",
    [
        "sqlite",
        pytest.param(
            "mariadb",
            marks=pytest.mark.skipif(not MARIADB_URL, reason="MariaDB: set VOICECHART_TEST_MARIADB_URL"),
        ),
    ],
)
def test_sample_through_the_api_gives_the_expected_chart(
    database: str, tmp_path: Path, transcriber: Any, api_keys: None
) -> None:
    if database == "sqlite":
        db_url = f"sqlite:///{tmp_path / 'pms.db'}"
        engine = sa.create_engine(db_url, connect_args={"check_same_thread": False})
    else:
        db_url = MARIADB_URL
        engine = _mariadb_engine(MARIADB_URL)
        metadata.drop_all(engine)
    create_sandbox(engine)
    server = BackgroundServer(SandboxApi(engine, **KEYS)).start()
    try:
        entry = SAMPLES[SAMPLE]
        (tmp_path / "data").mkdir()
        settings = Settings(data_dir=str(tmp_path / "data"))
        run = replay_sample(
            entry, settings=settings, transcriber=transcriber, pms_url=server.url, sandbox_url=db_url
        )
        api = OpenDentalApi(server.url, **KEYS)
        pat_num = int(api.get_all("patients", LName=SAMPLE)[0]["PatNum"])
        exams, chart = chart_via_api(api, pat_num)
        api.close()
    finally:
        server.stop()
        if database == "mariadb":
            metadata.drop_all(engine)
        engine.dispose()
    assert len(exams) == 1
    assert_pms_holds_what_was_charted(chart, [r.to_json() for r in run.results])
    score = score_chart(entry["expected_chart"], chart)
    assert score.accuracy >= ACCURACY_FLOOR, (score.wrong_cells, score.missing_cells)
    assert run.wrong_unflagged == ()


def _serve(db_url: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "voicechart.cli",
        "pms",
        "serve",
        "--pms",
        db_url,
        "--port",
        str(port),
        "--demo",
    ]
    with log.open("ab") as out:  # the child keeps its own copy of the file
        process = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    if wait_until_listening(port, process):
        return process
    process.kill()
    raise AssertionError(f"the API server did not start: {log.read_text()}")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "VOICECHART_DATA_DIR": str(tmp_path / "data"),
        "VOICECHART_OD_DEVELOPER_KEY": KEYS["developer_key"],
        "VOICECHART_OD_CUSTOMER_KEY": KEYS["customer_key"],
    }


def test_server_killed_for_30_s_mid_exam_loses_and_duplicates_nothing(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """`voicechart listen` paced at speaking speed; the API server killed 8 s in, restarted 30 s later."""
    db_url = f"sqlite:///{tmp_path / 'pms.db'}"
    port = free_port()
    url = f"http://127.0.0.1:{port}/api/v1"
    log = tmp_path / "server.log"
    server = _serve(db_url, port, env, log)
    listen_cmd = [
        sys.executable, "-m", "voicechart.cli", "listen", "--patient", "1", "--realtime", "--json",
        "--source", str(SAMPLES_DIR / SAMPLES[SAMPLE]["audio"]), "--pms", url,
    ]  # fmt: skip
    listen = subprocess.Popen(
        listen_cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert listen.stdout is not None
    results: list[str] = []
    try:
        while len(results) < 3:  # the exam is open and the first triplet is in: now take the PMS away
            line = listen.stdout.readline()
            assert line, "listen ended early"
            results.append(line)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        killed_at = len(results)
        reader = threading.Thread(target=lambda: results.extend(listen.stdout or ()), daemon=True)
        reader.start()
        time.sleep(30)
        server = _serve(db_url, port, env, log)
        listen.wait(timeout=240)
        reader.join(timeout=10)
    finally:
        listen.kill()
        listen.stdout.close()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)
    assert listen.returncode == 0
    results = [line for line in results if line.startswith("{")]
    assert len(results) == len(SAMPLES[SAMPLE]["utterances"])
    during_outage = [json.loads(r) for r in results[killed_at:]]
    assert any(r["pms_pending"] > 0 for r in during_outage), "the outage was not felt"
    api = OpenDentalApi(url, **KEYS)
    server = _serve(db_url, port, env, log)
    try:
        exams, chart = chart_via_api(api, 1)
    finally:
        api.close()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)
    assert len(exams) == 1
    assert_pms_holds_what_was_charted(chart, [json.loads(r) for r in results])
    score = score_chart(SAMPLES[SAMPLE]["expected_chart"], chart)
    assert score.accuracy >= ACCURACY_FLOOR, (score.wrong_cells, score.missing_cells)
