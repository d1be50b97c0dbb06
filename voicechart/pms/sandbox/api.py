"""The sandbox's Open Dental API server: the documented subset of Open Dental's REST API over the sandbox.

`voicechart pms serve` runs it (uvicorn). Same paths, PascalCase fields, enum strings, defaults, validation
and status codes as Open Dental documents them (OPENDENTAL.md §4). The header
`Authorization: ODFHIR {developer}/{customer}` is checked against VOICECHART_OD_DEVELOPER_KEY and
VOICECHART_OD_CUSTOMER_KEY; writes leave securitylog rows with LogSource API; `throttle_s` makes it act like
the remote API (one request per second per customer key). Where Open Dental's documentation is silent, the
choice is marked "sandbox:" below.

Logs carry request paths and status codes, never names or note text.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from voicechart.errors import PmsError, PmsNotFound, PmsRejected
from voicechart.pms.odapi import wire
from voicechart.pms.records import BLANK, MeasureRow, SequenceType
from voicechart.pms.sandbox import fields, patients, perio_strings
from voicechart.pms.sandbox.connector import stored_values, validate_measure
from voicechart.pms.sandbox.schema import (
    appointment,
    commlog,
    inserted_key,
    operatory,
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

_log = logging.getLogger("voicechart.pms.api")
PAGE_LIMIT = 100
SMALLINT_MIN, SMALLINT_MAX = -(2**15), 2**15 - 1  # periomeasure value columns are smallint(6)
LOG_SOURCE_API = 23
PERM = {
    "perio": 45,
    "commlog": 193,
    "procedure": 0,
    "toothinitial": 0,
    "patient_create": 106,
    "patient_edit": 108,
}
DELETABLE = (SequenceType.MOBILITY, SequenceType.SKIP_TOOTH)
API_INITIAL_TYPES = {n: s for n, s in wire.INITIAL_TYPE.items() if s in ("Missing", "Hidden", "Primary")}
"""The InitialTypes the API creates and deletes (ToothInitials POST/DELETE)."""
API_COMM_MODES = {n: s for n, s in wire.COMM_MODE.items() if s != "Fax"}
"""The Mode_ values Commlogs POST documents (all but Fax)."""
Handler = Callable[[Request, dict[str, Any]], tuple[int, Any]]


MAX_BODY_BYTES = 1024 * 1024
"""sandbox: the largest request body taken (Open Dental's documentation names no limit; its largest
documented bodies, a full-mouth POST perioexams or a long procnote, are a few kB)."""


async def _bounded_body(request: Request) -> bytes | None:
    """The request's body, or None when it is (or announces itself) larger than MAX_BODY_BYTES; a body
    sent without a length is read only up to the limit."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class SandboxApi:
    """Request handlers over one sandbox database. Thread-safe: each request uses its own transaction."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        developer_key: str,
        customer_key: str,
        developer_name: str = "voicechart sandbox",
        throttle_s: float = 0.0,
        clock: Callable[[], dt.datetime] = dt.datetime.now,
    ) -> None:
        self.engine = engine
        self.keys = (developer_key, customer_key)
        self.developer_name = developer_name
        self.throttle_s = throttle_s
        self.clock = clock
        self._last_request: dict[str, float] = {}
        self._throttle_lock = threading.Lock()

    # --- the app -------------------------------------------------------------------------------------------
    def app(self) -> Starlette:
        r = self._route
        routes = [
            r("/patients", self.list_patients, self.post_patient),
            r("/patients/Simple", self.list_patients),
            r(
                "/patients/{num}",
                self._getter(patient.c.PatNum, "Patient", patients.patient_json),
                None,
                self.put_patient,
            ),
            r("/providers", self.list_providers),
            r("/providers/{num}", self._getter(provider.c.ProvNum, "Provider", _provider_json)),
            r("/operatories", self.list_operatories),
            r("/operatories/{num}", self._getter(operatory.c.OperatoryNum, "Operatory", _operatory_json)),
            r("/appointments", self.list_appointments),
            r(
                "/appointments/{num}",
                self._getter(appointment.c.AptNum, "Appointment", _appointment_json),
            ),
            r("/perioexams", self.list_perioexams, self.post_perioexam),
            r(
                "/perioexams/{num}",
                self._getter(perioexam.c.PerioExamNum, "PerioExam", _exam_json),
                None,
                self.put_perioexam,
                self.delete_perioexam,
            ),
            r("/periomeasures", self.list_periomeasures, self.post_periomeasure),
            r("/periomeasures/{num}", None, None, self.put_periomeasure, self.delete_periomeasure),
            r("/procedurelogs", self.list_procedurelogs, self.post_procedurelog),
            r("/procnotes", self.list_procnotes, self.post_procnote),
            r("/commlogs", self.list_commlogs, self.post_commlog),
            r("/toothinitials", self.list_toothinitials, self.post_toothinitial),
            r("/toothinitials/{num}", None, None, None, self.delete_toothinitial),
            r("/securitylogs", self.list_securitylogs),
            Route("/openapi.json", _openapi_json, methods=["GET"]),  # the description, without keys
        ]
        return Starlette(routes=routes)

    def _route(
        self,
        path: str,
        get: Handler | None = None,
        post: Handler | None = None,
        put: Handler | None = None,
        delete: Handler | None = None,
    ) -> Route:
        handlers = {"GET": get, "POST": post, "PUT": put, "DELETE": delete}
        methods = [m for m, h in handlers.items() if h is not None]

        async def endpoint(request: Request) -> Response:
            denied = self._check_auth(request)
            if denied is not None:
                return denied
            body: dict[str, Any] = {}
            if request.method in ("POST", "PUT"):
                raw = await _bounded_body(request)
                if raw is None:
                    return _error(413, f"The request body is larger than {MAX_BODY_BYTES} bytes.")
                try:
                    parsed = json.loads(raw)
                except (ValueError, RecursionError):  # RecursionError: nested too deep to parse
                    return _error(400, "The request body is not valid JSON.")
                if not isinstance(parsed, dict):
                    return _error(400, "The request body must be a JSON object.")
                body = parsed
            handler = handlers[request.method]
            assert handler is not None
            try:
                status, payload = await _run_sync(handler, request, body)
            except PmsRejected as exc:
                return _error(400, str(exc))
            except PmsNotFound as exc:
                return _error(404, str(exc))
            _log.info("%s %s → %d", request.method, request.url.path, status)
            return JSONResponse(payload, status_code=status)

        return Route(f"/api/v1{path}", endpoint, methods=methods)

    def _check_auth(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        scheme, _, keys = header.partition(" ")
        developer, _, customer = keys.partition("/")
        if scheme != "ODFHIR" or (developer, customer) != self.keys:
            return _error(401, "Invalid Authorization header. Use: ODFHIR {DeveloperKey}/{CustomerKey}.")
        if self.throttle_s > 0:
            with self._throttle_lock:
                now = time.monotonic()
                wait = self._last_request.get(customer, -1e9) + self.throttle_s - now
                if wait > 0:
                    # sandbox: Open Dental does not document the throttled response; 429 + Retry-After
                    response = _error(
                        429, "Too many requests. This API key is limited to 1 request per second."
                    )
                    response.headers["Retry-After"] = f"{max(1, round(wait))}"
                    return response
                self._last_request[customer] = now
        return None

    # --- helpers -------------------------------------------------------------------------------------------
    def _now(self) -> dt.datetime:
        return self.clock().replace(microsecond=0)

    def _log_security(self, conn: sa.Connection, perm: int, pat_num: int, text: str, fkey: int) -> None:
        conn.execute(
            sa.insert(securitylog).values(
                PermType=perm,
                UserNum=0,
                LogDateTime=self._now(),
                LogText=f"{text} by {self.developer_name} through API.",
                PatNum=pat_num,
                CompName="API",
                FKey=fkey,
                LogSource=LOG_SOURCE_API,
            )
        )

    def _page(self, request: Request, query: sa.Select[Any], order: Any) -> list[sa.Row[Any]]:
        offset = _int_param(request, "Offset", 0)
        limit = min(_int_param(request, "Limit", PAGE_LIMIT), PAGE_LIMIT)
        with self.engine.connect() as conn:
            return list(conn.execute(query.order_by(order).offset(offset).limit(limit)).all())

    def _getter(
        self, key: sa.Column[Any], what: str, to_json: Callable[[sa.Row[Any]], dict[str, Any]]
    ) -> Handler:
        """GET /{resource}/{num}: one record by its primary key, or 404 "{what} not found." """

        def get(request: Request, _body: dict[str, Any]) -> tuple[int, Any]:
            query = sa.select(key.table).where(key == fields.path_key(request, key.name))
            return 200, to_json(self._one(query, what))

        return get

    def _one(self, query: sa.Select[Any], what: str) -> sa.Row[Any]:
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise PmsNotFound(f"{what} not found.")
        return row

    # --- patients, providers, operatories, appointments ----------------------------------------------------
    def list_patients(self, request: Request, _body: dict[str, Any]) -> tuple[int, Any]:
        query = sa.select(patient)
        for name in ("LName", "FName"):
            if value := request.query_params.get(name):
                query = query.where(patient.c[name].like(f"{value}%"))
        if value := request.query_params.get("PatStatus"):
            query = query.where(patient.c.PatStatus == wire.value_of(wire.PAT_STATUS, value, "PatStatus"))
        return 200, [patients.patient_json(r) for r in self._page(request, query, patient.c.PatNum)]

    def post_patient(self, _request: Request, body: dict[str, Any]) -> tuple[int, Any]:
        patients.require_names(body)
        values = patients.values_from_body(body)
        now = self._now()
        with self.engine.begin() as conn:
            patients.check_references(conn, values)
            duplicate = patients.find_duplicate(conn, values)
            if duplicate is not None:
                # sandbox: the documentation says only that new patients are compared "to prevent duplicates"
                raise PmsRejected(f"This patient already exists (PatNum {duplicate}).")
            num = inserted_key(
                conn.execute(sa.insert(patient).values(**patients.new_patient_values(conn, values, now)))
            )
            if "Guarantor" not in values:  # the patient is their own guarantor
                conn.execute(sa.update(patient).where(patient.c.PatNum == num).values(Guarantor=num))
            self._log_security(conn, PERM["patient_create"], num, "Patient created", num)
            row = conn.execute(sa.select(patient).where(patient.c.PatNum == num)).one()
        return 201, patients.patient_json(row)

    def put_patient(self, request: Request, body: dict[str, Any]) -> tuple[int, Any]:
        num = fields.path_key(request, "PatNum")
        values = patients.values_from_body(body)
        with self.engine.begin() as conn:
            current = patients.existing_for_update(conn, num)
            patients.check_references(conn, values)
            if "Guarantor" in values:
                patients.check_guarantor_change(conn, current, values["Guarantor"])
            if values:
                values["DateTStamp"] = self._now()
                conn.execute(sa.update(patient).where(patient.c.PatNum == num).values(**values))
                self._log_security(conn, PERM["patient_edit"], num, "Patient edited", num)
            row = conn.execute(sa.select(patient).where(patient.c.PatNum == num)).one()
        return 200, patients.patient_json(row)

    def list_providers(self, request: Request, _body: dict[str, Any]) -> tuple[int, Any]:
        return 200, [_provider_json(r) for r in self._page(request, sa.select(provider), provider.c.ProvNum)]

    def list_operatories(self, request: Request, _body: dict[str, Any]) -> tuple[int, Any]:
        rows = self._page(request, sa.select(operatory), operatory.c.ItemOrder)
        return 200, [_operatory_json(r) for r in rows]

    def list_appointments(self, request: Request, _body: dict[str, Any]) -> tuple[int, Any]:
        query = sa.select(appointment)
        params = request.query_params
        for name, column in (("PatNum", "PatNum"), ("Op", "Op"), ("ClinicNum", "ClinicNum")):
            if name in params:
                query = query.where(appointment.c[column] == fields.key(params[name], name))
        if "AptStatus" in params:
            status = wire.value_of(wire.APT_STATUS, params["AptStatus"], "AptStatus")
            query = query.where(appointment.c.AptStatus == status)
        if "date" in params:
            day = wire.parse_date(params["date"], "date")
            query = query.where(_on_day(appointment.c.AptDateTime, day, day))
        if "dateStart" in params or "dateEnd" in params:
            start = wire.parse_date(params.get("dateStart", "0001-01-01"), "dateStart")
            end = wire.parse_date(params.get("dateEnd", "9999-12-31"), "dateEnd")
            query = query.where(_on_day(appointment.c.AptDateTime, start, end))
        rows = self._page(request, query, appointment.c.AptDateTime)
        return 200, [_appointment_json(r) for r in rows]

    def list_perioexams(self, request: Request, _body: dict[str, Any]) -> tuple[int, Any]:
        query = sa.select(perioexam)
        params = request.query_params
        if "PatNum" in params:
            query = query.where(perioexam.c.PatNum == fields.key(params["PatNum"], "PatNum"))
        if "ExamDate" in params:  # exams made on or after that date
            query = query.where(perioexam.c.ExamDate >= wire.parse_date(params["ExamDate"], "ExamDate"))
        rows = self._page(request, query, perioexam.c.PerioExamNum)
        return 200, [_exam_json(r) for r in rows]

    def post_perioexam(self, _request: Request, body: dict[str, Any]) -> tuple[int, Any]:
        if "PatNum" not in body:
            raise PmsRejected("PatNum is required.")
        pat_num = fields.key(body["PatNum"], "PatNum")
        measures = perio_strings.measures_from_strings(_region_strings(body))
        now = self._now()
        with self.engine.begin() as conn:
            pat = conn.execute(sa.select(patient.c.PriProv).where(patient.c.PatNum == pat_num)).first()
            if pat is None:
                raise PmsRejected("PatNum is invalid.")
            exam_date = wire.parse_date(body["ExamDate"], "ExamDate") if "ExamDate" in body else now.date()
            prov = fields.key(body["ProvNum"], "ProvNum") if "ProvNum" in body else int(pat.PriProv)
            result = conn.execute(
                sa.insert(perioexam).values(
                    PatNum=pat_num,
                    ExamDate=exam_date,
                    ProvNum=prov,
                    DateTMeasureEdit=now,
                    Note=fields.text(body.get("Note", ""), "Note", perioexam.c.Note),
                )
            )
            num = inserted_key(result)
            for measure in measures:
                _insert_measure(conn, num, measure, now)
            self._log_security(conn, PERM["perio"], pat_num, "Perio exam created", num)
            row = conn.execute(sa.select(perioexam).where(perioexam.c.PerioExamNum == num)).one()
        return 201, _exam_json(row)

    def put_perioexam(self, request: Request, body: dict[str, Any]) -> tuple[int, Any]:
        num = fields.path_key(request, "PerioExamNum")
        values: dict[str, Any] = {}
        if "ExamDate" in body:
            values["ExamDate"] = wire.parse_date(body["ExamDate"], "ExamDate")
        if "ProvNum" in body:
            values["ProvNum"] = fields.key(body["ProvNum"], "ProvNum")
        if "Note" in body:
            # Note overwrites the existing one (documented)
            values["Note"] = fields.text(body["Note"], "Note", perioexam.c.Note)
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(perioexam).where(perioexam.c.PerioExamNum == num)).first()
            if row is None:
                raise PmsNotFound("PerioExam not found.")
            if values:
                values["DateTMeasureEdit"] = self._now()
                conn.execute(sa.update(perioexam).where(perioexam.c.PerioExamNum == num).values(**values))
                self._log_security(conn, PERM["perio"], int(row.PatNum), "Perio exam edited", num)
            row = conn.execute(sa.select(perioexam).where(perioexam.c.PerioExamNum == num)).one()
        return 200, _exam_json(row)

    def delete_perioexam(self, request: Request, _body: dict[str, Any]) -> tuple[int, Any]:
        num = fields.path_key(request, "PerioExamNum")
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(perioexam).where(perioexam.c.PerioExamNum == num)).first()
            if row is None:
                raise PmsNotFound("PerioExam not found.")
            conn.execute(sa.delete(periomeasure).where(periomeasure.c.PerioExamNum == num))
            conn.execute(sa.delete(perioexam).where(perioexam.c.PerioExamNum == num))
            self._log_security(conn, PERM["perio"], int(row.PatNum), "Perio exam deleted", num)
        return 200, None

    # --- perio measures ------------------------------------------------------------------------------------
    def list_periomeasures(self, request: Request, _body: dict[str, Any]) -> tuple[int, Any]:
        query = sa.select(periomeasure)
        if "PerioExamNum" in request.query_params:  # optional (documented)
            exam_num = fields.key(request.query_params["PerioExamNum"], "PerioExamNum")
            query = query.where(periomeasure.c.PerioExamNum == exam_num)
        rows = self._page(request, query, periomeasure.c.PerioMeasureNum)
        return 200, [_measure_json(r) for r in rows]

    def post_periomeasure(self, _request: Request, body: dict[str, Any]) -> tuple[int, Any]:
        for field in ("PerioExamNum", "SequenceType", "IntTooth"):
            if field not in body:
                raise PmsRejected(f"{field} is required.")
        exam_num = fields.key(body["PerioExamNum"], "PerioExamNum")
        row = _measure_from_body(body)
        _validate(row)
        if row.sequence_type not in DELETABLE and all(v == BLANK for v in row.sites):
            raise PmsRejected("At least one of the six surface values must contain a measurement.")
        now = self._now()
        with self.engine.begin() as conn:
            exam = _exam_for_write(conn, exam_num)
            duplicate = conn.execute(
                sa.select(periomeasure.c.PerioMeasureNum).where(
                    periomeasure.c.PerioExamNum == exam_num,
                    periomeasure.c.SequenceType == row.sequence_type.value,
                    periomeasure.c.IntTooth == row.tooth,
                )
            ).first()
            if duplicate is not None:
                # sandbox: documented only as "compared against existing periomeasures to prevent duplicates"
                raise PmsRejected(
                    f"A PerioMeasure with this SequenceType and IntTooth already exists for this PerioExam "
                    f"(PerioMeasureNum {duplicate.PerioMeasureNum}). Use PUT."
                )
            num = _insert_measure(conn, exam_num, row, now)
            conn.execute(
                sa.update(perioexam).where(perioexam.c.PerioExamNum == exam_num).values(DateTMeasureEdit=now)
            )
            self._log_security(conn, PERM["perio"], int(exam.PatNum), "Perio measure created", num)
            created = conn.execute(sa.select(periomeasure).where(periomeasure.c.PerioMeasureNum == num)).one()
        return 201, _measure_json(created)

    def put_periomeasure(self, request: Request, body: dict[str, Any]) -> tuple[int, Any]:
        num = fields.path_key(request, "PerioMeasureNum")
        unknown = set(body) - set(wire.VALUE_FIELDS)
        if unknown:
            raise PmsRejected(f"Only value fields can be updated, not {', '.join(sorted(unknown))}.")
        now = self._now()
        with self.engine.begin() as conn:
            current = conn.execute(
                sa.select(periomeasure).where(periomeasure.c.PerioMeasureNum == num)
            ).first()
            if current is None:
                raise PmsNotFound("PerioMeasure not found.")
            row = _measure_from_body({**_measure_json(current), **body})
            _validate(row)
            values = stored_values(row)
            if values is None:  # sandbox: a surface row put back to "not measured"
                none = 0 if row.sequence_type is SequenceType.BLEED_SUP_PLAQ_CALC else BLANK
                values = (BLANK, *(none,) * 6)
            exam = _exam_for_write(conn, int(current.PerioExamNum))
            conn.execute(
                sa.update(periomeasure)
                .where(periomeasure.c.PerioMeasureNum == num)
                .values(**dict(zip(wire.VALUE_FIELDS, values, strict=True)), SecDateTEdit=now)
            )
            conn.execute(
                sa.update(perioexam)
                .where(perioexam.c.PerioExamNum == current.PerioExamNum)
                .values(DateTMeasureEdit=now)
            )
            self._log_security(conn, PERM["perio"], int(exam.PatNum), "Perio measure edited", num)
            updated = conn.execute(sa.select(periomeasure).where(periomeasure.c.PerioMeasureNum == num)).one()
        return 200, _measure_json(updated)

    def delete_periomeasure(self, request: Request, _body: dict[str, Any]) -> tuple[int, Any]:
        num = fields.path_key(request, "PerioMeasureNum")
        with self.engine.begin() as conn:
            current = conn.execute(
                sa.select(periomeasure).where(periomeasure.c.PerioMeasureNum == num)
            ).first()
            if current is None:
                raise PmsNotFound("PerioMeasure not found.")
            if SequenceType(current.SequenceType) not in DELETABLE:
                raise PmsRejected("Only Mobility and SkipTooth PerioMeasures can be deleted.")
            exam = _exam_for_write(conn, int(current.PerioExamNum))
            conn.execute(sa.delete(periomeasure).where(periomeasure.c.PerioMeasureNum == num))
            self._log_security(conn, PERM["perio"], int(exam.PatNum), "Perio measure deleted", num)
        return 200, None

    # --- procedures and notes ------------------------------------------------------------------------------
    def list_procedurelogs(self, request: Request, _body: dict[str, Any]) -> tuple[int, Any]:
        query = sa.select(procedurelog, procedurecode.c.ProcCode).join(
            procedurecode, procedurecode.c.CodeNum == procedurelog.c.CodeNum, isouter=True
        )
        if "PatNum" in request.query_params:
            pat_num = fields.key(request.query_params["PatNum"], "PatNum")
            query = query.where(procedurelog.c.PatNum == pat_num)
        rows = self._page(request, query, procedurelog.c.ProcNum)
        return 200, [_procedure_json(r) for r in rows]

    def post_procedurelog(self, _request: Request, body: dict[str, Any]) -> tuple[int, Any]:
        for field in ("PatNum", "ProcDate", "ProcStatus"):
            if field not in body:
                raise PmsRejected(f"{field} is required.")
        if "procCode" not in body and "CodeNum" not in body:
            raise PmsRejected("procCode or CodeNum is required.")
        pat_num = fields.key(body["PatNum"], "PatNum")
        status = wire.value_of(wire.PROC_STATUS, body["ProcStatus"], "ProcStatus")
        if status not in (1, 2, 4, 3, 5, 7):
            raise PmsRejected("ProcStatus must be TP, C, EO, EC, R or Cn.")
        proc_date = wire.parse_date(body["ProcDate"], "ProcDate")
        now = self._now()
        with self.engine.begin() as conn:
            pat = conn.execute(sa.select(patient.c.PriProv).where(patient.c.PatNum == pat_num)).first()
            if pat is None:
                raise PmsRejected("PatNum is invalid.")
            code = conn.execute(
                sa.select(procedurecode.c.CodeNum, procedurecode.c.ProcCode).where(
                    procedurecode.c.ProcCode
                    == fields.text(body["procCode"], "procCode", procedurecode.c.ProcCode)
                    if "procCode" in body
                    else procedurecode.c.CodeNum == fields.key(body["CodeNum"], "CodeNum")
                )
            ).first()
            if code is None:
                raise PmsRejected("procCode is invalid.")
            prov = fields.key(body["ProvNum"], "ProvNum") if "ProvNum" in body else int(pat.PriProv)
            result = conn.execute(
                sa.insert(procedurelog).values(
                    PatNum=pat_num,
                    AptNum=fields.key(body.get("AptNum", 0), "AptNum"),
                    ProcDate=proc_date,
                    ProcStatus=status,
                    ProvNum=prov,
                    CodeNum=int(code.CodeNum),
                    ToothNum=fields.text(body.get("ToothNum", ""), "ToothNum", procedurelog.c.ToothNum),
                    Surf=fields.text(body.get("Surf", ""), "Surf", procedurelog.c.Surf),
                    DateEntryC=now.date() if status == 2 else wire.NO_DATE,
                    DateTStamp=now,
                    SecDateEntry=now,
                )
            )
            num = inserted_key(result)
            self._log_security(conn, PERM["procedure"], pat_num, "Procedure created", num)
            row = conn.execute(
                sa.select(procedurelog, procedurecode.c.ProcCode)
                .join(procedurecode, procedurecode.c.CodeNum == procedurelog.c.CodeNum)
                .where(procedurelog.c.ProcNum == num)
            ).one()
        return 201, _procedure_json(row)

    def list_procnotes(self, request: Request, _body: dict[str, Any]) -> tuple[int, Any]:
        query = sa.select(procnote)
        for name in ("PatNum", "ProcNum"):
            if name in request.query_params:
                query = query.where(procnote.c[name] == fields.key(request.query_params[name], name))
        rows = self._page(request, query, procnote.c.ProcNoteNum.desc())  # most recent first
        return 200, [_procnote_json(r) for r in rows]

    def post_procnote(self, _request: Request, body: dict[str, Any]) -> tuple[int, Any]:
        for field in ("PatNum", "ProcNum", "Note"):
            if field not in body:
                raise PmsRejected(f"{field} is required.")
        pat_num = fields.key(body["PatNum"], "PatNum")
        proc_num = fields.key(body["ProcNum"], "ProcNum")
        note = _without_blank_runs(fields.text(body["Note"], "Note", procnote.c.Note))
        now = self._now()
        with self.engine.begin() as conn:
            proc = conn.execute(
                sa.select(procedurelog.c.PatNum).where(procedurelog.c.ProcNum == proc_num)
            ).first()
            if proc is None or int(proc.PatNum) != pat_num:
                raise PmsRejected("ProcNum is invalid.")
            if fields.flag(body.get("doAppendNote", "false"), "doAppendNote"):
                previous = conn.execute(
                    sa.select(procnote.c.Note)
                    .where(procnote.c.ProcNum == proc_num)
                    .order_by(procnote.c.ProcNoteNum.desc())
                    .limit(1)
                ).scalar()
                if previous:
                    note = fields.text(
                        f"{previous}\r\n\r\n{note}", "Note with the previous note", procnote.c.Note
                    )
            signed = fields.flag(body.get("isSigned", "false"), "isSigned")
            result = conn.execute(
                sa.insert(procnote).values(
                    PatNum=pat_num,
                    ProcNum=proc_num,
                    EntryDateTime=now,
                    UserNum=0,
                    Note=note,
                    Signature=f"Digitally Signed by {self.developer_name}" if signed else "",
                )
            )
            num = inserted_key(result)
            self._log_security(conn, PERM["procedure"], pat_num, "Procedure note created", num)
            row = conn.execute(sa.select(procnote).where(procnote.c.ProcNoteNum == num)).one()
        return 201, _procnote_json(row)

    def list_commlogs(self, request: Request, _body: dict[str, Any]) -> tuple[int, Any]:
        query = sa.select(commlog)
        if "PatNum" in request.query_params:
            query = query.where(commlog.c.PatNum == fields.key(request.query_params["PatNum"], "PatNum"))
        rows = self._page(request, query, commlog.c.CommlogNum)
        return 200, [_commlog_json(r) for r in rows]

    def post_commlog(self, _request: Request, body: dict[str, Any]) -> tuple[int, Any]:
        for field in ("PatNum", "Note"):
            if field not in body:
                raise PmsRejected(f"{field} is required.")
        pat_num = fields.key(body["PatNum"], "PatNum")
        now = self._now()
        mode = wire.value_of(API_COMM_MODES, body.get("Mode_", "Phone"), "Mode_")
        sent = wire.value_of(wire.SENT_OR_RECEIVED, body.get("SentOrReceived", "Sent"), "SentOrReceived")
        when = wire.parse_datetime(body["CommDateTime"], "CommDateTime") if "CommDateTime" in body else now
        with self.engine.begin() as conn:
            if conn.execute(sa.select(patient.c.PatNum).where(patient.c.PatNum == pat_num)).first() is None:
                raise PmsRejected("PatNum is invalid.")
            result = conn.execute(
                sa.insert(commlog).values(
                    PatNum=pat_num,
                    CommDateTime=when,
                    Note=fields.text(body["Note"], "Note", commlog.c.Note),
                    Mode_=mode,
                    SentOrReceived=sent,
                    CommSource=7,  # FHIR: "Includes non-FHIR API"
                    DateTStamp=now,
                    DateTEntry=now,
                )
            )
            num = inserted_key(result)
            self._log_security(conn, PERM["commlog"], pat_num, "Commlog created", num)
            row = conn.execute(sa.select(commlog).where(commlog.c.CommlogNum == num)).one()
        return 201, _commlog_json(row)

    # --- tooth initials, security log ----------------------------------------------------------------------
    def list_toothinitials(self, request: Request, _body: dict[str, Any]) -> tuple[int, Any]:
        query = sa.select(toothinitial)
        if "PatNum" in request.query_params:
            pat_num = fields.key(request.query_params["PatNum"], "PatNum")
            query = query.where(toothinitial.c.PatNum == pat_num)
        rows = self._page(request, query, toothinitial.c.ToothInitialNum)
        return 200, [_toothinitial_json(r) for r in rows]

    def post_toothinitial(self, _request: Request, body: dict[str, Any]) -> tuple[int, Any]:
        for field in ("PatNum", "ToothNum", "InitialType"):
            if field not in body:
                raise PmsRejected(f"{field} is required.")
        pat_num = fields.key(body["PatNum"], "PatNum")
        kind = wire.value_of(API_INITIAL_TYPES, body["InitialType"], "InitialType")
        tooth = _tooth_num(body["ToothNum"])
        with self.engine.begin() as conn:
            if conn.execute(sa.select(patient.c.PatNum).where(patient.c.PatNum == pat_num)).first() is None:
                raise PmsRejected("PatNum is invalid.")  # sandbox: as for the other resources
            result = conn.execute(
                sa.insert(toothinitial).values(PatNum=pat_num, ToothNum=tooth, InitialType=kind)
            )
            num = inserted_key(result)
            self._log_security(conn, PERM["toothinitial"], pat_num, "Tooth initial created", num)
            row = conn.execute(sa.select(toothinitial).where(toothinitial.c.ToothInitialNum == num)).one()
        return 201, _toothinitial_json(row)

    def delete_toothinitial(self, request: Request, _body: dict[str, Any]) -> tuple[int, Any]:
        num = fields.path_key(request, "ToothInitialNum")
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(toothinitial).where(toothinitial.c.ToothInitialNum == num)).first()
            if row is None:
                raise PmsNotFound("ToothInitial not found.")
            if int(row.InitialType) not in API_INITIAL_TYPES:
                raise PmsRejected(
                    'Only toothinitials of InitialType "Missing", "Hidden" or "Primary" can be deleted.'
                )
            conn.execute(sa.delete(toothinitial).where(toothinitial.c.ToothInitialNum == num))
            self._log_security(conn, PERM["toothinitial"], int(row.PatNum), "Tooth initial deleted", num)
        return 200, None

    def list_securitylogs(self, request: Request, _body: dict[str, Any]) -> tuple[int, Any]:
        query = sa.select(securitylog).where(securitylog.c.LogSource == LOG_SOURCE_API)  # the caller's own
        rows = self._page(request, query, securitylog.c.SecurityLogNum)
        return 200, [_securitylog_json(r) for r in rows]


# --- JSON shapes -----------------------------------------------------------------------------------------


def _provider_json(r: sa.Row[Any]) -> dict[str, Any]:
    return {
        "ProvNum": int(r.ProvNum),
        "Abbr": r.Abbr,
        "LName": r.LName,
        "FName": r.FName,
        "IsSecondary": wire.fmt_bool(r.IsSecondary),
        "IsHidden": wire.fmt_bool(r.IsHidden),
        "ProvStatus": wire.name_of(wire.PROV_STATUS, r.ProvStatus),
    }


def _operatory_json(r: sa.Row[Any]) -> dict[str, Any]:
    return {
        "OperatoryNum": int(r.OperatoryNum),
        "OpName": r.OpName,
        "Abbrev": r.Abbrev,
        "ItemOrder": int(r.ItemOrder),
        "IsHidden": wire.fmt_bool(r.IsHidden),
        "ProvDentist": int(r.ProvDentist),
        "ProvHygienist": int(r.ProvHygienist),
        "IsHygiene": wire.fmt_bool(r.IsHygiene),
        "ClinicNum": int(r.ClinicNum),
    }


def _appointment_json(r: sa.Row[Any]) -> dict[str, Any]:
    return {
        "AptNum": int(r.AptNum),
        "PatNum": int(r.PatNum),
        "AptStatus": wire.name_of(wire.APT_STATUS, r.AptStatus),
        "Pattern": r.Pattern,
        "Op": int(r.Op),
        "ProvNum": int(r.ProvNum),
        "ProvHyg": int(r.ProvHyg),
        "AptDateTime": wire.fmt_datetime(r.AptDateTime),
        "IsHygiene": wire.fmt_bool(r.IsHygiene),
        "ClinicNum": int(r.ClinicNum),
    }


def _exam_json(r: sa.Row[Any]) -> dict[str, Any]:
    return {
        "PerioExamNum": int(r.PerioExamNum),
        "PatNum": int(r.PatNum),
        "ExamDate": wire.fmt_date(r.ExamDate),
        "ProvNum": int(r.ProvNum),
        "DateTMeasureEdit": wire.fmt_datetime(r.DateTMeasureEdit),
        "Note": r.Note,
    }


def _measure_json(r: sa.Row[Any]) -> dict[str, Any]:
    return {
        "PerioMeasureNum": int(r.PerioMeasureNum),
        "PerioExamNum": int(r.PerioExamNum),
        "SequenceType": wire.name_of(wire.SEQUENCE_TYPES, r.SequenceType),
        "IntTooth": int(r.IntTooth),
        **{f: int(getattr(r, f)) for f in wire.VALUE_FIELDS},
        "SecDateTEntry": wire.fmt_datetime(r.SecDateTEntry),
        "SecDateTEdit": wire.fmt_datetime(r.SecDateTEdit),
    }


def _procedure_json(r: sa.Row[Any]) -> dict[str, Any]:
    return {
        "ProcNum": int(r.ProcNum),
        "PatNum": int(r.PatNum),
        "AptNum": int(r.AptNum),
        "ProcDate": wire.fmt_date(r.ProcDate),
        "ProcFee": float(r.ProcFee),
        "Surf": r.Surf,
        "ToothNum": r.ToothNum,
        "ProcStatus": wire.name_of(wire.PROC_STATUS, r.ProcStatus),
        "ProvNum": int(r.ProvNum),
        "ClinicNum": int(r.ClinicNum),
        "CodeNum": int(r.CodeNum),
        "procCode": r.ProcCode or "",
        "DateEntryC": wire.fmt_date(r.DateEntryC),
    }


def _procnote_json(r: sa.Row[Any]) -> dict[str, Any]:
    return {
        "ProcNoteNum": int(r.ProcNoteNum),
        "PatNum": int(r.PatNum),
        "ProcNum": int(r.ProcNum),
        "EntryDateTime": wire.fmt_datetime(r.EntryDateTime),
        "UserNum": int(r.UserNum),
        "Note": r.Note.replace("\r\n", " "),  # Open Dental's serializer quirk (OPENDENTAL.md §4.1)
        "SigIsTopaz": wire.fmt_bool(r.SigIsTopaz),
        "Signature": r.Signature,
        "isSigned": wire.fmt_bool(r.Signature),
    }


def _commlog_json(r: sa.Row[Any]) -> dict[str, Any]:
    return {
        "CommlogNum": int(r.CommlogNum),
        "PatNum": int(r.PatNum),
        "CommDateTime": wire.fmt_datetime(r.CommDateTime),
        "CommType": int(r.CommType),
        "Note": r.Note.replace("\r\n", " "),
        "Mode_": wire.name_of(wire.COMM_MODE, r.Mode_),
        "SentOrReceived": wire.name_of(wire.SENT_OR_RECEIVED, r.SentOrReceived),
        "UserNum": int(r.UserNum),
    }


def _toothinitial_json(r: sa.Row[Any]) -> dict[str, Any]:
    return {
        "ToothInitialNum": int(r.ToothInitialNum),
        "PatNum": int(r.PatNum),
        "ToothNum": r.ToothNum,
        "InitialType": wire.name_of(wire.INITIAL_TYPE, r.InitialType),
    }


def _securitylog_json(r: sa.Row[Any]) -> dict[str, Any]:
    return {
        "SecurityLogNum": int(r.SecurityLogNum),
        "PermType": wire.name_of(wire.PERM_TYPE, r.PermType),
        "UserNum": int(r.UserNum),
        "LogDateTime": wire.fmt_datetime(r.LogDateTime),
        "LogText": r.LogText,
        "PatNum": int(r.PatNum),
        "CompName": r.CompName,
        "FKey": int(r.FKey),
        "LogSource": wire.name_of(wire.LOG_SOURCE, r.LogSource),
    }


# --- small helpers ---------------------------------------------------------------------------------------


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(message, status_code=status)


async def _run_sync(handler: Handler, request: Request, body: dict[str, Any]) -> tuple[int, Any]:
    return await run_in_threadpool(handler, request, body)


def _int_param(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name)
    if value is None:
        return default
    return fields.count(value, name)


def _on_day(column: Any, start: dt.date, end: dt.date) -> Any:
    """From the start of `start` to the end of `end` (whole seconds; `end` may be 9999-12-31)."""
    return sa.and_(
        column >= dt.datetime.combine(start, dt.time()),
        column <= dt.datetime.combine(end, dt.time(23, 59, 59)),
    )


BLANK_LINE_RUN = re.compile(r"^(?:[ \t]*\r?\n){50,}", re.MULTILINE)


def _without_blank_runs(note: str) -> str:
    """ "If the Procedure Note contains 50 or more consecutive blank lines, they will be removed." """
    return BLANK_LINE_RUN.sub("", note)


def _tooth_num(value: object) -> str:
    """ToothNum of a toothinitial: "a single tooth number, either 1-32 or A-T" (a JSON number or string)."""
    tooth = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(tooth, str):
        raise PmsRejected("ToothNum must be a tooth number, either 1-32 or A-T.")
    permanent = tooth.isascii() and tooth.isdigit() and 1 <= int(tooth) <= 32
    if not permanent and not (len(tooth) == 1 and "A" <= tooth <= "T"):
        raise PmsRejected("ToothNum is invalid. It must be a single tooth number, either 1-32 or A-T.")
    return str(int(tooth)) if permanent else tooth


def _measure_from_body(body: dict[str, Any]) -> MeasureRow:
    """The periomeasure a POST or PUT body describes; value fields default to -1."""
    seq = SequenceType(wire.value_of(wire.SEQUENCE_TYPES, body.get("SequenceType"), "SequenceType"))
    tooth = fields.number(body["IntTooth"], "IntTooth", low=1, high=32)
    values = [
        fields.number(body.get(f, BLANK), f, low=SMALLINT_MIN, high=SMALLINT_MAX) for f in wire.VALUE_FIELDS
    ]
    mb, b, db, ml, lingual, dl = values[1:]
    return MeasureRow(seq, tooth, values[0], (mb, b, db, ml, lingual, dl))


def _validate(row: MeasureRow) -> None:
    """Open Dental's documented value rules for `row`'s SequenceType (OPENDENTAL.md §3.3), as a 400."""
    if row.sequence_type is SequenceType.SKIP_TOOTH and row.tooth_value != 1:
        raise PmsRejected("If SequenceType is SkipTooth, then ToothValue must be 1.")
    if row.sequence_type is SequenceType.MOBILITY and not 0 <= row.tooth_value <= 19:
        raise PmsRejected("If SequenceType is Mobility, then ToothValue can range from 0-19.")
    try:
        validate_measure(row)
    except PmsError as exc:  # the sandbox connector's validation message, as a 400
        raise PmsRejected(str(exc)) from None


def _region_strings(body: dict[str, Any]) -> dict[str, str]:
    """The UpperFacial/UpperLingual/LowerLingual/LowerFacial strings of a `POST /perioexams` body."""
    strings = {region: body[region] for region in perio_strings.REGIONS if region in body}
    for region, value in strings.items():
        if not isinstance(value, str):
            raise PmsRejected(f"{region} must be a string.")
    return strings


def _insert_measure(conn: sa.Connection, exam_num: int, row: MeasureRow, now: dt.datetime) -> int:
    """Insert `row` (valid, and recording something) into the exam; its PerioMeasureNum."""
    values = stored_values(row)
    assert values is not None
    result = conn.execute(
        sa.insert(periomeasure).values(
            PerioExamNum=exam_num,
            SequenceType=row.sequence_type.value,
            IntTooth=row.tooth,
            **dict(zip(wire.VALUE_FIELDS, values, strict=True)),
            SecDateTEntry=now,
            SecDateTEdit=now,
        )
    )
    return inserted_key(result)


def _measure_by_num(conn: sa.Connection, num: int) -> sa.Row[Any] | None:
    return conn.execute(sa.select(periomeasure).where(periomeasure.c.PerioMeasureNum == num)).first()


def _exam_for_write(conn: sa.Connection, exam_num: int) -> sa.Row[Any]:
    exam = conn.execute(sa.select(perioexam).where(perioexam.c.PerioExamNum == exam_num)).first()
    if exam is None:
        raise PmsRejected("PerioExamNum is invalid.")
    return exam


async def _openapi_json(_request: Request) -> Response:
    from voicechart.pms.sandbox.openapi import openapi

    return JSONResponse(openapi())


class BackgroundServer:
    """The API served by uvicorn on a thread, for tests and benchmarks (the CLI is `voicechart pms serve`)."""

    def __init__(self, api: SandboxApi, *, host: str = "127.0.0.1", port: int = 0) -> None:
        import socket

        import uvicorn

        if port == 0:
            with socket.socket() as probe:
                probe.bind((host, 0))
                port = int(probe.getsockname()[1])
        self.host, self.port = host, port
        config = uvicorn.Config(api.app(), host=host, port=port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="sandbox-api", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/api/v1"

    def start(self) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the sandbox API server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
