"""The PMS hop: chart edits through the Open Dental API connector into the sandbox's API server.

1. Throughput and latency, not throttled (Local API / API Service): every periomeasure row of random
   full-mouth exams upserted through the API connector (HTTP) and, for comparison, through the in-process
   sandbox connector. Reports edits per second and the time of one upsert (median, p95): what the hop adds.
2. Throttled like the remote API (1 request per second): a full-mouth exam dictated at speaking pace (one
   utterance every 1.5 s) through the journal and the outbox. Reports how long after the last word the chart
   was complete in the PMS, and how many edits were coalesced.

    scripts/dev bench pms     (or: .venv/bin/python -m bench pms); VOICECHART_TEST_MARIADB_URL adds MariaDB
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.stats import percentile
from voicechart.dictation.interpreter import interpret
from voicechart.exam.decide import decide
from voicechart.exam.session import ExamSession
from voicechart.journal.store import Journal
from voicechart.pms.connector import PmsConnector
from voicechart.pms.odapi.client import OpenDentalApi
from voicechart.pms.odapi.connector import OpenDentalApiConnector
from voicechart.pms.outbox import Outbox
from voicechart.pms.records import MeasureRow
from voicechart.pms.sandbox import SandboxConnector, add_patient, create_sandbox, metadata
from voicechart.pms.sandbox.api import BackgroundServer, SandboxApi
from voicechart.pms.sandbox.schema import CLINICAL_NOTE_CODE
from voicechart.simulate.exams import random_exam
from voicechart.simulate.speech import Style, render_exam

RESULTS = Path(__file__).parent / "results"
KEYS = {"developer_key": "bench", "customer_key": "bench"}
TODAY = dt.date.today()
EXAMS = 4
UTTERANCE_GAP_S = 1.5


def _engine(database: str, tmp: Path) -> sa.Engine:
    if database == "sqlite":
        return sa.create_engine(f"sqlite:///{tmp / 'pms.db'}", connect_args={"check_same_thread": False})
    engine = sa.create_engine(os.environ["VOICECHART_TEST_MARIADB_URL"])
    metadata.drop_all(engine)
    return engine


def _exam_rows(seed: int) -> tuple[list[int], list[MeasureRow]]:
    """A random exam dictated into a session: its missing teeth and every row it ends with."""
    rng = random.Random(seed)
    truth = random_exam(rng, severity="moderate")
    session = ExamSession()
    for utterance in render_exam(truth, Style(), rng):
        decide(session, interpret(utterance.text()))
    rows = [r for r in session.rows.values() if not r.records_nothing()]
    return sorted(truth.missing_known), rows


def _upserts(connector: PmsConnector, engine: sa.Engine) -> list[float]:
    times = []
    for seed in range(EXAMS):
        missing, rows = _exam_rows(seed)
        pat_num = add_patient(engine, first_name="Bench", last_name=f"P{seed}", missing_teeth=missing)
        exam = connector.open_exam(pat_num, TODAY)
        for row in rows:
            started = time.perf_counter()
            connector.upsert_measure(exam.exam_num, row)
            times.append(time.perf_counter() - started)
    return times


def throughput(database: str) -> list[dict[str, Any]]:
    out = []
    for kind in ("in-process", "api"):
        with tempfile.TemporaryDirectory() as tmp:
            engine = _engine(database, Path(tmp))
            create_sandbox(engine)
            server = None
            connector: PmsConnector
            if kind == "api":
                server = BackgroundServer(SandboxApi(engine, **KEYS)).start()
                api = OpenDentalApi(server.url, **KEYS)
                connector = OpenDentalApiConnector(api, clinical_note_code=CLINICAL_NOTE_CODE)
            else:
                connector = SandboxConnector(engine)
            try:
                started = time.perf_counter()
                times = _upserts(connector, engine)
                elapsed = time.perf_counter() - started
            finally:
                connector.close()
                if server is not None:
                    server.stop()
                metadata.drop_all(engine)
                engine.dispose()
        ms = sorted(t * 1000 for t in times)
        out.append(
            {
                "database": database,
                "connector": kind,
                "edits": len(ms),
                "edits_per_s": round(len(ms) / elapsed, 1),
                "upsert_ms_median": round(statistics.median(ms), 2),
                "upsert_ms_p95": round(percentile(ms, 95), 2),
            }
        )
    return out


def throttled_full_mouth() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        engine = _engine("sqlite", Path(tmp))
        create_sandbox(engine)
        rng = random.Random(11)
        truth = random_exam(rng, severity="moderate")
        pat_num = add_patient(
            engine, first_name="Full", last_name="Mouth", missing_teeth=sorted(truth.missing_known)
        )
        server = BackgroundServer(SandboxApi(engine, throttle_s=1.0, **KEYS)).start()
        api = OpenDentalApi(server.url, min_interval_s=1.0, **KEYS)
        connector = OpenDentalApiConnector(api, clinical_note_code=CLINICAL_NOTE_CODE)
        journal = Journal(f"sqlite:///{tmp}/journal.db")
        try:
            exam = connector.open_exam(pat_num, TODAY)
            session_id = journal.start_session(pms_url=server.url, pat_num=pat_num, model="bench")
            outbox = Outbox(journal, connector, pms_url=server.url)
            outbox.start()
            session = ExamSession(rows=exam.measures)
            spoken = render_exam(truth, Style(), rng)
            edits = 0
            started = time.monotonic()
            for seq, utterance in enumerate(spoken, 1):
                outcome = decide(session, interpret(utterance.text())).outcome
                row_edits = outcome.edits if outcome else ()
                edits += len(row_edits)
                journal.record_utterance(
                    session_id=session_id, seq=seq, clip_path=Path("x.wav"), audio_start_s=0.0,
                    audio_end_s=0.0, text="", avg_logprob=0.0, no_speech_prob=0.0, status="applied",
                    flag_reason="", readback="", timings={}, commands=(), edits=row_edits,
                    exam_num=exam.exam_num,
                )  # fmt: skip
                outbox.kick()
                time.sleep(UTTERANCE_GAP_S)
            last_word = time.monotonic()
            complete = outbox.wait_until_delivered(timeout_s=600)
            catch_up = time.monotonic() - last_word
            outbox.stop()
            writes = sum(1 for e in journal.audit_events() if e.action == "pms_write")
            chart = connector.read_chart(exam.exam_num)
            in_pms = {(s, t): r for s, rows in chart.items() for t, r in rows.items()}
            wanted = {k: r for k, r in session.rows.items() if not r.records_nothing()}
            same = {k: (r.tooth_value, r.sites) for k, r in in_pms.items()} == {
                k: (r.tooth_value, tuple(0 if v == -1 and k[0] == 6 else v for v in r.sites))
                for k, r in wanted.items()
            }
        finally:
            connector.close()
            journal.close()
            server.stop()
            engine.dispose()
    return {
        "utterances": len(spoken),
        "dictation_s": round(last_word - started, 1),
        "edits": edits,
        "pms_writes": writes,
        "complete": complete and same,
        "complete_s_after_last_word": round(catch_up, 1),
    }


def main() -> None:
    databases = ["sqlite"] + (["mariadb"] if os.environ.get("VOICECHART_TEST_MARIADB_URL") else [])
    rows = [r for database in databases for r in throughput(database)]
    lines = [
        "| database | connector | edits | edits/s | upsert ms p50 | upsert ms p95 |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['database']} | {r['connector']} | {r['edits']} | {r['edits_per_s']} | {r['upsert_ms_median']} "
        f"| {r['upsert_ms_p95']} |"
        for r in rows
    ]
    throttled = throttled_full_mouth()
    lines += [
        "",
        f"Throttled (1 request/s): {throttled['utterances']} utterances dictated in "
        f"{throttled['dictation_s']} s, "
        f"{throttled['edits']} edits in {throttled['pms_writes']} PMS writes; chart complete "
        f"{throttled['complete_s_after_last_word']} s after the last word "
        f"({'every row as charted' if throttled['complete'] else 'INCOMPLETE'}).",
    ]
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "pms_hop.json").write_text(
        json.dumps({"throughput": rows, "throttled": throttled}, indent=1) + "\n"
    )
    (RESULTS / "pms_hop.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
