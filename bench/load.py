"""Load: eight operatories charting at once through the sandbox's Open Dental API, for 30 minutes.

Each operatory is a thread with its own journal handle and outbox (as in `voicechart serve`), dictating
random full-mouth exams at speaking pace (one utterance every 1.5 s; a new patient when an exam ends). The
utterances are text through the interpreter and the exam session (recognition is not part of this: eight
operatories of Whisper do not fit on 2 cores, see `bench live`), journaled, and delivered by the outboxes to
`voicechart pms serve` running as its own process on loopback.

Reports, per minute: utterances, edits written, the time from the journal write to the edit's commit in the
PMS (p50, p95, p99), and the memory of both processes; at the end, for every exam, whether the PMS holds
exactly the chart the session ended with (cells lost) and whether any periomeasure row exists twice
(duplicated). Both must be nothing.

    scripts/dev bench load                 # 8 operatories, 30 minutes
    scripts/dev bench load minutes=2 operatories=4
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from bench.stats import percentile
from voicechart.dictation.interpreter import interpret
from voicechart.exam.decide import decide
from voicechart.exam.session import ExamSession
from voicechart.journal.store import Journal
from voicechart.loopback import free_port, wait_until_listening
from voicechart.pms.odapi.client import OpenDentalApi
from voicechart.pms.odapi.connector import OpenDentalApiConnector
from voicechart.pms.outbox import Outbox
from voicechart.pms.records import MeasureRow, SequenceType
from voicechart.pms.sandbox import add_patient, create_sandbox
from voicechart.pms.sandbox.schema import CLINICAL_NOTE_CODE, periomeasure
from voicechart.simulate.exams import random_exam
from voicechart.simulate.speech import Style, render_exam

RESULTS = Path(__file__).parent / "results"
KEYS = {"developer_key": "load-developer", "customer_key": "load-customer"}
GAP_S = 1.5
JOURNALED: dict[int, float] = {}  # edit id -> when its journal write returned
JOURNALED_LOCK = threading.Lock()
TODAY = dt.date.today()


def _args() -> tuple[float, int]:
    values = dict(a.split("=", 1) for a in sys.argv[2:] if "=" in a)
    return float(values.get("minutes", 30)), int(values.get("operatories", 8))


def _rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Operatory:
    number: int
    journal: Journal
    connector: OpenDentalApiConnector
    outbox: Outbox
    exams: list[tuple[int, dict[tuple[SequenceType, int], MeasureRow]]] = field(default_factory=list)
    latencies: list[tuple[float, float]] = field(default_factory=list)  # (commit time, ms), by committer
    utterances: list[float] = field(default_factory=list)

    def committed(self, ids: list[int], at: float) -> None:
        """Any outbox may write any operatory's edits (they share the journal): timed from one table."""
        with JOURNALED_LOCK:
            for i in ids:
                started = JOURNALED.pop(i, None)
                if started is not None:
                    self.latencies.append((at, (at - started) * 1000))


def _dictate(op: Operatory, engine: sa.Engine, url: str, until: float, seed: int) -> None:
    rng = random.Random(seed)
    while time.perf_counter() < until:
        truth = random_exam(rng, severity=rng.choice(["healthy", "moderate", "severe"]))
        pat = add_patient(engine, first_name=f"Op{op.number}", last_name=f"Load{seed}-{len(op.exams)}",
                          missing_teeth=sorted(truth.missing_known))  # fmt: skip
        exam = op.connector.open_exam(pat, TODAY)
        sid = op.journal.start_session(pms_url=url, pat_num=pat, model="load", operatory=op.number)
        op.journal.set_exam(sid, exam.exam_num)
        session = ExamSession(rows=exam.measures)
        for seq, utterance in enumerate(render_exam(truth, Style(), rng), 1):
            if time.perf_counter() >= until:
                break
            outcome = decide(session, interpret(utterance.text())).outcome
            edits = outcome.edits if outcome else ()
            _, ids = op.journal.record_utterance(
                session_id=sid, seq=seq, clip_path=Path("load.wav"), audio_start_s=0.0, audio_end_s=0.0,
                text="", avg_logprob=0.0, no_speech_prob=0.0, status="applied", flag_reason="", readback="",
                timings={}, commands=(), edits=edits, exam_num=exam.exam_num,
            )  # fmt: skip
            now = time.perf_counter()
            with JOURNALED_LOCK:
                JOURNALED.update((i, now) for i in ids)
            op.utterances.append(now)
            op.outbox.kick()
            time.sleep(GAP_S)
        op.journal.end_session(sid)
        op.exams.append((exam.exam_num, dict(session.rows)))  # the chart it ended with, not the whole session


def _serve(db_url: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "voicechart.cli", "pms", "serve", "--pms", db_url, "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    if wait_until_listening(port, process):
        return process
    process.kill()
    raise RuntimeError("the sandbox API server did not start")


def _check(engine: sa.Engine, ops: list[Operatory]) -> dict[str, int]:
    """Cells the sessions hold that the PMS does not (lost) and periomeasure rows that exist twice."""
    lost = exams = 0
    with engine.connect() as conn:
        duplicated = conn.execute(
            sa.select(sa.func.count()).select_from(
                sa.select(periomeasure.c.PerioExamNum)
                .group_by(periomeasure.c.PerioExamNum, periomeasure.c.SequenceType, periomeasure.c.IntTooth)
                .having(sa.func.count() > 1)
                .subquery()
            )
        ).scalar_one()
    if os.environ.get("LOAD_DEBUG"):
        for e in ops[0].journal.rejected_edits()[:5]:
            print("REFUSED", e.exam_num, e.sequence_type, e.tooth, e.pms_error)
    for op in ops:
        for exam_num, rows in op.exams:
            exams += 1
            chart = op.connector.read_chart(exam_num)
            for (seq, tooth), row in rows.items():
                if row.records_nothing():
                    continue
                held = chart.get(seq, {}).get(tooth) or MeasureRow(seq, tooth)
                for want, got in zip(row.sites, held.sites, strict=True):
                    blank_flag = seq is SequenceType.BLEED_SUP_PLAQ_CALC and want == -1 and got == 0
                    lost += want != got and not blank_flag
                    if want != got and not blank_flag and os.environ.get("LOAD_DEBUG"):
                        print("LOST", exam_num, seq, tooth, row.sites, held.sites)
                lost += (
                    seq in (SequenceType.MOBILITY, SequenceType.SKIP_TOOTH)
                    and row.tooth_value != held.tooth_value
                )
    return {"exams": exams, "lost_cells": lost, "duplicated_rows": int(duplicated)}


def main() -> None:
    minutes, count = _args()
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{tmp}/pms.db"
        engine = sa.create_engine(db_url)
        create_sandbox(engine)
        port = free_port()
        env = {**os.environ, "VOICECHART_OD_DEVELOPER_KEY": KEYS["developer_key"],
               "VOICECHART_OD_CUSTOMER_KEY": KEYS["customer_key"], "VOICECHART_DATA_DIR": tmp}  # fmt: skip
        server = _serve(db_url, port, env)
        url = f"http://127.0.0.1:{port}/api/v1"
        ops = []
        for n in range(1, count + 1):
            journal = Journal(f"sqlite:///{tmp}/journal.db")
            connector = OpenDentalApiConnector(
                OpenDentalApi(url, **KEYS), clinical_note_code=CLINICAL_NOTE_CODE
            )
            op = Operatory(n, journal, connector, None)  # type: ignore[arg-type]
            op.outbox = Outbox(journal, connector, pms_url=url, on_commit=op.committed)
            op.outbox.start()
            ops.append(op)
        started = time.perf_counter()
        until = started + minutes * 60
        threads = [
            threading.Thread(target=_dictate, args=(op, engine, url, until, 100 + op.number), daemon=True)
            for op in ops
        ]
        for t in threads:
            t.start()
        memory: list[dict[str, float]] = []
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(timeout=10 / len(threads))
            memory.append({"s": round(time.perf_counter() - started), "bench_mb": round(_rss_mb(), 1),
                           "api_server_mb": round(_rss_mb(server.pid), 1)})  # fmt: skip
        last_word = max(op.utterances[-1] for op in ops if op.utterances)  # catch-up counts from here
        caught_up = all(op.outbox.wait_until_delivered(timeout_s=300) for op in ops)
        catch_up_s = time.perf_counter() - last_word
        for op in ops:
            op.outbox.stop()
        result = _check(engine, ops)
        for op in ops:
            op.connector.close()
            op.journal.close()
        server.terminate()
        server.wait(timeout=10)
        engine.dispose()
    per_minute: dict[int, list[float]] = defaultdict(list)
    utterances: dict[int, int] = defaultdict(int)
    for op in ops:
        for at, ms in op.latencies:
            per_minute[int((at - started) // 60)].append(ms)
        for at in op.utterances:
            utterances[int((at - started) // 60)] += 1
    rows = []
    for minute in sorted(per_minute):
        ms = sorted(per_minute[minute])
        mem = [m for m in memory if minute * 60 <= m["s"] < (minute + 1) * 60] or memory[-1:]
        rows.append({
            "minute": minute + 1, "utterances": utterances[minute], "edits": len(ms),
            "p50_ms": round(statistics.median(ms), 1), "p95_ms": round(percentile(ms, 95), 1),
            "p99_ms": round(percentile(ms, 99), 1),
            "bench_mb": mem[-1]["bench_mb"], "api_server_mb": mem[-1]["api_server_mb"],
        })  # fmt: skip
    all_ms = sorted(latency for op in ops for _, latency in op.latencies)
    summary = {
        "operatories": count, "minutes": minutes, **result, "edits": len(all_ms),
        "utterances": sum(utterances.values()), "caught_up": caught_up, "catch_up_s": round(catch_up_s, 1),
        "p50_ms": round(statistics.median(all_ms), 1),
        "p95_ms": round(percentile(all_ms, 95), 1),
        "p99_ms": round(percentile(all_ms, 99), 1),
    }  # fmt: skip
    lines = [
        f"{count} operatories for {minutes:g} min through the sandbox API (loopback, SQLite); "
        f"`scripts/dev bench load minutes={minutes:g} operatories={count}`",
        "",
        f"{summary['utterances']} utterances, {summary['edits']} edits, {summary['exams']} exams: "
        f"**{summary['lost_cells']} cells lost, {summary['duplicated_rows']} rows duplicated**; "
        f"journal → PMS p50 {summary['p50_ms']} ms, p95 {summary['p95_ms']} ms, p99 {summary['p99_ms']} ms; "
        f"all delivered {summary['catch_up_s']} s after the last word "
        f"({'caught up' if caught_up else 'NOT caught up'}).",
        "",
        "| minute | utterances | edits | p50 ms | p95 ms | p99 ms | bench MB | API server MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['minute']} | {r['utterances']} | {r['edits']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} "
        f"| {r['bench_mb']} | {r['api_server_mb']} |"
        for r in rows
    ]
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "load.json").write_text(
        json.dumps({"summary": summary, "minutes": rows, "memory": memory}, indent=1) + "\n"
    )
    (RESULTS / "load.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
