"""Reliability scenario `pms-faults`: full-mouth exams (random, dictated at text level) delivered through the
outbox and the Open Dental API connector over HTTP to the sandbox's API server, while the transport fails a
share of the requests in every way Open Dental's can (voicechart.pms.sandbox.faults): unreachable, 500 before
or after the write, a timeout or a connection reset after the write landed, 429, a write landing late; and
a few writes refused (400). Figures: edits, writes, faults injected, cells lost silently (neither in the PMS
nor in the rejected list), rows duplicated, edits refused and kept for a person, passes to deliver."""

from __future__ import annotations

import datetime as dt
import random
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from bench.scenario import dictate, pms_rows, run_exams, sandbox_with_patient, stored_rows
from voicechart.exam.session import ExamSession
from voicechart.journal.store import Journal
from voicechart.pms.odapi.client import OpenDentalApi
from voicechart.pms.odapi.connector import OpenDentalApiConnector
from voicechart.pms.outbox import Outbox
from voicechart.pms.sandbox.api import BackgroundServer, SandboxApi
from voicechart.pms.sandbox.faults import FaultyTransport
from voicechart.pms.sandbox.schema import CLINICAL_NOTE_CODE
from voicechart.simulate.speech import random_style, render_exam

KEYS = {"developer_key": "bench-developer", "customer_key": "bench-customer"}
TRANSIENT = ("unreachable", "500", "500_after", "timeout_after", "reset_after", "429", "late")
WRITE_FAULT_RATE = 0.3
READ_FAULT_RATE = 0.1
REFUSE_RATE = 0.02


def one_exam(seed: int, tmp: Path) -> dict[str, Any]:
    rng = random.Random(seed)
    engine, truth, pat_num = sandbox_with_patient(tmp, rng, f"F{seed}")
    server = BackgroundServer(SandboxApi(engine, **KEYS)).start()
    active = {"on": False}

    def plan(request: httpx.Request, _index: int) -> str | None:
        if not active["on"]:
            return None
        if request.method != "GET" and rng.random() < REFUSE_RATE:
            return "400"
        if rng.random() < (WRITE_FAULT_RATE if request.method != "GET" else READ_FAULT_RATE):
            kind = rng.choice(TRANSIENT)
            return "unreachable" if request.method == "GET" and kind == "late" else kind
        return None

    transport = FaultyTransport(httpx.HTTPTransport(), plan)
    connector = OpenDentalApiConnector(
        OpenDentalApi(server.url, transport=transport, **KEYS), clinical_note_code=CLINICAL_NOTE_CODE
    )
    journal = Journal(f"sqlite:///{tmp / 'journal.db'}")
    try:
        exam = connector.open_exam(pat_num, dt.date.today())
        session = ExamSession(rows=exam.measures)
        session_id = journal.start_session(pms_url=server.url, pat_num=pat_num, model="bench")
        outbox = Outbox(journal, connector, pms_url=server.url)
        active["on"] = True
        started = time.perf_counter()
        passes = 0
        for seq, utterance in enumerate(render_exam(truth, random_style(rng), rng), 1):
            dictate(journal, session, session_id, seq, utterance.text(), exam.exam_num)
            outbox.drain()  # delivered as it is spoken, failing or not
            passes += 1
        while outbox.drain().pending and passes < 2000:
            passes += 1
        seconds = time.perf_counter() - started
        active["on"] = False
        held, rows = pms_rows(engine, exam.exam_num)
        wanted = stored_rows(session.rows.values())
        refused = {(e.sequence_type, e.tooth) for e in journal.rejected_edits()}
        lost = [k for k, v in wanted.items() if held.get(k) != v and k not in refused]
        extra = [k for k in held if k not in wanted and k not in refused]
        with journal.engine.connect() as conn:
            edits = conn.execute(sa.text("SELECT COUNT(*) FROM chart_edit")).scalar_one()
        writes = sum(1 for e in journal.audit_events() if e.action == "pms_write")
        return {
            "seed": seed,
            "edits": int(edits),
            "pms_writes": writes,
            "requests": transport.requests,
            "faults_injected": len(transport.injected),
            "refused_kept_for_review": len(journal.rejected_edits()),
            "lost_silently": len(lost),
            "extra_rows": len(extra),
            "duplicate_rows": rows - len(held),
            "pending_at_end": len(journal.pending_edits()),
            "passes": passes,
            "seconds": round(seconds, 2),
        }
    finally:
        journal.close()
        connector.close()
        server.stop()
        engine.dispose()


def run(exams: int = 20) -> dict[str, Any]:
    summed = (
        "edits", "pms_writes", "requests", "faults_injected", "refused_kept_for_review", "lost_silently",
        "extra_rows", "duplicate_rows", "pending_at_end",
    )  # fmt: skip
    report = run_exams("pms-faults", one_exam, exams, summed)
    report["longest_delivery_s"] = max(e["seconds"] for e in report["per_exam"])
    return report
