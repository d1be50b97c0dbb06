"""The review app in a real browser (Debian's Chromium, driven by Playwright, headless) against the whole
clinic: the sandbox's Open Dental API server, `voicechart listen` replaying a sample into operatory 1 through
the real pipeline at speaking speed, and `voicechart web`, all as separate processes.

The browser signs in, watches the chart fill while the exam is dictated, plays a value's audio, corrects a
marked value and sees the correction in the PMS through Open Dental's API, and finds a phrase by search.
Screenshots go to the test output folder (VOICECHART_TEST_OUTPUT, default test-output/).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SAMPLES
from tests.test_e2e_api import KEYS, _serve, chart_via_api
from tests.web_fixtures import tone
from voicechart.clips import write_clip
from voicechart.exam.edits import ChartEdit
from voicechart.journal.store import Journal
from voicechart.loopback import free_port, wait_until_listening
from voicechart.pms.odapi.client import OpenDentalApi
from voicechart.pms.records import BLANK, SITE_COLUMNS, MeasureRow, SequenceType
from voicechart.settings import PROJECT_DIR, SAMPLES_DIR

pytestmark = [pytest.mark.model, pytest.mark.e2e, pytest.mark.browser]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SAMPLE = "a-piper-joe"
PASSWORD = "review-app-e2e-password"
OUTPUT = Path(os.environ.get("VOICECHART_TEST_OUTPUT", PROJECT_DIR / "test-output")) / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


def _chromium_or_skip() -> str:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    if os.environ.get("CI"):
        pytest.fail(f"Chromium is missing at {CHROMIUM}: .ci/run installs Debian's chromium package")
    pytest.skip("no Chromium: install Debian's chromium package to run the browser tests")


class ClinicProcesses:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.env = {
            **os.environ,
            "VOICECHART_DATA_DIR": str(tmp_path / "data"),
            "VOICECHART_OD_DEVELOPER_KEY": KEYS["developer_key"],
            "VOICECHART_OD_CUSTOMER_KEY": KEYS["customer_key"],
            "VOICECHART_WEB__LIVE_POLL_MS": "50",
        }
        self.api_port, self.web_port = free_port(), free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}/api/v1"
        self.web_url = f"http://localhost:{self.web_port}"
        self.processes: list[subprocess.Popen[Any]] = []

    def cli(self, *args: str, **kwargs: Any) -> subprocess.Popen[Any]:
        process = subprocess.Popen([sys.executable, "-m", "voicechart.cli", *args], env=self.env, **kwargs)
        self.processes.append(process)
        return process

    def start(self) -> None:
        log = self.tmp / "api.log"
        self.processes.append(_serve(f"sqlite:///{self.tmp / 'pms.db'}", self.api_port, self.env, log))
        added = subprocess.run(
            [sys.executable, "-m", "voicechart.cli", "users", "add", "lead", "--role", "clinic_lead"],
            env={**self.env, "VOICECHART_NEW_PASSWORD": PASSWORD},
            capture_output=True,
            text=True,
            check=False,
        )
        assert added.returncode == 0, added.stderr
        web_log = self.tmp / "web.log"
        with web_log.open("ab") as out:
            web = self.cli("web", "--port", str(self.web_port), "--pms", self.api_url, stdout=out, stderr=out)
        if not wait_until_listening(self.web_port, web, timeout_s=60):
            raise AssertionError(f"the review app did not start: {web_log.read_text()}")

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()


@pytest.fixture
def clinic(tmp_path: Path) -> Iterator[ClinicProcesses]:
    _chromium_or_skip()
    processes = ClinicProcesses(tmp_path)
    try:
        processes.start()
        yield processes
    finally:
        processes.stop()


@pytest.fixture
def page(clinic: ClinicProcesses) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    OUTPUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium_or_skip(), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1500, "height": 950})
        page = context.new_page()
        page.set_default_timeout(20_000)
        yield page
        context.close()
        browser.close()


def _sign_in(page: Any, clinic: ClinicProcesses) -> None:
    page.goto(clinic.web_url + "/")
    assert page.url.endswith("/login")
    page.fill("input[name=name]", "lead")
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login'] button")
    page.wait_for_url(clinic.web_url + "/")


def _filled_depths(page: Any) -> int:
    return int(
        page.evaluate(
            """() => [...document.querySelectorAll("tr.row-probing .site[data-utterance]")]
                   .filter(el => /^\\d+$/.test(el.textContent.trim())).length"""
        )
    )


def _inject_marked_value(clinic: ClinicProcesses, session_id: int, exam_num: int) -> tuple[int, str, int]:
    """An utterance the recognizer was unsure of, journaled as the pipeline journals one: its values charted
    and marked (tooth 30 facial). Returns the tooth, the site and the value written."""
    journal = Journal(f"sqlite:///{clinic.tmp / 'data' / 'journal.sqlite3'}")
    try:
        clip = write_clip(clinic.tmp / "data" / "clips" / f"session-{session_id}" / "99999.wav", tone())
        row = MeasureRow(SequenceType.PROBING, 30, sites=(BLANK, BLANK, BLANK, 6, 3, 3))
        journal.record_utterance(
            session_id=session_id,
            seq=99999,
            clip_path=clip,
            audio_start_s=0.0,
            audio_end_s=0.6,
            text="3 3 6",
            avg_logprob=-0.9,
            no_speech_prob=0.01,
            status="applied",
            flag_reason="",
            readback="",
            timings={},
            commands=(),
            edits=(ChartEdit(SequenceType.PROBING, 30, None, row, flagged="the recognizer was unsure"),),
            exam_num=exam_num,
            pat_num=0,
        )
    finally:
        journal.close()
    return 30, "ML", 6


def test_the_review_app_in_a_browser(clinic: ClinicProcesses, page: Any) -> None:
    _sign_in(page, clinic)
    page.screenshot(path=str(OUTPUT / "01-today-empty.png"))

    # --- a hygienist dictates into operatory 1; the clinic lead watches the chart fill
    listen = clinic.cli(
        "listen",
        "--operatory",
        "1",
        "--realtime",
        "--json",
        "--pms",
        clinic.api_url,
        "--source",
        str(SAMPLES_DIR / SAMPLES[SAMPLE]["audio"]),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    page.wait_for_selector("a.card[data-session]", timeout=90_000)  # Today updates itself: no reload
    page.wait_for_timeout(3000)
    page.screenshot(path=str(OUTPUT / "01-today-live.png"))
    page.click("a.card[data-session]")
    page.wait_for_selector("body[data-live-open='1']")
    session_id = int(page.get_attribute("body", "data-session") or 0)
    seen = [_filled_depths(page)]
    deadline = time.monotonic() + 180
    while listen.poll() is None and time.monotonic() < deadline:
        page.wait_for_timeout(1000)
        seen.append(_filled_depths(page))
    assert listen.wait(timeout=60) == 0
    assert listen.stdout is not None
    results = [json.loads(line) for line in listen.stdout if line.startswith("{")]
    listen.stdout.close()
    page.wait_for_timeout(1500)
    seen.append(_filled_depths(page))
    page.screenshot(path=str(OUTPUT / "02-exam-filled-live.png"), full_page=True)
    rising = [b for a, b in itertools.pairwise(seen) if b > a]
    assert len(rising) >= 2, f"the chart did not fill while the exam was dictated: {seen}"

    # --- what the page shows is what the PMS holds
    api = OpenDentalApi(clinic.api_url, **KEYS)
    try:
        exams, chart = chart_via_api(api, _patient_of(results, api))
    finally:
        api.close()
    exam_num = int(exams[-1]["PerioExamNum"])
    for tooth, row in chart[SequenceType.PROBING].items():
        for column, value in zip(SITE_COLUMNS, row.sites, strict=True):
            if value != BLANK:
                shown = page.text_content(f"tr.row-probing .site[data-tooth='{tooth}'][data-site='{column}']")
                assert shown == str(value), (tooth, column)
    in_pms = sum(1 for r in chart[SequenceType.PROBING].values() for v in r.sites if v != BLANK)
    assert in_pms == _filled_depths(page)

    # --- every value's source: click a value, hear its words
    first = page.locator("tr.row-probing .site[data-utterance]").filter(has_text="4").first
    first.click()
    page.wait_for_selector("#panel audio")
    assert page.text_content("#panel dd.heard")
    playing = page.evaluate(
        """async () => { const a = document.querySelector('#panel audio'); await a.play();
             await new Promise(r => setTimeout(r, 400));
             return {t: a.currentTime, d: a.duration, err: a.error}; }"""
    )
    assert playing["err"] is None and playing["d"] > 0.2 and playing["t"] > 0, playing
    page.screenshot(path=str(OUTPUT / "03-value-source.png"))

    # --- a marked value appears live, is corrected, and the correction reaches the PMS through its API
    tooth, site, written = _inject_marked_value(clinic, session_id, exam_num)
    marked = page.locator(f"tr.row-probing .site.marked[data-tooth='{tooth}'][data-site='{site}']")
    marked.wait_for(timeout=10_000)
    assert marked.text_content() == str(written)
    marked.click()
    page.wait_for_selector("#panel form.correct-value")
    page.screenshot(path=str(OUTPUT / "04-marked-value.png"))
    page.fill("#panel form.correct-value input[name=value]", "4")
    page.click("#panel form.correct-value button")
    page.wait_for_url(f"{clinic.web_url}/exams/{session_id}")
    corrected = page.locator(f"tr.row-probing .site[data-tooth='{tooth}'][data-site='{site}']")
    assert corrected.text_content() == "4"
    assert "marked" not in (corrected.get_attribute("class") or "")
    api = OpenDentalApi(clinic.api_url, **KEYS)
    try:
        deadline = time.monotonic() + 20
        while True:
            _, chart = chart_via_api(api, _patient_of(results, api))
            row = chart[SequenceType.PROBING].get(tooth)
            if row is not None and row.site(site) == 4:
                break
            assert time.monotonic() < deadline, f"the correction did not reach the PMS: {row}"
            time.sleep(0.3)
    finally:
        api.close()

    # --- the review queue and search
    page.goto(clinic.web_url + "/queue")
    page.screenshot(path=str(OUTPUT / "05-review-queue.png"), full_page=True)
    page.goto(clinic.web_url + "/search")
    words = next(
        w
        for r in results
        if len(w := [x.strip(".,").lower() for x in r["text"].split() if x.strip(".,").isalpha()]) >= 2
    )[:2]  # a phrase that was heard, e.g. "bleeding distal"
    page.fill("input[name=q]", " ".join(words))
    page.click("form.search button")
    page.wait_for_selector("table.results td.heard")
    found = page.locator("table.results td.heard").all_text_contents()
    assert found and all(all(w in t.lower() for w in words) for t in found), (words, found)
    page.screenshot(path=str(OUTPUT / "06-search.png"))
    page.goto(clinic.web_url + "/dashboard")
    page.screenshot(path=str(OUTPUT / "07-dashboard.png"), full_page=True)


def _patient_of(results: list[dict[str, Any]], api: OpenDentalApi) -> int:
    """The patient the exam was charted on: the one scheduled in operatory 1 (the only exam today)."""
    exams = [e for e in api.get_all("perioexams") if e.get("ExamDate") == time.strftime("%Y-%m-%d")]
    assert len(exams) == 1, exams
    return int(exams[0]["PatNum"])
