"""The sandbox PMS (schema, demo data, connector) on real databases.

SQLite always runs. MariaDB runs when VOICECHART_TEST_MARIADB_URL is set, e.g.
``mysql+pymysql://root@127.0.0.1:3306/voicechart_test`` (the database is created if missing; the sandbox
tables are dropped before and after each test). With CI=true an unreachable MariaDB fails instead of skipping.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from voicechart.errors import ConfigError, PatientNotFound, PmsError, PmsUnavailable
from voicechart.pms.connector import PmsConnector
from voicechart.pms.records import BLANK, BleedingFlags, MeasureRow, SequenceType
from voicechart.pms.sandbox import (
    PMS_SCHEMA_VERSION,
    DemoSummary,
    SandboxConnector,
    add_patient,
    create_sandbox,
    metadata,
    seed_demo,
)
from voicechart.pms.sandbox.schema import (
    SANDBOX_MARKER_PREF,
    appointment,
    operatory,
    patient,
    perioexam,
    periomeasure,
    preference,
    provider,
    securitylog,
    toothinitial,
    userod,
)
from voicechart.pms.sandbox.seed import DEMO_PATIENTS, demo_previous_chart

MARIADB_URL = os.environ.get("VOICECHART_TEST_MARIADB_URL", "")
TODAY = dt.date(2025, 5, 6)
NOW = dt.datetime(2025, 5, 6, 9, 30, 0)

P = SequenceType.PROBING
BLEED = SequenceType.BLEED_SUP_PLAQ_CALC
GM = SequenceType.GING_MARGIN


# --- fixtures ---


class Clock:
    """A settable PMS server clock."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: int) -> dt.datetime:
        self.now += dt.timedelta(seconds=seconds)
        return self.now


def _mariadb_engine(url: str) -> sa.Engine:
    parsed = sa.make_url(url)
    server = sa.create_engine(parsed.set(database=""))
    try:
        with server.begin() as conn:
            conn.execute(sa.text(f"CREATE DATABASE IF NOT EXISTS `{parsed.database}`"))
    except sa.exc.OperationalError as exc:
        reason = f"MariaDB at {parsed.host}:{parsed.port} is unreachable ({exc.orig})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"VOICECHART_TEST_MARIADB_URL is set but {reason}")
        pytest.skip(reason)
    finally:
        server.dispose()
    return sa.create_engine(parsed)


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "mariadb",
            marks=pytest.mark.skipif(
                not MARIADB_URL, reason="MariaDB: set VOICECHART_TEST_MARIADB_URL to run these on MariaDB"
            ),
        ),
    ]
)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An empty database: a fresh SQLite file, or the MariaDB test database with no sandbox tables."""
    if request.param == "sqlite":
        eng = sa.create_engine(f"sqlite:///{tmp_path / 'pms.db'}")
        yield eng
        eng.dispose()
        return
    eng = _mariadb_engine(MARIADB_URL)
    metadata.drop_all(eng)
    try:
        yield eng
    finally:
        metadata.drop_all(eng)
        eng.dispose()


@pytest.fixture
def demo(engine: sa.Engine) -> DemoSummary:
    create_sandbox(engine)
    return seed_demo(engine, TODAY)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def pms(engine: sa.Engine, demo: DemoSummary, clock: Clock) -> Iterator[SandboxConnector]:
    connector = SandboxConnector(engine, user_num=demo.user_num, clock=clock)
    yield connector
    connector.close()


# --- helpers ---


def count(engine: sa.Engine, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one())


def measure_rows(engine: sa.Engine, exam_num: int) -> list[dict[str, Any]]:
    """The exam's raw periomeasure rows, in key order."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(periomeasure)
            .where(periomeasure.c.PerioExamNum == exam_num)
            .order_by(periomeasure.c.SequenceType, periomeasure.c.IntTooth, periomeasure.c.PerioMeasureNum)
        ).mappings()
        return [dict(r) for r in rows]


def exam_row(engine: sa.Engine, exam_num: int) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(
            conn.execute(sa.select(perioexam).where(perioexam.c.PerioExamNum == exam_num)).mappings().one()
        )


def values_of(row: dict[str, Any]) -> tuple[int, ...]:
    cols = ("ToothValue", "MBvalue", "Bvalue", "DBvalue", "MLvalue", "Lvalue", "DLvalue")
    return tuple(row[c] for c in cols)


def table_counts(engine: sa.Engine) -> dict[str, int]:
    return {t.name: count(engine, t) for t in metadata.sorted_tables}


def probing(tooth: int, *sites: int) -> MeasureRow:
    assert len(sites) == 6
    return MeasureRow(P, tooth, sites=(sites[0], sites[1], sites[2], sites[3], sites[4], sites[5]))


# --- schema ---


def test_create_sandbox_twice_is_harmless(engine: sa.Engine) -> None:
    create_sandbox(engine)
    pat_num = add_patient(engine, first_name="Ada", last_name="Test")
    create_sandbox(engine)

    assert set(sa.inspect(engine).get_table_names()) >= {t.name for t in metadata.sorted_tables}
    assert count(engine, patient, patient.c.PatNum == pat_num) == 1
    assert count(engine, preference, preference.c.PrefName == SANDBOX_MARKER_PREF) == 1
    with engine.connect() as conn:
        prefs = dict(conn.execute(sa.select(preference.c.PrefName, preference.c.ValueString)).tuples().all())
    assert prefs == {"DataBaseVersion": "24.3.0.0", SANDBOX_MARKER_PREF: str(PMS_SCHEMA_VERSION)}


def test_column_names_are_open_dentals(engine: sa.Engine) -> None:
    create_sandbox(engine)
    columns = {c["name"] for c in sa.inspect(engine).get_columns("periomeasure")}
    assert columns == {
        "PerioMeasureNum", "PerioExamNum", "SequenceType", "IntTooth", "ToothValue", "MBvalue", "Bvalue",
        "DBvalue", "MLvalue", "Lvalue", "DLvalue", "SecDateTEntry", "SecDateTEdit",
    }  # fmt: skip
    assert {c["name"] for c in sa.inspect(engine).get_columns("perioexam")} == {
        "PerioExamNum", "PatNum", "ExamDate", "ProvNum", "DateTMeasureEdit", "Note",
    }  # fmt: skip
    assert "Mode_" in {c["name"] for c in sa.inspect(engine).get_columns("commlog")}
    assert ["PerioExamNum"] in [i["column_names"] for i in sa.inspect(engine).get_indexes("periomeasure")]


def test_create_sandbox_refuses_a_database_that_is_not_a_sandbox(engine: sa.Engine) -> None:
    patient.create(engine)  # looks like a real Open Dental database: tables, no sandbox marker

    with pytest.raises(PmsError, match="not a voicechart sandbox"):
        create_sandbox(engine)
    assert not sa.inspect(engine).has_table("perioexam")


def test_create_sandbox_refuses_another_schema_version(engine: sa.Engine) -> None:
    create_sandbox(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.update(preference)
            .where(preference.c.PrefName == SANDBOX_MARKER_PREF)
            .values(ValueString="999")
        )
    with pytest.raises(PmsError, match="schema version 999"):
        create_sandbox(engine)


# --- demo data ---


def test_seed_demo_adds_the_demo(engine: sa.Engine, demo: DemoSummary) -> None:
    assert demo.created is True
    assert (demo.dentist, demo.hygienist, demo.user_num) == (1, 2, 1)
    assert demo.patients == (1, 2, 3, 4)
    with engine.connect() as conn:
        provs = conn.execute(sa.select(provider.c.ProvNum, provider.c.Abbr, provider.c.IsSecondary)).all()
        ops = conn.execute(
            sa.select(operatory.c.OperatoryNum, operatory.c.OpName, operatory.c.IsHygiene).order_by(
                "OperatoryNum"
            )
        ).all()
        pc = patient.c
        pats = conn.execute(
            sa.select(pc.PatNum, pc.FName, pc.LName, pc.PriProv, pc.Guarantor).order_by(pc.PatNum)
        ).all()
        initials = conn.execute(
            sa.select(toothinitial.c.PatNum, toothinitial.c.ToothNum, toothinitial.c.InitialType)
        ).all()
        ac = appointment.c
        apts = conn.execute(
            sa.select(ac.PatNum, ac.Op, ac.AptDateTime, ac.AptStatus).order_by(ac.AptDateTime)
        ).all()
        users = conn.execute(sa.select(userod.c.UserNum, userod.c.UserName)).all()
    assert sorted(tuple(r) for r in provs) == [(1, "DDS1", 0), (2, "RDH1", 1)]
    assert [tuple(r) for r in ops] == [(1, "Op 1", 0), (2, "Op 2", 0), (3, "Op 3", 1)]
    assert [tuple(r) for r in pats] == [
        (1, "Maria", "Lopez", 1, 1),
        (2, "James", "Carter", 1, 2),
        (3, "Priya", "Shah", 1, 3),
        (4, "Tom", "Becker", 1, 4),
    ]
    assert sorted((r.PatNum, int(r.ToothNum), r.InitialType) for r in initials) == [
        (1, 1, 0), (1, 16, 0), (1, 17, 0), (1, 32, 0), (4, 19, 1), (4, 30, 0),
    ]  # fmt: skip
    at = dt.datetime.combine
    assert [tuple(r) for r in apts] == [
        (1, 1, at(TODAY, dt.time(9)), 1),
        (2, 2, at(TODAY, dt.time(10)), 1),
        (3, 3, at(TODAY, dt.time(11)), 1),
        (4, 1, at(TODAY, dt.time(14)), 1),
    ]
    assert [tuple(r) for r in users] == [(1, "voicechart")]


def test_seed_demo_is_idempotent(engine: sa.Engine, demo: DemoSummary) -> None:
    before = table_counts(engine)
    again = seed_demo(engine, TODAY)

    assert again.created is False
    assert table_counts(engine) == before
    assert (again.appointments, again.previous_exam) == (demo.appointments, demo.previous_exam)


def test_seed_demo_on_a_later_day_adds_only_that_days_schedule(engine: sa.Engine, demo: DemoSummary) -> None:
    before = table_counts(engine)
    tomorrow = seed_demo(engine, TODAY + dt.timedelta(days=1))

    assert tomorrow.created is True
    assert len(tomorrow.appointments) == 4
    assert set(tomorrow.appointments).isdisjoint(demo.appointments)
    after = table_counts(engine)
    assert after.pop("appointment") == before.pop("appointment") + 4
    assert after == before


def test_seed_demo_refuses_to_overwrite_other_patients(engine: sa.Engine) -> None:
    create_sandbox(engine)
    add_patient(engine, first_name="Someone", last_name="Else")

    with pytest.raises(PmsError, match="PatNum 1 is already used"):
        seed_demo(engine, TODAY)
    assert count(engine, provider) == 0


def test_demo_previous_exam(pms: SandboxConnector, demo: DemoSummary) -> None:
    exam = pms.previous_exam(2, TODAY)

    assert exam is not None
    assert exam.exam_num == demo.previous_exam
    assert exam.exam_date == TODAY - dt.timedelta(days=182)
    assert exam.prov_num == demo.dentist
    assert exam.measures == demo_previous_chart()
    assert exam.skipped_teeth == frozenset({1})
    chart = pms.read_chart(exam.exam_num)
    assert sorted(chart[P]) == list(range(2, 33))
    depths = [v for m in chart[P].values() for v in m.sites]
    assert len(depths) == 31 * 6
    assert set(depths) <= {2, 3, 4, 5, 6}
    assert (depths.count(5), depths.count(6)) == (4, 1)
    assert chart[P][31].site("DB") == 6
    assert chart[SequenceType.MOBILITY] == {24: MeasureRow(SequenceType.MOBILITY, 24, tooth_value=1)}
    assert chart[BLEED][31].site("DB") == BleedingFlags.BLOOD | BleedingFlags.SUPPURATION
    # Open Dental saves 0 for unflagged sites: the row is stored; read_chart leaves out rows that say nothing
    assert MeasureRow(BLEED, 2, sites=(0, 0, 0, 0, 0, 0)) in exam.measures
    assert 2 not in chart[BLEED]
    assert len([m for m in exam.measures if m.sequence_type is BLEED]) == 31  # one per charted tooth


def test_previous_exam_is_none_without_an_earlier_exam(pms: SandboxConnector, demo: DemoSummary) -> None:
    assert pms.previous_exam(3, TODAY) is None
    assert pms.previous_exam(2, TODAY - dt.timedelta(days=182)) is None  # strictly before


# --- reads ---


def test_get_patient(pms: SandboxConnector) -> None:
    p = pms.get_patient(3)
    assert (p.pat_num, p.first_name, p.last_name, p.pri_prov) == (3, "Priya", "Shah", 1)
    assert p.birthdate == dt.date(1990, 11, 23)
    assert p.display_name == "Priya Shah"


def test_patient_without_birthdate_has_none(engine: sa.Engine, pms: SandboxConnector) -> None:
    pat_num = add_patient(engine, first_name="No", last_name="Birthday")
    assert pms.get_patient(pat_num).birthdate is None


def test_get_patient_not_found(pms: SandboxConnector) -> None:
    with pytest.raises(PatientNotFound) as info:
        pms.get_patient(999)
    assert str(info.value) == "No patient with PatNum 999 in the PMS"


def test_missing_teeth_includes_hidden_and_only_permanent_teeth(
    engine: sa.Engine, pms: SandboxConnector
) -> None:
    assert pms.missing_teeth(1) == frozenset({1, 16, 17, 32})
    assert pms.missing_teeth(4) == frozenset({19, 30})  # 19 is Hidden, 30 Missing
    assert pms.missing_teeth(3) == frozenset()
    with engine.begin() as conn:
        conn.execute(
            sa.insert(toothinitial),
            [
                {"PatNum": 3, "ToothNum": "A", "InitialType": 0},  # primary tooth: not charted in perio
                {"PatNum": 3, "ToothNum": "5", "InitialType": 2},  # Primary, not missing
                {"PatNum": 3, "ToothNum": "8", "InitialType": 0},
            ],
        )
    assert pms.missing_teeth(3) == frozenset({8})


def test_read_chart_has_every_sequence_type(pms: SandboxConnector) -> None:
    exam = pms.open_exam(3, TODAY)
    chart = pms.read_chart(exam.exam_num)
    assert set(chart) == set(SequenceType)
    assert all(rows == {} for rows in chart.values())


def test_read_chart_of_unknown_exam(pms: SandboxConnector) -> None:
    with pytest.raises(PmsError, match="No perio exam with PerioExamNum 4242"):
        pms.read_chart(4242)


def test_exams_for_patient_oldest_first(pms: SandboxConnector, demo: DemoSummary) -> None:
    today = pms.open_exam(2, TODAY)
    exams = pms.exams_for_patient(2)
    assert [e.exam_num for e in exams] == [demo.previous_exam, today.exam_num]
    assert exams[0].measures == demo_previous_chart()
    assert pms.exams_for_patient(3) == []


def test_satisfies_the_connector_protocol(pms: SandboxConnector) -> None:
    connector: PmsConnector = pms
    assert connector.get_patient(1).pat_num == 1


# --- open_exam ---


def test_open_exam_creates_with_missing_teeth_skipped(engine: sa.Engine, pms: SandboxConnector) -> None:
    exam = pms.open_exam(1, TODAY)

    assert (exam.pat_num, exam.exam_date, exam.prov_num, exam.note) == (1, TODAY, 1, "")
    assert exam.skipped_teeth == frozenset({1, 16, 17, 32})
    assert exam_row(engine, exam.exam_num)["DateTMeasureEdit"] == NOW
    rows = measure_rows(engine, exam.exam_num)
    assert [(r["SequenceType"], r["IntTooth"]) for r in rows] == [(5, 1), (5, 16), (5, 17), (5, 32)]
    assert all(values_of(r) == (1, -1, -1, -1, -1, -1, -1) for r in rows)
    assert all(r["SecDateTEntry"] == NOW for r in rows)


def test_open_exam_skips_hidden_teeth(pms: SandboxConnector) -> None:
    assert pms.open_exam(4, TODAY).skipped_teeth == frozenset({19, 30})


def test_open_exam_resumes_todays_exam(engine: sa.Engine, pms: SandboxConnector, clock: Clock) -> None:
    first = pms.open_exam(1, TODAY)
    pms.upsert_measure(first.exam_num, probing(3, 3, 2, 3, 4, 2, 3))
    clock.advance(600)
    again = pms.open_exam(1, TODAY)

    assert again.exam_num == first.exam_num
    assert count(engine, perioexam, perioexam.c.PatNum == 1) == 1
    assert count(engine, securitylog, securitylog.c.PatNum == 1) == 1
    assert probing(3, 3, 2, 3, 4, 2, 3) in again.measures
    assert again.skipped_teeth == frozenset({1, 16, 17, 32})


def test_open_exam_resumes_the_newest_of_several_on_that_date(
    engine: sa.Engine, pms: SandboxConnector
) -> None:
    with engine.begin() as conn:
        for _ in range(2):
            conn.execute(sa.insert(perioexam).values(PatNum=3, ExamDate=TODAY, ProvNum=1, Note=""))
        newest = conn.execute(sa.select(sa.func.max(perioexam.c.PerioExamNum))).scalar_one()

    assert pms.open_exam(3, TODAY).exam_num == newest
    assert count(engine, perioexam, perioexam.c.PatNum == 3) == 2


def test_open_exam_copies_skips_from_the_previous_exam(engine: sa.Engine, pms: SandboxConnector) -> None:
    exam = pms.open_exam(2, TODAY)
    assert exam.skipped_teeth == frozenset({1})  # from the exam of 182 days ago; toothinitial has nothing
    assert [(r["SequenceType"], r["IntTooth"]) for r in measure_rows(engine, exam.exam_num)] == [(5, 1)]


def test_open_exam_prefers_the_previous_exam_over_toothinitial(
    engine: sa.Engine, pms: SandboxConnector
) -> None:
    pat_num = add_patient(engine, first_name="Skip", last_name="Test", missing_teeth=(5, 12))
    earlier = pms.open_exam(pat_num, TODAY - dt.timedelta(days=90))
    assert earlier.skipped_teeth == frozenset({5, 12})
    pms.upsert_measure(earlier.exam_num, MeasureRow(SequenceType.SKIP_TOOTH, 5, tooth_value=0))  # un-skip 5
    pms.upsert_measure(earlier.exam_num, MeasureRow(SequenceType.SKIP_TOOTH, 7, tooth_value=1))

    assert pms.open_exam(pat_num, TODAY).skipped_teeth == frozenset({7, 12})


def test_open_exam_writes_a_security_log_row(engine: sa.Engine, pms: SandboxConnector) -> None:
    pms.open_exam(1, TODAY)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(securitylog)).mappings().all()
    assert len(rows) == 1
    row = rows[0]
    assert (row["PermType"], row["LogText"], row["PatNum"], row["LogSource"]) == (
        45,
        "Perio exam created",
        1,
        0,
    )
    assert (row["CompName"], row["UserNum"], row["LogDateTime"]) == ("voicechart", 1, NOW)


def test_open_exam_unknown_patient(engine: sa.Engine, pms: SandboxConnector) -> None:
    with pytest.raises(PatientNotFound, match="No patient with PatNum 77 in the PMS"):
        pms.open_exam(77, TODAY)
    assert count(engine, perioexam, perioexam.c.PatNum == 77) == 0
    assert count(engine, securitylog) == 0


def test_concurrent_open_exam_creates_one_exam(engine: sa.Engine, demo: DemoSummary) -> None:
    results: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def open_it() -> None:
        try:
            start.wait()
            results.append(SandboxConnector(engine).open_exam(3, TODAY).exam_num)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(results)) == 1
    assert count(engine, perioexam, perioexam.c.PatNum == 3) == 1


# --- upsert_measure ---


def test_upsert_inserts_then_updates(engine: sa.Engine, pms: SandboxConnector, clock: Clock) -> None:
    exam = pms.open_exam(3, TODAY)
    clock.advance(60)
    pms.upsert_measure(exam.exam_num, probing(3, 3, 2, 3, 4, 2, 3))
    inserted_at = clock.now

    [row] = measure_rows(engine, exam.exam_num)
    assert (row["SequenceType"], row["IntTooth"]) == (4, 3)
    assert values_of(row) == (-1, 3, 2, 3, 4, 2, 3)
    assert row["SecDateTEntry"] == row["SecDateTEdit"] == inserted_at
    assert exam_row(engine, exam.exam_num)["DateTMeasureEdit"] == inserted_at

    updated_at = clock.advance(60)
    pms.upsert_measure(exam.exam_num, probing(3, 3, 2, 5, 4, 2, 3))

    [row] = measure_rows(engine, exam.exam_num)
    assert values_of(row) == (-1, 3, 2, 5, 4, 2, 3)
    assert row["SecDateTEntry"] == inserted_at
    assert row["SecDateTEdit"] == updated_at
    assert exam_row(engine, exam.exam_num)["DateTMeasureEdit"] == updated_at
    assert pms.read_chart(exam.exam_num)[P] == {3: probing(3, 3, 2, 5, 4, 2, 3)}


def test_upsert_is_idempotent(engine: sa.Engine, pms: SandboxConnector, clock: Clock) -> None:
    exam = pms.open_exam(3, TODAY)
    rows = [probing(8, 2, 2, 3, 3, 2, 2), MeasureRow(SequenceType.MOBILITY, 8, tooth_value=2)]
    for r in rows:
        pms.upsert_measure(exam.exam_num, r)
    before = (measure_rows(engine, exam.exam_num), exam_row(engine, exam.exam_num))

    clock.advance(3600)
    for r in rows:
        pms.upsert_measure(exam.exam_num, r)

    assert (measure_rows(engine, exam.exam_num), exam_row(engine, exam.exam_num)) == before
    assert len(before[0]) == 2


def test_upsert_removes_duplicate_rows(engine: sa.Engine, pms: SandboxConnector, clock: Clock) -> None:
    exam = pms.open_exam(3, TODAY)
    with engine.begin() as conn:  # duplicates as an old Open Dental bug left them
        for depth in (2, 3, 4):
            conn.execute(
                sa.insert(periomeasure).values(
                    PerioExamNum=exam.exam_num, SequenceType=4, IntTooth=9, MBvalue=depth, SecDateTEntry=NOW
                )
            )
    assert pms.read_chart(exam.exam_num)[P][9].site("MB") == 4  # the newest row wins on read
    oldest = measure_rows(engine, exam.exam_num)[0]["PerioMeasureNum"]

    pms.upsert_measure(exam.exam_num, probing(9, 3, 3, 3, 3, 3, 3))

    [row] = measure_rows(engine, exam.exam_num)
    assert row["PerioMeasureNum"] == oldest
    assert values_of(row) == (-1, 3, 3, 3, 3, 3, 3)


def test_upsert_same_values_still_removes_duplicates(engine: sa.Engine, pms: SandboxConnector) -> None:
    exam = pms.open_exam(3, TODAY)
    pms.upsert_measure(exam.exam_num, probing(9, 3, 3, 3, 3, 3, 3))
    with engine.begin() as conn:
        conn.execute(sa.insert(periomeasure).values(PerioExamNum=exam.exam_num, SequenceType=4, IntTooth=9))
    assert len(measure_rows(engine, exam.exam_num)) == 2

    pms.upsert_measure(exam.exam_num, probing(9, 3, 3, 3, 3, 3, 3))

    assert [values_of(r) for r in measure_rows(engine, exam.exam_num)] == [(-1, 3, 3, 3, 3, 3, 3)]


@pytest.mark.parametrize(
    ("stored", "clearing"),
    [
        (MeasureRow(SequenceType.MOBILITY, 8, tooth_value=2), MeasureRow(SequenceType.MOBILITY, 8)),
        (MeasureRow(SequenceType.SKIP_TOOTH, 8, tooth_value=1), MeasureRow(SequenceType.SKIP_TOOTH, 8)),
        (
            MeasureRow(SequenceType.SKIP_TOOTH, 8, tooth_value=1),
            MeasureRow(SequenceType.SKIP_TOOTH, 8, tooth_value=0),
        ),
        (probing(8, 2, 3, 2, 2, 3, 2), MeasureRow(P, 8)),
        (MeasureRow(BLEED, 8, sites=(1, 0, 0, 0, 0, 0)), MeasureRow(BLEED, 8)),
    ],
    ids=["mobility", "skip-blank", "skip-0", "probing", "bleeding"],
)
def test_blank_row_deletes(
    engine: sa.Engine, pms: SandboxConnector, stored: MeasureRow, clearing: MeasureRow
) -> None:
    exam = pms.open_exam(3, TODAY)
    pms.upsert_measure(exam.exam_num, stored)
    assert len(measure_rows(engine, exam.exam_num)) == 1

    pms.upsert_measure(exam.exam_num, clearing)
    assert measure_rows(engine, exam.exam_num) == []
    pms.upsert_measure(exam.exam_num, clearing)  # deleting nothing is fine
    assert measure_rows(engine, exam.exam_num) == []


def test_mobility_zero_is_a_value_not_a_deletion(engine: sa.Engine, pms: SandboxConnector) -> None:
    exam = pms.open_exam(3, TODAY)
    pms.upsert_measure(exam.exam_num, MeasureRow(SequenceType.MOBILITY, 24, tooth_value=0))
    assert [values_of(r) for r in measure_rows(engine, exam.exam_num)] == [(0, -1, -1, -1, -1, -1, -1)]


def test_bleeding_sites_are_stored_as_zero_when_unflagged(engine: sa.Engine, pms: SandboxConnector) -> None:
    exam = pms.open_exam(3, TODAY)
    flags = int(BleedingFlags.BLOOD | BleedingFlags.PLAQUE | BleedingFlags.CALCULUS)
    pms.upsert_measure(exam.exam_num, MeasureRow(BLEED, 14, sites=(flags, BLANK, BLANK, BLANK, BLANK, 1)))
    pms.upsert_measure(exam.exam_num, MeasureRow(BLEED, 15, sites=(0, 0, 0, 0, 0, 0)))

    rows = measure_rows(engine, exam.exam_num)
    assert [(r["IntTooth"], values_of(r)) for r in rows] == [
        (14, (-1, 13, 0, 0, 0, 0, 1)),
        (15, (-1, 0, 0, 0, 0, 0, 0)),
    ]


@pytest.mark.parametrize(
    "row",
    [
        MeasureRow(GM, 6, sites=(103, 0, 2, 119, BLANK, 1)),
        probing(1, 0, 19, 0, 19, 0, 19),
        probing(32, BLANK, 4, BLANK, BLANK, BLANK, BLANK),
        MeasureRow(SequenceType.MGJ, 20, sites=(3, 4, 3, 2, 2, 2)),
        MeasureRow(SequenceType.MGJ, 3, sites=(3, 4, 3, BLANK, BLANK, BLANK)),
        MeasureRow(SequenceType.FURCATION, 30, sites=(BLANK, 2, BLANK, BLANK, 1, BLANK)),
        MeasureRow(SequenceType.MOBILITY, 24, tooth_value=19),
        MeasureRow(BLEED, 2, sites=(15, 0, 2, 4, 8, 0)),
    ],
    ids=[
        "gm-hyperplasia",
        "probing-limits",
        "probing-partial",
        "mgj-lower",
        "mgj-upper",
        "furcation",
        "mob",
        "bspc",
    ],
)
def test_valid_values_are_stored_as_given(engine: sa.Engine, pms: SandboxConnector, row: MeasureRow) -> None:
    exam = pms.open_exam(3, TODAY)
    pms.upsert_measure(exam.exam_num, row)

    assert pms.read_chart(exam.exam_num)[row.sequence_type] == {row.tooth: row}
    [stored] = measure_rows(engine, exam.exam_num)
    assert values_of(stored) == (row.tooth_value, *row.sites)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (probing(3, 3, 20, 3, 3, 3, 3), "Probing 20 at tooth 3 B is out of range"),
        (probing(3, 3, 2, 3, 3, -2, 3), "Probing -2 at tooth 3 L is out of range"),
        (MeasureRow(GM, 3, sites=(100, BLANK, BLANK, BLANK, BLANK, BLANK)), "GingMargin 100 at tooth 3 MB"),
        (MeasureRow(GM, 3, sites=(120, BLANK, BLANK, BLANK, BLANK, BLANK)), "GingMargin 120 at tooth 3 MB"),
        (MeasureRow(GM, 3, sites=(BLANK, 25, BLANK, BLANK, BLANK, BLANK)), "GingMargin 25 at tooth 3 B"),
        (MeasureRow(BLEED, 3, sites=(16, 0, 0, 0, 0, 0)), "BleedSupPlaqCalc 16 at tooth 3 MB"),
        (MeasureRow(SequenceType.FURCATION, 3, sites=(20, -1, -1, -1, -1, -1)), "Furcation 20 at tooth 3 MB"),
        (MeasureRow(SequenceType.MGJ, 3, sites=(3, 3, 3, 3, -1, -1)), "no palatal MGJ"),
        (MeasureRow(SequenceType.MOBILITY, 3, tooth_value=20), "Mobility 20 on tooth 3 is out of range"),
        (
            MeasureRow(SequenceType.MOBILITY, 3, tooth_value=1, sites=(1, -1, -1, -1, -1, -1)),
            "site values must all be -1",
        ),
        (MeasureRow(SequenceType.SKIP_TOOTH, 3, tooth_value=2), "ToothValue must be 1"),
        (MeasureRow(P, 3, tooth_value=3, sites=(3, 3, 3, 3, 3, 3)), "Probing tooth 3: ToothValue must be -1"),
        (probing(0, 3, 3, 3, 3, 3, 3), "tooth 0 is not a permanent tooth"),
        (probing(33, 3, 3, 3, 3, 3, 3), "tooth 33 is not a permanent tooth"),
        (MeasureRow(P, 3, sites=(3, 3, 3, 3, 3)), "expected 6 site values"),  # type: ignore[arg-type]
    ],
    ids=[
        "probe-20", "probe-neg", "gm-100", "gm-120", "gm-25", "bspc-16", "furc-20", "mgj-palatal", "mob-20",
        "mob-sites", "skip-2", "probe-toothvalue", "tooth-0", "tooth-33", "five-sites",
    ],
)  # fmt: skip
def test_invalid_values_are_rejected_and_nothing_is_written(
    engine: sa.Engine, pms: SandboxConnector, clock: Clock, row: MeasureRow, message: str
) -> None:
    exam = pms.open_exam(3, TODAY)
    pms.upsert_measure(exam.exam_num, probing(3, 2, 2, 2, 2, 2, 2))
    before = (measure_rows(engine, exam.exam_num), exam_row(engine, exam.exam_num))
    clock.advance(60)

    with pytest.raises(PmsError, match=message):
        pms.upsert_measure(exam.exam_num, row)

    assert (measure_rows(engine, exam.exam_num), exam_row(engine, exam.exam_num)) == before


def test_upsert_on_unknown_exam(engine: sa.Engine, pms: SandboxConnector) -> None:
    with pytest.raises(PmsError, match="No perio exam with PerioExamNum 999"):
        pms.upsert_measure(999, probing(3, 3, 3, 3, 3, 3, 3))
    assert count(engine, periomeasure, periomeasure.c.PerioExamNum == 999) == 0


def test_concurrent_upserts_leave_one_row_per_key(engine: sa.Engine, demo: DemoSummary) -> None:
    exam_num = SandboxConnector(engine).open_exam(3, TODAY).exam_num
    teeth = range(2, 12)
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def write(depth: int) -> None:
        pms = SandboxConnector(engine)
        try:
            start.wait()
            for tooth in teeth:
                pms.upsert_measure(exam_num, probing(tooth, depth, 2, 2, 2, 2, 2))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(d,)) for d in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = measure_rows(engine, exam_num)
    assert [r["IntTooth"] for r in rows] == list(teeth)
    assert all(1 <= r["MBvalue"] <= 8 for r in rows)


# --- notes ---


def test_append_exam_note(engine: sa.Engine, pms: SandboxConnector, clock: Clock) -> None:
    exam = pms.open_exam(3, TODAY)
    pms.append_exam_note(exam.exam_num, "Generalised bleeding on probing.")
    edited = clock.advance(120)
    pms.append_exam_note(exam.exam_num, "Recall in 3 months.")
    pms.append_exam_note(exam.exam_num, "   ")

    row = exam_row(engine, exam.exam_num)
    assert row["Note"] == "Generalised bleeding on probing.\nRecall in 3 months."
    assert row["DateTMeasureEdit"] == edited
    assert pms.open_exam(3, TODAY).note == row["Note"]


def test_append_exam_note_keeps_an_existing_note(engine: sa.Engine, pms: SandboxConnector) -> None:
    exam = pms.open_exam(3, TODAY)
    with engine.begin() as conn:
        conn.execute(
            sa.update(perioexam)
            .where(perioexam.c.PerioExamNum == exam.exam_num)
            .values(Note="Typed in OD.\n")
        )
    pms.append_exam_note(exam.exam_num, "Dictated.")
    assert exam_row(engine, exam.exam_num)["Note"] == "Typed in OD.\nDictated."


def test_append_exam_note_unknown_exam(pms: SandboxConnector) -> None:
    with pytest.raises(PmsError, match="No perio exam with PerioExamNum 555"):
        pms.append_exam_note(555, "text")


# --- add_patient ---


def test_add_patient(engine: sa.Engine, pms: SandboxConnector) -> None:
    pat_num = add_patient(
        engine, first_name="Lee", last_name="Park", missing_teeth=(2, 15), hidden_teeth=(31,)
    )

    assert pat_num == 5
    assert pms.get_patient(pat_num).pri_prov == 1
    assert pms.missing_teeth(pat_num) == frozenset({2, 15, 31})
    assert pms.open_exam(pat_num, TODAY).skipped_teeth == frozenset({2, 15, 31})
    with engine.connect() as conn:
        assert (
            conn.execute(sa.select(patient.c.Guarantor).where(patient.c.PatNum == pat_num)).scalar()
            == pat_num
        )


def test_add_patient_rejects_impossible_teeth(engine: sa.Engine, demo: DemoSummary) -> None:
    with pytest.raises(PmsError, match="Tooth 33"):
        add_patient(engine, first_name="X", last_name="Y", missing_teeth=(33,))
    assert count(engine, patient) == len(DEMO_PATIENTS)


# --- safety and failures ---


def test_writes_are_refused_on_a_database_that_is_not_a_sandbox(engine: sa.Engine) -> None:
    metadata.create_all(engine)  # Open Dental-shaped, but without the sandbox marker: like a real PMS
    with engine.begin() as conn:
        conn.execute(sa.insert(patient).values(PatNum=1, FName="A", LName="B", PriProv=1))
        conn.execute(sa.insert(perioexam).values(PerioExamNum=1, PatNum=1, ExamDate=TODAY, Note=""))
    pms = SandboxConnector(engine)

    assert pms.get_patient(1).pat_num == 1  # reading is allowed
    with pytest.raises(PmsError, match="not a voicechart sandbox"):
        pms.open_exam(1, TODAY + dt.timedelta(days=1))
    with pytest.raises(PmsError, match="not a voicechart sandbox"):
        pms.upsert_measure(1, probing(3, 3, 3, 3, 3, 3, 3))
    with pytest.raises(PmsError, match="not a voicechart sandbox"):
        pms.append_exam_note(1, "x")
    assert count(engine, perioexam) == 1
    assert count(engine, periomeasure) == 0


def test_unreachable_sqlite_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "dir" / "pms.db"
    with SandboxConnector.from_url(f"sqlite:///{path}") as pms, pytest.raises(PmsUnavailable) as info:
        pms.get_patient(1)
    assert str(path) in str(info.value)
    assert info.value.retryable is True


def test_unreachable_mariadb_names_the_host_but_not_the_credentials() -> None:
    pytest.importorskip("pymysql")
    pms = SandboxConnector.from_url("mysql+pymysql://alice:s3cret-pw@127.0.0.1:1/pms")
    with pytest.raises(PmsUnavailable) as info:
        pms.get_patient(1)
    pms.close()
    message = str(info.value)
    assert "127.0.0.1:1/pms" in message
    assert "s3cret" not in message
    assert "alice" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_missing_tables_is_a_plain_pms_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    with SandboxConnector.from_url(url) as pms, pytest.raises(PmsError, match="voicechart pms init") as info:
        pms.get_patient(1)
    assert not isinstance(info.value, PmsUnavailable)


def test_invalid_url_is_a_config_error_without_the_url() -> None:
    with pytest.raises(ConfigError) as info:
        SandboxConnector.from_url("::not a url with pw=hunter2::")
    assert "hunter2" not in str(info.value)


def test_close_disposes_only_an_engine_it_created(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    disposed: list[bool] = []
    monkeypatch.setattr(engine, "dispose", lambda *a, **k: disposed.append(True))
    SandboxConnector(engine).close()
    assert disposed == []

    owned = SandboxConnector.from_url("sqlite://")
    owned_engine = owned._engine
    monkeypatch.setattr(owned_engine, "dispose", lambda *a, **k: disposed.append(True))
    owned.close()
    assert disposed == [True]


def test_logs_carry_no_names_or_note_text(
    engine: sa.Engine, pms: SandboxConnector, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="voicechart.pms")
    pat_num = add_patient(engine, first_name="Zebulon", last_name="Quartermaine", missing_teeth=(4,))
    exam = pms.open_exam(pat_num, TODAY)
    pms.upsert_measure(exam.exam_num, probing(3, 3, 3, 3, 3, 3, 3))
    pms.append_exam_note(exam.exam_num, "Patient anxious about bleeding.")
    pms.get_patient(1)

    assert caplog.records, "expected some log records"
    text = caplog.text
    for secret in ("Zebulon", "Quartermaine", "anxious", "Maria", "Lopez"):
        assert secret not in text
    assert f"perio exam {exam.exam_num}" in text


def test_an_older_sandbox_is_upgraded_in_place(tmp_path: Path) -> None:
    """A sandbox made by an earlier voicechart (schema version 1, before the patient's address columns)
    keeps its data and gains the new columns, so `voicechart demo` goes on working after an update."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    create_sandbox(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE patient DROP COLUMN City"))
        conn.execute(
            preference.update().where(preference.c.PrefName == SANDBOX_MARKER_PREF).values(ValueString="1")
        )
    pat_num = add_patient(engine, first_name="Old", last_name="Sandbox")
    create_sandbox(engine)
    with engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("patient")}
        marker = conn.execute(
            sa.select(preference.c.ValueString).where(preference.c.PrefName == SANDBOX_MARKER_PREF)
        ).scalar()
        kept = conn.execute(sa.text("SELECT LName FROM patient WHERE PatNum = :n"), {"n": pat_num}).scalar()
    engine.dispose()
    assert "City" in columns and marker == str(PMS_SCHEMA_VERSION) and kept == "Sandbox"
