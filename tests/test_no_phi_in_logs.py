"""No PHI in logs or error messages. An exam and a clinical note are dictated (text level: a scripted
recognizer) through the pipeline, the outbox and the Open Dental API connector, over HTTP to the sandbox's
API server, which fails now and then (400, 500, a reset after the write); every log record at DEBUG, from
every logger (voicechart, httpx, httpcore, uvicorn, sqlalchemy …), and every error kept in the journal or
shown by the outbox is scanned for the patient's name, the transcript text and the Open Dental keys."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import numpy as np
import pytest
import sqlalchemy as sa

from tests.scripted_pipeline import scripted_pipeline, utterance
from voicechart.asr.transcriber import Transcript
from voicechart.journal.store import Journal
from voicechart.pipeline import PipelineOptions
from voicechart.pms.odapi.client import OpenDentalApi
from voicechart.pms.odapi.connector import OpenDentalApiConnector
from voicechart.pms.sandbox import add_patient, create_sandbox
from voicechart.pms.sandbox.api import BackgroundServer, SandboxApi
from voicechart.pms.sandbox.faults import FaultyTransport
from voicechart.pms.sandbox.schema import CLINICAL_NOTE_CODE

FIRST, LAST = "Zebulonia", "Quockenbush"
KEYS = {"developer_key": "devkey-Hq7Zr2Lw9", "customer_key": "custkey-Pv4Ns8Kt3"}
SCRIPT = [
    "Start perio exam.",
    "Three two four.",
    "Bleeding distal.",
    "Exam note: gingivae marbled near the bridge.",
    "Four three three.",
    "Start note.",
    "Subjective: reports throbbing after flossing with pomegranate juice.",
    "Plan: recall in quintessential weeks.",
    "End note.",
    "Five six five.",
    "End exam.",
]
SECRET_WORDS = ["marbled", "throbbing", "pomegranate", "quintessential", "flossing with"]


class Scripted:
    def __init__(self, texts: list[str]) -> None:
        self.texts = list(texts)

    def transcribe(self, audio: np.ndarray, *, prompt: str | None = None) -> Transcript:
        return Transcript(self.texts.pop(0), -0.1, 0.01)


# the injected connection reset can leave the sandbox server's request task failing after the client has
# gone (an ExceptionGroup from the server's task group, raised where nobody waits for it, at whatever moment
# it is collected): that is the test's fault injection, not voicechart's, and the client's errors are checked
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_exam_leaves_no_name_transcript_or_key_in_any_log_or_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'pms.db'}", connect_args={"check_same_thread": False})
    create_sandbox(engine)
    pat_num = add_patient(engine, first_name=FIRST, last_name=LAST, missing_teeth=[1, 16, 17, 32])
    server = BackgroundServer(SandboxApi(engine, **KEYS)).start()
    writes = iter(range(1000))
    faults = {"on": False}  # once the exam is open

    def plan(request: httpx.Request, _index: int) -> str | None:
        if request.method == "GET" or not faults["on"]:
            return None
        return {1: "500", 3: "reset_after", 5: "400"}.get(next(writes))

    api = OpenDentalApi(server.url, transport=FaultyTransport(httpx.HTTPTransport(), plan), **KEYS)
    connector = OpenDentalApiConnector(api, clinical_note_code=CLINICAL_NOTE_CODE)
    journal = Journal(f"sqlite:///{tmp_path / 'journal.db'}")
    caplog.set_level(logging.DEBUG)
    try:
        options = PipelineOptions(
            min_avg_logprob=-1.0, min_avg_logprob_commands=-1.5, max_no_speech_prob=0.6, pms_wait_s=0.0
        )
        pipeline = scripted_pipeline(
            Scripted(SCRIPT),
            connector,
            journal,
            tmp_path,
            pat_num=pat_num,
            options=options,
            pms_url=server.url,
        )
        results = []
        for i in range(len(SCRIPT)):
            results.append(pipeline.process(utterance(i)))
            faults["on"] = True
        for _ in range(20):
            if pipeline.outbox.drain().pending == 0:
                break
        errors = [pipeline.outbox.last_error]
        errors += [e.pms_error for e in journal.rejected_edits() + journal.pending_edits()]
        errors += [n.pms_error for n in journal.notes()]
        errors += [f"{e.action} {e.object_type} {e.object_id} {e.detail}" for e in journal.audit_events()]
        pipeline.journal.end_session(pipeline.session_id)
    finally:
        journal.close()
        connector.close()
        server.stop()
        engine.dispose()
    assert [r.status for r in results].count("applied") >= 6  # the exam was charted
    assert any("injected 400" in e for e in errors)  # and errors were kept
    texts = [r.getMessage() for r in caplog.records] + [r.exc_text or "" for r in caplog.records]
    texts += [json.dumps(getattr(r, "args", None), default=str) for r in caplog.records] + errors
    assert len(caplog.records) > 20  # DEBUG logging was on: requests, SQL, outbox
    forbidden = [FIRST, LAST, *KEYS.values(), *SECRET_WORDS, *(s.rstrip(".") for s in SCRIPT[3:9])]
    leaks = [(word, text[:200]) for text in texts for word in forbidden if word.lower() in text.lower()]
    assert leaks == []
