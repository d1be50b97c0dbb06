"""Patients POST and PUT of the sandbox API [API:apipatients]: fields, defaults, rules, duplicates.

Documented: LName and FName are required (and cannot be cleared); PatStatus defaults to Patient, Gender to
Unknown, Position to Single; the patient is their own guarantor unless Guarantor is given; only Guarantor or
SuperFamily in one request; Zip is 12345, 12345-1234, 123456789 or A0A 0A0; ChartNumber has at most 15
characters; BillingType is a billing-type definition's ItemName; a deleted patient cannot be modified; a new
patient is compared with existing ones (LName, FName, Birthdate, and email or phone numbers) to prevent
duplicates. Choices where the documentation is silent are marked "sandbox:".
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import sqlalchemy as sa

from voicechart.errors import PmsNotFound, PmsRejected
from voicechart.pms.odapi import wire
from voicechart.pms.sandbox import fields
from voicechart.pms.sandbox.schema import patient, provider

DELETED = 4  # PatientStatus.Deleted
TEXT_FIELDS = (
    "LName",
    "FName",
    "MiddleI",
    "Preferred",
    "SSN",
    "Address",
    "Address2",
    "City",
    "State",
    "Zip",
    "HmPhone",
    "WkPhone",
    "WirelessPhone",
    "Email",
    "ChartNumber",
    "Language",
)
DATE_FIELDS = ("Birthdate", "DateFirstVisit")
KEY_FIELDS = ("Guarantor", "PriProv", "SecProv", "ClinicNum", "EmployerNum")
PHONE_FIELDS = ("HmPhone", "WkPhone", "WirelessPhone")
REQUIRED_NAMES = ("LName", "FName")
CONTACT_METHOD = {
    0: "None",
    1: "DoNotCall",
    2: "HmPhone",
    3: "WkPhone",
    4: "WirelessPh",
    5: "Email",
    6: "SeeNotes",
    7: "Mail",
    8: "TextMessage",
}
"""ContactMethod, numbered in the documented order of its strings."""
ENUM_FIELDS: dict[str, dict[int, str]] = {
    "PatStatus": {n: s for n, s in wire.PAT_STATUS.items() if n != DELETED},  # "Deleted" cannot be set
    "Gender": {0: "Male", 1: "Female", 2: "Unknown"},
    "Position": {0: "Single", 1: "Married", 2: "Child", 3: "Widowed", 4: "Divorced"},
    "TxtMsgOk": {0: "Unknown", 1: "Yes", 2: "No"},
    "PreferConfirmMethod": CONTACT_METHOD,
    "PreferContactMethod": CONTACT_METHOD,
    "PreferRecallMethod": CONTACT_METHOD,
}
NOT_MIRRORED = ("FeeSched", "FamFinUrgNote", "MedicaidID", "Premed", "Ward", "AdmitDate", "SuperFamily")
"""sandbox: documented fields the sandbox does not store; they are accepted and ignored."""
BILLING_TYPE = "Standard Account"
"""sandbox: the only billing type (definition category 4) the sandbox has."""
CHART_NUMBER_MAX = 15
ZIP_FORMAT = re.compile(r"\d{5}(-\d{4})?|\d{9}|[A-Z]\d[A-Z] \d[A-Z]\d")
DEFAULTS = {"PatStatus": 0, "Gender": 2, "Position": 0}


def values_from_body(body: dict[str, Any]) -> dict[str, Any]:
    """The patient columns a POST or PUT body sets, each read and checked by its documented rule."""
    values: dict[str, Any] = {}
    for field, value in body.items():
        if field in TEXT_FIELDS:
            values[field] = fields.text(value, field, patient.c[field])
        elif field in ENUM_FIELDS:
            values[field] = wire.value_of(ENUM_FIELDS[field], value, field)
        elif field in DATE_FIELDS:
            values[field] = wire.parse_date(value, field)
        elif field in KEY_FIELDS:
            values[field] = fields.count(value, field)
        elif field == "BillingType" and value != BILLING_TYPE:
            raise PmsRejected(
                f'BillingType must be the ItemName of a billing type (category 4): "{BILLING_TYPE}".'
            )
    _check_formats(values)
    if "Guarantor" in body and "SuperFamily" in body:
        raise PmsRejected("Only Guarantor or SuperFamily can be set in a single request.")
    for name in REQUIRED_NAMES:
        if name in values and not values[name].strip():
            raise PmsRejected(f"{name} cannot be blank.")
    return values


def require_names(body: dict[str, Any]) -> None:
    for name in REQUIRED_NAMES:
        if name not in body:
            raise PmsRejected(f"{name} is required.")


def new_patient_values(conn: sa.Connection, values: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """`values` with the documented defaults, and the sandbox's default primary provider."""
    return {
        **DEFAULTS,
        "PriProv": _default_provider(conn),
        **values,
        "DateTStamp": now,
        "SecDateEntry": now.date(),
    }


def check_references(conn: sa.Connection, values: dict[str, Any]) -> None:
    """Guarantor must be a patient; PriProv a provider; SecProv a provider or 0 (sandbox: 400 otherwise)."""
    if "Guarantor" in values and _patient_row(conn, values["Guarantor"]) is None:
        raise PmsRejected("Guarantor is invalid.")
    for field in ("PriProv", "SecProv"):
        if field not in values or (field == "SecProv" and values[field] == 0):
            continue
        if not _provider_exists(conn, values[field]):
            raise PmsRejected(f"{field} is invalid.")


def check_guarantor_change(conn: sa.Connection, current: sa.Row[Any], guarantor: int) -> None:
    """ "Guarantor field cannot be updated to a different family member, unless the family's current guarantor
    is the patient being updated." """
    family_head = int(current.Guarantor)
    if guarantor == family_head or family_head == int(current.PatNum):
        return  # unchanged, or the patient being updated is the family's guarantor
    new_head = _patient_row(conn, guarantor)
    if new_head is not None and int(new_head.Guarantor) == family_head:
        raise PmsRejected(
            "Guarantor cannot be updated to a different family member unless the patient being updated is "
            "the family's current guarantor."
        )


def existing_for_update(conn: sa.Connection, pat_num: int) -> sa.Row[Any]:
    row = _patient_row(conn, pat_num)
    if row is None:
        raise PmsNotFound("Patient not found.")
    if int(row.PatStatus) == DELETED:
        raise PmsRejected("A deleted patient cannot be modified through the API.")
    return row


def find_duplicate(conn: sa.Connection, values: dict[str, Any]) -> int | None:
    """The PatNum of an existing patient with the same LName, FName and Birthdate, and the same email or a
    phone number in common.

    sandbox: names compare case-insensitively, phone numbers by their digits; a missing birthdate matches a
    missing birthdate; deleted patients are not compared; a new patient without email or phone numbers has
    nothing to compare and is never a duplicate.
    """
    candidates = conn.execute(
        sa.select(patient).where(
            sa.func.lower(patient.c.LName) == values["LName"].lower(),
            sa.func.lower(patient.c.FName) == values["FName"].lower(),
            patient.c.Birthdate == values.get("Birthdate", wire.NO_DATE),
            patient.c.PatStatus != DELETED,
        )
    ).all()
    email = values.get("Email", "").strip().lower()
    phones = _phone_digits(values)
    for row in candidates:
        same_email = bool(email) and email == row.Email.strip().lower()
        if same_email or phones & _phone_digits(row._mapping):
            return int(row.PatNum)
    return None


def patient_json(r: sa.Row[Any]) -> dict[str, Any]:
    return {
        "PatNum": int(r.PatNum),
        "LName": r.LName,
        "FName": r.FName,
        "MiddleI": r.MiddleI,
        "Preferred": r.Preferred,
        "PatStatus": wire.name_of(wire.PAT_STATUS, r.PatStatus),
        "Gender": wire.name_of(wire.GENDER, r.Gender),
        "Position": wire.name_of(ENUM_FIELDS["Position"], r.Position),
        "Birthdate": wire.fmt_date(r.Birthdate),
        "SSN": r.SSN,
        "Address": r.Address,
        "Address2": r.Address2,
        "City": r.City,
        "State": r.State,
        "Zip": r.Zip,
        "HmPhone": r.HmPhone,
        "WkPhone": r.WkPhone,
        "WirelessPhone": r.WirelessPhone,
        "Guarantor": int(r.Guarantor),
        "Email": r.Email,
        "PriProv": int(r.PriProv),
        "SecProv": int(r.SecProv),
        "BillingType": BILLING_TYPE,
        "ChartNumber": r.ChartNumber,
        "EmployerNum": int(r.EmployerNum),
        "DateFirstVisit": wire.fmt_date(r.DateFirstVisit),
        "ClinicNum": int(r.ClinicNum),
        "PreferConfirmMethod": wire.name_of(CONTACT_METHOD, r.PreferConfirmMethod),
        "PreferContactMethod": wire.name_of(CONTACT_METHOD, r.PreferContactMethod),
        "PreferRecallMethod": wire.name_of(CONTACT_METHOD, r.PreferRecallMethod),
        "Language": r.Language,
        "DateTStamp": wire.fmt_datetime(r.DateTStamp),
        "TxtMsgOk": wire.name_of(ENUM_FIELDS["TxtMsgOk"], r.TxtMsgOk),
        "SecDateEntry": wire.fmt_date(r.SecDateEntry),
    }


def _check_formats(values: dict[str, Any]) -> None:
    zip_code = values.get("Zip", "")
    if zip_code and not ZIP_FORMAT.fullmatch(zip_code):
        raise PmsRejected("Zip must be in format 12345, 12345-1234, or 123456789 (US) or A0A 0A0 (Canada).")
    if len(values.get("ChartNumber", "")) > CHART_NUMBER_MAX:
        raise PmsRejected(f"ChartNumber can be at most {CHART_NUMBER_MAX} characters.")


def _phone_digits(values: Any) -> set[str]:
    digits = ("".join(c for c in str(values.get(f, "")) if c.isdigit()) for f in PHONE_FIELDS)
    return {d for d in digits if d}


def _patient_row(conn: sa.Connection, pat_num: int) -> sa.Row[Any] | None:
    return conn.execute(sa.select(patient).where(patient.c.PatNum == pat_num)).first()


def _provider_exists(conn: sa.Connection, prov_num: int) -> bool:
    return (
        conn.execute(sa.select(provider.c.ProvNum).where(provider.c.ProvNum == prov_num)).first() is not None
    )


def _default_provider(conn: sa.Connection) -> int:
    """sandbox: the primary provider when none is given: the first provider that is not hidden, else 0."""
    first = conn.execute(
        sa.select(provider.c.ProvNum).where(provider.c.IsHidden == 0).order_by(provider.c.ProvNum).limit(1)
    ).scalar()
    return int(first or 0)
