"""A misbehaving PMS: chart edits go through the outbox and the Open Dental API connector over HTTP to the
sandbox's API server, while the network and the PMS fail in every way Open Dental's can (unreachable, a 500
before or after the write, a timeout or a connection reset after the write landed, throttling, a write that
lands late, after the retry looked). Everything lands exactly once, in order; a refused write goes to the
rejected list for a person, never silently away."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from voicechart.dictation.interpreter import interpret
from voicechart.exam.decide import decide
from voicechart.exam.session import ExamSession
from voicechart.journal.store import Journal
from voicechart.pms.odapi.client import OpenDentalApi
from voicechart.pms.odapi.connector import OpenDentalApiConnector
from voicechart.pms.outbox import Outbox
from voicechart.pms.records import BLANK, MeasureRow, SequenceType
from voicechart.pms.sandbox import add_patient, create_sandbox
from voicechart.pms.sandbox.api import BackgroundServer, SandboxApi
from voicechart.pms.sandbox.faults import FaultyTransport, Plan
from voicechart.pms.sandbox.schema import CLINICAL_NOTE_CODE

KEYS = {"developer_key": "d", "customer_key": "c"}
TRANSIENT = ("unreachable", "500", "500_after", "timeout_after", "reset_after", "429", "late")
DICTATION = [
    "three two four",
    "bleeding distal",
    "4 3 3, 3 2 3",
    "5 6 5",
    "scratch that",
    "5 4 5",
    "skip",
    "tooth 7 buccal two two three",
    "mobility one",
    "3 3 2",
    "bleeding all",
    "tooth 3 facial 4 4 3",
]


@dataclass
class Rig:
    engine: sa.Engine
    server: BackgroundServer
    journal: Journal
    pat_num: int
    plan: dict[str, Plan]

    def connector(self) -> tuple[OpenDentalApiConnector, FaultyTransport]:
        transport = FaultyTransport(httpx.HTTPTransport(), lambda req, i: self.plan["now"](req, i))
        api = OpenDentalApi(self.server.url, timeout_s=5.0, transport=transport, **KEYS)
        return OpenDentalApiConnector(api, clinical_note_code=CLINICAL_NOTE_CODE), transport


@pytest.fixture
def rig(tmp_path: Path, journal_url: str) -> Iterator[Rig]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'pms.db'}", connect_args={"check_same_thread": False})
    create_sandbox(engine)
    pat_num = add_patient(engine, first_name="Fault", last_name="Tolerant", missing_teeth=[1, 16, 17, 32])
    server = BackgroundServer(SandboxApi(engine, **KEYS)).start()
    journal = Journal(journal_url)
    yield Rig(engine, server, journal, pat_num, {"now": lambda req, i: None})
    journal.close()
    server.stop()
    engine.dispose()


def _dictate(rig: Rig, connector: OpenDentalApiConnector) -> tuple[int, ExamSession]:
    """The dictation, charted and journaled as the pipeline does; nothing delivered yet."""
    exam = connector.open_exam(rig.pat_num, dt.date.today())
    session_id = rig.journal.start_session(pms_url=rig.server.url, pat_num=rig.pat_num, model="test")
    session = ExamSession(rows=exam.measures)
    for seq, line in enumerate(DICTATION, 1):
        outcome = decide(session, interpret(line)).outcome
        rig.journal.record_utterance(
            session_id=session_id, seq=seq, clip_path=Path("x.wav"), audio_start_s=0.0, audio_end_s=1.0,
            text=line, avg_logprob=0.0, no_speech_prob=0.0, status="applied", flag_reason="", readback="",
            timings={}, commands=(), edits=outcome.edits if outcome else (), exam_num=exam.exam_num,
        )  # fmt: skip
    return exam.exam_num, session


def _deliver(outbox: Outbox, passes: int = 300) -> None:
    for _ in range(passes):  # the background thread would wait out a backoff between passes
        if outbox.drain().pending == 0:
            return
    raise AssertionError(f"still waiting after {passes} passes: {outbox.last_error}")


def _stored(row: MeasureRow) -> tuple[int, ...]:
    if row.sequence_type is SequenceType.BLEED_SUP_PLAQ_CALC:
        return (row.tooth_value, *(0 if v == BLANK else v for v in row.sites))
    return (row.tooth_value, *row.sites)


def _pms_rows(rig: Rig, exam_num: int) -> dict[tuple[int, int], tuple[int, ...]]:
    with rig.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT SequenceType, IntTooth, ToothValue, MBvalue, Bvalue, DBvalue, MLvalue, Lvalue, "
                    "DLvalue FROM periomeasure WHERE PerioExamNum = :e"), {"e": exam_num}
        ).all()  # fmt: skip
    out = {(r[0], r[1]): tuple(r[2:]) for r in rows}
    assert len(out) == len(rows), "duplicate periomeasure rows"
    return out


def _wanted(session: ExamSession) -> dict[tuple[int, int], tuple[int, ...]]:
    return {(int(k[0]), k[1]): _stored(v) for k, v in session.rows.items() if not v.records_nothing()}


def _written_in_order(journal: Journal) -> list[int]:
    """The newest edit of each PMS write, in the order the writes were audited."""
    writes = [e for e in journal.audit_events() if e.action == "pms_write"]
    return [max(int(i) for i in e.detail.removeprefix("edits ").split(",")) for e in writes]


def test_every_kind_of_transient_failure_ends_with_each_edit_landed_once_in_order(rig: Rig) -> None:
    connector, transport = rig.connector()
    exam_num, session = _dictate(rig, connector)
    rng = random.Random(14)
    kinds = iter(TRANSIENT * 3)  # each kind at least once, then at random

    def plan(request: httpx.Request, _index: int) -> str | None:
        if rng.random() > (0.5 if request.method != "GET" else 0.15):
            return None
        kind = next(kinds, None) or rng.choice(TRANSIENT)
        return "unreachable" if request.method == "GET" and kind == "late" else kind

    rig.plan["now"] = plan
    outbox = Outbox(rig.journal, connector, pms_url=rig.server.url)
    _deliver(outbox)
    rig.plan["now"] = lambda req, i: None
    try:
        assert {fault for _, fault, _, _ in transport.injected} >= set(TRANSIENT)
        assert _pms_rows(rig, exam_num) == _wanted(session)  # nothing lost, nothing duplicated
        assert rig.journal.rejected_edits() == [] and rig.journal.pending_edits() == []
        order = _written_in_order(rig.journal)
        assert order == sorted(order) and len(set(order)) == len(order)
    finally:
        connector.close()


def test_a_post_that_lands_after_the_retry_looked_is_not_duplicated_nor_refused(rig: Rig) -> None:
    """The POST times out but lands late, after the retry's look-up found no row: Open Dental refuses the
    retried POST as a duplicate (400); the connector looks again and finds its own row."""
    connector, transport = rig.connector()
    exam_num, session = _dictate(rig, connector)
    first_post = []

    def plan(request: httpx.Request, _index: int) -> str | None:
        if request.method == "POST" and not first_post:
            first_post.append(request)
            return "late"
        return None

    rig.plan["now"] = plan
    outbox = Outbox(rig.journal, connector, pms_url=rig.server.url)
    _deliver(outbox)
    try:
        assert [fault for _, fault, _, _ in transport.injected] == ["late"]
        refused = [(m, p, s) for m, p, s in transport.landed if s == 400]
        assert len(refused) == 1 and refused[0][0] == "POST"  # the retried POST met the late one
        assert _pms_rows(rig, exam_num) == _wanted(session)
        assert rig.journal.rejected_edits() == [] and rig.journal.pending_edits() == []
    finally:
        connector.close()


def test_a_write_the_pms_refuses_goes_to_the_rejected_list_and_the_rest_lands(rig: Rig) -> None:
    connector, _transport = rig.connector()
    exam_num, session = _dictate(rig, connector)

    def plan(request: httpx.Request, _index: int) -> str | None:
        if request.method == "POST" and request.url.path.endswith("/periomeasures"):
            body = json.loads(request.content)
            if body["IntTooth"] == 5 and body["SequenceType"] == "Probing":
                return "400"
        return None

    rig.plan["now"] = plan
    _deliver(Outbox(rig.journal, connector, pms_url=rig.server.url))
    try:
        rejected = rig.journal.rejected_edits()
        assert {(e.sequence_type, e.tooth) for e in rejected} == {(int(SequenceType.PROBING), 5)}
        assert all("injected 400" in e.pms_error for e in rejected)
        wanted = _wanted(session)
        del wanted[(int(SequenceType.PROBING), 5)]
        assert _pms_rows(rig, exam_num) == wanted
        assert "pms_write_rejected" in [e.action for e in rig.journal.audit_events()]
    finally:
        connector.close()


def test_a_pms_that_is_down_gets_everything_when_it_is_back(rig: Rig) -> None:
    connector, _transport = rig.connector()
    exam_num, session = _dictate(rig, connector)
    rig.server.stop()  # really unreachable: nothing listens on the port
    outbox = Outbox(rig.journal, connector, pms_url=rig.server.url)
    result = outbox.drain()
    assert result.written == 0 and result.pending == len(rig.journal.pending_edits()) > 0
    assert "Cannot reach" in result.error
    back = BackgroundServer(SandboxApi(rig.engine, **KEYS), port=rig.server.port).start()
    try:
        _deliver(outbox)
        assert _pms_rows(rig, exam_num) == _wanted(session)
    finally:
        connector.close()
        back.stop()
