"""Open Dental REST API wire format (OPENDENTAL.md §4.1): PascalCase fields, enums as strings, booleans as
"true"/"false", dates "yyyy-MM-dd", datetimes "yyyy-MM-dd HH:mm:ss". Shared by the API connector (client) and
the sandbox's API server, so both speak exactly the same JSON.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from voicechart.errors import PmsRejected
from voicechart.pms.records import BLANK, MeasureRow, SequenceType

DATE_FORMAT = "%Y-%m-%d"
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
NO_DATE = dt.date(1, 1, 1)
NO_DATETIME = dt.datetime(1, 1, 1)
SITE_FIELDS = ("MBvalue", "Bvalue", "DBvalue", "MLvalue", "Lvalue", "DLvalue")
VALUE_FIELDS = ("ToothValue", *SITE_FIELDS)

SEQUENCE_TYPES: dict[int, str] = {st.value: st.api_name for st in SequenceType}
PAT_STATUS = {
    0: "Patient",
    1: "NonPatient",
    2: "Inactive",
    3: "Archived",
    4: "Deleted",
    5: "Deceased",
    6: "Prospective",
}
GENDER = {0: "Male", 1: "Female", 2: "Unknown", 3: "Other"}
APT_STATUS = {
    0: "None",
    1: "Scheduled",
    2: "Complete",
    3: "UnschedList",
    4: "ASAP",
    5: "Broken",
    6: "Planned",
    7: "PtNote",
    8: "PtNoteCompleted",
}
PROC_STATUS = {1: "TP", 2: "C", 3: "EC", 4: "EO", 5: "R", 6: "D", 7: "Cn", 8: "TPi"}
INITIAL_TYPE = {0: "Missing", 1: "Hidden", 2: "Primary", 3: "ShiftM"}
COMM_MODE = {
    0: "None",
    1: "Email",
    2: "Mail",
    3: "Phone",
    4: "In Person",
    5: "Text",
    6: "Email and Text",
    7: "Phone and Text",
    8: "Fax",
}
SENT_OR_RECEIVED = {0: "Neither", 1: "Sent", 2: "Received"}
PROV_STATUS = {0: "Active", 1: "Deleted"}
PERM_TYPE = {
    5: "ChartModule",
    25: "AppointmentCreate",
    27: "AppointmentEdit",
    43: "CommlogEdit",
    45: "PerioEdit",
    106: "PatientCreate",
    108: "PatientEdit",
    193: "CommlogCreate",
    257: "PerioEditCopy",
}
LOG_SOURCE = {0: "None", 3: "HL7", 5: "FHIR", 23: "API"}


def name_of(mapping: dict[int, str], value: int) -> str:
    return mapping.get(int(value), str(int(value)))


def value_of(mapping: dict[int, str], name: object, field: str) -> int:
    """The stored number of an enum string; a 400 for anything else."""
    for number, text in mapping.items():
        if isinstance(name, str) and text.lower() == name.lower():
            return number
    allowed = ", ".join(f'"{t}"' for t in mapping.values())
    raise PmsRejected(f"{field} is invalid. Valid values: {allowed}.")


def fmt_date(value: dt.date | None) -> str:
    return value.strftime(DATE_FORMAT) if value and value > NO_DATE else "0001-01-01"


def fmt_datetime(value: dt.datetime | None) -> str:
    return value.strftime(DATETIME_FORMAT) if value and value > NO_DATETIME else "0001-01-01 00:00:00"


def parse_date(value: object, field: str) -> dt.date:
    try:
        return dt.datetime.strptime(str(value), DATE_FORMAT).date()
    except ValueError:
        raise PmsRejected(f"{field} is not a valid date (yyyy-MM-dd).") from None


def parse_datetime(value: object, field: str) -> dt.datetime:
    try:
        return dt.datetime.strptime(str(value), DATETIME_FORMAT)
    except ValueError:
        raise PmsRejected(f"{field} is not a valid date and time (yyyy-MM-dd HH:mm:ss).") from None


def fmt_bool(value: object) -> str:
    return "true" if value else "false"


def parse_int(value: object, field: str) -> int:
    if isinstance(value, bool):
        raise PmsRejected(f"{field} must be a number.")
    try:
        return int(str(value))
    except ValueError:
        raise PmsRejected(f"{field} must be a number.") from None


def measure_to_wire(exam_num: int, row: MeasureRow) -> dict[str, Any]:
    """The body of POST /periomeasures for a row (every value field, -1 where blank)."""
    body: dict[str, Any] = {
        "PerioExamNum": exam_num,
        "SequenceType": row.sequence_type.api_name,
        "IntTooth": row.tooth,
        "ToothValue": row.tooth_value,
    }
    body.update(zip(SITE_FIELDS, row.sites, strict=True))
    return body


def measure_from_wire(data: dict[str, Any]) -> MeasureRow:
    seq = SequenceType(value_of(SEQUENCE_TYPES, data.get("SequenceType"), "SequenceType"))
    sites = tuple(int(data.get(f, BLANK)) for f in SITE_FIELDS)
    return MeasureRow(
        seq,
        int(data["IntTooth"]),
        int(data.get("ToothValue", BLANK)),
        (sites[0], sites[1], sites[2], sites[3], sites[4], sites[5]),
    )
