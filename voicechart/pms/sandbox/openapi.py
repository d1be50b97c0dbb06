"""An OpenAPI 3.0 description of the sandbox's Open Dental API (the documented subset it serves), served at
/openapi.json. Open Dental publishes none; this one describes what the sandbox accepts, so that tools (and
schemathesis, in the tests) can exercise it. Request bodies list the fields the sandbox reads; responses are
described by status (200/201 JSON; 400, 401, 404 and 429 with a message)."""

from __future__ import annotations

from typing import Any

INT = {"type": "integer"}
STR = {"type": "string"}
DATE = {"type": "string", "example": "2026-11-30"}
SEQUENCE_TYPES = ["Mobility", "Furcation", "GingMargin", "MGJ", "Probing", "SkipTooth", "BleedSupPlaqCalc"]
VALUES = dict.fromkeys(("ToothValue", "MBvalue", "Bvalue", "DBvalue", "MLvalue", "Lvalue", "DLvalue"), INT)

PATIENT = {
    "LName": STR,
    "FName": STR,
    "MiddleI": STR,
    "Preferred": STR,
    "Birthdate": DATE,
    "Gender": {"type": "string", "enum": ["Male", "Female", "Unknown", "Other"]},
    "PatStatus": STR,
    "PriProv": INT,
    "SecProv": INT,
    "Guarantor": INT,
    "Email": STR,
    "HmPhone": STR,
    "WirelessPhone": STR,
    "Address": STR,
    "City": STR,
    "State": STR,
    "Zip": STR,
}
EXAM = {"PatNum": INT, "ExamDate": DATE, "ProvNum": INT, "Note": STR}
STRINGS = dict.fromkeys(("UpperFacial", "UpperLingual", "LowerLingual", "LowerFacial"), STR)
MEASURE = {"PerioExamNum": INT, "SequenceType": {"type": "string", "enum": SEQUENCE_TYPES}, "IntTooth": INT}
PROCEDURE = {"PatNum": INT, "ProcDate": DATE, "ProcStatus": STR, "procCode": STR, "ProvNum": INT}
PROCNOTE = {"PatNum": INT, "ProcNum": INT, "Note": STR, "isSigned": STR, "doAppendNote": STR}
COMMLOG = {
    "PatNum": INT,
    "Note": STR,
    "CommDateTime": STR,
    "Mode_": STR,
    "SentOrReceived": STR,
    "commType": STR,
}
TOOTHINITIAL = {"PatNum": INT, "ToothNum": STR, "InitialType": STR}
PAGING = {"Offset": INT, "Limit": INT}

# path → method → (query parameters, body properties, required body fields)
Operation = tuple[dict[str, Any], dict[str, Any] | None, list[str]]
PATHS: dict[str, dict[str, Operation]] = {
    "/patients": {
        "get": ({**PAGING, "LName": STR, "FName": STR, "PatStatus": STR}, None, []),
        "post": ({}, PATIENT, ["LName", "FName"]),
    },
    "/patients/Simple": {"get": ({**PAGING, "LName": STR, "FName": STR, "PatStatus": STR}, None, [])},
    "/patients/{num}": {"get": ({}, None, []), "put": ({}, PATIENT, [])},
    "/providers": {"get": (PAGING, None, [])},
    "/providers/{num}": {"get": ({}, None, [])},
    "/operatories": {"get": (PAGING, None, [])},
    "/operatories/{num}": {"get": ({}, None, [])},
    "/appointments": {
        "get": (
            {
                **PAGING,
                "PatNum": INT,
                "Op": INT,
                "ClinicNum": INT,
                "AptStatus": STR,
                "date": DATE,
                "dateStart": DATE,
                "dateEnd": DATE,
            },
            None,
            [],
        )
    },
    "/appointments/{num}": {"get": ({}, None, [])},
    "/perioexams": {
        "get": ({**PAGING, "PatNum": INT, "ExamDate": DATE}, None, []),
        "post": ({}, {**EXAM, **STRINGS}, ["PatNum"]),
    },
    "/perioexams/{num}": {
        "get": ({}, None, []),
        "put": ({}, {k: v for k, v in EXAM.items() if k != "PatNum"}, []),
        "delete": ({}, None, []),
    },
    "/periomeasures": {
        "get": ({**PAGING, "PerioExamNum": INT}, None, []),
        "post": ({}, {**MEASURE, **VALUES}, ["PerioExamNum", "SequenceType", "IntTooth"]),
    },
    "/periomeasures/{num}": {"put": ({}, VALUES, []), "delete": ({}, None, [])},
    "/procedurelogs": {
        "get": ({**PAGING, "PatNum": INT}, None, []),
        "post": ({}, PROCEDURE, ["PatNum", "ProcDate", "ProcStatus", "procCode"]),
    },
    "/procnotes": {
        "get": ({**PAGING, "PatNum": INT, "ProcNum": INT}, None, []),
        "post": ({}, PROCNOTE, ["PatNum", "ProcNum", "Note"]),
    },
    "/commlogs": {
        "get": ({**PAGING, "PatNum": INT}, None, []),
        "post": ({}, COMMLOG, ["PatNum", "Note"]),
    },
    "/toothinitials": {
        "get": ({**PAGING, "PatNum": INT}, None, []),
        "post": ({}, TOOTHINITIAL, ["PatNum", "ToothNum", "InitialType"]),
    },
    "/toothinitials/{num}": {"delete": ({}, None, [])},
    "/securitylogs": {"get": (PAGING, None, [])},
}

_MESSAGE = {"description": "A message saying why", "content": {"application/json": {"schema": STR}}}
_JSON: dict[str, Any] = {"application/json": {"schema": {}}}


def _operation(path: str, method: str, op: Operation) -> dict[str, Any]:
    query, body, required = op
    parameters = [{"name": n, "in": "query", "required": False, "schema": s} for n, s in query.items()]
    if "{num}" in path:
        parameters.insert(0, {"name": "num", "in": "path", "required": True, "schema": INT})
    ok = "201" if method == "post" else "200"
    responses: dict[str, Any] = {
        ok: {"description": "Done", "content": _JSON},
        "400": _MESSAGE,
        "401": _MESSAGE,
        "404": _MESSAGE,
        "429": _MESSAGE,
    }
    if method in ("post", "put"):
        responses["413"] = _MESSAGE  # a body over the sandbox's limit
    if method == "delete":
        responses["200"] = {"description": "Deleted"}
    out: dict[str, Any] = {
        "operationId": f"{method}{path.replace('/', '_').replace('{num}', 'num')}",
        "parameters": parameters,
        "responses": responses,
    }
    if body is not None:
        schema: dict[str, Any] = {"type": "object", "properties": body}
        if required:
            schema["required"] = required
        out["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    return out


def openapi(server_url: str = "/api/v1") -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "voicechart sandbox: Open Dental API (documented subset)",
            "version": "1",
            "description": "Paths, fields and status codes as Open Dental documents them; see "
            "docs/opendental-api.md for what the documentation leaves open.",
        },
        "servers": [{"url": server_url}],
        "components": {
            "securitySchemes": {
                "ODFHIR": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "ODFHIR {DeveloperKey}/{CustomerKey}",
                }
            }
        },
        "security": [{"ODFHIR": []}],
        "paths": {
            path: {method: _operation(path, method, op) for method, op in methods.items()}
            for path, methods in PATHS.items()
        },
    }
