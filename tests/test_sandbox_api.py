"""The sandbox's Open Dental API server (auth, validation, status codes, paging, throttle, security log),
and the API client's error mapping. The server tests run on SQLite, and on MariaDB when
VOICECHART_TEST_MARIADB_URL is set (as in tests/test_sandbox_pms.py)."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from tests.test_sandbox_pms import MARIADB_URL, _mariadb_engine
from voicechart.errors import (
    PmsAuthError,
    PmsNotFound,
    PmsRejected,
    PmsThrottled,
    PmsUnavailable,
)
from voicechart.pms.odapi.client import OpenDentalApi
from voicechart.pms.sandbox import create_sandbox, metadata, seed_demo
from voicechart.pms.sandbox.api import SandboxApi

AUTH = {"Authorization": "ODFHIR dev/cust"}
TODAY = dt.date.today()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "mariadb",
            marks=pytest.mark.skipif(not MARIADB_URL, reason="MariaDB: set VOICECHART_TEST_MARIADB_URL"),
        ),
    ]
)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """The demo sandbox on a fresh SQLite file, and on the MariaDB test database when one is configured."""
    if request.param == "sqlite":
        eng = sa.create_engine(f"sqlite:///{tmp_path / 'pms.db'}", connect_args={"check_same_thread": False})
    else:
        eng = _mariadb_engine(MARIADB_URL)
        metadata.drop_all(eng)
    create_sandbox(eng)
    seed_demo(eng, TODAY)
    yield eng
    metadata.drop_all(eng)
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
    before = dt.date.today()
    exam = new_exam(client, 3)
    today = {str(before), str(dt.date.today())}  # the test may run across midnight
    assert exam["ExamDate"] in today and exam["ProvNum"] == 1  # the patient's primary provider
    assert client.post("perioexams", json={}, headers=AUTH).json() == "PatNum is required."
    assert client.post("perioexams", json={"PatNum": 999}, headers=AUTH).status_code == 400
    later = client.get("perioexams", params={"PatNum": 3, "ExamDate": exam["ExamDate"]}, headers=AUTH).json()
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


# The example requests of Open Dental's "Patients POST" and "Patients PUT" documentation, verbatim.
DOC_NEW_PATIENT = {
    "LName": "Smith",
    "FName": "Jane",
    "Gender": "Female",
    "Position": "Single",
    "Birthdate": "1976-05-24",
    "Address": "125 Satin Heights",
    "City": "San Jose",
    "State": "CA",
    "Zip": "97301",
    "HmPhone": "(536)624-5871",
    "WkPhone": "(536)987-4822",
    "WirelessPhone": "",
    "Email": "smithfam@yahoo.com",
    "PreferConfirmMethod": "HmPhone",
    "Language": "spa",
    "TxtMsgOk": "Yes",
}
DOC_PATIENT_UPDATE = {
    "LName": "Smith",
    "FName": "Jane",
    "Preferred": "",
    "PatStatus": "Patient",
    "Gender": "Female",
    "Position": "Single",
    "Birthdate": "1976-05-24",
    "SSN": "",
    "Address": "125 Satin Heights",
    "City": "San Jose",
    "State": "CA",
    "Zip": "97301",
    "HmPhone": "(536)624-5871",
    "WkPhone": "(536)987-4822",
    "WirelessPhone": "(536)987-4822",
    "Guarantor": 48,
    "Email": "smithfam@yahoo.com",
    "PreferContactMethod": "WirelessPh",
    "BillingType": "Standard Account",
    "EmployerNum": 0,
    "DateFirstVisit": "2023-04-25",
    "ClinicNum": 0,
}


def new_patient(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("patients", json=body, headers=AUTH)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_post_patient_the_documented_example(client: TestClient) -> None:
    created = new_patient(client, **DOC_NEW_PATIENT)
    num = created["PatNum"]
    assert created["PatStatus"] == "Patient" and created["Guarantor"] == num  # documented defaults
    assert {k: created[k] for k in DOC_NEW_PATIENT} == DOC_NEW_PATIENT
    assert created["PriProv"] == 1 and created["BillingType"] == "Standard Account"
    assert client.get(f"patients/{num}", headers=AUTH).json() == created
    logs = client.get("securitylogs", headers=AUTH).json()
    assert logs[-1]["PermType"] == "PatientCreate" and logs[-1]["PatNum"] == num
    exam = client.post("perioexams", json={"PatNum": num}, headers=AUTH).json()
    assert exam["ProvNum"] == created["PriProv"]


def test_post_patient_defaults_and_required_names(client: TestClient) -> None:
    minimal = new_patient(client, LName="Nguyen", FName="An")
    assert (minimal["PatStatus"], minimal["Gender"], minimal["Position"]) == ("Patient", "Unknown", "Single")
    assert minimal["Guarantor"] == minimal["PatNum"] and minimal["Birthdate"] == "0001-01-01"
    child = new_patient(client, LName="Nguyen", FName="Bao", Guarantor=minimal["PatNum"], Position="Child")
    assert child["Guarantor"] == minimal["PatNum"]
    for body, message in (
        ({"FName": "An"}, "LName is required."),
        ({"LName": "Nguyen"}, "FName is required."),
        ({"LName": " ", "FName": "An"}, "LName cannot be blank."),
        ({"LName": 7, "FName": "An"}, "LName must be a string."),
        ({"LName": "N", "FName": "A", "PatStatus": "Deleted"}, "PatStatus is invalid"),
        ({"LName": "N", "FName": "A", "Gender": "Other"}, "Gender is invalid"),
        ({"LName": "N", "FName": "A", "TxtMsgOk": "Maybe"}, "TxtMsgOk is invalid"),
        ({"LName": "N", "FName": "A", "Zip": "9730"}, "Zip must be in format"),
        ({"LName": "N", "FName": "A", "ChartNumber": "X" * 16}, "ChartNumber can be at most 15"),
        ({"LName": "N", "FName": "A", "Birthdate": "24/05/1976"}, "Birthdate is not a valid date"),
        ({"LName": "N", "FName": "A", "Guarantor": 999}, "Guarantor is invalid."),
        ({"LName": "N", "FName": "A", "Guarantor": 1, "SuperFamily": 1}, "Only Guarantor or SuperFamily"),
        ({"LName": "N", "FName": "A", "PriProv": 99}, "PriProv is invalid."),
        ({"LName": "N", "FName": "A", "BillingType": "Cash"}, "BillingType must be"),
    ):
        answer = client.post("patients", json=body, headers=AUTH)
        assert answer.status_code == 400 and message in answer.json(), (body, answer.text)
    assert new_patient(client, LName="Tremblay", FName="Luc", Zip="H2X 1Y4")["Zip"] == "H2X 1Y4"


def test_post_patient_refuses_a_duplicate(client: TestClient) -> None:
    first = new_patient(client, **DOC_NEW_PATIENT)
    again = client.post("patients", json={**DOC_NEW_PATIENT, "LName": "SMITH"}, headers=AUTH)
    assert again.status_code == 400 and f"PatNum {first['PatNum']}" in again.json()
    same_phone = {
        "LName": "Smith",
        "FName": "Jane",
        "Birthdate": "1976-05-24",
        "WirelessPhone": "536 624 5871",
    }
    assert client.post("patients", json=same_phone, headers=AUTH).status_code == 400
    # same names and birthdate but no email or phone in common: another person
    other = {**DOC_NEW_PATIENT, "Email": "jane@example.com", "HmPhone": "", "WkPhone": "555-0100"}
    assert client.post("patients", json=other, headers=AUTH).status_code == 201
    born_later = {**DOC_NEW_PATIENT, "Birthdate": "1990-01-01"}
    assert client.post("patients", json=born_later, headers=AUTH).status_code == 201


def test_put_patient_the_documented_example(client: TestClient) -> None:
    num = new_patient(client, LName="Smyth", FName="Jane", Language="eng")["PatNum"]
    put = client.put(f"patients/{num}", json={**DOC_PATIENT_UPDATE, "Guarantor": num}, headers=AUTH)
    assert put.status_code == 200, put.text
    updated = put.json()
    assert {k: updated[k] for k in DOC_PATIENT_UPDATE} == {**DOC_PATIENT_UPDATE, "Guarantor": num}
    assert updated["Language"] == "eng"  # fields left out stay as they were
    cleared = client.put(f"patients/{num}", json={"Address": "", "Preferred": "JJ"}, headers=AUTH).json()
    assert cleared["Address"] == "" and cleared["Preferred"] == "JJ" and cleared["City"] == "San Jose"
    logs = client.get("securitylogs", headers=AUTH).json()
    assert logs[-1]["PermType"] == "PatientEdit" and logs[-1]["FKey"] == num


def test_put_patient_rules(client: TestClient, engine: sa.Engine) -> None:
    head = new_patient(client, LName="Okafor", FName="Ada")["PatNum"]
    child = new_patient(client, LName="Okafor", FName="Obi", Guarantor=head)["PatNum"]
    sibling = new_patient(client, LName="Okafor", FName="Eze", Guarantor=head)["PatNum"]
    for path, body, status, message in (
        (f"patients/{head}", {"LName": ""}, 400, "LName cannot be blank."),
        (f"patients/{head}", {"Zip": "ABC"}, 400, "Zip must be in format"),
        (f"patients/{child}", {"Guarantor": sibling}, 400, "different family member"),
        ("patients/99999", {"LName": "X"}, 404, "Patient not found."),
    ):
        answer = client.put(path, json=body, headers=AUTH)
        assert (answer.status_code, message in answer.json()) == (status, True), (path, body, answer.text)
    # the family's guarantor may hand over; a patient may join another family
    assert client.put(f"patients/{head}", json={"Guarantor": child}, headers=AUTH).status_code == 200
    assert client.put(f"patients/{sibling}", json={"Guarantor": 1}, headers=AUTH).json()["Guarantor"] == 1
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE patient SET PatStatus = 4 WHERE PatNum = :n"), {"n": child})
    answer = client.put(f"patients/{child}", json={"FName": "Obinna"}, headers=AUTH)
    assert answer.status_code == 400 and "deleted patient" in answer.json()


# The example request of Open Dental's "PerioExams POST" documentation (its PatNum 20 → a demo patient).
DOC_EXAM_STRINGS = {
    "UpperFacial": "32b4b32432332332332bs132332331342c3c3253233223p2c3p22b3b343",
    "UpperLingual": "323,323,322,222,232,222,212,212,212,212,232,323,323,323,343,343",
    "LowerLingual": "3b2b4b 424 323 323 323 321 323 323.313 42c3c 325 323 322 3p2c3p 22b3b 343c",
    "LowerFacial": "4 3b 2s 4bs 4p 2bp 4sp 3bsp 2c 3bc 3sc 2bsc 3pc 3bpc 2spc 3bspc",
}


def measures_by_type(client: TestClient, exam_num: int) -> dict[tuple[str, int], tuple[int, ...]]:
    listed = client.get("periomeasures", params={"PerioExamNum": exam_num}, headers=AUTH).json()
    sites = ("MBvalue", "Bvalue", "DBvalue", "MLvalue", "Lvalue", "DLvalue")
    return {(m["SequenceType"], m["IntTooth"]): tuple(m[f] for f in sites) for m in listed}


def test_exam_strings_the_documented_short_example(client: TestClient) -> None:
    exam = client.post("perioexams", json={"PatNum": 3, "UpperFacial": "323b"}, headers=AUTH)
    assert exam.status_code == 201
    # "a PerioMeasure for ToothNum 1 with DB, B, MB values of 3,2,and 3, and ... a bleeding flag on MB"
    assert measures_by_type(client, exam.json()["PerioExamNum"]) == {
        ("Probing", 1): (3, 2, 3, -1, -1, -1),
        ("BleedSupPlaqCalc", 1): (1, 0, 0, 0, 0, 0),
    }


def test_exam_strings_the_documented_full_example(client: TestClient) -> None:
    exam = client.post("perioexams", json={"PatNum": 3, **DOC_EXAM_STRINGS}, headers=AUTH)
    assert exam.status_code == 201 and exam.json()["PatNum"] == 3
    rows = measures_by_type(client, exam.json()["PerioExamNum"])
    probing = {tooth: v for (seq, tooth), v in rows.items() if seq == "Probing"}
    flags = {tooth: v for (seq, tooth), v in rows.items() if seq == "BleedSupPlaqCalc"}
    assert sorted(probing) == list(range(1, 33))
    # upper facial "32b4b": tooth 1 DB 3, B 2 bleeding, MB 4 bleeding; upper lingual "323": DL 3, L 2, ML 3
    assert probing[1] == (4, 2, 3, 3, 2, 3) and flags[1] == (1, 1, 0, 0, 0, 0)
    # tooth 9, the first on the patient's left, runs mesial first: facial digits 25-27 "313", lingual "212"
    assert probing[9] == (3, 1, 3, 2, 1, 2)
    # lower lingual runs 32 → 17: "3b2b4b" is tooth 32 DL, L, ML; the last "343c" is tooth 17 ML, L, DL
    assert probing[32][3:] == (4, 2, 3) and flags[32][3:] == (1, 1, 1)
    assert probing[17][3:] == (3, 4, 3) and flags[17] == (0, 0, 0, 0, 0, 8)
    # lower facial has 16 digits: teeth 32 to 28 and tooth 27's DB; its flags count 0 to 15 along the path
    assert probing[27] == (-1, -1, 3, 1, 2, 3) and 26 not in flags
    along_path = [flags[t][s] for t in (32, 31, 30, 29, 28) for s in (2, 1, 0)] + [flags[27][2]]
    assert along_path == list(range(16))
    assert sorted(flags) == [1, 6, 10, 14, 15, 17, 18, 19, 23, 27, 28, 29, 30, 31, 32]


def test_exam_strings_ignore_other_characters_and_what_follows_a_full_region(client: TestClient) -> None:
    upper = "x" + "3" * 48 + "b" + "9" * 5 + "c"  # 48 depths, a flag on the last, then ignored digits
    exam = client.post("perioexams", json={"PatNum": 3, "UpperFacial": upper}, headers=AUTH).json()
    rows = measures_by_type(client, exam["PerioExamNum"])
    assert {v for (seq, _), v in rows.items() if seq == "Probing"} == {(3, 3, 3, -1, -1, -1)}
    assert rows[("BleedSupPlaqCalc", 16)] == (0, 0, 1, 0, 0, 0)  # tooth 16's last surface is DB
    for bad in ({"UpperFacial": 323}, {"LowerLingual": ["3", "2"]}, {"LowerFacial": None}):
        answer = client.post("perioexams", json={"PatNum": 3, **bad}, headers=AUTH)
        assert answer.status_code == 400 and "must be a string" in answer.json()


def test_skip_tooth_needs_tooth_value_1_and_mobility_a_value(client: TestClient) -> None:
    num = new_exam(client)["PerioExamNum"]
    for body, message in (
        ({"SequenceType": "SkipTooth", "ToothValue": 0}, "ToothValue must be 1"),
        ({"SequenceType": "SkipTooth"}, "ToothValue must be 1"),
        ({"SequenceType": "Mobility", "ToothValue": 20}, "ToothValue can range from 0-19"),
        ({"SequenceType": "Mobility"}, "ToothValue can range from 0-19"),
        ({"SequenceType": "SkipTooth", "ToothValue": 1, "MBvalue": 2}, "site values must all be -1"),
        ({"SequenceType": "Probing", "MBvalue": "deep"}, "MBvalue must be a whole number"),
        ({"SequenceType": "Probing", "MBvalue": 2, "IntTooth": 0}, "IntTooth must be between 1 and 32"),
    ):
        answer = client.post("periomeasures", json={"PerioExamNum": num, "IntTooth": 5, **body}, headers=AUTH)
        assert answer.status_code == 400 and message in answer.json(), (body, answer.text)
    skip = {"PerioExamNum": num, "SequenceType": "SkipTooth", "IntTooth": 5, "ToothValue": 1}
    created = client.post("periomeasures", json=skip, headers=AUTH).json()
    put = client.put(f"periomeasures/{created['PerioMeasureNum']}", json={"ToothValue": 0}, headers=AUTH)
    assert put.status_code == 400 and "ToothValue must be 1" in put.json()


def test_ids_that_cannot_exist_are_a_400_and_unknown_ids_a_404(client: TestClient) -> None:
    for path in ("providers/99999999999999999999", "patients/abc", f"perioexams/{2**63}"):
        assert client.get(path, headers=AUTH).status_code == 400, path
    answer = client.delete("perioexams/99999999999999999999", headers=AUTH)
    assert answer.status_code == 400 and "PerioExamNum in the URL" in answer.json()
    assert client.get(f"providers/{2**63 - 1}", headers=AUTH).json() == "Provider not found."
    assert client.get("perioexams", params={"PatNum": 10**30}, headers=AUTH).status_code == 400
    assert client.post("perioexams", json={"PatNum": 10**30}, headers=AUTH).status_code == 400
    assert client.post("perioexams", content=b"[" * 50_000, headers=AUTH).status_code == 400
    note = {"PatNum": 3, "Note": "\ud800"}
    assert client.post("commlogs", content=json.dumps(note).encode(), headers=AUTH).status_code == 400


def test_periomeasures_without_an_exam_lists_them_all(client: TestClient) -> None:
    first, second = new_exam(client, 1)["PerioExamNum"], new_exam(client, 3)["PerioExamNum"]
    for exam in (first, second):
        body = {"PerioExamNum": exam, "SequenceType": "Probing", "IntTooth": 3, "Bvalue": 4}
        assert client.post("periomeasures", json=body, headers=AUTH).status_code == 201
    listed = client.get("periomeasures", headers=AUTH).json()
    assert {first, second} <= {m["PerioExamNum"] for m in listed}


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


def test_procnote_blank_line_runs_go_and_signing_shows(client: TestClient) -> None:
    proc = {"PatNum": 3, "ProcDate": str(TODAY), "ProcStatus": "C", "procCode": "Zclin"}
    proc_num = client.post("procedurelogs", json=proc, headers=AUTH).json()["ProcNum"]
    note = {"PatNum": 3, "ProcNum": proc_num, "Note": "Top\n" + "\n" * 50 + "Bottom\n\n\nEnd"}
    created = client.post("procnotes", json=note, headers=AUTH).json()
    assert created["Note"] == "Top\nBottom\n\n\nEnd" and created["isSigned"] == "false"
    # the documentation's example request (its PatNum/ProcNum → the procedure above)
    example = {"Note": "Signed on behalf of Doctor Joe Smith.", "isSigned": "true", "doAppendNote": "true"}
    signed = client.post("procnotes", json={"PatNum": 3, "ProcNum": proc_num, **example}, headers=AUTH).json()
    assert signed["isSigned"] == "true" and signed["Note"].endswith(
        "End  Signed on behalf of Doctor Joe Smith."
    )
    bad = {"PatNum": 3, "ProcNum": proc_num, "Note": "x", "isSigned": "yes"}
    assert client.post("procnotes", json=bad, headers=AUTH).json() == 'isSigned must be "true" or "false".'


def test_tooth_initials_follow_the_documented_rules(client: TestClient, engine: sa.Engine) -> None:
    example = client.post(
        "toothinitials", json={"PatNum": 3, "ToothNum": 32, "InitialType": "Missing"}, headers=AUTH
    )
    assert example.status_code == 201 and example.json()["ToothNum"] == "32"
    for body, message in (
        ({"PatNum": 3, "ToothNum": "U", "InitialType": "Missing"}, "ToothNum is invalid"),
        ({"PatNum": 3, "ToothNum": 33, "InitialType": "Missing"}, "ToothNum is invalid"),
        ({"PatNum": 3, "ToothNum": [1], "InitialType": "Missing"}, "ToothNum must be a tooth number"),
        ({"PatNum": 3, "ToothNum": "5", "InitialType": "ShiftM"}, "InitialType is invalid"),
        ({"PatNum": 999, "ToothNum": "5", "InitialType": "Hidden"}, "PatNum is invalid."),
    ):
        answer = client.post("toothinitials", json=body, headers=AUTH)
        assert answer.status_code == 400 and message in answer.json(), (body, answer.text)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE toothinitial SET InitialType = 3 WHERE ToothInitialNum = :n"),
            {"n": example.json()["ToothInitialNum"]},
        )
    refused = client.delete(f"toothinitials/{example.json()['ToothInitialNum']}", headers=AUTH)
    assert refused.status_code == 400 and "can be deleted" in refused.json()


def test_commlogs_the_documented_examples(client: TestClient) -> None:
    first = client.post("commlogs", json={"PatNum": 3, "Note": "Left msg on answering machine"}, headers=AUTH)
    assert first.status_code == 201 and first.json()["Mode_"] == "Phone"
    second = {
        "PatNum": 3,
        "commType": "ApptRelated",
        "CommDateTime": "2025-01-21 11:15:00",
        "Mode_": "Text",
        "SentOrReceived": "Received",
        "Note": "Appointment confirmed for 9:15am.",
    }
    created = client.post("commlogs", json=second, headers=AUTH).json()
    assert (created["Mode_"], created["SentOrReceived"]) == ("Text", "Received")
    fax = client.post("commlogs", json={"PatNum": 3, "Note": "x", "Mode_": "Fax"}, headers=AUTH)
    assert fax.status_code == 400 and "Mode_ is invalid" in fax.json()


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


# --- hostile requests: never a 5xx ---

HOSTILE_IDS = (
    "99999999999999999999",
    str(2**63),
    str(2**63 - 1),
    "-9223372036854775809",
    "-1",
    "0",
    "1",
    "3",
    "abc",
    "1e5",
    "1.0",
    "１２",  # full-width digits
    "9" * 400,
    "%00",
)
HOSTILE_VALUES: tuple[Any, ...] = (
    None,
    True,
    [],
    [1, 2],
    {},
    {"PatNum": 1},
    "",
    " ",
    "x" * 70_000,
    "💥" * 120,
    "\ud800",  # a lone surrogate: valid JSON, not valid UTF-8
    "\u0000",
    "Robert'); DROP TABLE patient;--",
    2**63,
    -(2**63) - 1,
    2**64 + 5,
    1e308,
    1.5,
    -1,
    0,
    float("nan"),
    "NaN",
    "2025-02-30",
    "9999-12-31",
    "0001-01-01",
    "9999-12-31 23:59:59",
)
PLAUSIBLE_VALUES: dict[str, tuple[Any, ...]] = {
    "PatNum": (3, 1, "2"),
    "PerioExamNum": (1, 2),
    "ProvNum": (1, 2),
    "ProcNum": (1,),
    "SequenceType": ("Probing", "SkipTooth", "Mobility", "BleedSupPlaqCalc", "MGJ", "GingMargin"),
    "IntTooth": (1, 16, 32),
    "ToothValue": (-1, 0, 1, 19),
    "MBvalue": (-1, 3, 103),
    "Bvalue": (2, 15),
    "ExamDate": (str(TODAY), "2023-06-15"),
    "ProcDate": (str(TODAY),),
    "ProcStatus": ("C", "TP"),
    "procCode": ("Zclin",),
    "InitialType": ("Missing", "Hidden"),
    "ToothNum": ("3", "A", "33"),
    "LName": ("Smith", "Lopez"),
    "FName": ("Jane", "Maria"),
    "Birthdate": ("1976-05-24", "1978-03-14"),
    "UpperFacial": ("323b", "32b4b32432332332332bs1"),
    "LowerFacial": ("4 3b 2s 4bs", "9" * 60),
    "isSigned": ("true", "false"),
    "Note": ("note",),
    "Mode_": ("Phone", "In Person"),
    "PatStatus": ("Patient", "Deleted"),
    "Guarantor": (1, 999),
}
FIELDS = (
    *PLAUSIBLE_VALUES,
    "UpperLingual",
    "LowerLingual",
    "DBvalue",
    "MLvalue",
    "Lvalue",
    "DLvalue",
    "AptNum",
    "CodeNum",
    "Surf",
    "doAppendNote",
    "CommDateTime",
    "SentOrReceived",
    "Gender",
    "Position",
    "Email",
    "HmPhone",
    "WkPhone",
    "WirelessPhone",
    "TxtMsgOk",
    "PreferConfirmMethod",
    "Language",
    "ChartNumber",
    "ClinicNum",
    "PriProv",
    "SecProv",
    "Zip",
)
QUERY_FIELDS = (
    "PatNum",
    "PerioExamNum",
    "ProcNum",
    "ExamDate",
    "Offset",
    "Limit",
    "date",
    "dateStart",
    "dateEnd",
    "Op",
    "ClinicNum",
    "AptStatus",
    "PatStatus",
    "LName",
    "FName",
)
RAW_BODIES: tuple[bytes, ...] = (
    b"",
    b"not json",
    b"null",
    b"[1, 2]",
    b'"a string"',
    b"42",
    b"{",
    b"\xff\xfe\x00",
    b"[" * 50_000 + b"]" * 50_000,
    b'{"PatNum": 1e999}',
    b'{"PatNum": NaN}',
)


def _hostile_value(rng: random.Random, field: str) -> Any:
    if field in PLAUSIBLE_VALUES and rng.random() < 0.5:
        return rng.choice(PLAUSIBLE_VALUES[field])
    return rng.choice(HOSTILE_VALUES)


def _query_text(value: Any) -> str:
    """`value` as a URL query value: at most 500 characters, surrogates replaced (a URL cannot carry them)."""
    return str(value)[:500].encode("utf-8", "replace").decode()


def _hostile_request(
    rng: random.Random, method: str, template: str, num: str
) -> tuple[str, str, dict[str, Any]]:
    path = re.sub(r"\{[^}]*\}", num, template)
    kwargs: dict[str, Any] = {}
    if rng.random() < 0.5:
        names = rng.sample(QUERY_FIELDS, rng.randint(1, 4))
        kwargs["params"] = {n: _query_text(_hostile_value(rng, n)) for n in names}
    if method in ("POST", "PUT"):
        if rng.random() < 0.15:
            kwargs["content"] = rng.choice(RAW_BODIES)
        else:
            names = rng.sample(FIELDS, rng.randint(0, 8))
            body = {n: _hostile_value(rng, n) for n in names}
            kwargs["content"] = json.dumps(body).encode()  # json.dumps writes NaN, as a careless client would
    return method, path, kwargs


def _hostile_requests(
    rng: random.Random, routes: list[tuple[str, str]]
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every route with every hostile id once, then 600 random requests."""
    for method, template in routes:
        for num in HOSTILE_IDS if "{" in template else ("",):
            yield _hostile_request(rng, method, template, num)
    for _ in range(600):
        method, template = rng.choice(routes)
        yield _hostile_request(rng, method, template, rng.choice(HOSTILE_IDS))


def test_hostile_requests_never_get_a_server_error(engine: sa.Engine) -> None:
    api = SandboxApi(engine, developer_key="dev", customer_key="cust")
    app = api.app()
    routes = [
        (method, route.path.removeprefix("/api/v1/"))  # type: ignore[attr-defined]
        for route in app.routes
        for method in sorted(route.methods or ())  # type: ignore[attr-defined]
        if method != "HEAD"
    ]
    rng = random.Random(13)
    failures = []
    with TestClient(app, base_url="http://sandbox/api/v1/", raise_server_exceptions=False) as c:
        for method, path, kwargs in _hostile_requests(rng, routes):
            response = c.request(method, path, headers=AUTH, **kwargs)
            if response.status_code >= 500:
                failures.append((method, path, str(kwargs)[:300], response.status_code))
    assert failures == []


def test_a_huge_body_is_refused_before_it_is_read_whole(client: TestClient) -> None:
    from voicechart.pms.sandbox.api import MAX_BODY_BYTES

    huge = b'{"PatNum": 1, "Note": "' + b"x" * (MAX_BODY_BYTES + 10) + b'"}'
    said = client.post("perioexams", content=huge, headers={**AUTH, "Content-Type": "application/json"})
    assert said.status_code == 413 and "larger than" in said.json()

    def unsized() -> Iterator[bytes]:  # sent without a Content-Length (chunked)
        yield b'{"PatNum": 1, "Note": "'
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    streamed = client.put(
        "perioexams/1", content=unsized(), headers={**AUTH, "Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    ok = client.put("perioexams/1", json={"Note": "fine"}, headers=AUTH)
    assert ok.status_code != 413
