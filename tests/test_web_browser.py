"""The review app in a real browser (Debian's Chromium, driven by Playwright, headless) against the whole
clinic: the sandbox's Open Dental API server, `voicechart listen` replaying a sample into operatory 1 through
the real pipeline at speaking speed, and `voicechart web`, all as separate processes.

The clinic is a realistic one: the patient in operatory 2 (the demo's James Carter) has a previous exam in
the PMS, and the hygienist who dictates (`--provider`, the demo's Sam Ito) has an account of her own. The
sample's audio covers teeth 9 to 14; the rest of the full-mouth exam (depths, bleeding, suppuration,
recession, MGJ, furcation, mobility, a few values marked for review, an utterance not charted) is then
journaled as the pipeline journals what it hears and delivered to the PMS by an outbox, as the pipeline's.

The browser signs in, watches the chart fill while the exam is dictated, plays a value's audio, corrects a
marked value and sees the correction in the PMS through Open Dental's API, and finds a phrase by search.
Screenshots go to the test output folder (VOICECHART_TEST_OUTPUT, default test-output/), numbered in the
order they are taken.
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
from voicechart.pms.odapi.connector import OpenDentalApiConnector
from voicechart.pms.outbox import Outbox
from voicechart.pms.records import BLANK, SITE_COLUMNS, BleedingFlags, MeasureRow, SequenceType
from voicechart.pms.sandbox.seed import HYGIENIST_PROV_NUM, demo_previous_chart
from voicechart.settings import PROJECT_DIR, SAMPLES_DIR
from voicechart.web.readmodel import ReadModel

pytestmark = [pytest.mark.model, pytest.mark.e2e, pytest.mark.browser]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SAMPLE = "b-piper-joe"  # a patient with all teeth, as James Carter
OPERATORY = 2  # James Carter's, in the demo schedule
HYGIENIST = "sam.ito"  # the demo hygienist's account (ProvNum 2 in the PMS)
PASSWORD = "review-app-e2e-password"
OUTPUT = Path(os.environ.get("VOICECHART_TEST_OUTPUT", PROJECT_DIR / "test-output")) / "browser"
CHART = ".chart[data-chart=this]"  # the exam's chart (the previous exam's is beside it)
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
        for name, role, provider in (
            ("lead", "clinic_lead", 0),
            (HYGIENIST, "hygienist", HYGIENIST_PROV_NUM),
        ):
            add = ["users", "add", name, "--role", role, "--provider", str(provider)]
            added = subprocess.run(
                [sys.executable, "-m", "voicechart.cli", *add],
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


def _journal(clinic: ClinicProcesses) -> Journal:
    return Journal(f"sqlite:///{clinic.tmp / 'data' / 'journal.sqlite3'}")


def _journal_utterance(
    journal: Journal,
    clinic: ClinicProcesses,
    session_id: int,
    exam_num: int,
    seq: int,
    text: str,
    edits: tuple[ChartEdit, ...],
    *,
    status: str = "applied",
    flag_reason: str = "",
    avg_logprob: float = -0.25,
) -> None:
    """An utterance journaled as the pipeline journals one: its clip, its words and the edits it made."""
    clip = write_clip(clinic.tmp / "data" / "clips" / f"session-{session_id}" / f"{seq:05d}.wav", tone())
    journal.record_utterance(
        session_id=session_id,
        seq=seq,
        clip_path=clip,
        audio_start_s=float(seq),
        audio_end_s=seq + 0.6,
        text=text,
        avg_logprob=avg_logprob,
        no_speech_prob=0.01,
        status=status,
        flag_reason=flag_reason,
        readback="",
        timings={"speech_end_to_applied_ms": 420.0 + seq % 7 * 30},
        commands=(),
        edits=edits,
        exam_num=exam_num,
        pat_num=0,
    )


def _deliver(clinic: ClinicProcesses, journal: Journal) -> None:
    """What the journal holds for the PMS, written through Open Dental's API as the pipeline's outbox does."""
    connector = OpenDentalApiConnector(OpenDentalApi(clinic.api_url, **KEYS), clinical_note_code="Zclin")
    try:
        outbox = Outbox(journal, connector, pms_url=clinic.api_url)
        deadline = time.monotonic() + 60
        while (result := outbox.drain()).pending:
            assert time.monotonic() < deadline, f"the PMS did not take the exam: {result}"
            time.sleep(0.2)
    finally:
        connector.close()


UNSURE = "the recognizer was unsure"
WORSE_SINCE_LAST = {(3, "DB"): 2, (19, "DL"): 2, (30, "ML"): 3, (31, "DB"): 2, (2, "MB"): 2}


def _chart_rest_of_mouth(clinic: ClinicProcesses, session_id: int, exam_num: int) -> None:
    """The rest of a full-mouth exam after the sample's teeth 9 to 14: each tooth side's depths (near the
    previous exam's, a few 2–3 mm deeper), bleeding where 4 mm or deeper, suppuration on 30, recession and
    MGJ on the lower front teeth, furcation on the molars, mobility; three values marked for review and one
    utterance not charted."""
    previous = {(m.sequence_type, m.tooth): m for m in demo_previous_chart()}
    journal = _journal(clinic)
    try:
        view = ReadModel(journal).exam(session_id)
        assert view is not None
        rows = {(seq, tooth): row for seq, by_tooth in view.chart.items() for tooth, row in by_tooth.items()}
        seq_no = 1000

        def say(text: str, *changes: tuple[SequenceType, int, dict[str, int], str]) -> None:
            nonlocal seq_no
            edits = []
            for kind, tooth, values, flag in changes:
                before = rows.get((kind, tooth))
                sites = list(before.sites if before else (BLANK,) * 6)
                for column, value in values.items():
                    if column != "tooth":
                        sites[SITE_COLUMNS.index(column)] = value
                tooth_value = values.get("tooth", before.tooth_value if before else BLANK)
                after = MeasureRow(
                    kind, tooth, tooth_value, (sites[0], sites[1], sites[2], sites[3], sites[4], sites[5])
                )
                rows[(kind, tooth)] = after
                edits.append(ChartEdit(kind, tooth, before, after, flagged=flag))
            seq_no += 1
            _journal_utterance(journal, clinic, session_id, exam_num, seq_no, text, tuple(edits))

        for tooth in range(1, 33):
            if tooth in view.skipped:
                continue
            for side, columns in (("facial", ("MB", "B", "DB")), ("lingual", ("ML", "L", "DL"))):
                charted = rows.get((SequenceType.PROBING, tooth))
                if charted is not None and any(charted.site(c) != BLANK for c in columns):
                    continue  # the sample dictated it
                before = previous.get((SequenceType.PROBING, tooth))
                depths = {
                    c: (before.site(c) if before else 3) + WORSE_SINCE_LAST.get((tooth, c), 0)
                    for c in columns
                }
                flags = {c: int(BleedingFlags.BLOOD) for c, d in depths.items() if d >= 4}
                if tooth == 30 and side == "lingual":
                    flags["ML"] = int(BleedingFlags.BLOOD | BleedingFlags.SUPPURATION)
                spoken = f"tooth {tooth} {side} " + " ".join(str(depths[c]) for c in columns)
                changes = [
                    (SequenceType.PROBING, tooth, depths, UNSURE if (tooth, side) == (3, "lingual") else "")
                ]
                if flags:
                    changes.append(
                        (SequenceType.BLEED_SUP_PLAQ_CALC, tooth, flags, UNSURE if tooth == 19 else "")
                    )
                    spoken += " bleeding" + (" suppuration" if tooth == 30 and side == "lingual" else "")
                say(spoken, *changes)
        for tooth, recession, mgj in ((23, 1, 4), (24, 2, 3), (25, 2, 3), (26, 1, 4)):
            gm = {"MB": recession, "B": recession + 1, "DB": recession}
            say(
                f"recession {recession} {recession + 1} {recession}",
                (SequenceType.GING_MARGIN, tooth, gm, ""),
            )
            say(
                f"MGJ {mgj} {mgj} {mgj}", (SequenceType.MGJ, tooth, dict.fromkeys(("MB", "B", "DB"), mgj), "")
            )
        for tooth, grade in ((3, 1), (14, 1), (19, 2), (30, 2)):
            say(f"tooth {tooth} furcation {grade}", (SequenceType.FURCATION, tooth, {"B": grade}, ""))
        say("tooth 24 mobility 1", (SequenceType.MOBILITY, 24, {"tooth": 1}, ""))
        say("tooth 25 mobility 2", (SequenceType.MOBILITY, 25, {"tooth": 2}, UNSURE))
        seq_no += 1
        _journal_utterance(
            journal, clinic, session_id, exam_num, seq_no, "two tree for", (),
            status="flagged", flag_reason="tooth 27 lingual: not heard clearly", avg_logprob=-1.1,
        )  # fmt: skip
        _deliver(clinic, journal)
    finally:
        journal.close()


def _inject_marked_value(clinic: ClinicProcesses, session_id: int, exam_num: int) -> tuple[int, str, int]:
    """An utterance the recognizer was unsure of, journaled as the pipeline journals one: tooth 30's lingual
    depths charted again and marked. Returns the tooth, the site and the value written."""
    journal = _journal(clinic)
    try:
        view = ReadModel(journal).exam(session_id)
        assert view is not None
        before = view.chart[SequenceType.PROBING][30]
        after = MeasureRow(SequenceType.PROBING, 30, before.tooth_value, (*before.sites[:3], 7, 4, 4))
        journal.record_utterance(
            session_id=session_id,
            seq=99999,
            clip_path=write_clip(
                clinic.tmp / "data" / "clips" / f"session-{session_id}" / "99999.wav", tone()
            ),
            audio_start_s=0.0,
            audio_end_s=0.6,
            text="4 4 7",
            avg_logprob=-0.9,
            no_speech_prob=0.01,
            status="applied",
            flag_reason="",
            readback="",
            timings={},
            commands=(),
            edits=(ChartEdit(SequenceType.PROBING, 30, before, after, flagged=UNSURE),),
            exam_num=exam_num,
            pat_num=0,
        )
    finally:
        journal.close()
    return 30, "ML", 7


def test_the_review_app_in_a_browser(clinic: ClinicProcesses, page: Any) -> None:
    _sign_in(page, clinic)
    page.screenshot(path=str(OUTPUT / "01-today-empty.png"))

    # --- the hygienist dictates into James Carter's operatory; the clinic lead watches the chart fill
    listen = clinic.cli(
        "listen",
        "--operatory",
        str(OPERATORY),
        "--provider",
        str(HYGIENIST_PROV_NUM),
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
    assert f"by {HYGIENIST}" in page.text_content("a.card[data-session]")
    page.screenshot(path=str(OUTPUT / "02-today-live.png"))
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
    page.screenshot(path=str(OUTPUT / "03-exam-dictated-live.png"), full_page=True)
    rising = [b for a, b in itertools.pairwise(seen) if b > a]
    assert len(rising) >= 2, f"the chart did not fill while the exam was dictated: {seen}"

    # --- the rest of the full-mouth exam; what the page shows is what the PMS holds
    api = OpenDentalApi(clinic.api_url, **KEYS)
    try:
        exams, _ = chart_via_api(api, _patient_of(results, api))
        exam_num = int(exams[-1]["PerioExamNum"])
        _chart_rest_of_mouth(clinic, session_id, exam_num)
        _, chart = chart_via_api(api, _patient_of(results, api))
    finally:
        api.close()
    in_pms = sum(1 for r in chart[SequenceType.PROBING].values() for v in r.sites if v != BLANK)
    assert in_pms >= 31 * 6  # a full mouth (less what the sample skipped)
    page.wait_for_function(
        """n => [...document.querySelectorAll("tr.row-probing .site[data-utterance]")]
                .filter(el => /^\\d+$/.test(el.textContent.trim())).length === n""",
        arg=in_pms,
        timeout=20_000,
    )  # the open page updated itself
    for tooth, row in chart[SequenceType.PROBING].items():
        for column, value in zip(SITE_COLUMNS, row.sites, strict=True):
            if value != BLANK:
                shown = page.text_content(
                    f"{CHART} tr.row-probing .site[data-tooth='{tooth}'][data-site='{column}']"
                )
                assert shown == str(value), (tooth, column)
    assert "by " + HYGIENIST in (page.text_content("h1") or "")
    assert page.locator(".chart h3", has_text="Previous exam").count() == 1  # side by side
    assert page.locator(f"{CHART} tr.row-probing .site.worse[data-tooth='30'][data-site='ML']").count() == 1
    assert (
        page.locator(f"{CHART} tr.row-probing .site.suppuration[data-tooth='30'][data-site='ML']").count()
        == 1
    )
    page.screenshot(path=str(OUTPUT / "04-exam-full-mouth.png"))
    assert "0 edits not yet in the PMS" in (page.text_content("#live p.summary") or "")  # delivered, live

    # --- every value's source: click a value, hear its words
    first = page.locator("tr.row-probing .site[data-utterance]").filter(has_text="6").first
    first.click()
    page.wait_for_selector("#panel audio")
    assert page.text_content("#panel dd.heard")
    assert page.evaluate("() => document.querySelector('#panel audio').getBoundingClientRect().width") >= 200
    playing = page.evaluate(
        """async () => { const a = document.querySelector('#panel audio'); await a.play();
             for (let i = 0; i < 30 && a.currentTime === 0; i++) await new Promise(r => setTimeout(r, 100));
             return {t: a.currentTime, d: a.duration, err: a.error}; }"""
    )
    assert playing["err"] is None and playing["d"] > 0.2 and playing["t"] > 0, playing
    assert "depth:" in (page.text_content("#panel div.changed") or "")
    page.screenshot(path=str(OUTPUT / "05-value-source.png"))

    # --- a marked value appears live, is corrected, and the correction reaches the PMS through its API
    tooth, site, written = _inject_marked_value(clinic, session_id, exam_num)
    marked = page.locator(f"{CHART} tr.row-probing .site.marked[data-tooth='{tooth}'][data-site='{site}']")
    marked.wait_for(timeout=10_000)
    assert marked.text_content() == str(written)
    marked.click()
    page.wait_for_selector("#panel form.correct-value")
    page.screenshot(path=str(OUTPUT / "06-marked-value.png"))
    page.fill("#panel form.correct-value input[name=value]", "4")
    page.click("#panel form.correct-value button")
    page.wait_for_url(f"{clinic.web_url}/exams/{session_id}")
    corrected = page.locator(f"{CHART} tr.row-probing .site[data-tooth='{tooth}'][data-site='{site}']")
    assert corrected.text_content() == "4"
    assert "marked" not in (corrected.get_attribute("class") or "")
    _wait_for_pms(clinic, results, SequenceType.PROBING, tooth, site, 4)

    # --- the review queue: each mark decided in place (here a bleeding mark cleared)
    page.goto(clinic.web_url + "/queue")
    assert page.locator("table.queue audio").first.bounding_box()["width"] >= 200
    page.screenshot(path=str(OUTPUT / "07-review-queue.png"), full_page=True)
    bleeding = page.locator("form.correct-flags[data-tooth='19'][data-site='DL']")
    bleeding.locator("input[name=bleeding]").uncheck()
    bleeding.locator("button").click()
    page.wait_for_url(clinic.web_url + "/queue")
    _wait_for_pms(clinic, results, SequenceType.BLEED_SUP_PLAQ_CALC, 19, "DL", 0)

    # --- search and the dashboard
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
    page.screenshot(path=str(OUTPUT / "08-search.png"))
    page.goto(clinic.web_url + "/dashboard")
    page.screenshot(path=str(OUTPUT / "09-dashboard.png"), full_page=True)


def _wait_for_pms(
    clinic: ClinicProcesses,
    results: list[dict[str, Any]],
    seq: SequenceType,
    tooth: int,
    site: str,
    value: int,
) -> None:
    """Until the PMS, read through its API, holds `value` at the site (a decision's write is asynchronous)."""
    api = OpenDentalApi(clinic.api_url, **KEYS)
    try:
        deadline = time.monotonic() + 20
        while True:
            _, chart = chart_via_api(api, _patient_of(results, api))
            row = chart[seq].get(tooth)
            if (row.site(site) if row is not None else BLANK) == value:
                return
            assert time.monotonic() < deadline, f"the decision did not reach the PMS: {row}"
            time.sleep(0.3)
    finally:
        api.close()


def _patient_of(results: list[dict[str, Any]], api: OpenDentalApi) -> int:
    """The patient the exam was charted on: the one scheduled in the operatory (the only exam today)."""
    exams = [e for e in api.get_all("perioexams") if e.get("ExamDate") == time.strftime("%Y-%m-%d")]
    assert len(exams) == 1, exams
    return int(exams[0]["PatNum"])
