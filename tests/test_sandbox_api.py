"""The sandbox's Open Dental API server (auth, validation, status codes, paging, throttle, security log),
and the API client's error mapping."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from voicechart.errors import (
    PmsAuthError,
    PmsNotFound,
    PmsRejected,
    PmsThrottled,
    PmsUnavailable,
)
from voicechart.pms.odapi.client import OpenDentalApi
from voicechart.pms.sandbox import create_sandbox, seed_demo
from voicechart.pms.sandbox.api import SandboxApi

AUTH = {"Authorization": "ODFHIR dev/cust"}
TODAY = dt.date.today()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    eng = sa.create_engine(f"sqlite:///{tmp_path / 'pms.db'}", connect_args={"check_same_thread": False})
    create_sandbox(eng)
    seed_demo(eng, TODAY)
    yield eng
    eng.dispose()


@pytest.fixture
def client(engine: sa.Engine) -> Iterator[TestClient]:
    api = SandboxApi(engine, developer_key="dev", customer_key="cust", developer_name="Acme Perio")
    with TestClient(api.app(), base_url="http://sandbox/api/v1/") as c:
        yield c


def new_exam(client: TestClient, pat_num: int = 3) -> dict[str, Any]:
    response = client.post("perioexams", json={"PatNum": pat_num}, headers=AUTH)
    assert response.status_code == 201, response.text
    exam: dict[str, Any] = response.json()
    return exam


def test_requests_need_the_odfhir_keys(client: TestClient) -> None:
    assert client.get("patients/1").status_code == 401
    assert client.get("patients/1", headers={"Authorization": "ODFHIR dev/wrong"}).status_code == 401
    assert client.get("patients/1", headers={"Authorization": "Bearer dev/cust"}).status_code == 401
    assert client.get("patients/1", headers=AUTH).status_code == 200


def test_fields_are_pascal_case_with_enum_strings(client: TestClient) -> None:
    patient = client.get("patients/1", headers=AUTH).json()
    assert patient["PatStatus"] == "Patient" and patient["Gender"] == "Female"
    assert patient["Birthdate"] == "1978-03-14" and patient["PriProv"] == 1
    appointments = client.get("appointments", params={"date": str(TODAY), "Op": 1}, headers=AUTH).json()
    assert [a["AptStatus"] for a in appointments] == ["Scheduled", "Scheduled"]
    assert appointments[0]["AptDateTime"] == f"{TODAY} 09:00:00"
    assert client.get("patients/999", headers=AUTH).status_code == 404


def test_perio_exam_defaults_and_validation(client: TestClient) -> None:
    exam = new_exam(client, 3)
    assert exam["ExamDate"] == str(TODAY) and exam["ProvNum"] == 1  # the patient's primary provider
    assert client.post("perioexams", json={}, headers=AUTH).json() == "PatNum is required."
    assert client.post("perioexams", json={"PatNum": 999}, headers=AUTH).status_code == 400
    later = client.get("perioexams", params={"PatNum": 3, "ExamDate": str(TODAY)}, headers=AUTH).json()
    assert [e["PerioExamNum"] for e in later] == [exam["PerioExamNum"]]
    put = client.put(f"perioexams/{exam['PerioExamNum']}", json={"Note": "anxious"}, headers=AUTH)
    assert put.json()["Note"] == "anxious"


def test_perio_measures_follow_the_documented_rules(client: TestClient) -> None:
    num = new_exam(client)["PerioExamNum"]
    body = {"PerioExamNum": num, "SequenceType": "Probing", "IntTooth": 8, "MBvalue": 2, "Bvalue": 3}
    created = client.post("periomeasures", json=body, headers=AUTH)
    assert created.status_code == 201
    measure = created.json()
    assert measure["SequenceType"] == "Probing" and measure["DBvalue"] == -1 and measure["ToothValue"] == -1
    duplicate = client.post("periomeasures", json=body, headers=AUTH)
    assert duplicate.status_code == 400 and "already exists" in duplicate.json()
    for bad in (
        {**body, "IntTooth": 33},
        {**body, "IntTooth": 9, "MBvalue": 20},
        {**body, "IntTooth": 9, "SequenceType": "Bleeding?"},
        {"PerioExamNum": num, "SequenceType": "Probing", "IntTooth": 9},  # no measurement at all
        {"SequenceType": "Probing", "IntTooth": 9, "MBvalue": 2},
    ):
        assert client.post("periomeasures", json=bad, headers=AUTH).status_code == 400, bad
    mobility = {"PerioExamNum": num, "SequenceType": "Mobility", "IntTooth": 9, "ToothValue": 2}
    mob = client.post("periomeasures", json=mobility, headers=AUTH).json()
    put = client.put(f"periomeasures/{measure['PerioMeasureNum']}", json={"DBvalue": 4}, headers=AUTH)
    assert put.json()["DBvalue"] == 4 and put.json()["MBvalue"] == 2
    assert (
        client.put(f"periomeasures/{mob['PerioMeasureNum']}", json={"IntTooth": 3}, headers=AUTH).status_code
        == 400
    )
    assert client.delete(f"periomeasures/{measure['PerioMeasureNum']}", headers=AUTH).status_code == 400
    assert client.delete(f"periomeasures/{mob['PerioMeasureNum']}", headers=AUTH).status_code == 200
    listed = client.get("periomeasures", params={"PerioExamNum": num}, headers=AUTH).json()
    assert [m["IntTooth"] for m in listed] == [8]


def test_lists_page_by_100(client: TestClient) -> None:
    num = new_exam(client)["PerioExamNum"]
    for tooth in range(1, 33):
        for seq in ("Probing", "BleedSupPlaqCalc", "GingMargin", "Furcation"):
            body = {"PerioExamNum": num, "SequenceType": seq, "IntTooth": tooth, "Bvalue": 1}
            assert client.post("periomeasures", json=body, headers=AUTH).status_code == 201
    first = client.get("periomeasures", params={"PerioExamNum": num}, headers=AUTH).json()
    rest = client.get("periomeasures", params={"PerioExamNum": num, "Offset": 100}, headers=AUTH).json()
    assert (len(first), len(rest)) == (100, 28)


def test_writes_leave_api_security_log_rows(client: TestClient) -> None:
    exam = new_exam(client, 3)
    logs = client.get("securitylogs", headers=AUTH).json()
    assert logs[-1]["LogSource"] == "API" and logs[-1]["PermType"] == "PerioEdit"
    assert logs[-1]["LogText"] == "Perio exam created by Acme Perio through API."
    assert logs[-1]["FKey"] == exam["PerioExamNum"] and logs[-1]["PatNum"] == 3


def test_clinical_note_procedure_and_procnote(client: TestClient) -> None:
    proc = client.post(
        "procedurelogs",
        json={"PatNum": 3, "ProcDate": str(TODAY), "ProcStatus": "C", "procCode": "Zclin"},
        headers=AUTH,
    )
    assert proc.status_code == 201 and proc.json()["ProcStatus"] == "C"
    bad_code = {"PatNum": 3, "ProcDate": str(TODAY), "ProcStatus": "C", "procCode": "NOPE"}
    assert client.post("procedurelogs", json=bad_code, headers=AUTH).status_code == 400
    note = {
        "PatNum": 3,
        "ProcNum": proc.json()["ProcNum"],
        "Note": "Line one\r\nline two",
        "isSigned": "true",
    }
    created = client.post("procnotes", json=note, headers=AUTH).json()
    assert created["Note"] == "Line one line two"  # Open Dental's serializer quirk
    assert created["Signature"].startswith("Digitally Signed by Acme Perio")


def test_throttle_answers_429_with_retry_after(engine: sa.Engine) -> None:
    api = SandboxApi(engine, developer_key="dev", customer_key="cust", throttle_s=30.0)
    with TestClient(api.app(), base_url="http://sandbox/api/v1/") as c:
        assert c.get("patients/1", headers=AUTH).status_code == 200
        throttled = c.get("patients/1", headers=AUTH)
        assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1


# --- the client's errors ---


def api_answering(status: int, body: Any = "", headers: dict[str, str] | None = None) -> OpenDentalApi:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "ODFHIR d/c"
        return httpx.Response(status, json=body, headers=headers)

    return OpenDentalApi(
        "http://od/api/v1", developer_key="d", customer_key="c", transport=httpx.MockTransport(handler)
    )


@pytest.mark.parametrize(
    ("status", "error", "retryable", "says"),
    [
        (400, PmsRejected, False, "PatNum is invalid"),
        (401, PmsAuthError, False, "VOICECHART_OD_CUSTOMER_KEY"),
        (404, PmsNotFound, False, "no such record"),
        (410, PmsNotFound, False, "no such record"),
        (429, PmsThrottled, True, "slow down"),
        (504, PmsUnavailable, True, "timed out"),
        (500, PmsUnavailable, True, "answered 500"),
    ],
)
def test_status_codes_become_errors_an_office_can_act_on(
    status: int, error: type[Exception], retryable: bool, says: str
) -> None:
    api = api_answering(status, "PatNum is invalid.", {"Retry-After": "2"})
    with pytest.raises(error) as raised:
        api.post("perioexams", {"PatNum": 0})
    assert getattr(raised.value, "retryable", False) is retryable
    assert says in str(raised.value)
    if isinstance(raised.value, PmsThrottled):
        assert raised.value.retry_after_s == 2.0


def test_unreachable_api_is_retryable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    api = OpenDentalApi(
        "http://od/api/v1", developer_key="d", customer_key="c", transport=httpx.MockTransport(refuse)
    )
    with pytest.raises(PmsUnavailable, match="Cannot reach"):
        api.get("patients/1")


def test_missing_keys_are_a_clear_configuration_error() -> None:
    from voicechart.errors import ConfigError

    with pytest.raises(ConfigError, match="VOICECHART_OD_DEVELOPER_KEY"):
        OpenDentalApi("http://od/api/v1", developer_key="", customer_key="c")
