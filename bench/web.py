"""The review app: how long an exam page takes on the server, and how soon a journaled value is on a page.

1. Render: an exam with full-mouth data (probing, bleeding, recession on all 32 teeth) and 100 utterances,
   some marked, with a previous exam in the PMS. GET /exams/{id} 40 times, signed in; the server's own time
   from the Server-Timing header (the page is rendered before it is returned). Target: under 300 ms.
2. Live: the page open in headless Chromium; a value is journaled (as the pipeline journals it) and the time
   until the page shows it is taken from the page's own clock (Date.now() when the chart was replaced) minus
   the time the journal write returned. 30 values. Target: within 200 ms.

    scripts/dev bench web     (or: .venv/bin/python -m bench web); needs Debian's chromium for part 2
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from bench.stats import percentile
from voicechart.clips import write_clip
from voicechart.exam.edits import ChartEdit
from voicechart.journal.store import Journal
from voicechart.loopback import free_port
from voicechart.pms.records import MeasureRow, SequenceType
from voicechart.pms.sandbox import SandboxConnector, create_sandbox
from voicechart.pms.sandbox.seed import seed_demo
from voicechart.settings import load_settings
from voicechart.web.accounts import Accounts
from voicechart.web.app import create_app

RESULTS = Path(__file__).parent / "results"
PASSWORD = "bench-password-123"
PATIENT = 2  # the demo patient with a previous exam
UTTERANCES = 100
RENDERS = 40
LIVE_VALUES = 30


def _full_mouth(journal: Journal, clips: Path, session_id: int, exam_num: int) -> None:
    """100 utterances: 64 tooth sides of depths, 32 bleeding rows, a few recession rows, the rest commands;
    every seventh marked for review."""
    rng = np.random.default_rng(7)
    tone = (np.sin(np.arange(9600) / 16000 * 2 * np.pi * 300) * 6000).astype(np.int16)
    rows: dict[tuple[SequenceType, int], MeasureRow] = {}
    plan: list[tuple[str, SequenceType, int, tuple[int, ...]]] = []
    for tooth in range(1, 33):
        for side in (0, 1):
            depths = tuple(int(d) for d in rng.integers(1, 8, 3))
            plan.append(("depths", SequenceType.PROBING, tooth, (side, *depths)))
    for tooth in range(1, 33):
        plan.append(("bleeding", SequenceType.BLEED_SUP_PLAQ_CALC, tooth, (0, 1, 0, 1)))
    for tooth in range(2, 6):
        plan.append(("recession", SequenceType.GING_MARGIN, tooth, (0, 2, 1, 2)))
    for seq_no in range(1, UTTERANCES + 1):
        edits: tuple[ChartEdit, ...] = ()
        text = "next tooth"
        if seq_no <= len(plan):
            kind, seq, tooth, values = plan[seq_no - 1]
            before = rows.get((seq, tooth))
            sites = list(before.sites if before else (-1,) * 6)
            side, *vals = values
            for i, v in enumerate(vals):
                sites[side * 3 + i] = v
            after = MeasureRow(seq, tooth, -1, (sites[0], sites[1], sites[2], sites[3], sites[4], sites[5]))
            rows[(seq, tooth)] = after
            flag = "the recognizer was unsure" if seq_no % 7 == 0 else ""
            edits = (ChartEdit(seq, tooth, before, after, flagged=flag),)
            text = " ".join(map(str, vals)) if kind == "depths" else f"{kind} on {tooth}"
        clip = write_clip(clips / f"session-{session_id}" / f"{seq_no:05d}.wav", tone)
        journal.record_utterance(
            session_id=session_id,
            seq=seq_no,
            clip_path=clip,
            audio_start_s=seq_no,
            audio_end_s=seq_no + 0.6,
            text=text,
            avg_logprob=-0.3,
            no_speech_prob=0.01,
            status="applied",
            flag_reason="",
            readback="",
            timings={"speech_end_to_applied_ms": 450.0},
            commands=(),
            edits=edits,
            exam_num=exam_num,
            pat_num=PATIENT,
        )


class _Clinic:
    def __init__(self, tmp: Path) -> None:
        os.environ["VOICECHART_DATA_DIR"] = str(tmp / "data")
        self.settings = load_settings()
        self.settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(self.settings.resolved_pms_url)
        create_sandbox(self.engine)
        seed_demo(self.engine, dt.date.today())
        self.connector = SandboxConnector(self.engine)
        self.journal = Journal(self.settings.journal_url)
        exam = self.connector.open_exam(PATIENT, dt.date.today())
        self.exam_num = exam.exam_num
        self.session_id = self.journal.start_session(
            pms_url=self.settings.resolved_pms_url, pat_num=PATIENT, model="tiny.en", operatory=1
        )
        self.journal.set_exam(self.session_id, exam.exam_num)
        _full_mouth(self.journal, self.settings.clips_dir, self.session_id, exam.exam_num)
        Accounts(self.journal).add("bench", "clinic_lead", PASSWORD)
        self.app = create_app(
            self.settings, journal=self.journal, connect=lambda: SandboxConnector(self.engine)
        )

    def close(self) -> None:
        self.journal.close()
        self.connector.close()
        self.engine.dispose()


def _sign_in(client: Any) -> None:
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    response = client.post("/login", data={"csrf": token.group(1), "name": "bench", "password": PASSWORD})
    assert response.status_code == 200, response.status_code


def render(clinic: _Clinic) -> dict[str, Any]:
    from starlette.testclient import TestClient

    with TestClient(clinic.app, base_url="https://bench") as client:
        _sign_in(client)
        times = []
        first = None
        for _ in range(RENDERS):
            response = client.get(f"/exams/{clinic.session_id}")
            assert response.status_code == 200 and "marked" in response.text
            ms = float(response.headers["server-timing"].split("dur=")[1])
            if first is None:
                first = ms
            else:
                times.append(ms)
        size = len(response.content)
    return {
        "utterances": UTTERANCES,
        "requests": RENDERS,
        "first_ms": round(first or 0, 1),
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(percentile(times, 95), 1),
        "max_ms": round(max(times), 1),
        "page_kb": round(size / 1024, 1),
    }


def live(clinic: _Clinic) -> dict[str, Any] | None:

    import uvicorn
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        print("bench web: no Chromium (Debian's chromium package); live part skipped")
        return None
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(clinic.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    latencies: list[float] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=chromium,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
            )
            # Playwright's waits evaluate strings, which the app's CSP forbids
            page = browser.new_page(bypass_csp=True)
            page.goto(f"http://localhost:{port}/login")
            page.fill("input[name=name]", "bench")
            page.fill("input[name=password]", PASSWORD)
            page.click("form[action='/login'] button")
            page.wait_for_url(f"http://localhost:{port}/")
            page.goto(f"http://localhost:{port}/exams/{clinic.session_id}")
            page.wait_for_selector("body[data-live-open='1']")
            tone = np.zeros(4800, dtype=np.int16)
            for i in range(LIVE_VALUES):
                page.wait_for_timeout(300)
                tooth = 1 + i % 32
                value = 1 + (i % 9)
                row = MeasureRow(SequenceType.MOBILITY, tooth, value % 4)
                clip = write_clip(
                    clinic.settings.clips_dir / f"session-{clinic.session_id}" / f"l{i:04d}.wav", tone
                )
                clinic.journal.record_utterance(
                    session_id=clinic.session_id,
                    seq=1000 + i,
                    clip_path=clip,
                    audio_start_s=0,
                    audio_end_s=0.3,
                    text=f"mobility {value % 4}",
                    avg_logprob=-0.2,
                    no_speech_prob=0.0,
                    status="applied",
                    flag_reason="",
                    readback="",
                    timings={},
                    commands=(),
                    edits=(ChartEdit(SequenceType.MOBILITY, tooth, None, row),),
                    exam_num=clinic.exam_num,
                )
                journaled = time.time() * 1000
                page.wait_for_function(f"Number(document.body.dataset.updated || 0) > {journaled}")
                shown = float(page.evaluate("Number(document.body.dataset.updated)"))
                latencies.append(shown - journaled)
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    return {
        "values": LIVE_VALUES,
        "poll_ms": clinic.settings.web.live_poll_ms,
        "median_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "max_ms": round(max(latencies), 1),
    }


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="voicechart-bench-web-"))
    clinic = _Clinic(tmp)
    try:
        rendered = render(clinic)
        shown = live(clinic)
    finally:
        clinic.close()
        shutil.rmtree(tmp, ignore_errors=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    lines = [
        f"Review app ({machine}); `scripts/dev bench web`",
        "",
        "| what | n | median | p95 | max | target |",
        "|---|---|---|---|---|---|",
        f"| exam page, server time ({UTTERANCES} utterances, full mouth, {rendered['page_kb']} kB; "
        f"first request {rendered['first_ms']} ms) | {rendered['requests'] - 1} | {rendered['median_ms']} ms "
        f"| {rendered['p95_ms']} ms | {rendered['max_ms']} ms | < 300 ms |",
    ]
    if shown:
        lines.append(
            f"| journaled → shown on the open page (poll {shown['poll_ms']} ms) | {shown['values']} "
            f"| {shown['median_ms']} ms | {shown['p95_ms']} ms | {shown['max_ms']} ms | ≤ 200 ms |"
        )
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "web.json").write_text(
        json.dumps({"render": rendered, "live": shown, "machine": machine}, indent=1) + "\n"
    )
    (RESULTS / "web.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
