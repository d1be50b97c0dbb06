"""The in-process connector to the sandbox PMS: Open Dental's tables in SQLite or MariaDB (schema.py).

It implements :class:`voicechart.pms.connector.PmsConnector` the way Open Dental itself behaves
(OPENDENTAL.md §3.5–3.6): new exams get the patient's primary provider and the skipped teeth of the latest
earlier exam (else the missing teeth from ``toothinitial``); updating a measure removes duplicate rows for the
same (exam, sequence type, tooth); ``perioexam.DateTMeasureEdit`` is touched whenever an exam changes.

Writes are refused unless the database carries the sandbox marker (schema.create_sandbox), because Open
Dental forbids third-party writes to its database (OPENDENTAL.md §1). Reads work on any Open Dental-shaped
database.
Logs carry numbers only (PatNum, PerioExamNum, tooth), never names or note text.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any

import sqlalchemy as sa

from voicechart.errors import ConfigError, PatientNotFound, PmsError, PmsUnavailable
from voicechart.pms.records import (
    BLANK,
    SCHEDULED_STATUSES,
    SITE_COLUMNS,
    Appointment,
    ExamRecord,
    MeasureRow,
    Patient,
    SequenceType,
    appointment_now,
    provider_display_name,
)
from voicechart.pms.sandbox.schema import (
    CLINICAL_NOTE_CODE,
    NO_DATE,
    SITE_VALUE_COLUMNS,
    appointment,
    inserted_key,
    is_sandbox,
    patient,
    perioexam,
    periomeasure,
    procedurecode,
    procedurelog,
    procnote,
    provider,
    securitylog,
    toothinitial,
)

_log = logging.getLogger("voicechart.pms")

PERM_PERIO_EDIT = 45
"""securitylog.PermType EnumPermType.PerioEdit."""

LOG_SOURCE_NONE = 0
"""securitylog.LogSource None (a user action, not HL7/FHIR/API)."""

COMP_NAME = "voicechart"
"""securitylog.CompName written by voicechart."""

_MISSING_INITIAL_TYPES = (0, 1)  # toothinitial.InitialType Missing, Hidden
_VALUE_COLUMNS: tuple[str, ...] = ("ToothValue", *SITE_VALUE_COLUMNS)
_MYSQL_UNAVAILABLE_CODES = frozenset({1040, 1045, 1049, 1205, 1213})
"""Too many connections, access denied, unknown database, lock wait timeout, deadlock (and all 2xxx)."""
_SQLITE_UNAVAILABLE = ("unable to open database file", "database is locked", "disk i/o error")
_NO_TABLE = ("no such table", "doesn't exist")


def _now() -> dt.datetime:
    return dt.datetime.now()


class SandboxConnector:
    """PmsConnector over the sandbox PMS database.

    Args:
        engine: an engine on a database prepared with ``create_sandbox`` (SQLite or MariaDB/MySQL).
        user_num: ``userod.UserNum`` recorded in ``securitylog`` rows (0 = none).
        clock: the PMS server's clock; returns naive local time (Open Dental uses server time). Tests pass a
            fixed clock. Microseconds are dropped, as MariaDB ``datetime`` columns keep none.
    """

    def __init__(
        self,
        engine: sa.Engine,
        *,
        user_num: int = 0,
        clock: Callable[[], dt.datetime] = _now,
        clinical_note_code: str = CLINICAL_NOTE_CODE,
        read_only: bool = False,
    ) -> None:
        self._engine = engine
        self._user_num = user_num
        self._clock = clock
        self._owns_engine = False
        self._sandbox_checked = False
        self.clinical_note_code = clinical_note_code
        self.read_only = read_only  # a reader of a real Open Dental database: never writes

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        user_num: int = 0,
        clinical_note_code: str = CLINICAL_NOTE_CODE,
        read_only: bool = False,
    ) -> SandboxConnector:
        """A connector that owns a new engine for `url` (``sqlite:///path.db``, ``mysql+pymysql://…``).

        ``close()`` disposes the engine. Nothing is connected until the first call.
        """
        try:
            parsed = sa.make_url(url)
        except sa.exc.ArgumentError:
            raise ConfigError("The sandbox PMS URL is not a valid database URL.") from None
        try:
            engine = sa.create_engine(parsed, pool_pre_ping=True, hide_parameters=True)
        except sa.exc.NoSuchModuleError:
            raise ConfigError(f"Unsupported database in the sandbox PMS URL: {parsed.drivername!r}") from None
        except ModuleNotFoundError as exc:
            raise ConfigError(
                f"The sandbox PMS URL ({parsed.drivername}) needs the Python package {exc.name!r}."
            ) from None
        connector = cls(engine, user_num=user_num, clinical_note_code=clinical_note_code, read_only=read_only)
        connector._owns_engine = True
        return connector

    # --- PmsConnector: reads ---

    def get_patient(self, pat_num: int) -> Patient:
        """The patient with this PatNum, or raise PatientNotFound."""
        with self._read() as conn:
            row = _patient_row(conn, pat_num, lock=False)
        birthdate: dt.date = row.Birthdate
        return Patient(
            pat_num=int(row.PatNum),
            first_name=str(row.FName),
            last_name=str(row.LName),
            pri_prov=int(row.PriProv),
            birthdate=None if birthdate is None or birthdate <= NO_DATE else birthdate,
        )

    def provider_names(self) -> dict[int, str]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(provider.c.ProvNum, provider.c.FName, provider.c.LName, provider.c.Abbr)
            )
            return {int(r.ProvNum): provider_display_name(r.FName, r.LName, r.Abbr) for r in rows}

    def appointment_in_operatory(self, operatory: int, at: dt.datetime) -> Appointment | None:
        day = dt.datetime.combine(at.date(), dt.time())
        with self._read() as conn:
            rows = conn.execute(
                sa.select(appointment).where(
                    appointment.c.Op == operatory,
                    appointment.c.AptDateTime >= day,
                    appointment.c.AptDateTime < day + dt.timedelta(days=1),
                    appointment.c.AptStatus.in_(SCHEDULED_STATUSES),
                )
            ).all()
        return appointment_now(
            [
                Appointment(
                    apt_num=int(r.AptNum),
                    pat_num=int(r.PatNum),
                    operatory=int(r.Op),
                    start=r.AptDateTime,
                    minutes=5 * len(r.Pattern),
                    prov_num=int(r.ProvNum),
                    prov_hyg=int(r.ProvHyg),
                )
                for r in rows
            ],
            at,
        )

    def missing_teeth(self, pat_num: int) -> frozenset[int]:
        """Universal numbers 1–32 marked Missing or Hidden in toothinitial (primary teeth are ignored)."""
        with self._read() as conn:
            return _missing_teeth(conn, pat_num)

    def previous_exam(self, pat_num: int, before: dt.date) -> ExamRecord | None:
        """The patient's latest exam dated before `before` (the newest if several share a date), or None."""
        with self._read() as conn:
            exam_num = _latest_exam_before(conn, pat_num, before)
            return None if exam_num is None else _load_exam(conn, exam_num)

    def exams_for_patient(self, pat_num: int) -> list[ExamRecord]:
        """All of the patient's exams with their measures, oldest first (by ExamDate, then PerioExamNum)."""
        with self._read() as conn:
            rows = conn.execute(
                sa.select(perioexam)
                .where(perioexam.c.PatNum == pat_num)
                .order_by(perioexam.c.ExamDate, perioexam.c.PerioExamNum)
            ).all()
            measures = _measures_by_exam(conn, [int(r.PerioExamNum) for r in rows])
        return [_exam_record(r, measures.get(int(r.PerioExamNum), ())) for r in rows]

    def same_day_exams(self, exam_num: int) -> list[int]:
        ours = perioexam.alias("ours")
        with self._read() as conn:
            rows = conn.execute(
                sa.select(perioexam.c.PerioExamNum)
                .join(
                    ours,
                    (ours.c.PatNum == perioexam.c.PatNum) & (ours.c.ExamDate == perioexam.c.ExamDate),
                )
                .where(ours.c.PerioExamNum == exam_num, perioexam.c.PerioExamNum != exam_num)
                .order_by(perioexam.c.PerioExamNum)
            ).scalars()
            return [int(n) for n in rows]

    def read_chart(self, exam_num: int) -> dict[SequenceType, dict[int, MeasureRow]]:
        """The exam's measures by sequence type, then tooth. Every SequenceType is a key (possibly empty).

        Where duplicate rows exist for one (type, tooth), the newest row (highest PerioMeasureNum) wins.
        Raises PmsError if there is no such exam.
        """
        with self._read() as conn:
            exam = _load_exam(conn, exam_num)
        chart: dict[SequenceType, dict[int, MeasureRow]] = {st: {} for st in SequenceType}
        for m in exam.measures:
            if (
                not m.records_nothing()
            ):  # e.g. the all-zero flag rows Open Dental saves with every probing row
                chart[m.sequence_type][m.tooth] = m
        return chart

    # --- PmsConnector: writes ---

    def open_exam(self, pat_num: int, exam_date: dt.date) -> ExamRecord:
        """Resume the patient's exam dated `exam_date` (the newest if several), or create it like Open Dental.

        A new exam gets ProvNum = the patient's PriProv, DateTMeasureEdit = now, and SkipTooth rows copied
        from the latest exam dated before `exam_date`; if there is none, from the teeth marked Missing or
        Hidden in toothinitial (Open Dental's PerioSkipMissingTeeth behaviour; implants are not considered).
        A securitylog row (PerioEdit, "Perio exam created") records the creation.
        """
        with self._write() as conn:
            pat = _patient_row(conn, pat_num, lock=True)
            exam_num = conn.execute(
                sa.select(perioexam.c.PerioExamNum)
                .where(perioexam.c.PatNum == pat_num, perioexam.c.ExamDate == exam_date)
                .order_by(perioexam.c.PerioExamNum.desc())
                .limit(1)
            ).scalar()
            if exam_num is None:
                exam_num = self._create_exam(conn, pat_num, int(pat.PriProv), exam_date)
            else:
                _log.info("resuming perio exam %d for patient %d", exam_num, pat_num)
            return _load_exam(conn, int(exam_num))

    def upsert_measure(self, exam_num: int, row: MeasureRow) -> None:
        """Make the exam's (sequence type, tooth) row equal `row`, in one transaction.

        Inserts, updates (deleting any duplicate rows for the key, as Open Dental's PerioMeasures.Update
        does) or deletes: a Mobility row without a value, a SkipTooth row whose ToothValue is not 1, and any
        other row whose six site values are all -1 mean "no row". BleedSupPlaqCalc sites given as -1 are
        stored as 0, as Open Dental saves them. Values are validated first (see :func:`validate_measure`); on
        error nothing is written. Repeating a call changes nothing, not even timestamps. Raises PmsError if
        the exam does not exist.
        """
        validate_measure(row)
        desired = stored_values(row)
        seq = SequenceType(row.sequence_type)
        now = self._now()
        with self._write() as conn:
            _lock_exam(conn, exam_num)
            action = _apply_measure(conn, exam_num, seq, row.tooth, desired, now)
            if action:
                _touch_exam(conn, exam_num, now)
                _log.debug("exam %d %s tooth %d: %s", exam_num, seq.name, row.tooth, action)

    def append_exam_note(self, exam_num: int, text: str) -> None:
        """Append `text` to perioexam.Note, after a newline if a note exists; never overwrites.

        Empty or whitespace-only text is ignored. If the note already ends with `text` (a retry of a write
        that did land), nothing changes.
        """
        text = text.strip()
        if not text:
            return
        now = self._now()
        with self._write() as conn:
            _lock_exam(conn, exam_num)
            note = str(
                conn.execute(sa.select(perioexam.c.Note).where(perioexam.c.PerioExamNum == exam_num)).scalar()
                or ""
            )
            if note.rstrip().endswith(text):
                return
            separator = "" if not note or note.endswith("\n") else "\n"
            conn.execute(
                sa.update(perioexam)
                .where(perioexam.c.PerioExamNum == exam_num)
                .values(Note=note + separator + text, DateTMeasureEdit=now)
            )
            _log.debug("exam %d: appended %d characters to the note", exam_num, len(text))

    def write_clinical_note(self, pat_num: int, note_date: dt.date, text: str, *, prov_num: int = 0) -> int:
        """A completed clinical-note procedure dated `note_date` with `text` as its procnote; returns ProcNum.
        If that note is already on a clinical-note procedure of that day (a retry), nothing is written."""
        now = self._now()
        with self._write() as conn:
            pat = _patient_row(conn, pat_num, lock=True)
            code = conn.execute(
                sa.select(procedurecode.c.CodeNum).where(procedurecode.c.ProcCode == self.clinical_note_code)
            ).scalar()
            if code is None:
                raise PmsError(
                    f"The PMS has no procedure code {self.clinical_note_code!r} for clinical notes."
                )
            existing = conn.execute(
                sa.select(procnote.c.ProcNum)
                .join(procedurelog, procedurelog.c.ProcNum == procnote.c.ProcNum)
                .where(
                    procnote.c.PatNum == pat_num,
                    procedurelog.c.CodeNum == code,
                    procedurelog.c.ProcDate == note_date,
                    procnote.c.Note == text,
                )
            ).first()
            if existing is not None:
                return int(existing.ProcNum)
            proc_num = inserted_key(
                conn.execute(
                    sa.insert(procedurelog).values(
                        PatNum=pat_num,
                        ProcDate=note_date,
                        ProcStatus=2,  # C, complete
                        ProvNum=prov_num or int(pat.PriProv),
                        CodeNum=int(code),
                        DateEntryC=now.date(),
                        DateTStamp=now,
                        SecUserNumEntry=self._user_num,
                        SecDateEntry=now,
                    )
                )
            )
            conn.execute(
                sa.insert(procnote).values(
                    PatNum=pat_num, ProcNum=proc_num, EntryDateTime=now, UserNum=self._user_num, Note=text
                )
            )
            _log.info("clinical note procedure %d for patient %d", proc_num, pat_num)
            return proc_num

    def amend_clinical_note(self, pat_num: int, proc_num: int, text: str) -> None:
        with self._write() as conn:
            proc = conn.execute(
                sa.select(procedurelog.c.PatNum).where(procedurelog.c.ProcNum == proc_num)
            ).first()
            if proc is None or int(proc.PatNum) != pat_num:
                raise PmsError(f"procedure {proc_num} is not this patient's")
            newest = conn.execute(
                sa.select(procnote.c.Note)
                .where(procnote.c.ProcNum == proc_num)
                .order_by(procnote.c.ProcNoteNum.desc())
                .limit(1)
            ).scalar()
            if newest == text:
                return
            conn.execute(
                sa.insert(procnote).values(
                    PatNum=pat_num,
                    ProcNum=proc_num,
                    EntryDateTime=self._now(),
                    UserNum=self._user_num,
                    Note=text,
                )
            )
            _log.info("clinical note procedure %d amended", proc_num)

    def close(self) -> None:
        """Dispose of the engine if this connector created it (``from_url``)."""
        if self._owns_engine:
            self._engine.dispose()

    def __enter__(self) -> SandboxConnector:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- internals ---

    def _now(self) -> dt.datetime:
        return self._clock().replace(microsecond=0)

    def _create_exam(self, conn: sa.Connection, pat_num: int, prov_num: int, exam_date: dt.date) -> int:
        now = self._now()
        result = conn.execute(
            sa.insert(perioexam).values(
                PatNum=pat_num, ExamDate=exam_date, ProvNum=prov_num, DateTMeasureEdit=now, Note=""
            )
        )
        exam_num = inserted_key(result)
        source = _latest_exam_before(conn, pat_num, exam_date)
        skipped = _missing_teeth(conn, pat_num) if source is None else _skipped_teeth(conn, source)
        if skipped:
            conn.execute(
                sa.insert(periomeasure),
                [
                    _measure_values(exam_num, SequenceType.SKIP_TOOTH, t, (1, *(BLANK,) * 6), now)
                    for t in sorted(skipped)
                ],
            )
        conn.execute(
            sa.insert(securitylog).values(
                PermType=PERM_PERIO_EDIT,
                UserNum=self._user_num,
                LogDateTime=now,
                LogText="Perio exam created",
                PatNum=pat_num,
                CompName=COMP_NAME,
                LogSource=LOG_SOURCE_NONE,
            )
        )
        _log.info(
            "created perio exam %d for patient %d with %d skipped teeth (from %s)",
            exam_num,
            pat_num,
            len(skipped),
            "toothinitial" if source is None else f"exam {source}",
        )
        return exam_num

    @contextlib.contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with self._guard(), self._engine.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        """A transaction whose first statement should be a lock (_lock_exam / _patient_row(lock=True))."""
        if self.read_only:
            raise PmsError("This connection to the PMS database is read-only; writes go through the API.")
        with self._guard():
            self._require_sandbox()
            with self._engine.begin() as conn:
                yield conn

    def _require_sandbox(self) -> None:
        if self._sandbox_checked:
            return
        with self._engine.connect() as conn:
            sandbox = is_sandbox(conn)
        if not sandbox:
            raise PmsError(
                f"The database at {_where(self._engine.url)} is not a voicechart sandbox PMS; refusing to "
                "write to it. Open Dental must be written through its API."
            )
        self._sandbox_checked = True

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Translate driver errors into PmsError / PmsUnavailable (no SQL, parameters or credentials)."""
        try:
            yield
        except sa.exc.DBAPIError as exc:
            raise _translate(exc, _where(self._engine.url)) from None


# --- validation ---


def _probe_range(v: int) -> bool:
    return v == BLANK or 0 <= v <= 19


def _gm_range(v: int) -> bool:
    return v == BLANK or 0 <= v <= 19 or 101 <= v <= 119


def _flags_range(v: int) -> bool:
    return v == BLANK or 0 <= v <= 15


_SITE_RULES: dict[SequenceType, tuple[Callable[[int], bool], str]] = {
    SequenceType.FURCATION: (_probe_range, "0–19, or -1 for none"),
    SequenceType.GING_MARGIN: (_gm_range, "0–19, 101–119 for +1…+19, or -1 for none"),
    SequenceType.MGJ: (_probe_range, "0–19, or -1 for none"),
    SequenceType.PROBING: (_probe_range, "0–19, or -1 for none"),
    SequenceType.BLEED_SUP_PLAQ_CALC: (_flags_range, "a flag sum 0–15"),
}


def validate_measure(row: MeasureRow) -> None:
    """Raise PmsError unless `row` holds values Open Dental accepts (OPENDENTAL.md §3.3)."""
    try:
        seq = SequenceType(row.sequence_type)
    except ValueError:
        raise PmsError(f"Unknown perio sequence type {row.sequence_type!r}.") from None
    label = seq.api_name
    _check_int(row.tooth, f"{label} tooth number")
    if not 1 <= row.tooth <= 32:
        raise PmsError(f"{label}: tooth {row.tooth} is not a permanent tooth (Universal numbers 1–32).")
    if len(row.sites) != len(SITE_COLUMNS):
        raise PmsError(f"{label} tooth {row.tooth}: expected 6 site values, got {len(row.sites)}.")
    _check_int(row.tooth_value, f"{label} tooth {row.tooth} tooth value")
    for site, value in zip(SITE_COLUMNS, row.sites, strict=True):
        _check_int(value, f"{label} tooth {row.tooth} {site}")
    if seq in (SequenceType.MOBILITY, SequenceType.SKIP_TOOTH):
        _validate_tooth_level(seq, row)
    else:
        _validate_sites(seq, row)


def _check_int(value: object, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise PmsError(f"{what} must be a whole number, not {value!r}.")


def _validate_tooth_level(seq: SequenceType, row: MeasureRow) -> None:
    if any(v != BLANK for v in row.sites):
        raise PmsError(f"{seq.api_name} tooth {row.tooth}: site values must all be -1 (one value per tooth).")
    tv = row.tooth_value
    if seq is SequenceType.MOBILITY and not (tv == BLANK or 0 <= tv <= 19):
        raise PmsError(f"Mobility {tv} on tooth {row.tooth} is out of range (0–19, or -1 for none).")
    if seq is SequenceType.SKIP_TOOTH and tv not in (BLANK, 0, 1):
        raise PmsError(
            f"SkipTooth tooth {row.tooth}: ToothValue must be 1 (skip) or 0/-1 (no skip), not {tv}."
        )


def _validate_sites(seq: SequenceType, row: MeasureRow) -> None:
    if row.tooth_value != BLANK:
        raise PmsError(f"{seq.api_name} tooth {row.tooth}: ToothValue must be -1, not {row.tooth_value}.")
    allowed, description = _SITE_RULES[seq]
    for site, value in zip(SITE_COLUMNS, row.sites, strict=True):
        if not allowed(value):
            raise PmsError(
                f"{seq.api_name} {value} at tooth {row.tooth} {site} is out of range ({description})"
            )
    if seq is SequenceType.MGJ and row.tooth <= 16 and any(v != BLANK for v in row.sites[3:]):
        raise PmsError(f"MGJ tooth {row.tooth}: upper teeth have no palatal MGJ; ML, L and DL must be -1.")


def stored_values(row: MeasureRow) -> tuple[int, ...] | None:
    """(ToothValue, MB, B, DB, ML, L, DL) as Open Dental stores `row`, or None when the row should not exist.

    Assumes `row` passed :func:`validate_measure`.
    """
    seq = SequenceType(row.sequence_type)
    if seq is SequenceType.MOBILITY:
        return None if row.tooth_value == BLANK else (row.tooth_value, *(BLANK,) * 6)
    if seq is SequenceType.SKIP_TOOTH:
        return (1, *(BLANK,) * 6) if row.tooth_value == 1 else None
    if all(v == BLANK for v in row.sites):
        return None
    if seq is SequenceType.BLEED_SUP_PLAQ_CALC:
        return (BLANK, *(0 if v == BLANK else v for v in row.sites))
    return (BLANK, *row.sites)


# --- queries ---


def _patient_row(conn: sa.Connection, pat_num: int, *, lock: bool) -> sa.Row[Any]:
    if lock:
        # A no-op UPDATE takes the patient's row lock on MariaDB and the write lock on SQLite (where it also
        # starts the transaction), so concurrent open_exam calls for one patient run one after the other.
        conn.execute(sa.update(patient).where(patient.c.PatNum == pat_num).values(PriProv=patient.c.PriProv))
    row = conn.execute(sa.select(patient).where(patient.c.PatNum == pat_num)).first()
    if row is None:
        raise PatientNotFound(f"No patient with PatNum {pat_num} in the PMS")
    return row


def _missing_teeth(conn: sa.Connection, pat_num: int) -> frozenset[int]:
    values = conn.execute(
        sa.select(toothinitial.c.ToothNum).where(
            toothinitial.c.PatNum == pat_num, toothinitial.c.InitialType.in_(_MISSING_INITIAL_TYPES)
        )
    ).scalars()
    return frozenset(int(v) for v in values if str(v).isdigit() and 1 <= int(v) <= 32)


def _skipped_teeth(conn: sa.Connection, exam_num: int) -> frozenset[int]:
    values = conn.execute(
        sa.select(periomeasure.c.IntTooth).where(
            periomeasure.c.PerioExamNum == exam_num,
            periomeasure.c.SequenceType == int(SequenceType.SKIP_TOOTH),
            periomeasure.c.ToothValue == 1,
        )
    ).scalars()
    return frozenset(int(v) for v in values if 1 <= int(v) <= 32)


def _latest_exam_before(conn: sa.Connection, pat_num: int, before: dt.date) -> int | None:
    value = conn.execute(
        sa.select(perioexam.c.PerioExamNum)
        .where(perioexam.c.PatNum == pat_num, perioexam.c.ExamDate < before)
        .order_by(perioexam.c.ExamDate.desc(), perioexam.c.PerioExamNum.desc())
        .limit(1)
    ).scalar()
    return None if value is None else int(value)


def _load_exam(conn: sa.Connection, exam_num: int) -> ExamRecord:
    row = conn.execute(sa.select(perioexam).where(perioexam.c.PerioExamNum == exam_num)).first()
    if row is None:
        raise PmsError(f"No perio exam with PerioExamNum {exam_num} in the PMS")
    return _exam_record(row, _measures_by_exam(conn, [exam_num]).get(exam_num, ()))


def _exam_record(row: sa.Row[Any], measures: Iterable[MeasureRow]) -> ExamRecord:
    return ExamRecord(
        exam_num=int(row.PerioExamNum),
        pat_num=int(row.PatNum),
        exam_date=row.ExamDate,
        prov_num=int(row.ProvNum),
        note=str(row.Note or ""),
        measures=tuple(measures),
    )


def _measures_by_exam(conn: sa.Connection, exam_nums: Sequence[int]) -> dict[int, tuple[MeasureRow, ...]]:
    """Measures per exam, sorted by (sequence type, tooth); the newest row wins where duplicates exist."""
    if not exam_nums:
        return {}
    rows = conn.execute(
        sa.select(periomeasure)
        .where(periomeasure.c.PerioExamNum.in_(exam_nums))
        .order_by(periomeasure.c.PerioMeasureNum)
    ).all()
    by_key: dict[tuple[int, int, int], MeasureRow] = {}
    for r in rows:
        measure = _measure_row(r)
        if measure is not None:
            by_key[(int(r.PerioExamNum), int(measure.sequence_type), measure.tooth)] = measure
    result: dict[int, list[MeasureRow]] = {}
    for key in sorted(by_key):
        result.setdefault(key[0], []).append(by_key[key])
    return {exam: tuple(ms) for exam, ms in result.items()}


def _measure_row(r: sa.Row[Any]) -> MeasureRow | None:
    try:
        seq = SequenceType(int(r.SequenceType))
    except ValueError:
        _log.warning("periomeasure %d: unknown SequenceType %s, ignored", r.PerioMeasureNum, r.SequenceType)
        return None
    m = r._mapping
    sites = tuple(int(m[c]) for c in SITE_VALUE_COLUMNS)
    return MeasureRow(
        sequence_type=seq,
        tooth=int(r.IntTooth),
        tooth_value=int(r.ToothValue),
        sites=(sites[0], sites[1], sites[2], sites[3], sites[4], sites[5]),
    )


# --- writes ---


def _lock_exam(conn: sa.Connection, exam_num: int) -> None:
    """Take the exam's write lock (row lock on MariaDB, database write lock on SQLite) without changing it.

    It must be a transaction's first write: the SQLite driver only begins the transaction at the first
    INSERT/UPDATE/DELETE, so reads after it see a state no other writer can change until commit.
    """
    result = conn.execute(
        sa.update(perioexam).where(perioexam.c.PerioExamNum == exam_num).values(ProvNum=perioexam.c.ProvNum)
    )
    if result.rowcount == 0:
        raise PmsError(f"No perio exam with PerioExamNum {exam_num} in the PMS")


def _touch_exam(conn: sa.Connection, exam_num: int, now: dt.datetime) -> None:
    query = sa.update(perioexam).where(perioexam.c.PerioExamNum == exam_num).values(DateTMeasureEdit=now)
    conn.execute(query)


def _apply_measure(
    conn: sa.Connection,
    exam_num: int,
    seq: SequenceType,
    tooth: int,
    desired: tuple[int, ...] | None,
    now: dt.datetime,
) -> str:
    """Bring the key's rows to `desired`; returns what was done ("" if nothing changed)."""
    pm = periomeasure.c
    existing = conn.execute(
        sa.select(pm.PerioMeasureNum, *(pm[c] for c in _VALUE_COLUMNS))
        .where(pm.PerioExamNum == exam_num, pm.SequenceType == int(seq), pm.IntTooth == tooth)
        .order_by(pm.PerioMeasureNum)
    ).all()
    if desired is None:
        if existing:
            _delete_measures(conn, [int(r.PerioMeasureNum) for r in existing])
            return "deleted"
        return ""
    if not existing:
        conn.execute(sa.insert(periomeasure).values(**_measure_values(exam_num, seq, tooth, desired, now)))
        return "inserted"
    keep, duplicates = existing[0], existing[1:]
    action = ""
    if tuple(int(v) for v in tuple(keep)[1:]) != desired:
        conn.execute(
            sa.update(periomeasure)
            .where(pm.PerioMeasureNum == keep.PerioMeasureNum)
            .values(**dict(zip(_VALUE_COLUMNS, desired, strict=True)), SecDateTEdit=now)
        )
        action = "updated"
    if duplicates:
        _delete_measures(conn, [int(r.PerioMeasureNum) for r in duplicates])
        action = f"{action or 'kept'}, {len(duplicates)} duplicate(s) deleted"
    return action


def _delete_measures(conn: sa.Connection, measure_nums: list[int]) -> None:
    conn.execute(sa.delete(periomeasure).where(periomeasure.c.PerioMeasureNum.in_(measure_nums)))


def _measure_values(
    exam_num: int, seq: SequenceType, tooth: int, values: tuple[int, ...], now: dt.datetime
) -> dict[str, Any]:
    return {
        "PerioExamNum": exam_num,
        "SequenceType": int(seq),
        "IntTooth": tooth,
        **dict(zip(_VALUE_COLUMNS, values, strict=True)),
        "SecDateTEntry": now,
        "SecDateTEdit": now,
    }


# --- errors ---


def _where(url: sa.URL) -> str:
    """Where the database is, without user name or password."""
    if url.get_backend_name() == "sqlite":
        return f"SQLite file {url.database}" if url.database else "in-memory SQLite"
    host = url.host or "localhost"
    port = f":{url.port}" if url.port else ""
    return f"{host}{port}/{url.database or ''}"


def _translate(exc: sa.exc.DBAPIError, where: str) -> PmsError:
    reason = str(exc.orig)[:200]
    code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
    lowered = reason.lower()
    if isinstance(exc, sa.exc.OperationalError) and (
        exc.connection_invalidated
        or (isinstance(code, int) and (code >= 2000 or code in _MYSQL_UNAVAILABLE_CODES))
        or any(s in lowered for s in _SQLITE_UNAVAILABLE)
    ):
        return PmsUnavailable(f"The sandbox PMS database at {where} is unavailable: {reason}")
    if any(s in lowered for s in _NO_TABLE):
        return PmsError(
            f"The sandbox PMS database at {where} is missing tables ({reason}); "
            "create it with `voicechart pms init`."
        )
    return PmsError(f"The sandbox PMS database at {where} rejected the request: {reason}")
