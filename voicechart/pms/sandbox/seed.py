"""Demo data for the sandbox PMS: fictional providers, operatories, patients, a previous exam, a schedule.

Everything here is invented. Primary keys are fixed (ProvNum 1–2, OperatoryNum 1–3, PatNum 1–4, UserNum 1) so
that demos, docs and tests can name them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from voicechart.errors import PmsError
from voicechart.pms.records import SITE_COLUMNS, BleedingFlags, MeasureRow, SequenceType
from voicechart.pms.sandbox.schema import (
    SITE_VALUE_COLUMNS,
    appointment,
    inserted_key,
    is_sandbox,
    operatory,
    patient,
    perioexam,
    periomeasure,
    provider,
    toothinitial,
    userod,
)

_log = logging.getLogger("voicechart.pms")

DENTIST_PROV_NUM = 1
HYGIENIST_PROV_NUM = 2
VOICECHART_USER_NUM = 1
OPERATORY_NUMS = (1, 2, 3)
PREVIOUS_EXAM_AGE_DAYS = 182
"""James Carter's previous exam is dated this many days before the seeding day."""

MISSING, HIDDEN = 0, 1  # toothinitial.InitialType
APT_SCHEDULED = 1  # appointment.AptStatus
DEMO_PATTERN = "/XXXXXX/"  # 40 minutes: 5 minutes assistant, 30 minutes provider, 5 minutes assistant


@dataclass(frozen=True, slots=True)
class DemoPatient:
    """A fictional demo patient and their appointment today."""

    pat_num: int
    first_name: str
    last_name: str
    gender: int  # Open Dental PatientGender: Male=0, Female=1
    birthdate: dt.date
    missing_teeth: tuple[int, ...]
    hidden_teeth: tuple[int, ...]
    op_num: int
    appointment_time: dt.time


DEMO_PATIENTS: tuple[DemoPatient, ...] = (
    DemoPatient(1, "Maria", "Lopez", 1, dt.date(1978, 3, 14), (1, 16, 17, 32), (), 1, dt.time(9, 0)),
    DemoPatient(2, "James", "Carter", 0, dt.date(1961, 8, 2), (), (), 2, dt.time(10, 0)),
    DemoPatient(3, "Priya", "Shah", 1, dt.date(1990, 11, 23), (), (), 3, dt.time(11, 0)),
    DemoPatient(4, "Tom", "Becker", 0, dt.date(1956, 1, 30), (30,), (19,), 1, dt.time(14, 0)),
)

PREVIOUS_EXAM_PATIENT = 2
"""PatNum of the demo patient with a previous exam (James Carter)."""


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What the demo consists of. `created` is True if this call added anything."""

    created: bool
    dentist: int
    hygienist: int
    user_num: int
    operatories: tuple[int, ...]
    patients: tuple[int, ...]
    appointments: tuple[int, ...]
    """Today's demo appointments (AptNum), in time order."""
    previous_exam: int
    """PerioExamNum of James Carter's earlier exam."""


# --- the previous exam's chart ---

_DEEP_SITES: dict[tuple[int, str], int] = {
    (3, "DB"): 5,
    (14, "MB"): 5,
    (19, "DL"): 5,
    (30, "ML"): 5,
    (31, "DB"): 6,
}
_FLAGGED_SITES: dict[tuple[int, str], BleedingFlags] = {
    (3, "DB"): BleedingFlags.BLOOD,
    (8, "B"): BleedingFlags.PLAQUE,
    (14, "MB"): BleedingFlags.BLOOD | BleedingFlags.CALCULUS,
    (19, "DL"): BleedingFlags.BLOOD,
    (24, "MB"): BleedingFlags.BLOOD,
    (30, "ML"): BleedingFlags.BLOOD | BleedingFlags.PLAQUE,
    (31, "DB"): BleedingFlags.BLOOD | BleedingFlags.SUPPURATION,
}
_PREVIOUS_SKIPPED = (1,)
_PREVIOUS_MOBILITY = {24: 1}


def _depth(tooth: int, index: int) -> int:
    site = SITE_COLUMNS[index]
    if (tooth, site) in _DEEP_SITES:
        return _DEEP_SITES[(tooth, site)]
    if site in ("B", "L"):  # mid-facial / mid-lingual sites are usually shallower
        return 2 + (tooth + index) % 2
    return (2, 3, 3, 4)[(tooth * 3 + index) % 4]


def _sites(values: Iterable[int]) -> tuple[int, int, int, int, int, int]:
    v = tuple(values)
    return (v[0], v[1], v[2], v[3], v[4], v[5])


def demo_previous_chart() -> tuple[MeasureRow, ...]:
    """James Carter's previous exam, as stored: probing (2–4, four 5s, one 6) and flags on teeth 2–32,
    mobility 1 on tooth 24, tooth 1 skipped (a skipped tooth carries no measurements)."""
    charted = [t for t in range(1, 33) if t not in _PREVIOUS_SKIPPED]
    rows = [
        MeasureRow(SequenceType.PROBING, t, sites=_sites(_depth(t, i) for i in range(6))) for t in charted
    ]
    rows += [
        MeasureRow(
            SequenceType.BLEED_SUP_PLAQ_CALC,
            t,
            sites=_sites(int(_FLAGGED_SITES.get((t, s), BleedingFlags.NONE)) for s in SITE_COLUMNS),
        )
        for t in charted
    ]
    rows += [MeasureRow(SequenceType.MOBILITY, t, tooth_value=v) for t, v in _PREVIOUS_MOBILITY.items()]
    rows += [MeasureRow(SequenceType.SKIP_TOOTH, t, tooth_value=1) for t in _PREVIOUS_SKIPPED]
    return tuple(sorted(rows, key=lambda m: (int(m.sequence_type), m.tooth)))


# --- public API ---


def seed_demo(engine: sa.Engine, today: dt.date) -> DemoSummary:
    """Add the demo data to a sandbox created with ``create_sandbox``; idempotent.

    The providers, operatories, patients, user and James Carter's previous exam (dated `today` − 182 days) are
    added once. Today's four scheduled appointments are added if the demo patients have none on `today`, so a
    sandbox seeded yesterday gets today's schedule. Raises PmsError if the database is not a sandbox or if the
    fixed demo keys are taken by other rows.
    """
    with engine.begin() as conn:
        if not is_sandbox(conn):
            raise PmsError("This database is not a voicechart sandbox PMS; run create_sandbox on it first.")
        created = False
        if not _demo_present(conn):
            _require_free_keys(conn)
            _insert_people_and_places(conn, today)
            _insert_previous_exam(conn, today - dt.timedelta(days=PREVIOUS_EXAM_AGE_DAYS))
            created = True
        appointments = _demo_appointments_on(conn, today)
        if not appointments:
            appointments = _insert_appointments(conn, today)
            created = True
        first_exam = sa.func.min(perioexam.c.PerioExamNum)
        previous_exam = conn.execute(
            sa.select(first_exam).where(perioexam.c.PatNum == PREVIOUS_EXAM_PATIENT)
        ).scalar()
    if created:
        _log.info("seeded sandbox demo data for %s", today.isoformat())
    return DemoSummary(
        created=created,
        dentist=DENTIST_PROV_NUM,
        hygienist=HYGIENIST_PROV_NUM,
        user_num=VOICECHART_USER_NUM,
        operatories=OPERATORY_NUMS,
        patients=tuple(p.pat_num for p in DEMO_PATIENTS),
        appointments=appointments,
        previous_exam=int(previous_exam or 0),
    )


def add_patient(
    engine: sa.Engine,
    *,
    first_name: str,
    last_name: str,
    missing_teeth: Iterable[int] = (),
    hidden_teeth: Iterable[int] = (),
    pri_prov: int = DENTIST_PROV_NUM,
    birthdate: dt.date | None = None,
) -> int:
    """Add a sandbox patient (their own guarantor) with teeth marked Missing/Hidden; returns the PatNum."""
    missing, hidden = tuple(missing_teeth), tuple(hidden_teeth)
    for tooth in (*missing, *hidden):
        if not 1 <= tooth <= 32:
            raise PmsError(f"Tooth {tooth} is not a permanent tooth (Universal numbers 1–32).")
    with engine.begin() as conn:
        if not is_sandbox(conn):
            raise PmsError("This database is not a voicechart sandbox PMS; refusing to add a patient.")
        values = _patient_values(first_name, last_name, pri_prov, birthdate, dt.date.today())
        pat_num = inserted_key(conn.execute(sa.insert(patient).values(**values)))
        conn.execute(sa.update(patient).where(patient.c.PatNum == pat_num).values(Guarantor=pat_num))
        _insert_tooth_initials(conn, pat_num, missing, hidden)
    _log.info("added sandbox patient %d", pat_num)
    return pat_num


# --- internals ---


def _demo_present(conn: sa.Connection) -> bool:
    abbr = conn.execute(sa.select(provider.c.Abbr).where(provider.c.ProvNum == DENTIST_PROV_NUM)).scalar()
    return abbr == "DDS1"


def _require_free_keys(conn: sa.Connection) -> None:
    checks = (
        (provider.c.ProvNum, (DENTIST_PROV_NUM, HYGIENIST_PROV_NUM), "ProvNum"),
        (operatory.c.OperatoryNum, OPERATORY_NUMS, "OperatoryNum"),
        (patient.c.PatNum, tuple(p.pat_num for p in DEMO_PATIENTS), "PatNum"),
        (userod.c.UserNum, (VOICECHART_USER_NUM,), "UserNum"),
    )
    for column, keys, name in checks:
        taken = conn.execute(sa.select(column).where(column.in_(keys))).scalars().first()
        if taken is not None:
            raise PmsError(f"Cannot add the demo data: {name} {taken} is already used by other data.")


def _insert_people_and_places(conn: sa.Connection, today: dt.date) -> None:
    conn.execute(
        sa.insert(provider),
        [
            {
                "ProvNum": DENTIST_PROV_NUM,
                "Abbr": "DDS1",
                "ItemOrder": 0,
                "LName": "Reyes",
                "FName": "Dana",
                "Suffix": "DDS",
                "IsSecondary": 0,
            },
            {
                "ProvNum": HYGIENIST_PROV_NUM,
                "Abbr": "RDH1",
                "ItemOrder": 1,
                "LName": "Ito",
                "FName": "Sam",
                "Suffix": "RDH",
                "IsSecondary": 1,
            },
        ],
    )
    conn.execute(
        sa.insert(operatory),
        [
            _operatory(1, ProvDentist=DENTIST_PROV_NUM),
            _operatory(2, ProvDentist=DENTIST_PROV_NUM),
            _operatory(3, ProvHygienist=HYGIENIST_PROV_NUM, IsHygiene=1),
        ],
    )
    conn.execute(sa.insert(userod).values(UserNum=VOICECHART_USER_NUM, UserName="voicechart"))
    for p in DEMO_PATIENTS:
        values = _patient_values(p.first_name, p.last_name, DENTIST_PROV_NUM, p.birthdate, today)
        conn.execute(
            sa.insert(patient).values(
                **values, PatNum=p.pat_num, Guarantor=p.pat_num, Gender=p.gender, SecProv=HYGIENIST_PROV_NUM
            )
        )
        _insert_tooth_initials(conn, p.pat_num, p.missing_teeth, p.hidden_teeth)


def _operatory(num: int, **values: int) -> dict[str, Any]:
    defaults = {"ProvDentist": 0, "ProvHygienist": 0, "IsHygiene": 0}
    return (
        {"OperatoryNum": num, "OpName": f"Op {num}", "Abbrev": f"Op{num}", "ItemOrder": num - 1}
        | defaults
        | values
    )


def _patient_values(
    first_name: str, last_name: str, pri_prov: int, birthdate: dt.date | None, entry_date: dt.date
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "FName": first_name,
        "LName": last_name,
        "PriProv": pri_prov,
        "PatStatus": 0,  # Patient
        "SecUserNumEntry": VOICECHART_USER_NUM,
        "SecDateEntry": entry_date,
    }
    if birthdate is not None:
        values["Birthdate"] = birthdate
    return values


def _insert_tooth_initials(
    conn: sa.Connection, pat_num: int, missing: Iterable[int], hidden: Iterable[int]
) -> None:
    rows = [{"PatNum": pat_num, "ToothNum": str(t), "InitialType": MISSING} for t in missing]
    rows += [{"PatNum": pat_num, "ToothNum": str(t), "InitialType": HIDDEN} for t in hidden]
    if rows:
        conn.execute(sa.insert(toothinitial), rows)


def _insert_previous_exam(conn: sa.Connection, exam_date: dt.date) -> None:
    edited = dt.datetime.combine(exam_date, dt.time(10, 40))
    result = conn.execute(
        sa.insert(perioexam).values(
            PatNum=PREVIOUS_EXAM_PATIENT,
            ExamDate=exam_date,
            ProvNum=DENTIST_PROV_NUM,
            DateTMeasureEdit=edited,
            Note="",
        )
    )
    exam_num = inserted_key(result)
    conn.execute(
        sa.insert(periomeasure),
        [
            {
                "PerioExamNum": exam_num,
                "SequenceType": int(m.sequence_type),
                "IntTooth": m.tooth,
                "ToothValue": m.tooth_value,
                **dict(zip(SITE_VALUE_COLUMNS, m.sites, strict=True)),
                "SecDateTEntry": edited,
                "SecDateTEdit": edited,
            }
            for m in demo_previous_chart()
        ],
    )


def _day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time())
    return start, start + dt.timedelta(days=1)


def _demo_appointments_on(conn: sa.Connection, day: dt.date) -> tuple[int, ...]:
    start, end = _day_bounds(day)
    nums = conn.execute(
        sa.select(appointment.c.AptNum)
        .where(
            appointment.c.PatNum.in_([p.pat_num for p in DEMO_PATIENTS]),
            appointment.c.AptDateTime >= start,
            appointment.c.AptDateTime < end,
        )
        .order_by(appointment.c.AptDateTime, appointment.c.AptNum)
    ).scalars()
    return tuple(int(n) for n in nums)


def _insert_appointments(conn: sa.Connection, day: dt.date) -> tuple[int, ...]:
    nums = []
    for p in sorted(DEMO_PATIENTS, key=lambda p: p.appointment_time):
        start = dt.datetime.combine(day, p.appointment_time)
        nums.append(_insert_appointment(conn, p.pat_num, p.op_num, start, hygiene=p.op_num == 3))
    return tuple(nums)


def add_operatory_appointment(engine: sa.Engine, op_num: int, pat_num: int, start: dt.datetime) -> int:
    """Add an operatory (if it is not there) and a scheduled appointment of `pat_num` in it at `start`;
    returns the AptNum. For benchmarks and tests with more operatories than the demo's three."""
    with engine.begin() as conn:
        if not is_sandbox(conn):
            raise PmsError("This database is not a voicechart sandbox PMS; refusing to add an appointment.")
        exists = conn.execute(sa.select(operatory.c.OperatoryNum).where(operatory.c.OperatoryNum == op_num))
        if exists.first() is None:
            conn.execute(sa.insert(operatory).values(**_operatory(op_num, ProvHygienist=HYGIENIST_PROV_NUM)))
        return _insert_appointment(conn, pat_num, op_num, start, hygiene=True)


def _insert_appointment(
    conn: sa.Connection, pat_num: int, op_num: int, start: dt.datetime, *, hygiene: bool
) -> int:
    """A scheduled 40-minute appointment with the demo dentist and hygienist; returns the AptNum."""
    result = conn.execute(
        sa.insert(appointment).values(
            PatNum=pat_num,
            AptStatus=APT_SCHEDULED,
            Pattern=DEMO_PATTERN,
            Op=op_num,
            ProvNum=DENTIST_PROV_NUM,
            ProvHyg=HYGIENIST_PROV_NUM,
            AptDateTime=start,
            IsHygiene=int(hygiene),
            Note="",
        )
    )
    return inserted_key(result)
