"""Tables of the sandbox PMS: Open Dental 24.3 table and column names, types and encodings (OPENDENTAL.md §2).

Only the tables and columns voicechart reads or writes are mirrored. Names are spelled exactly as Open Dental
spells them (lower-case tables, PascalCase columns such as ``MBvalue`` and ``Mode_``), so that a query written
against the sandbox also runs against a real Open Dental database for reading.

Like Open Dental, the tables declare no foreign keys and almost every column is NOT NULL with a neutral
default (0, '' or Open Dental's "no date" 0001-01-01). ``TIMESTAMP`` columns that MySQL would update on its
own (``ON UPDATE CURRENT_TIMESTAMP``) are set by the sandbox connector instead: SQLite has no such clause.

The ``preference`` table (PrefName/ValueString, as in Open Dental) carries ``DataBaseVersion`` and a marker
that identifies the database as a voicechart sandbox. ``create_sandbox`` refuses to touch a database that has
Open Dental-like tables but no such marker, and the sandbox connector refuses to write to one.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from voicechart.errors import PmsError

PMS_SCHEMA_VERSION = 2
"""Version of the sandbox's own table layout; stored in ``preference`` under :data:`SANDBOX_MARKER_PREF`."""

OPEN_DENTAL_VERSION = "24.3.0.0"
"""The Open Dental schema version mirrored, stored in ``preference`` as ``DataBaseVersion``."""

SANDBOX_MARKER_PREF = "VoicechartSandboxSchema"
"""PrefName of the row that marks a database as a voicechart sandbox (a real Open Dental never has it)."""

CLINICAL_NOTE_CODE = "Zclin"
"""The sandbox's clinical-note procedure code: the manual's example of Open Dental's pre-configured dummy code
(OPENDENTAL.md §2.8). The real default is unverified; an office sets its own in ``pms.clinical_note_code``."""

NO_DATE = dt.date(1, 1, 1)
"""Open Dental's "no date" value (C# ``DateTime.MinValue``)."""

NO_DATETIME = dt.datetime(1, 1, 1)
"""Open Dental's "no date and time" value."""

_log = logging.getLogger("voicechart.pms")

# --- column types ---

_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""bigint(20) AUTO_INCREMENT on MariaDB; INTEGER PRIMARY KEY (a rowid alias) on SQLite."""

_TINYINT = sa.SmallInteger().with_variant(mysql.TINYINT(), "mysql", "mariadb")
_UTINYINT = sa.SmallInteger().with_variant(mysql.TINYINT(unsigned=True), "mysql", "mariadb")
_TIMESTAMP = sa.DateTime().with_variant(mysql.TIMESTAMP(), "mysql", "mariadb")

metadata = sa.MetaData()
"""All sandbox tables. Use :func:`create_sandbox`, never ``metadata.create_all`` against a real PMS."""


def _pk(name: str) -> sa.Column[int]:
    return sa.Column(name, _PK, primary_key=True, autoincrement=True)


def _num(name: str, *, index: bool = False) -> sa.Column[int]:
    """A bigint(20) foreign-key-like number, 0 when unset."""
    return sa.Column(name, sa.BigInteger(), nullable=False, server_default="0", index=index)


def _tiny(name: str, *, unsigned: bool = False) -> sa.Column[int]:
    return sa.Column(name, _UTINYINT if unsigned else _TINYINT, nullable=False, server_default="0")


def _small(name: str, *, default: int = 0) -> sa.Column[int]:
    return sa.Column(name, sa.SmallInteger(), nullable=False, server_default=str(default))


def _str(name: str, length: int) -> sa.Column[str]:
    return sa.Column(name, sa.String(length), nullable=False, server_default="")


def _text(name: str) -> sa.Column[str]:
    """MySQL TEXT cannot portably carry a server default, so SQLAlchemy applies the default on insert."""
    return sa.Column(name, sa.Text(), nullable=False, default="")


def _date(name: str) -> sa.Column[dt.date]:
    return sa.Column(name, sa.Date(), nullable=False, server_default="0001-01-01")


def _datetime(name: str, *, index: bool = False) -> sa.Column[dt.datetime]:
    return sa.Column(name, sa.DateTime(), nullable=False, server_default="0001-01-01 00:00:00", index=index)


def _timestamp(name: str, *, index: bool = False) -> sa.Column[dt.datetime]:
    """A MySQL ``timestamp``: set on insert by the server; the connector sets it on every change."""
    now = sa.func.current_timestamp()
    return sa.Column(name, _TIMESTAMP, nullable=False, server_default=now, index=index)


# Every table has sqlite_autoincrement=True: SQLite then never reuses a deleted key, like AUTO_INCREMENT.

# --- perio ---

perioexam = sa.Table(
    "perioexam",
    metadata,
    _pk("PerioExamNum"),
    _num("PatNum", index=True),
    _date("ExamDate"),
    _num("ProvNum"),
    _datetime("DateTMeasureEdit"),
    _text("Note"),
    sqlite_autoincrement=True,
)

periomeasure = sa.Table(
    "periomeasure",
    metadata,
    _pk("PerioMeasureNum"),
    _num("PerioExamNum", index=True),
    _tiny("SequenceType", unsigned=True),
    _small("IntTooth"),
    _small("ToothValue", default=-1),
    _small("MBvalue", default=-1),
    _small("Bvalue", default=-1),
    _small("DBvalue", default=-1),
    _small("MLvalue", default=-1),
    _small("Lvalue", default=-1),
    _small("DLvalue", default=-1),
    _datetime("SecDateTEntry", index=True),
    _timestamp("SecDateTEdit", index=True),
    sqlite_autoincrement=True,
)

SITE_VALUE_COLUMNS: tuple[str, ...] = ("MBvalue", "Bvalue", "DBvalue", "MLvalue", "Lvalue", "DLvalue")
"""periomeasure's six site columns, in the order of ``records.SITE_COLUMNS``."""

toothinitial = sa.Table(
    "toothinitial",
    metadata,
    _pk("ToothInitialNum"),
    _num("PatNum", index=True),
    _str("ToothNum", 2),
    _tiny("InitialType"),
    sqlite_autoincrement=True,
)

# --- people and places ---

patient = sa.Table(
    "patient",
    metadata,
    _pk("PatNum"),
    _str("LName", 100),
    _str("FName", 100),
    _str("MiddleI", 100),
    _str("Preferred", 100),
    _tiny("PatStatus"),
    _tiny("Gender"),
    _date("Birthdate"),
    _str("SSN", 100),
    _str("HmPhone", 30),
    _str("WirelessPhone", 30),
    _str("Email", 100),
    _num("Guarantor", index=True),
    _num("PriProv"),
    _num("SecProv"),
    _str("ChartNumber", 100),
    _num("ClinicNum"),
    _timestamp("DateTStamp"),
    _num("SecUserNumEntry"),
    _date("SecDateEntry"),
    _str("SecurityHash", 255),
    # Added with the API's POST /patients (schema version 2): the fields of its documented example.
    _tiny("Position"),
    _str("Address", 100),
    _str("Address2", 100),
    _str("City", 100),
    _str("State", 100),
    _str("Zip", 100),
    _str("WkPhone", 30),
    _str("Language", 100),
    _tiny("TxtMsgOk"),
    _tiny("PreferConfirmMethod"),
    _tiny("PreferContactMethod"),
    _tiny("PreferRecallMethod"),
    _date("DateFirstVisit"),
    _num("EmployerNum"),
    sqlite_autoincrement=True,
)

provider = sa.Table(
    "provider",
    metadata,
    _pk("ProvNum"),
    _str("Abbr", 255),
    _small("ItemOrder"),
    _str("LName", 100),
    _str("FName", 100),
    _str("MI", 100),
    _str("Suffix", 100),
    _tiny("IsSecondary"),
    _tiny("IsHidden"),
    _str("NationalProvID", 255),
    _tiny("ProvStatus"),
    _timestamp("DateTStamp"),
    _date("DateTerm"),
    _str("PreferredName", 100),
    sqlite_autoincrement=True,
)

operatory = sa.Table(
    "operatory",
    metadata,
    _pk("OperatoryNum"),
    _str("OpName", 255),
    _str("Abbrev", 255),
    _small("ItemOrder"),
    _tiny("IsHidden"),
    _num("ProvDentist"),
    _num("ProvHygienist"),
    _tiny("IsHygiene"),
    _num("ClinicNum"),
    _timestamp("DateTStamp"),
    _tiny("SetProspective"),
    _tiny("IsWebSched"),
    _tiny("IsNewPatAppt"),
    _num("OperatoryType"),
    sqlite_autoincrement=True,
)

appointment = sa.Table(
    "appointment",
    metadata,
    _pk("AptNum"),
    _num("PatNum", index=True),
    _tiny("AptStatus"),
    _str("Pattern", 255),
    _num("Confirmed"),
    _num("Op"),
    _text("Note"),
    _num("ProvNum"),
    _num("ProvHyg"),
    _datetime("AptDateTime", index=True),
    _tiny("IsHygiene"),
    _num("ClinicNum"),
    _timestamp("DateTStamp"),
    _datetime("DateTimeArrived"),
    _datetime("DateTimeSeated"),
    _datetime("DateTimeDismissed"),
    _num("AppointmentTypeNum"),
    _tiny("Priority"),
    _str("SecurityHash", 255),
    sqlite_autoincrement=True,
)

userod = sa.Table(
    "userod",
    metadata,
    _pk("UserNum"),
    _str("UserName", 255),
    _str("Password", 255),
    _num("EmployeeNum"),
    _num("ClinicNum"),
    _num("ProvNum"),
    _tiny("IsHidden"),
    _num("UserGroupNum"),
    _datetime("DateTLastLogin"),
    sqlite_autoincrement=True,
)

# --- notes and audit ---

procedurelog = sa.Table(
    "procedurelog",
    metadata,
    _pk("ProcNum"),
    _num("PatNum", index=True),
    _num("AptNum", index=True),
    _date("ProcDate"),
    sa.Column("ProcFee", sa.Double(), nullable=False, server_default="0"),
    _str("Surf", 10),
    _str("ToothNum", 2),
    _tiny("ProcStatus"),
    _num("ProvNum"),
    _num("ClinicNum"),
    _num("CodeNum", index=True),
    _date("DateEntryC"),
    _timestamp("DateTStamp"),
    _num("SecUserNumEntry"),
    _datetime("SecDateEntry"),
    sqlite_autoincrement=True,
)

procedurecode = sa.Table(
    "procedurecode",
    metadata,
    _pk("CodeNum"),
    _str("ProcCode", 15),
    _str("Descript", 255),
    _str("AbbrDesc", 50),
    sqlite_autoincrement=True,
)

procnote = sa.Table(
    "procnote",
    metadata,
    _pk("ProcNoteNum"),
    _num("PatNum", index=True),
    _num("ProcNum", index=True),
    _datetime("EntryDateTime"),
    _num("UserNum", index=True),
    _text("Note"),
    _tiny("SigIsTopaz"),
    _text("Signature"),
    sqlite_autoincrement=True,
)

commlog = sa.Table(
    "commlog",
    metadata,
    _pk("CommlogNum"),
    _num("PatNum", index=True),
    _datetime("CommDateTime", index=True),
    _num("CommType"),
    _text("Note"),
    _tiny("Mode_"),
    _tiny("SentOrReceived"),
    _num("UserNum"),
    _text("Signature"),
    _tiny("SigIsTopaz"),
    _timestamp("DateTStamp"),
    _datetime("DateTimeEnd"),
    _tiny("CommSource"),
    _num("ProgramNum"),
    _datetime("DateTEntry"),
    _num("ReferralNum"),
    _tiny("CommReferralBehavior"),
    sqlite_autoincrement=True,
)

securitylog = sa.Table(
    "securitylog",
    metadata,
    _pk("SecurityLogNum"),
    _small("PermType"),
    _num("UserNum"),
    _datetime("LogDateTime", index=True),
    _text("LogText"),
    _num("PatNum", index=True),
    _str("CompName", 255),
    _num("FKey"),
    _tiny("LogSource"),
    _num("DefNum"),
    _num("DefNumError"),
    _datetime("DateTPrevious"),
    sqlite_autoincrement=True,
)

preference = sa.Table(
    "preference",
    metadata,
    _pk("PrefNum"),
    _str("PrefName", 255),
    _text("ValueString"),
    _text("Comments"),
    sqlite_autoincrement=True,
)

_OPEN_DENTAL_TABLES = frozenset(t.name for t in metadata.sorted_tables)


def create_sandbox(engine: sa.Engine) -> None:
    """Create the sandbox PMS tables that are missing, and mark the database as a voicechart sandbox.

    This is for the **sandbox** only — an empty database (or an SQLite file) that voicechart owns. It must
    never be pointed at a real Open Dental database: voicechart does not create or alter tables in a real
    PMS. As a guard, it raises :class:`~voicechart.errors.PmsError` when the database already holds any of
    these tables but no sandbox marker, or a marker of another sandbox schema version. Running it again on a
    sandbox is harmless.
    """
    with engine.begin() as conn:
        existing = set(sa.inspect(conn).get_table_names()) & _OPEN_DENTAL_TABLES
        marker = _read_marker(conn) if "preference" in existing else None
        if existing and marker is None:
            raise PmsError(
                "This database has Open Dental tables but is not a voicechart sandbox; refusing to change "
                "it. Point the sandbox at an empty database."
            )
        if marker is not None and marker != str(PMS_SCHEMA_VERSION):
            if not marker.isdigit() or int(marker) > PMS_SCHEMA_VERSION:
                raise PmsError(
                    f"The sandbox database has schema version {marker}, this voicechart needs "
                    f"{PMS_SCHEMA_VERSION}. Recreate the sandbox (it holds demo data only)."
                )
            _add_missing_columns(conn)
            conn.execute(
                preference.update()
                .where(preference.c.PrefName == SANDBOX_MARKER_PREF)
                .values(ValueString=str(PMS_SCHEMA_VERSION))
            )
            _log.info("upgraded the sandbox from schema version %s to %d", marker, PMS_SCHEMA_VERSION)
        metadata.create_all(conn, checkfirst=True)
        has_note_code = conn.execute(
            sa.select(procedurecode.c.CodeNum).where(procedurecode.c.ProcCode == CLINICAL_NOTE_CODE)
        ).first()
        if has_note_code is None:
            conn.execute(
                procedurecode.insert().values(
                    ProcCode=CLINICAL_NOTE_CODE, Descript="Clinical Note", AbbrDesc="ClinNote"
                )
            )
        if marker is None:
            conn.execute(
                preference.insert(),
                [
                    {"PrefName": "DataBaseVersion", "ValueString": OPEN_DENTAL_VERSION},
                    {"PrefName": SANDBOX_MARKER_PREF, "ValueString": str(PMS_SCHEMA_VERSION)},
                ],
            )
            _log.info("created sandbox PMS tables (schema version %d)", PMS_SCHEMA_VERSION)


def is_sandbox(conn: sa.Connection) -> bool:
    """True if the database behind `conn` carries the voicechart sandbox marker."""
    if not sa.inspect(conn).has_table("preference"):
        return False
    return _read_marker(conn) is not None


def inserted_key(result: sa.CursorResult[Any]) -> int:
    """The AUTO_INCREMENT key of the row a single-row INSERT added."""
    key = result.inserted_primary_key
    if key is None or key[0] is None:
        raise PmsError("The sandbox PMS database did not return the new row's key.")
    return int(key[0])


def _add_missing_columns(conn: sa.Connection) -> None:
    """An older sandbox gains the columns added since (every sandbox schema change so far only adds)."""
    inspector = sa.inspect(conn)
    for table in metadata.sorted_tables:
        if not inspector.has_table(table.name):
            continue
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present:
                ddl = sa.schema.CreateColumn(column).compile(dialect=conn.dialect)
                conn.execute(sa.text(f"ALTER TABLE {table.name} ADD COLUMN {ddl}"))


def _read_marker(conn: sa.Connection) -> str | None:
    value = conn.execute(
        sa.select(preference.c.ValueString).where(preference.c.PrefName == SANDBOX_MARKER_PREF)
    ).scalar()
    return None if value is None else str(value)
