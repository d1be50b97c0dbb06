"""One conformance suite for every PMS connector: the sandbox in-process, and the Open Dental API connector
over HTTP (against `voicechart pms serve`'s app), each on SQLite and on MariaDB (when
VOICECHART_TEST_MARIADB_URL is set; with CI=true an unreachable MariaDB fails instead of skipping)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.test_sandbox_pms import MARIADB_URL, _mariadb_engine
from voicechart.errors import PatientNotFound, PmsError
from voicechart.pms.connector import PmsConnector
from voicechart.pms.hybrid import SqlReadApiWriteConnector
from voicechart.pms.odapi.client import OpenDentalApi
from voicechart.pms.odapi.connector import OpenDentalApiConnector
from voicechart.pms.records import BLANK, MeasureRow, SequenceType
from voicechart.pms.sandbox import SandboxConnector, create_sandbox, metadata, seed_demo
from voicechart.pms.sandbox.api import BackgroundServer, SandboxApi
from voicechart.pms.sandbox.schema import CLINICAL_NOTE_CODE, perioexam, periomeasure, procnote

KEYS = {"developer_key": "test-developer", "customer_key": "test-customer"}
TODAY = dt.date.today()
P, MOB, SKIP, BLEED = (
    SequenceType.PROBING,
    SequenceType.MOBILITY,
    SequenceType.SKIP_TOOTH,
    SequenceType.BLEED_SUP_PLAQ_CALC,
)


@dataclass
class Pms:
    connector: PmsConnector
    engine: sa.Engine
    kind: str


def _engine(database: str, tmp_path: Path) -> sa.Engine:
    if database == "sqlite":
        return sa.create_engine(
            f"sqlite:///{tmp_path / 'pms.db'}", connect_args={"check_same_thread": False, "timeout": 30}
        )
    return _mariadb_engine(MARIADB_URL)


mariadb = pytest.mark.skipif(not MARIADB_URL, reason="MariaDB: set VOICECHART_TEST_MARIADB_URL to run these")


@pytest.fixture(
    params=[
        ("sandbox", "sqlite"),
        ("api", "sqlite"),
        ("sql-read-api-write", "sqlite"),
        pytest.param(("sandbox", "mariadb"), marks=mariadb),
        pytest.param(("api", "mariadb"), marks=mariadb),
        pytest.param(("sql-read-api-write", "mariadb"), marks=mariadb),
    ],
    ids=lambda p: "-".join(p),
)
def pms(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pms]:
    kind, database = request.param
    engine = _engine(database, tmp_path)
    metadata.drop_all(engine)
    create_sandbox(engine)
    seed_demo(engine, TODAY)
    server: BackgroundServer | None = None
    connector: PmsConnector
    if kind == "sandbox":
        connector = SandboxConnector(engine)
    else:
        server = BackgroundServer(SandboxApi(engine, **KEYS)).start()
        writer = OpenDentalApiConnector(
            OpenDentalApi(server.url, **KEYS), clinical_note_code=CLINICAL_NOTE_CODE
        )
        connector = writer
        if kind == "sql-read-api-write":
            connector = SqlReadApiWriteConnector(SandboxConnector(engine, read_only=True), writer)
    try:
        yield Pms(connector, engine, kind)
    finally:
        connector.close()
        if server is not None:
            server.stop()
        metadata.drop_all(engine)
        engine.dispose()


def rows_of(engine: sa.Engine, exam_num: int) -> list[tuple[int, int]]:
    with engine.connect() as conn:
        result = conn.execute(
            sa.select(periomeasure.c.SequenceType, periomeasure.c.IntTooth).where(
                periomeasure.c.PerioExamNum == exam_num
            )
        )
        return [(int(a), int(b)) for a, b in result]


def test_patient_and_missing_teeth(pms: Pms) -> None:
    patient = pms.connector.get_patient(1)
    assert (patient.first_name, patient.last_name, patient.pri_prov) == ("Maria", "Lopez", 1)
    assert pms.connector.missing_teeth(1) == frozenset({1, 16, 17, 32})
    assert pms.connector.missing_teeth(4) == frozenset({30, 19})  # Missing and Hidden
    with pytest.raises(PatientNotFound):
        pms.connector.get_patient(999)


def test_appointment_in_an_operatory_is_taken_from_today_schedule(pms: Pms) -> None:
    at = dt.datetime.combine(TODAY, dt.time(9, 10))
    first = pms.connector.appointment_in_operatory(1, at)
    assert first is not None and first.pat_num == 1 and first.start.time() == dt.time(9, 0)
    later = pms.connector.appointment_in_operatory(1, dt.datetime.combine(TODAY, dt.time(12, 0)))
    assert later is not None and later.pat_num == 4  # the next one that day
    assert pms.connector.appointment_in_operatory(99, at) is None


def test_new_exam_skips_missing_teeth_and_resumes(pms: Pms) -> None:
    exam = pms.connector.open_exam(1, TODAY)
    assert exam.skipped_teeth == frozenset({1, 16, 17, 32})
    assert exam.prov_num == 1 and exam.exam_date == TODAY
    again = pms.connector.open_exam(1, TODAY)
    assert again.exam_num == exam.exam_num
    assert sorted(rows_of(pms.engine, exam.exam_num)) == sorted((SKIP.value, t) for t in (1, 16, 17, 32))


def test_provider_names(pms: Pms) -> None:
    names = pms.connector.provider_names()
    assert names[1] == "Dana Reyes" and len(names) >= 2


def test_other_exams_of_the_same_day_are_found(pms: Pms) -> None:
    """A second exam that day (what Open Dental saves when a user's open chart changed meanwhile)."""
    exam = pms.connector.open_exam(1, TODAY)
    assert pms.connector.same_day_exams(exam.exam_num) == []
    with pms.engine.begin() as conn:
        values = {"PatNum": 1, "ProvNum": 1, "DateTMeasureEdit": dt.datetime.now(), "Note": ""}
        other = conn.execute(sa.insert(perioexam).values(ExamDate=TODAY, **values)).inserted_primary_key[0]
        conn.execute(sa.insert(perioexam).values(ExamDate=TODAY - dt.timedelta(days=1), **values))
        conn.execute(sa.insert(perioexam).values(ExamDate=TODAY, **{**values, "PatNum": 2}))
    assert pms.connector.same_day_exams(exam.exam_num) == [other]
    assert pms.connector.same_day_exams(other) == [exam.exam_num]


def test_new_exam_copies_skips_from_the_previous_exam(pms: Pms) -> None:
    previous = pms.connector.previous_exam(2, TODAY)
    assert previous is not None and previous.skipped_teeth == frozenset({1})
    assert MeasureRow(MOB, 24, tooth_value=1) in previous.measures
    exam = pms.connector.open_exam(2, TODAY)
    assert exam.skipped_teeth == frozenset({1})


def test_upsert_is_idempotent_and_blank_rows_go_away(pms: Pms) -> None:
    exam = pms.connector.open_exam(3, TODAY)
    probing = MeasureRow(P, 3, sites=(3, 2, 4, BLANK, BLANK, BLANK))
    for _ in range(3):
        pms.connector.upsert_measure(exam.exam_num, probing)
    pms.connector.upsert_measure(exam.exam_num, MeasureRow(MOB, 3, tooth_value=2))
    pms.connector.upsert_measure(exam.exam_num, MeasureRow(BLEED, 3, sites=(1, 0, 0, 0, 0, 0)))
    chart = pms.connector.read_chart(exam.exam_num)
    assert chart[P] == {3: probing}
    assert chart[MOB] == {3: MeasureRow(MOB, 3, tooth_value=2)}
    assert chart[BLEED][3].sites == (1, 0, 0, 0, 0, 0)
    assert rows_of(pms.engine, exam.exam_num).count((P.value, 3)) == 1

    updated = MeasureRow(P, 3, sites=(4, 2, 4, BLANK, BLANK, BLANK))
    pms.connector.upsert_measure(exam.exam_num, updated)
    pms.connector.upsert_measure(exam.exam_num, MeasureRow(MOB, 3))  # undo: no mobility
    pms.connector.upsert_measure(exam.exam_num, MeasureRow(BLEED, 3))  # undo: no flags
    chart = pms.connector.read_chart(exam.exam_num)
    assert chart[P] == {3: updated}
    assert chart[MOB] == {} and chart[BLEED] == {}
    assert rows_of(pms.engine, exam.exam_num).count((P.value, 3)) == 1
    assert (MOB.value, 3) not in rows_of(pms.engine, exam.exam_num)


def test_an_invalid_value_is_refused_and_not_retryable(pms: Pms) -> None:
    exam = pms.connector.open_exam(3, TODAY)
    with pytest.raises(PmsError) as refused:
        pms.connector.upsert_measure(exam.exam_num, MeasureRow(P, 3, sites=(25, 2, 4, BLANK, BLANK, BLANK)))
    assert not refused.value.retryable
    assert pms.connector.read_chart(exam.exam_num)[P] == {}


def test_exam_note_is_appended_once(pms: Pms) -> None:
    exam = pms.connector.open_exam(3, TODAY)
    pms.connector.append_exam_note(exam.exam_num, "Patient anxious, used topical.")
    pms.connector.append_exam_note(exam.exam_num, "Patient anxious, used topical.")  # a retry
    pms.connector.append_exam_note(exam.exam_num, "Recheck 3 months.")
    note = pms.connector.open_exam(3, TODAY).note
    assert note.count("Patient anxious, used topical.") == 1
    assert note.index("Patient anxious") < note.index("Recheck 3 months.")


def test_clinical_note_is_a_procedure_with_its_note_written_once(pms: Pms) -> None:
    text = "Subjective: sensitivity lower left. Plan: SRP four quadrants."
    first = pms.connector.write_clinical_note(3, TODAY, text)
    again = pms.connector.write_clinical_note(3, TODAY, text)  # a retry
    assert first == again
    with pms.engine.connect() as conn:
        notes = conn.execute(sa.select(procnote.c.Note).where(procnote.c.PatNum == 3)).scalars().all()
    assert notes == [text]


def test_the_sql_reader_never_writes(tmp_path: Path) -> None:
    engine = _engine("sqlite", tmp_path)
    create_sandbox(engine)
    seed_demo(engine, TODAY)
    reader = SandboxConnector(engine, read_only=True)
    assert reader.get_patient(1).last_name == "Lopez"
    with pytest.raises(PmsError, match="read-only"):
        reader.open_exam(1, TODAY)
    reader.close()
    engine.dispose()
